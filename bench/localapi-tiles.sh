#!/usr/bin/env bash
# Tile serving benchmark: wrk against offlined (GET /api/v1/maps/{map}/tiles/{layer}/{z}/{x}/{y})
# against go-pmtiles `serve` (the same MBTiles made PMTiles with `pmtiles
# convert`) and against tileserver-gl-light (npm) serving the same MBTiles,
# one after the other in one run.
#   MAXZOOM=<z>      pyramid z0..z (default 6: 5461 PNG tiles)
#   DURATION=<s>     seconds per run (default 10)
#   CONNECTIONS=<c>  wrk connections (default 32), THREADS (default 1)
#   PMTILES=<bin>    go-pmtiles binary (default: go install …go-pmtiles@v1.31.2)
# Targets: ≥ 1.0× go-pmtiles, ≥ 5× tileserver-gl-light (exit 1 below either).
# Last line: ratio_pmtiles=<ours/pmtiles> ratio_tsgl=<ours/tsgl> ours_rps=<…> pmtiles_rps=<…> tsgl_rps=<…>
# Results are appended to bench/localapi-results.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
MAXZOOM=${MAXZOOM:-6}
bench_wrk 10
NPM_DIR=${NPM_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/offlined-bench/tileserver-gl-light}

bench_init
bench_build offlined localapibench
"$work/localapibench" mbtiles -out "$work/bench.mbtiles" -maxzoom "$MAXZOOM" -paths "$work/paths.txt"
"$work/localapibench" dataroot -root "$work/data" -mbtiles "$work/bench.mbtiles" -maps 1
echo "tiles: $(wc -l <"$work/paths.txt") (z0-z$MAXZOOM PNG)" >&2

ours_port=$(bench_free_port)
bench_serve -listen "127.0.0.1:$ours_port" -sync-interval 0 -log-level error
ours_pid=$pid
token=$(cat "$work/data/api-token")
curl -fsS -o /dev/null -H "Authorization: Bearer $token" "http://127.0.0.1:$ours_port/api/v1/maps/map1/tiles/basemap/0/0/0.png"

run_wrk() { # url prefix suffix auth
	PATHS="$work/paths.txt" PREFIX="$2" SUFFIX="$3" AUTH="$4" wrk -t"$THREADS" -c"$CONN" -d"${DURATION}s" -s bench/localapi-tiles.lua "$1" 2>&1 |
		tee -a "$work/wrk.log" | awk '/Requests\/sec/ {print $2}'
}

echo "offlined: wrk -t$THREADS -c$CONN -d${DURATION}s" >&2
ours=$(run_wrk "http://127.0.0.1:$ours_port" "/api/v1/maps/map1/tiles/basemap/" ".png" "Bearer $token")
echo "offlined: $ours req/s" >&2
bench_stop "$ours_pid"

peer=""
peer_pid=""
peer_bin() { for b in tileserver-gl-light tileserver-gl; do [ -x "$NPM_DIR/node_modules/.bin/$b" ] && { echo "$NPM_DIR/node_modules/.bin/$b"; return; }; done; }
if [ -z "$(peer_bin)" ]; then
	echo "installing tileserver-gl-light (npm) into $NPM_DIR…" >&2
	mkdir -p "$NPM_DIR"
	npm install --prefix "$NPM_DIR" --no-audit --no-fund tileserver-gl-light@5 >"$work/npm.log" 2>&1 || echo "npm install failed (see below)" >&2
fi
# npm hoists tileserver-gl-styles; the server looks for it under its own node_modules.
if [ -d "$NPM_DIR/node_modules/tileserver-gl-styles" ] && [ -d "$NPM_DIR/node_modules/tileserver-gl-light" ] &&
	[ ! -e "$NPM_DIR/node_modules/tileserver-gl-light/node_modules/tileserver-gl-styles" ]; then
	mkdir -p "$NPM_DIR/node_modules/tileserver-gl-light/node_modules"
	ln -s ../../tileserver-gl-styles "$NPM_DIR/node_modules/tileserver-gl-light/node_modules/tileserver-gl-styles"
