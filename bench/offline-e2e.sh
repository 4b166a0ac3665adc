#!/usr/bin/env bash
# End-to-end offline map job benchmark: `offlined take-offline` on the demo
# web map served by the emulator on loopback (bench/cmd/offlineserve), with
# FEATURES features across the Field_Survey layers plus the basemap and
# vector tiles of the demo area for scales MIN_SCALE..MAX_SCALE.
#   FEATURES=<n>    features in total (default 200000)
#   MIN_SCALE=<s>   default 150000 (level 12)
#   MAX_SCALE=<s>   default 2000 (level 18: ~15k raster + vector tiles ≈ 20k)
#   RESULT=<file>   keep the job's JSON result there
#   ATTACHMENTS=none  take no attachments (geodb loads them one transaction
#                   each: ~25k attachments at 200k features take many minutes)
#   VECTOR=0        leave the vector tile layer out (the emulator builds each
#                   vector tile from every feature: slow at 200k features)
# Prints wall time, peak RSS of the job process and what the package holds.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
FEATURES=${FEATURES:-200000}
MIN_SCALE=${MIN_SCALE:-150000}
MAX_SCALE=${MAX_SCALE:-2000}
VECTOR=${VECTOR:-1}
ATTACHMENTS=${ATTACHMENTS:-}
att_flags=()
[ -n "$ATTACHMENTS" ] && att_flags=(--attachments "$ATTACHMENTS")
vector_flag=-vector=true
[ "$VECTOR" = 0 ] && vector_flag=-vector=false

work=$(mktemp -d)
server_pid=
cleanup() {
	bench_cleanup
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/offlineserve" ./bench/cmd/offlineserve
go build -o "$work/offlined" ./cmd/offlined

bench_start "$work/offlineserve" -features "$FEATURES" "$vector_flag" -work "$work/em" >"$work/addr"
server_pid=$BENCH_PID
for _ in $(seq 300); do [ -s "$work/addr" ] && break; sleep 0.1; done
url=$(head -1 "$work/addr")
echo "emulator: $url  features: $FEATURES  scales: 1:$MIN_SCALE..1:$MAX_SCALE" >&2

export OFFLINED_PASSWORD=demo-password
/usr/bin/time -v -o "$work/time.txt" "$work/offlined" take-offline --portal "$url/sharing/rest" \
	--item 0ff11ed0b5e94a3c8d2f000000000001 --user demo --dir "$work/pkg" \
	--bbox -117.25,33.98,-117.10,34.10 --min-scale "$MIN_SCALE" --max-scale "$MAX_SCALE" "${att_flags[@]}" --json >"$work/result.json"

[ -n "${RESULT:-}" ] && cp "$work/result.json" "$RESULT"
wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$work/time.txt")
rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time.txt")
python3 - "$work/result.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
m = r["manifest"]
feats = tiles = 0
for l in m["layers"] + m["tables"]:
    feats += l.get("features", 0); tiles += l.get("tiles", 0)
    print(f'  {l["title"]:<20} {l["kind"]:<12} features={l.get("features",0):<8} tiles={l.get("tiles",0):<7} {l.get("store","")}', file=sys.stderr)
for k, e in list((r.get("layerErrors") or {}).items()) + list((r.get("tableErrors") or {}).items()):
    print(f'  error {e["layer"]}: {e["call"]}: {e["message"]}', file=sys.stderr)
print(f'state={r["state"]} hasErrors={r["hasErrors"]} features={feats} tiles={tiles} job_elapsed={r["elapsed"]}', file=sys.stderr)
PY
size=$(du -sh "$work/pkg" | cut -f1)
echo "package size: $size" >&2
echo "wall=$wall peak_rss_kb=$rss features=$FEATURES max_scale=$MAX_SCALE vector=$VECTOR attachments=${ATTACHMENTS:-default}"
