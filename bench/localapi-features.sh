#!/usr/bin/env bash
# Feature query latency through the API: ~1,000-feature bbox queries on a
# 1,000,000-point layer (GeoJSON, HTTP on loopback). The layer is built once
# with geodb's bulk loader and cached in the temp dir.
#   QUERIES=<n>                  queries to time (default 300)
#   OFFLINED_BENCH_FEATURES=<n>  layer size (default 1000000)
#   OFFLINED_BENCH_TRACE=1       log every query over 50 ms (to tell load spikes from slow boxes)
#   TARGET_MS=<ms>               p99 allowed (default 10)
# Then BenchmarkFeatureQueryCPU serves the same kind of query in process and
# gives the CPU per query (process CPU, GC included) and allocations per
# query: figures that hold on a loaded machine, unlike latency.
# Last line: p50_ms=<…> p99_ms=<…> features_per_box=<…> layer=<n> target_ms=10
# cpu_ms_per_query=<…> allocs_per_query=<…>;
# exit 1 above target. Results are appended to bench/localapi-results.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
QUERIES=${QUERIES:-300}
TARGET_MS=${TARGET_MS:-10}
out=$(go test -run '^$' -bench BenchmarkFeatureQueryBBox -benchtime "${QUERIES}x" ./localapi/)
echo "$out" >&2
line=$(echo "$out" | awk -v n="${OFFLINED_BENCH_FEATURES:-1000000}" -v t="$TARGET_MS" '/^BenchmarkFeatureQueryBBox/ {
	for (i = 1; i < NF; i++) { if ($(i+1) == "p50-ms") p50 = $i; if ($(i+1) == "p99-ms") p99 = $i; if ($(i+1) == "features/box") fb = $i }
	printf "p50_ms=%s p99_ms=%s features_per_box=%s layer=%s target_ms=%s\n", p50, p99, fb, n, t }')
[ -n "$line" ] || { echo "no benchmark result" >&2; exit 1; }
cpu=$(go test -run '^$' -bench BenchmarkFeatureQueryCPU -benchtime "${QUERIES}x" -benchmem ./localapi/)
echo "$cpu" >&2
line="$line $(echo "$cpu" | awk '/^BenchmarkFeatureQueryCPU/ {
	for (i = 1; i < NF; i++) { if ($(i+1) == "cpu-ms/query") c = $i; if ($(i+1) == "allocs/op") a = $i }
	printf "cpu_ms_per_query=%s allocs_per_query=%s\n", c, a }')"
bench_result localapi-results.txt "$line"
p99=$(echo "$line" | sed 's/.*p99_ms=\([^ ]*\).*/\1/')
awk -v p="$p99" -v t="$TARGET_MS" 'BEGIN { exit !(p <= t) }' || { echo "p99 above target" >&2; exit 1; }
