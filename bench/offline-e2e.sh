#!/usr/bin/env bash
# End-to-end offline map job benchmark: `offlined take-offline` on the demo
# web map served by the emulator on loopback (bench/cmd/offlineserve), with
# FEATURES features across the Field_Survey layers plus the basemap and
# vector tiles of the demo area for scales MIN_SCALE..MAX_SCALE.
#   MODE=attachments25k  the 25k-attachment row of issue 21: 200k features
#                   (the emulator gives every fourth Inspections feature a
#                   photo: 100k inspections, 25k attachments), the basemap
#                   to 1:70000 only, no vector tiles; target peak RSS ≤ 150 MB
#   FEATURES=<n>    features in total (default 200000)
#   MIN_SCALE=<s>   default 150000 (level 12)
#   MAX_SCALE=<s>   default 2000 (level 18: ~15k raster + vector tiles ≈ 20k)
#   RESULT=<file>   keep the job's JSON result there
#   ATTACHMENTS=none  take no attachments
#   VECTOR=0        leave the vector tile layer out (the emulator builds each
#                   vector tile from every feature: slow at 200k features)
#   TARGET_RSS_MB=<mb>  peak RSS allowed (default 150 in MODE=attachments25k,
#                   none otherwise)
# Prints what the package holds; last line: wall=… peak_rss_mb=… attachments=…
# …; exit 1 if the job failed (layers that cannot be taken offline, such as
# the demo's WMS, are accepted) or above the RSS target. Results are appended
# to bench/offline-e2e-results.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
MODE=${MODE:-}
TARGET_RSS_MB=${TARGET_RSS_MB:-}
if [ "$MODE" = attachments25k ]; then
	FEATURES=${FEATURES:-200000}
	MAX_SCALE=${MAX_SCALE:-70000}
	VECTOR=${VECTOR:-0}
	TARGET_RSS_MB=${TARGET_RSS_MB:-150}
fi
FEATURES=${FEATURES:-200000}
MIN_SCALE=${MIN_SCALE:-150000}
MAX_SCALE=${MAX_SCALE:-2000}
VECTOR=${VECTOR:-1}
ATTACHMENTS=${ATTACHMENTS:-}
att_flags=()
[ -n "$ATTACHMENTS" ] && att_flags=(--attachments "$ATTACHMENTS")

bench_init
bench_build offlineserve offlined
bench_emulator "$FEATURES" -vector="$([ "$VECTOR" = 0 ] && echo false || echo true)" -work "$work/em"
echo "emulator: $url  features: $FEATURES  scales: 1:$MIN_SCALE..1:$MAX_SCALE  mode: ${MODE:-default} (load $(bench_load))" >&2

export OFFLINED_PASSWORD=demo-password
rc=0
/usr/bin/time -v -o "$work/time.txt" "$work/offlined" take-offline --portal "$url/sharing/rest" \
	--item 0ff11ed0b5e94a3c8d2f000000000001 --user demo --dir "$work/pkg" \
	--bbox -117.25,33.98,-117.10,34.10 --min-scale "$MIN_SCALE" --max-scale "$MAX_SCALE" "${att_flags[@]}" --accept-partial --json >"$work/result.json" || rc=$?

[ -n "${RESULT:-}" ] && cp "$work/result.json" "$RESULT"
wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$work/time.txt")
rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time.txt")
summary=$(python3 - "$work/result.json" "$work/pkg" <<'PY'
import glob, json, sqlite3, sys
r = json.load(open(sys.argv[1]))
m = r["manifest"]
feats = tiles = 0
for l in m["layers"] + m["tables"]:
    feats += l.get("features", 0); tiles += l.get("tiles", 0)
    print(f'  {l["title"]:<20} {l["kind"]:<12} features={l.get("features",0):<8} tiles={l.get("tiles",0):<7} {l.get("store","")}', file=sys.stderr)
for k, e in list((r.get("layerErrors") or {}).items()) + list((r.get("tableErrors") or {}).items()):
    print(f'  error {e["layer"]}: {e["call"]}: {e["message"]}', file=sys.stderr)
print(f'state={r["state"]} hasErrors={r["hasErrors"]} features={feats} tiles={tiles} job_elapsed={r["elapsed"]}', file=sys.stderr)
# Attachments stored: the rows of every GeoPackage's attachment tables.
att = 0
for p in glob.glob(sys.argv[2] + "/data/*.gpkg"):
    c = sqlite3.connect(p)
    for (t,) in c.execute("SELECT name FROM sqlite_master WHERE type='table' AND name LIKE '%\\_\\_ATTACH' ESCAPE '\\'"):
        att += c.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
    c.close()
print(f'{r["state"]} {feats} {tiles} {att}')
PY
)
read -r state feats tiles att <<<"$summary"
echo "package size: $(du -sh "$work/pkg" | cut -f1)" >&2
line="wall=$wall peak_rss_mb=$((rss / 1024)) attachments=$att features=$feats tiles=$tiles state=$state exit=$rc mode=${MODE:-default} max_scale=$MAX_SCALE vector=$VECTOR target_rss_mb=${TARGET_RSS_MB:-none}"
bench_result offline-e2e-results.txt "$line"
[ "$rc" -eq 0 ] || { echo "take-offline exited $rc" >&2; exit 1; }
if [ -n "$TARGET_RSS_MB" ] && [ $((rss / 1024)) -gt "$TARGET_RSS_MB" ]; then
	echo "peak RSS $((rss / 1024)) MB above the target $TARGET_RSS_MB MB" >&2
	exit 1
fi
