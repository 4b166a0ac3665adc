#!/usr/bin/env bash
# geodb load benchmark: offlined's geodb vs `ogr2ogr -f GPKG`, side by side.
#
# Generates 200k points and 200k polygons, loads each with offlined
# (bench/cmd/geodbload: replica JSON → GeoPackage) and with ogr2ogr (the same
# features as an ArcGIS FeatureSet JSON, which GDAL's ESRIJSON driver reads;
# it does not read replica JSON), alternating the two RUNS times per kind, and
# compares the medians of wall time and peak RSS (/usr/bin/time -v). Both
# outputs are checked to hold the same number of rows.
#
# Env: GEODB_BENCH_N (default 200000) points and polygons;
#      GEODB_BENCH_RUNS (default 3) alternating runs per side and kind;
#      GEODB_BENCH_BIG_N (default 0 = skip) points for an extra scaling run
#        (ours only: ogr2ogr needs ~4 GB per million points);
#      GEODB_BENCH_DIR work directory (default: a new temp dir, removed after);
#      GEODB_BENCH_RESULTS file the summary is appended to
#        (default bench/geodb-results.txt, "" = don't append).
# Targets (issue 21 item 3): speed ratio (ogr2ogr time / ours) >= 3 and
# memory ratio (ours peak RSS / ogr2ogr's) <= 0.15, for points and polygons.
# Last line: ratio_points=… ratio_polygons=… mem_ratio_points=… mem_ratio_polygons=…
# Exit status 1 when a ratio misses its target, 2 on a failed run.
set -euo pipefail

N=${GEODB_BENCH_N:-200000}
RUNS=${GEODB_BENCH_RUNS:-3}
BIG_N=${GEODB_BENCH_BIG_N:-0}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RESULTS=${GEODB_BENCH_RESULTS-$ROOT/bench/geodb-results.txt}
SPEED_TARGET=3
MEM_TARGET=0.15
if [[ -n "${GEODB_BENCH_DIR:-}" ]]; then
  WORK=$GEODB_BENCH_DIR; mkdir -p "$WORK"
else
  WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
fi
command -v ogr2ogr >/dev/null || { echo "ogr2ogr not installed" >&2; exit 2; }
command -v sqlite3 >/dev/null || { echo "sqlite3 not installed" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "/usr/bin/time (GNU time) not installed" >&2; exit 2; }

(cd "$ROOT" && go build -o "$WORK/geodbload" ./bench/cmd/geodbload)

# measure <cmd...>: sets SECS, CPU (user+sys) and RSS_KB from GNU time -v.
measure() {
  local log="$WORK/time.log"
  /usr/bin/time -v "$@" >"$WORK/cmd.out" 2>"$log" || { cat "$WORK/cmd.out" "$log" >&2; exit 2; }
  RSS_KB=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
  CPU=$(awk -F': ' '/User time \(seconds\)|System time \(seconds\)/ {s+=$2} END {print s}' "$log")
  SECS=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$log")
}

count() { sqlite3 "$1" "SELECT count(*) FROM \"$2\""; }
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
loadavg() { cut -d' ' -f1 /proc/loadavg; }

