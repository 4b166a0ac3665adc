#!/usr/bin/env bash
# Idle RSS of the daemon with three offline maps registered (target <= 30 MB).
# The maps are copies of the package `offlined demo` takes offline from the
# built-in emulator. Every map is touched once (map list, a feature query and
# a tile each, which opens its GeoPackage and MBTiles), then the daemon idles.
#   IDLE=<s>  seconds to idle before measuring (default 5)
# Last line: rss_mb=<…> hwm_mb=<…> maps=3 target_mb=30
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
IDLE=${IDLE:-5}
work=$(mktemp -d)
pid=
cleanup() {
	bench_cleanup
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/offlined" ./cmd/offlined
go build -o "$work/localapibench" ./bench/cmd/localapibench
"$work/offlined" demo -dir "$work/pkg" -no-sync -no-progress >"$work/demo.log" 2>&1 || { cat "$work/demo.log" >&2; exit 1; }
"$work/localapibench" dataroot -root "$work/data" -package "$work/pkg" -maps 3
bench_start "$work/offlined" serve -data "$work/data" -listen 127.0.0.1:0 -sync-interval 0 -log-level warn 2>"$work/serve.log"
pid=$BENCH_PID
for _ in $(seq 100); do [ -s "$work/data/api-addr" ] && break; sleep 0.1; done
base=$(cat "$work/data/api-addr")
auth="Authorization: Bearer $(cat "$work/data/api-token")"
curl -fsS -H "$auth" "$base/api/v1/maps" >"$work/maps.json"
for m in map1 map2 map3; do
	layer=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); m=[x for x in d["maps"] if x["id"]==sys.argv[2]][0]; print(m["layers"][0]["id"])' "$work/maps.json" "$m")
	curl -fsS -o /dev/null -H "$auth" "$base/api/v1/maps/$m/layers/$layer/features?limit=100"
	tl=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); m=[x for x in d["maps"] if x["id"]==sys.argv[2]][0]; print((m["tileLayers"] or [""])[0])' "$work/maps.json" "$m")
	[ -n "$tl" ] && curl -fsS -o /dev/null -H "$auth" "$base/api/v1/maps/$m/tiles/$tl/tilejson"
done
sleep "$IDLE"
rss=$(awk '/^VmRSS/ {print $2}' /proc/$pid/status)
hwm=$(awk '/^VmHWM/ {print $2}' /proc/$pid/status)
echo "maps: $(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["maps"]))' "$work/maps.json")  package: $(du -sh "$work/pkg" | cut -f1)" >&2
awk -v r="$rss" -v h="$hwm" 'BEGIN { printf "rss_mb=%.1f hwm_mb=%.1f maps=3 target_mb=30\n", r/1024, h/1024 }'
