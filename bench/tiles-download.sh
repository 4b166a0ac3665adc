#!/usr/bin/env bash
# Tile download benchmark: offlined's tiles downloader (into MBTiles) vs
# aria2c (into files), same URL set, same concurrency, same loopback server.
#   TILES=<n>        tiles to download (default 21845 = the full z0-z7 pyramid)
#   CONCURRENCY=<c>  parallel requests for both tools (default 8)
#   WRK_DURATION=<s> seconds of each wrk run measuring the server's capacity (10)
#   ROUNDS=<r>       alternating rounds of wrk and offlined (default 3)
#   TILEBENCH_BIN=<file> runs that tilebench build instead of this tree's
#                    (to compare builds on one machine)
#   TILEBENCH_FLAGS=<flags> more tilebench flags for offlined's runs, e.g.
#                    "-client tiles -batch 1024" (the configuration measured
#                    before 2026-12-05 04:00: tiles.NewTransport, 1024-tile batches)
# offlined downloads as an offline job does (tilebench -client daemon: the
# ArcGIS client's HTTP client, the download's default batches), each round
# into a new store, with Finalize and Close. The server's capacity moves a
# lot between runs minutes apart, so each round runs wrk and then offlined
# back to back and takes their ratio; limit_ratio is the median round's.
# Last line: limit_ratio=<median of the rounds' ours/capacity>
# aria2c_ratio=<ours/aria2c> … fetch_only_ratio=<median of tilebench
# -nostore's tiles/s over the capacity: the HTTP client alone, storing
# nothing> … round_ratios=<each round>…; exit 1 below
# limit_ratio 0.7.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
TILES=${TILES:-21845}
CONC=${CONCURRENCY:-8}

if ! command -v aria2c >/dev/null; then
	echo "installing aria2 (Debian package)…" >&2
	apt-get install -y aria2 >/dev/null
fi

