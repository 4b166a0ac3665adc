#!/usr/bin/env bash
# geodb load benchmark: offlined's geodb vs `ogr2ogr -f GPKG`, side by side.
#
# Generates feature data (points at N and BIG_N, polygons at POLY_N), loads
# each with offlined (bench/cmd/geodbload: replica JSON → GeoPackage) and
# with ogr2ogr (the same features as an ArcGIS FeatureSet JSON, which GDAL's
# ESRIJSON driver reads; it does not read replica JSON), and prints wall
# time, features/s and peak RSS (/usr/bin/time -v) for both.
#
# Env: GEODB_BENCH_N (default 200000) points for the headline run;
#      GEODB_BENCH_BIG_N (default 2000000, 0 = skip) points for the scaling run;
#      GEODB_BENCH_POLY_N (default 200000, 0 = skip) polygons;
#      GEODB_BENCH_DIR work directory (default: a new temp dir, removed after).
# Last line: speed_ratio=<ours/ogr2ogr> mem_ratio=<ours/ogr2ogr> n=<N> (headline points run).
set -euo pipefail

N=${GEODB_BENCH_N:-200000}
BIG_N=${GEODB_BENCH_BIG_N:-2000000}
POLY_N=${GEODB_BENCH_POLY_N:-200000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [[ -n "${GEODB_BENCH_DIR:-}" ]]; then
  WORK=$GEODB_BENCH_DIR; mkdir -p "$WORK"
else
  WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
fi
command -v ogr2ogr >/dev/null || { echo "ogr2ogr not installed" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "/usr/bin/time (GNU time) not installed" >&2; exit 1; }

(cd "$ROOT" && go build -o "$WORK/geodbload" ./bench/cmd/geodbload)

# measure <label> <cmd...>: sets SECS and RSS_KB from GNU time -v.
measure() {
  local log="$WORK/time.log"
  /usr/bin/time -v "$@" >"$WORK/cmd.out" 2>"$log" || { cat "$WORK/cmd.out" "$log" >&2; return 1; }
  RSS_KB=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
  CPU=$(awk -F': ' '/User time \(seconds\)|System time \(seconds\)/ {s+=$2} END {print s}' "$log")
  SECS=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$log")
}

count() { sqlite3 "$1" "SELECT count(*) FROM \"$2\""; }

# run <kind> <n>: prints one comparison line and sets RATIO_SPEED, RATIO_MEM, OURS_RSS.
run() {
  local kind=$1 n=$2
  "$WORK/geodbload" gen -kind "$kind" -n "$n" -replica "$WORK/replica.json" -featureset "$WORK/featureset.json"
  rm -f "$WORK/ours.gpkg" "$WORK/ogr.gpkg"
  measure "$WORK/geodbload" load -kind "$kind" -in "$WORK/replica.json" -out "$WORK/ours.gpkg"
  local o_s=$SECS o_kb=$RSS_KB o_cpu=$CPU
  measure ogr2ogr -f GPKG -nln "bench_$kind" "$WORK/ogr.gpkg" "$WORK/featureset.json"
  local g_s=$SECS g_kb=$RSS_KB g_cpu=$CPU
  local oc gc
  oc=$(count "$WORK/ours.gpkg" "bench_$kind"); gc=$(count "$WORK/ogr.gpkg" "bench_$kind")
  [[ "$oc" == "$n" && "$gc" == "$n" ]] || { echo "feature counts differ: ours=$oc ogr2ogr=$gc want $n" >&2; exit 1; }
  RATIO_SPEED=$(awk -v a="$o_s" -v b="$g_s" 'BEGIN{printf "%.2f", b/a}')
  RATIO_MEM=$(awk -v a="$o_kb" -v b="$g_kb" 'BEGIN{printf "%.3f", a/b}')
  OURS_RSS=$o_kb
  awk -v k="$kind" -v n="$n" -v os="$o_s" -v ok="$o_kb" -v gs="$g_s" -v gk="$g_kb" -v rs="$RATIO_SPEED" -v rm="$RATIO_MEM" -v oc="$o_cpu" -v gc="$g_cpu" 'BEGIN{
    printf "%-8s n=%-8d offlined %7.2fs (cpu %6.2fs) %8.0f f/s %7.1f MB | ogr2ogr %7.2fs (cpu %6.2fs) %8.0f f/s %7.1f MB | speed x%s (cpu x%.2f) mem %s\n",
      k, n, os, oc, n/os, ok/1024, gs, gc, n/gs, gk/1024, rs, gc/oc, rm }'
  rm -f "$WORK/replica.json" "$WORK/featureset.json"
}

echo "geodb load benchmark ($(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)); wall-clock ratios need an idle machine, cpu = user+sys seconds"
if [[ "$BIG_N" != 0 ]]; then
  run points "$BIG_N"; BIG_RSS=$OURS_RSS
fi
if [[ "$POLY_N" != 0 ]]; then
  run polygons "$POLY_N"
fi
run points "$N"
if [[ "$BIG_N" != 0 ]]; then
  awk -v a="$OURS_RSS" -v b="$BIG_RSS" -v n="$N" -v m="$BIG_N" 'BEGIN{printf "offlined peak RSS %d points %.1f MB, %d points %.1f MB (x%.2f)\n", n, a/1024, m, b/1024, b/a}'
fi
echo "speed_ratio=$RATIO_SPEED mem_ratio=$RATIO_MEM n=$N"
