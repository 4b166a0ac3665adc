#!/usr/bin/env bash
# Feature query latency through the API: ~1,000-feature bbox queries on a
# 1,000,000-point layer (GeoJSON, HTTP on loopback). The layer is built once
# with geodb's bulk loader and cached in the temp dir.
#   QUERIES=<n>                  queries to time (default 300)
#   OFFLINED_BENCH_FEATURES=<n>  layer size (default 1000000)
#   OFFLINED_BENCH_TRACE=1       log every query over 50 ms (to tell load spikes from slow boxes)
# Last line: p50_ms=<…> p99_ms=<…> features_per_box=<…> layer=<n>
set -euo pipefail
cd "$(dirname "$0")/.."
QUERIES=${QUERIES:-300}
out=$(go test -run '^$' -bench BenchmarkFeatureQueryBBox -benchtime "${QUERIES}x" ./localapi/)
echo "$out" >&2
echo "$out" | awk -v n="${OFFLINED_BENCH_FEATURES:-1000000}" '/^BenchmarkFeatureQueryBBox/ {
	for (i = 1; i < NF; i++) { if ($(i+1) == "p50-ms") p50 = $i; if ($(i+1) == "p99-ms") p99 = $i; if ($(i+1) == "features/box") fb = $i }
	printf "p50_ms=%s p99_ms=%s features_per_box=%s layer=%s\n", p50, p99, fb, n }'
