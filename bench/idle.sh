#!/usr/bin/env bash
# Energy benchmark: the daemon (built binary) idle with three maps,
# background sync on, no network change, for DURATION seconds.
#   DURATION=<s>      idle time measured (default 300)
#   SYNC_INTERVAL=<d> the daemon's -sync-interval (default: the daemon's, 15m)
#   TARGET_CPU_S=<s>  CPU-seconds allowed per 300 s idle (default 0.5; scaled
#                     to DURATION)
# Measures, from when the daemon is up and has answered once:
#   cpu_s    utime+stime of the daemon from /proc/PID/stat
#   wakeups  sync scheduler timer firings (the debug line 'sync scheduler
#            woke'; other timers of the daemon are not in this count)
#   ctxsw    voluntary context switches of all the daemon's threads (every
#            wakeup the kernel saw, timers and network alike)
#   probes   connectivity probes sent (the debug line 'sync probe sent')
# Last line: cpu_s=… wakeups=… ctxsw=… probes=… target_cpu_s=…; exit 1 above
# the CPU target or with any probe (there is nothing to sync).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
DURATION=${DURATION:-300}
TARGET=${TARGET_CPU_S:-0.5}
target=$(awk -v t="$TARGET" -v d="$DURATION" 'BEGIN { printf "%.3f", t*d/300 }')

work=$(mktemp -d)
cleanup() {
	bench_cleanup
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/offlined" ./cmd/offlined
go build -o "$work/localapibench" ./bench/cmd/localapibench
"$work/offlined" demo -dir "$work/pkg" -no-sync -no-progress >"$work/demo.log" 2>&1 || { cat "$work/demo.log" >&2; exit 1; }
"$work/localapibench" dataroot -root "$work/data" -package "$work/pkg" -maps 3
sync_flag=()
[ -n "${SYNC_INTERVAL:-}" ] && sync_flag=(-sync-interval "$SYNC_INTERVAL")
bench_start "$work/offlined" serve -data "$work/data" -listen 127.0.0.1:0 -log-level debug "${sync_flag[@]}" 2>"$work/serve.log"
pid=$BENCH_PID
for _ in $(seq 100); do [ -s "$work/data/api-addr" ] && break; sleep 0.1; done
base=$(cat "$work/data/api-addr")
curl -fsS -o /dev/null -H "Authorization: Bearer $(cat "$work/data/api-token")" "$base/api/v1/maps"
# Let start-up work (schedulers opening stores, first syncs) finish.
sleep 5

ticks=$(getconf CLK_TCK)
cpu() { awk -v t="$ticks" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / t }' "/proc/$pid/stat"; }
ctxsw() { cat /proc/"$pid"/task/*/status 2>/dev/null | awk '/^voluntary_ctxt_switches/ { n += $2 } END { print n + 0 }'; }
count() { grep -c "$1" "$work/serve.log" || true; }
cpu0=$(cpu); sw0=$(ctxsw); wk0=$(count 'sync scheduler woke'); pr0=$(count 'sync probe sent')
echo "daemon pid $pid, 3 maps, idle ${DURATION}s ($(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
sleep "$DURATION"
kill -0 "$pid" || { echo "daemon exited:" >&2; tail -20 "$work/serve.log" >&2; exit 1; }
cpu1=$(cpu); sw1=$(ctxsw); wk1=$(count 'sync scheduler woke'); pr1=$(count 'sync probe sent')
grep 'sync scheduler woke' "$work/serve.log" | sed 's/.*timer=\([a-z]*\).*/\1/' | sort | uniq -c | sed 's/^/  timer firings (whole run): /' >&2 || true
cpu_s=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }')
probes=$((pr1 - pr0))
echo "cpu_s=$cpu_s wakeups=$((wk1 - wk0)) ctxsw=$((sw1 - sw0)) probes=$probes duration_s=$DURATION target_cpu_s=$target"
awk -v c="$cpu_s" -v t="$target" 'BEGIN { exit !(c <= t) }' || { echo "above target: $cpu_s CPU-s > $target" >&2; exit 1; }
[ "$probes" -eq 0 ] || { echo "probes sent with nothing to sync: $probes" >&2; exit 1; }
