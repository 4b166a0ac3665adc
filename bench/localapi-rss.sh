#!/usr/bin/env bash
# Idle RSS of the daemon with three offline maps registered (target <= 30 MB).
# The maps are copies of the package `offlined demo` takes offline from the
# built-in emulator. Every map is touched once (map list, a feature query and
# a tile each, which opens its GeoPackage and MBTiles), then the daemon idles.
#   IDLE=<s>        seconds to idle before measuring (default 5)
#   TARGET_MB=<mb>  RSS allowed (default 30)
# Last line: rss_mb=<…> hwm_mb=<…> anon_mb=<…> file_mb=<…> maps=3 target_mb=30; exit 1 above target.
# Results are appended to bench/localapi-results.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
IDLE=${IDLE:-5}
TARGET_MB=${TARGET_MB:-30}

bench_init
bench_build offlined localapibench
bench_demo_root 3
bench_serve -listen 127.0.0.1:0 -sync-interval 0 -log-level warn
curl -fsS -H "$auth" "$base/api/v1/maps" >"$work/maps.json"
# map id, its first layer and its first tile layer, one map a line.
python3 -c 'import json,sys
for m in json.load(open(sys.argv[1]))["maps"]: print(m["id"], m["layers"][0]["id"], (m["tileLayers"] or ["-"])[0])' "$work/maps.json" |
	while read -r m layer tl; do
		curl -fsS -o /dev/null -H "$auth" "$base/api/v1/maps/$m/layers/$layer/features?limit=100"
		[ "$tl" != - ] && curl -fsS -o /dev/null -H "$auth" "$base/api/v1/maps/$m/tiles/$tl/tilejson"
	done
sleep "$IDLE"
rss=$(awk '/^VmRSS/ {print $2}' /proc/$pid/status)
hwm=$(awk '/^VmHWM/ {print $2}' /proc/$pid/status)
# The split: anonymous memory (heap, stacks) and file-backed pages (the
# binary's text and data pages touched so far; clean, shared, and dropped by
# the kernel under memory pressure).
anon=$(awk '/^RssAnon/ {print $2}' /proc/$pid/status)
file=$(awk '/^RssFile/ {print $2}' /proc/$pid/status)
echo "maps: $(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["maps"]))' "$work/maps.json")  package: $(du -sh "$work/pkg" | cut -f1)" >&2
bench_result localapi-results.txt "$(awk -v r="$rss" -v h="$hwm" -v a="$anon" -v f="$file" -v t="$TARGET_MB" 'BEGIN { printf "rss_mb=%.1f hwm_mb=%.1f anon_mb=%.1f file_mb=%.1f maps=3 target_mb=%s\n", r/1024, h/1024, a/1024, f/1024, t }')"
[ "$rss" -le $((TARGET_MB * 1024)) ] || { echo "RSS above target" >&2; exit 1; }