work=$(mktemp -d)
server_pid=
cleanup() {
	bench_cleanup
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/tileserve" ./bench/cmd/tileserve
if [ -n "${TILEBENCH_BIN:-}" ]; then
	cp "$TILEBENCH_BIN" "$work/tilebench"
else
	go build -o "$work/tilebench" ./bench/cmd/tilebench
fi

bench_start "$work/tileserve" >"$work/addr"
server_pid=$BENCH_PID
for _ in $(seq 50); do [ -s "$work/addr" ] && break; sleep 0.1; done
url=$(head -1 "$work/addr")
echo "server: $url  tiles: $TILES  concurrency: $CONC" >&2

# Warm the server (its tile cache is built at start; this just opens sockets).
curl -fsS -o /dev/null "$url/tile/0/0/0.png"

"$work/tilebench" -url "$url" -n "$TILES" -urls "$work/urls.txt"
grep -E '^https?://' "$work/urls.txt" | sed -E 's#^https?://[^/]+##' >"$work/paths.txt"
field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" <<<"$2"; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Rounds: the server's own capacity over the same URL list at the same
# concurrency (wrk: keep-alive, no storing, the limit a downloader can
# reach), then offlined, back to back.
ROUNDS=${ROUNDS:-3}
ratios=() limits=() tpss=() cpus=() ceilings=()
for r in $(seq "$ROUNDS"); do
	limit=$(PATHS="$work/paths.txt" PREFIX="" SUFFIX="" AUTH="" wrk -t1 -c"$CONC" -d"${WRK_DURATION:-10}s" -s bench/localapi-tiles.lua "$url" 2>&1 |
		tee "$work/wrk.log" | awk '/Requests\/sec/ {print $2}')
	if grep -q '^status' "$work/wrk.log"; then
		echo "non-200 answers to wrk:" >&2; grep '^status' "$work/wrk.log" | sort | uniq -c >&2
	fi
	rm -f "$work/ours.mbtiles"
	# shellcheck disable=SC2086 # TILEBENCH_FLAGS is a list of flags
	ours=$("$work/tilebench" -url "$url" -n "$TILES" -c "$CONC" -out "$work/ours.mbtiles" ${TILEBENCH_FLAGS:-})
	ours_n=$(field tiles "$ours")
	if [ "$ours_n" != "$TILES" ]; then
		echo "warning: round $r: offlined fetched $ours_n of $TILES tiles" >&2
	fi
	ratio=$(awk -v o="$(field tps "$ours")" -v l="$limit" 'BEGIN { printf "%.2f", o / l }')
	# The same fetcher storing nothing: the HTTP client's own ceiling,
	# which splits the gap to the limit between fetching and storing.
	bare=$("$work/tilebench" -url "$url" -n "$TILES" -c "$CONC" -nostore)
	ceiling=$(awk -v o="$(field tps "$bare")" -v l="$limit" 'BEGIN { printf "%.2f", o / l }')
	echo "round $r: server capacity (wrk -c$CONC) $limit req/s; offlined: $ours; ratio $ratio; fetching only: $bare; ratio $ceiling" >&2
	ratios+=("$ratio") limits+=("$limit") tpss+=("$(field tps "$ours")") cpus+=("$(field cpu_us_per_tile "$ours")") ceilings+=("$ceiling")
done
ours_tiles=$(sqlite3 "$work/ours.mbtiles" 'select count(*) from tiles' 2>/dev/null || echo "?")
ours_page=$(sqlite3 "$work/ours.mbtiles" 'pragma page_size' 2>/dev/null || echo "?")
echo "stored (last round): offlined $ours_tiles tiles in MBTiles ($(stat -c %s "$work/ours.mbtiles") bytes, $ours_page-byte pages), peak RSS $(field maxrss_kb "$ours") KB" >&2
rm -f "$work/ours.mbtiles"

# aria2c, same URL list
peer=$("$work/tilebench" rusage -- aria2c -i "$work/urls.txt" -d "$work/aria" -j "$CONC" -x 1 \
	--enable-http-keep-alive=true --enable-http-pipelining=false --file-allocation=none \
	--auto-file-renaming=false --allow-overwrite=true --check-certificate=false \
	--console-log-level=error --summary-interval=0 --download-result=hide -q 2>"$work/aria.err")
peer_tiles=$(find "$work/aria" -name '*.png' -type f | wc -l)
echo "aria2c: $peer files=$peer_tiles (peak RSS $(field maxrss_kb "$peer") KB)" >&2
if [ "$peer_tiles" != "$TILES" ]; then
	echo "warning: aria2c stored $peer_tiles of $TILES tiles" >&2
fi

join() { local IFS=,; echo "$*"; }
ratio=$(median <<<"${ratios[*]}")
ours_tps=$(median <<<"${tpss[*]}")
limit=$(median <<<"${limits[*]}")
# The client's CPU per tile (tilebench's own rusage): on a machine client
# and server share, it bounds the ratio, and unlike tiles/s it holds still
# under other load.
ours_cpu=$(median <<<"${cpus[*]}")
ceiling=$(median <<<"${ceilings[*]}")
peer_s=$(field seconds "$peer")
peer_tps=$(awk -v n="$peer_tiles" -v s="$peer_s" 'BEGIN { printf "%.1f", n / s }')
line=$(awk -v r="$ratio" -v h="$ceiling" -v o="$ours_tps" -v l="$limit" -v p="$peer_tps" -v n="$TILES" -v c="$ours_cpu" \
	-v rounds="$ROUNDS" -v rr="$(join "${ratios[@]}")" -v rl="$(join "${limits[@]}")" -v ro="$(join "${tpss[@]}")" -v rc="$(join "${cpus[@]}")" 'BEGIN {
	printf "limit_ratio=%.2f aria2c_ratio=%.2f ours_tps=%s limit_rps=%.0f aria2c_tps=%s tiles=%s ours_cpu_us_per_tile=%s fetch_only_ratio=%.2f target_limit_ratio=0.7 rounds=%s round_ratios=%s round_limit_rps=%s round_ours_tps=%s round_cpu_us_per_tile=%s\n", r, o / p, o, l, p, n, c, h, rounds, rr, rl, ro, rc
}')
bench_result tiles-download-results.txt "$line"
awk -v r="$ratio" 'BEGIN { exit !(r >= 0.7) }'
