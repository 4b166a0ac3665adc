#!/usr/bin/env bash
# Sync benchmark: N local edits up and N server edits down in one sync on
# loopback (emulator in the same process). N defaults to 10000; set N=100000
# for the growth figure. KILL_ITERS=<k> also runs the kill -9 loop with k
# iterations.
# Last line: sync-bench n=… wall=…ms client_peak_rss=…kB uploaded=… downloaded=…
# (or the kill loop's verdict); exit 1 if a test fails (every edit must
# arrive, none lost or duplicated). Results are appended to
# bench/sync-results.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
N=${N:-10000}
rc=0
out=$(OFFLINED_SYNC_BENCH_N=$N go test -count=1 -run '^TestSyncBench$' -v -timeout 30m ./sync/ 2>&1) || rc=1
echo "$out" | grep -E 'FAIL|ok' >&2 || true
lines=("$(echo "$out" | grep -E '^sync-bench' || echo "sync-bench n=$N failed")")
if [ -n "${KILL_ITERS:-}" ]; then
	out=$(OFFLINED_SYNC_KILL_ITERS=$KILL_ITERS go test -count=1 -run '^TestKillNineLoop$' -v -timeout 60m ./sync/ 2>&1) || rc=1
	echo "$out" | grep -E 'FAIL|ok' >&2 || true
	lines+=("kill-loop $(echo "$out" | grep -oE '[0-9]+ kill -9 iterations.*' || echo "iterations=$KILL_ITERS failed")")
fi
bench_result sync-results.txt "${lines[@]}"
exit $rc
