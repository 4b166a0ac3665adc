#!/usr/bin/env bash
# Mixed load on one daemon (built binary): wrk on tiles (5,461 PNG tiles
# z0-6, as bench/localapi-tiles.sh) and, at the same time, the bbox query
# loop of bench/localapi-features.sh (~1,000 of 1,000,000 points per box,
# GeoJSON) back to back. The loop runs alone first for the baseline.
#   DURATION=<s>     seconds of the mixed run (default 20)
#   CONNECTIONS=<c>  wrk connections (default 32), THREADS (default 1)
#   QUERIES=<n>      queries of the baseline run alone (default 300)
#   TILES_ALONE=<s>  seconds of wrk on tiles alone, after it (default 5)
#   TARGET_MS=<ms>   bbox p99 allowed under the tile load (default 10)
# The 1M-point layer is the one BenchmarkFeatureQueryBBox builds and caches
# in the temp dir (built on first use, about a minute).
# Last line: tiles_rps=… tiles_alone_rps=… alone_p99_ms=… p50_ms=… p99_ms=… … target_ms=10
# (p50/p99 of the bbox queries under the tile load); exit 1 above target.
# alone_cpu_ms is the daemon's CPU time per query alone, tile_cpu_us its
# CPU time per tile under the mixed load once the queries' share (their
# count times alone_cpu_ms) is taken off (utime + stime from /proc): figures
# a loaded machine changes less than latency.
# Results are appended to bench/localapi-results.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
DURATION=${DURATION:-20}
CONN=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
QUERIES=${QUERIES:-300}
TARGET_MS=${TARGET_MS:-10}
MAXZOOM=6

bench_init
bench_build offlined localapibench
layer=${TMPDIR:-/tmp}/offlined-bench-1000000.gpkg
if [ ! -e "$layer.ok" ]; then
	echo "building the 1M-point layer (once, cached as $layer)…" >&2
	go test -run '^$' -bench BenchmarkFeatureQueryBBox -benchtime 1x ./localapi/ >&2
fi
"$work/localapibench" mbtiles -out "$work/bench.mbtiles" -maxzoom "$MAXZOOM" -paths "$work/paths.txt"
"$work/localapibench" dataroot -root "$work/data" -mbtiles "$work/bench.mbtiles" -maps 1
mkdir -p "$work/data/packages/bench/data"
ln -s "$layer" "$work/data/packages/bench/data/Points.gpkg"
echo '{"id":"bench","title":"bench"}' >"$work/data/packages/bench/package.json"

port=$(bench_free_port)
bench_serve -listen "127.0.0.1:$port" -sync-interval 0 -log-level error
token=$(cat "$work/data/api-token")
curl -fsS -o /dev/null -H "$auth" "$base/api/v1/maps/map1/tiles/basemap/0/0/0.png"
loop() { "$work/localapibench" bboxloop -base "$base" -token "$token" "$@"; }
loop -n 20 >/dev/null # warm the layer's pages

cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
c0=$(cpu_ticks)
alone=$(loop -n "$QUERIES")
c1=$(cpu_ticks)
echo "bbox alone:        $alone" >&2
# Tiles alone for a few seconds: how much a running query costs the tiles
# (each query in flight takes one tile-read slot) is tiles_rps against this.
tiles_alone=$(PATHS="$work/paths.txt" PREFIX=/api/v1/maps/map1/tiles/basemap/ SUFFIX=.png AUTH="Bearer $token" \
	wrk -t"$THREADS" -c"$CONN" -d"${TILES_ALONE:-5}s" -s bench/localapi-tiles.lua "$base" 2>&1 | awk '/Requests\/sec/ {print $2}')
echo "tiles alone:       ${tiles_alone:-0} req/s" >&2
c_mixed=$(cpu_ticks)
bench_start env PATHS="$work/paths.txt" PREFIX=/api/v1/maps/map1/tiles/basemap/ SUFFIX=.png AUTH="Bearer $token" \
	wrk -t"$THREADS" -c"$CONN" -d"${DURATION}s" -s bench/localapi-tiles.lua "$base" >"$work/wrk.log" 2>&1
wrk_pid=$BENCH_PID
sleep 1 # wrk connected and at full rate
mixed=$(loop -duration "$((DURATION - 2))s")
wait "$wrk_pid" || true
bench_stop "$wrk_pid"
c2=$(cpu_ticks)
rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.log")
reqs=$(awk '/requests in/ {print $1}' "$work/wrk.log")
echo "bbox under tiles:  $mixed" >&2
echo "tiles (wrk -t$THREADS -c$CONN -d${DURATION}s): $rps req/s" >&2
grep -q '^status' "$work/wrk.log" && { echo "non-200 tile answers:" >&2; grep '^status' "$work/wrk.log" | sort | uniq -c >&2; }
kv() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
tck=$(getconf CLK_TCK)
alone_cpu=$(awk -v c="$((c1 - c0))" -v n="$(kv queries "$alone")" -v t="$tck" 'BEGIN { printf "%.2f", c / t / n * 1000 }')
tile_cpu=$(awk -v c="$((c2 - c_mixed))" -v q="$(kv queries "$mixed")" -v a="$alone_cpu" -v n="${reqs:-0}" -v t="$tck" 'BEGIN { printf "%.0f", (n > 0 ? (c / t - q * a / 1000) / n * 1e6 : 0) }')
line="tiles_rps=${rps:-0} tiles_alone_rps=${tiles_alone:-0} alone_p50_ms=$(kv p50_ms "$alone") alone_p99_ms=$(kv p99_ms "$alone") alone_cpu_ms=$alone_cpu queries=$(kv queries "$mixed") features_per_box=$(kv features_per_box "$mixed") p50_ms=$(kv p50_ms "$mixed") p99_ms=$(kv p99_ms "$mixed") tile_cpu_us=$tile_cpu target_ms=$TARGET_MS"
bench_result localapi-results.txt "$line"
awk -v p="$(kv p99_ms "$mixed")" -v t="$TARGET_MS" 'BEGIN { exit !(p <= t) }' || { echo "bbox p99 above target under the tile load" >&2; exit 1; }
