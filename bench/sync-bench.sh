#!/usr/bin/env bash
# Sync benchmark: N local edits up and N server edits down in one sync on
# loopback (emulator in the same process). N defaults to 10000; set N=100000
# for the growth figure. Prints: sync-bench n=… wall=… peak_rss=…
# KILL_ITERS=<k> also runs the kill -9 loop with k iterations.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10000}
OFFLINED_SYNC_BENCH_N=$N go test -count=1 -run '^TestSyncBench$' -v -timeout 30m ./sync/ | grep -E 'sync-bench|FAIL|ok'
if [ -n "${KILL_ITERS:-}" ]; then
	OFFLINED_SYNC_KILL_ITERS=$KILL_ITERS go test -count=1 -run '^TestKillNineLoop$' -v -timeout 60m ./sync/ | grep -E 'kill|FAIL|ok'
fi