# run <kind> <n>: alternates ours and ogr2ogr RUNS times, prints one
# comparison line of medians and sets RATIO_SPEED, RATIO_MEM, OURS_RSS.
run() {
  local kind=$1 n=$2 i os="" ok="" oc="" gs="" gk="" gc="" loads=""
  "$WORK/geodbload" gen -kind "$kind" -n "$n" -replica "$WORK/replica.json" -featureset "$WORK/featureset.json"
  for ((i = 0; i < RUNS; i++)); do
    loads+=" $(loadavg)"
    rm -f "$WORK/ours.gpkg" "$WORK/ogr.gpkg"
    measure "$WORK/geodbload" load -kind "$kind" -in "$WORK/replica.json" -out "$WORK/ours.gpkg"
    os+=" $SECS" ok+=" $RSS_KB" oc+=" $CPU"
    measure ogr2ogr -f GPKG -nln "bench_$kind" "$WORK/ogr.gpkg" "$WORK/featureset.json"
    gs+=" $SECS" gk+=" $RSS_KB" gc+=" $CPU"
    local ocount gcount
    ocount=$(count "$WORK/ours.gpkg" "bench_$kind"); gcount=$(count "$WORK/ogr.gpkg" "bench_$kind")
    [[ "$ocount" == "$n" && "$gcount" == "$n" ]] || { echo "feature counts differ: ours=$ocount ogr2ogr=$gcount want $n" >&2; exit 2; }
  done
  local mos mok moc mgs mgk mgc
  mos=$(median <<<"$os") mok=$(median <<<"$ok") moc=$(median <<<"$oc")
  mgs=$(median <<<"$gs") mgk=$(median <<<"$gk") mgc=$(median <<<"$gc")
  RATIO_SPEED=$(awk -v a="$mos" -v b="$mgs" 'BEGIN{printf "%.2f", b/a}')
  RATIO_MEM=$(awk -v a="$mok" -v b="$mgk" 'BEGIN{printf "%.3f", a/b}')
  OURS_RSS=$mok
  awk -v k="$kind" -v n="$n" -v os="$mos" -v ok="$mok" -v gs="$mgs" -v gk="$mgk" -v rs="$RATIO_SPEED" -v rm="$RATIO_MEM" -v oc="$moc" -v gc="$mgc" -v r="$RUNS" -v l="$loads" 'BEGIN{
    printf "%-8s n=%-7d offlined %6.2fs (cpu %5.2fs) %7.0f f/s %6.1f MB | ogr2ogr %6.2fs (cpu %5.2fs) %7.0f f/s %6.1f MB | speed x%s (cpu x%.2f) mem %s | median of %d, load%s\n",
      k, n, os, oc, n/os, ok/1024, gs, gc, n/gs, gk/1024, rs, gc/oc, rm, r, l }'
  echo "  runs: offlined s:$os | ogr2ogr s:$gs"
  rm -f "$WORK/replica.json" "$WORK/featureset.json"
}

{
  echo "geodb load benchmark $(date -u '+%Y-%m-%d %H:%M UTC') ($(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)), $(ogr2ogr --version | cut -d, -f1)"
  run points "$N"
  RP=$RATIO_SPEED MP=$RATIO_MEM
  run polygons "$N"
  RG=$RATIO_SPEED MG=$RATIO_MEM
  if [[ "$BIG_N" != 0 ]]; then
    "$WORK/geodbload" gen -kind points -n "$BIG_N" -replica "$WORK/replica.json"
    rm -f "$WORK/ours.gpkg"
    measure "$WORK/geodbload" load -kind points -in "$WORK/replica.json" -out "$WORK/ours.gpkg"
    awk -v n="$BIG_N" -v s="$SECS" -v c="$CPU" -v k="$RSS_KB" 'BEGIN{printf "points   n=%-7d offlined %6.2fs (cpu %5.2fs) %7.0f f/s %6.1f MB (scaling run, ours only)\n", n, s, c, n/s, k/1024}'
    rm -f "$WORK/replica.json"
  fi
  echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "ratio_points=$RP ratio_polygons=$RG mem_ratio_points=$MP mem_ratio_polygons=$MG"
} | tee "$WORK/summary.txt"

if [[ -n "$RESULTS" ]]; then
  { echo; echo "# bench/geodb-load.sh (GEODB_BENCH_N=$N GEODB_BENCH_RUNS=$RUNS)"; cat "$WORK/summary.txt"; } >>"$RESULTS"
fi
last=$(tail -1 "$WORK/summary.txt")
field() { tr ' ' '\n' <<<"$last" | awk -F= -v k="$1" '$1 == k {print $2}'; }
awk -v a="$(field ratio_points)" -v b="$(field ratio_polygons)" -v c="$(field mem_ratio_points)" -v d="$(field mem_ratio_polygons)" \
  -v s="$SPEED_TARGET" -v m="$MEM_TARGET" 'BEGIN { exit !(a >= s && b >= s && c <= m && d <= m) }'
