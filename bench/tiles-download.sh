#!/usr/bin/env bash
# Tile download benchmark: offlined's tiles downloader (into MBTiles) vs
# aria2c (into files), same URL set, same concurrency, same loopback server.
#   TILES=<n>        tiles to download (default 21845 = the full z0-z7 pyramid)
#   CONCURRENCY=<c>  parallel requests for both tools (default 8)
#   WRK_DURATION=<s> seconds of the wrk run measuring the server's capacity (10)
# Last line: limit_ratio=<ours/server capacity> aria2c_ratio=<ours/aria2c> …;
# exit 1 below limit_ratio 0.7.
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
go build -o "$work/tilebench" ./bench/cmd/tilebench

bench_start "$work/tileserve" >"$work/addr"
server_pid=$BENCH_PID
for _ in $(seq 50); do [ -s "$work/addr" ] && break; sleep 0.1; done
url=$(head -1 "$work/addr")
echo "server: $url  tiles: $TILES  concurrency: $CONC" >&2

# Warm the server (its tile cache is built at start; this just opens sockets).
curl -fsS -o /dev/null "$url/tile/0/0/0.png"

# offlined
ours=$("$work/tilebench" -url "$url" -n "$TILES" -c "$CONC" -out "$work/ours.mbtiles")
echo "offlined: $ours" >&2
ours_tiles=$(sqlite3 "$work/ours.mbtiles" 'select count(*) from tiles' 2>/dev/null || echo "?")

# aria2c, same URL list
"$work/tilebench" -url "$url" -n "$TILES" -urls "$work/urls.txt"
peer=$("$work/tilebench" rusage -- aria2c -i "$work/urls.txt" -d "$work/aria" -j "$CONC" -x 1 \
	--enable-http-keep-alive=true --enable-http-pipelining=false --file-allocation=none \
	--auto-file-renaming=false --allow-overwrite=true --check-certificate=false \
	--console-log-level=error --summary-interval=0 --download-result=hide -q 2>"$work/aria.err")
peer_tiles=$(find "$work/aria" -name '*.png' -type f | wc -l)
echo "aria2c: $peer files=$peer_tiles" >&2

field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" <<<"$2"; }
ours_tps=$(field tps "$ours")
ours_n=$(field tiles "$ours")
peer_s=$(field seconds "$peer")
peer_tps=$(awk -v n="$peer_tiles" -v s="$peer_s" 'BEGIN { printf "%.1f", n / s }')
ratio=$(awk -v a="$ours_tps" -v b="$peer_tps" 'BEGIN { printf "%.2f", a / b }')
echo "peak RSS: offlined $(field maxrss_kb "$ours") KB, aria2c $(field maxrss_kb "$peer") KB" >&2
ours_page=$(sqlite3 "$work/ours.mbtiles" 'pragma page_size' 2>/dev/null || echo "?")
echo "stored: offlined $ours_tiles tiles in MBTiles ($(stat -c %s "$work/ours.mbtiles") bytes, $ours_page-byte pages), aria2c $peer_tiles files" >&2
if [ "$ours_n" != "$TILES" ] || [ "$peer_tiles" != "$TILES" ]; then
	echo "warning: tile counts differ from $TILES (ours $ours_n, aria2c $peer_tiles)" >&2
fi

# The server's own capacity over the same URL list at the same concurrency:
# wrk (keep-alive, no storing), the limit a downloader can reach.
grep -E '^https?://' "$work/urls.txt" | sed -E 's#^https?://[^/]+##' >"$work/paths.txt"
limit=$(PATHS="$work/paths.txt" PREFIX="" SUFFIX="" AUTH="" wrk -t1 -c"$CONC" -d"${WRK_DURATION:-10}s" -s bench/localapi-tiles.lua "$url" 2>&1 |
	tee "$work/wrk.log" | awk '/Requests\/sec/ {print $2}')
if grep -q '^status' "$work/wrk.log"; then
	echo "non-200 answers to wrk:" >&2; grep '^status' "$work/wrk.log" | sort | uniq -c >&2
fi
echo "server capacity (wrk -c$CONC): $limit req/s" >&2
# The client's CPU per tile (tilebench's own rusage): on a machine client
# and server share, it bounds the ratio, and unlike tiles/s it holds still
# under other load.
ours_cpu=$(field cpu_us_per_tile "$ours")
line=$(awk -v o="$ours_tps" -v l="$limit" -v a="$ratio" -v p="$peer_tps" -v n="$TILES" -v c="$ours_cpu" 'BEGIN {
	printf "limit_ratio=%.2f aria2c_ratio=%s ours_tps=%s limit_rps=%.0f aria2c_tps=%s tiles=%s ours_cpu_us_per_tile=%s target_limit_ratio=0.7\n", o / l, a, o, l, p, n, c
}')
bench_result tiles-download-results.txt "$line"
awk -v o="$ours_tps" -v l="$limit" 'BEGIN { exit !(o / l >= 0.7) }'