fi
if [ -n "$(peer_bin)" ]; then
	peer_port=$(bench_free_port)
	# tileserver-gl-light is a node script that may start children: its own group.
	bench_start bash -c 'cd "$1" && exec "$2" --mbtiles bench.mbtiles --port "$3" --bind 127.0.0.1 --silent' _ "$work" "$(peer_bin)" "$peer_port" >"$work/peer.log" 2>&1
	peer_pid=$BENCH_PID
	for _ in $(seq 300); do curl -fsS -o /dev/null "http://127.0.0.1:$peer_port/data/bench/0/0/0.png" 2>/dev/null && break; sleep 0.1; done
	if curl -fsS -o /dev/null "http://127.0.0.1:$peer_port/data/bench/0/0/0.png"; then
		echo "tileserver-gl-light: wrk -t$THREADS -c$CONN -d${DURATION}s" >&2
		peer=$(run_wrk "http://127.0.0.1:$peer_port" "/data/bench/" ".png" "")
		echo "tileserver-gl-light: $peer req/s" >&2
	else
		echo "tileserver-gl-light did not start:" >&2; tail -20 "$work/peer.log" >&2
	fi
else
	tail -20 "$work/npm.log" >&2 || true
fi
[ -n "$peer_pid" ] && bench_stop "$peer_pid"

# go-pmtiles: PMTiles converted from the same MBTiles.
pm=""
PMTILES=${PMTILES:-}
if [ -z "$PMTILES" ]; then
	PMTILES=$(go env GOPATH)/bin/go-pmtiles
	[ -x "$PMTILES" ] || go install github.com/protomaps/go-pmtiles@v1.31.2
fi
mkdir -p "$work/pm"
"$PMTILES" convert "$work/bench.mbtiles" "$work/pm/bench.pmtiles" >"$work/pmconvert.log" 2>&1 || { cat "$work/pmconvert.log" >&2; exit 1; }
pm_port=$(bench_free_port)
bench_start "$PMTILES" serve "$work/pm" --interface 127.0.0.1 --port "$pm_port" --quiet >"$work/pmserve.log" 2>&1
pm_pid=$BENCH_PID
for _ in $(seq 100); do curl -fsS -o /dev/null "http://127.0.0.1:$pm_port/bench/0/0/0.png" 2>/dev/null && break; sleep 0.1; done
curl -fsS -o /dev/null "http://127.0.0.1:$pm_port/bench/0/0/0.png" || { echo "go-pmtiles did not serve:" >&2; tail "$work/pmserve.log" >&2; exit 1; }
echo "go-pmtiles: wrk -t$THREADS -c$CONN -d${DURATION}s" >&2
pm=$(run_wrk "http://127.0.0.1:$pm_port" "/bench/" ".png" "")
echo "go-pmtiles: $pm req/s" >&2
bench_stop "$pm_pid"

if grep -q '^status' "$work/wrk.log"; then
	echo "non-200 answers:" >&2; grep '^status' "$work/wrk.log" | sort | uniq -c >&2
fi
bench_result localapi-results.txt "$(awk -v o="$ours" -v m="$pm" -v p="$peer" 'BEGIN {
	rp = o / m; rt = (p == "" ? "n/a" : sprintf("%.2f", o / p))
	printf "ratio_pmtiles=%.2f ratio_tsgl=%s ours_rps=%.0f pmtiles_rps=%.0f tsgl_rps=%s\n", rp, rt, o, m, (p == "" ? "n/a" : sprintf("%.0f", p))
}')"
awk -v o="$ours" -v m="$pm" -v p="$peer" 'BEGIN { exit !(o / m >= 1.0 && (p == "" || o / p >= 5)) }' || { echo "below target (≥ 1.0× go-pmtiles, ≥ 5× tileserver-gl-light)" >&2; exit 1; }
