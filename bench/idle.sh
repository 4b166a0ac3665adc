#!/usr/bin/env bash
# Energy benchmark: the daemon (built binary) idle with three maps,
# background sync on, no network change, for DURATION seconds.
#   MODE=idle         nothing to sync (default): no probe may be sent
#   MODE=offline      every map has a pending edit and its server is
#                     unreachable (the demo emulator the package came from
#                     has exited): the connectivity probe backs off
#   DURATION=<s>      idle time measured (default 300)
#   SYNC_INTERVAL=<d> the daemon's -sync-interval (default: the daemon's, 15m)
#   TARGET_CPU_S=<s>  CPU-seconds allowed per 300 s idle (default 0.5; scaled
#                     to DURATION)
# Measures, from when the daemon is up and has answered once (offline: from
# the first failed sync of the last map):
#   cpu_s    utime+stime of the daemon from /proc/PID/stat
#   wakeups  timer firings of the sync schedulers and of the daemon's
#            registry recheck (the debug line 'sync scheduler woke')
#   ctxsw    voluntary context switches of all the daemon's threads (every
#            wakeup the kernel saw, timers and network alike)
#   probes   connectivity probes sent: probe timer firings (without a portal
#            the daemon's probe is the sync attempt itself)
#   per store: its timer firings in the window by timer, the shortest gap
#            between two of them, and the firings after its first interval
#            (a store's own status write after the interval's sync is no
#            activity: the change poll keeps its backoff). No store's timer
#            may fire sooner than the probe's shortest backoff (5 s) after
#            the one before.
#   offline: probe intervals per store with pending edits; each must double
#            the one before up to the cap (10 min), and no other timer of
#            that store but the sync interval may fire while its probe waits.
#   LOG=<file>  keeps a copy of the daemon's log
# Last line: cpu_s=… wakeups=… ctxsw=… probes=… … target_cpu_s=…; exit 1
# above the CPU target, with a probe while there is nothing to sync (idle),
# or with a timer firing sooner than the backoff allows (either mode) or a
# probe interval breaking it (offline).
# Results are appended to bench/idle-results.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
MODE=${MODE:-idle}
DURATION=${DURATION:-300}
TARGET=${TARGET_CPU_S:-0.5}
target=$(awk -v t="$TARGET" -v d="$DURATION" 'BEGIN { printf "%.3f", t*d/300 }')
case "$MODE" in idle | offline) ;; *) echo "MODE=$MODE: want idle or offline" >&2; exit 2 ;; esac

bench_init
bench_build offlined localapibench
bench_demo_root 3
sync_flag=()
[ -n "${SYNC_INTERVAL:-}" ] && sync_flag=(-sync-interval "$SYNC_INTERVAL")
bench_serve -listen 127.0.0.1:0 -log-level debug -log-format json "${sync_flag[@]}"
curl -fsS -o /dev/null -H "$auth" "$base/api/v1/maps"
if [ "$MODE" = offline ]; then
	for m in map1 map2 map3; do
		curl -fsS -o /dev/null -H "$auth" -H 'Content-Type: application/json' -X POST "$base/api/v1/maps/$m/layers/Field_Survey.0/features" \
			-d '{"type":"Feature","geometry":{"type":"Point","coordinates":[-117.2,34.05]},"properties":{"InspectionID":"IDLE-OFFLINE"}}'
	done
fi
# Let start-up work (schedulers opening stores, first syncs) finish.
sleep 5

ticks=$(getconf CLK_TCK)
cpu() { awk -v t="$ticks" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / t }' "/proc/$pid/stat"; }
ctxsw() { cat /proc/"$pid"/task/*/status 2>/dev/null | awk '/^voluntary_ctxt_switches/ { n += $2 } END { print n + 0 }'; }
cpu0=$(cpu); sw0=$(ctxsw); t0=$(date -u +%Y-%m-%dT%H:%M:%S.%N)
echo "daemon pid $pid, 3 maps, mode $MODE, idle ${DURATION}s ($(date -u +%H:%M:%S) UTC, load $(bench_load))" >&2
sleep "$DURATION"
kill -0 "$pid" || { echo "daemon exited:" >&2; tail -20 "$work/serve.log" >&2; exit 1; }
cpu1=$(cpu); sw1=$(ctxsw); t1=$(date -u +%Y-%m-%dT%H:%M:%S.%N)
states=""
if [ "$MODE" = offline ]; then
	states=$(for m in map1 map2 map3; do curl -fsS -H "$auth" "$base/api/v1/maps/$m/sync"; echo; done |
		python3 -c 'import json,sys,collections; print(" ".join(f"{k}×{v}" for k, v in sorted(collections.Counter(n+":"+str(s.get("state"))+"/pending="+str(s.get("pendingEdits",0)) for l in sys.stdin if l.strip() for n, s in json.loads(l)["services"].items()).items())))')
fi
cpu_s=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }')
# The log's wakeups in [t0, t1]: counts, per-store probe intervals, checks.
read -r wakeups probes checks < <(python3 - "$work/serve.log" "$t0" "$t1" "$MODE" <<'PY'
import json, sys, collections
log, t0, t1, mode = sys.argv[1], sys.argv[2][:23], sys.argv[3][:23], sys.argv[4]
cap, probe_min = 600.0, 5.0
def sec(ts):  # 2026-12-04T19:29:15.717…Z → seconds of the day
    h, m, s = ts[11:13], ts[14:16], ts[17:23]
    return int(h) * 3600 + int(m) * 60 + float(s)
wakes, by_db, firsts = [], collections.defaultdict(list), {}
for line in open(log):
    try:
        d = json.loads(line)
    except ValueError:
        continue
    if d.get("msg") != "sync scheduler woke":
        continue
    ts = d["time"][:23]
    db = d.get("db", "(registry recheck)")
    short = "/".join(db.split("/")[-3::2]) if "/" in db else db
    by_db[short].append((sec(ts), d.get("timer"), t0 <= ts <= t1))
    if t0 <= ts <= t1:
        wakes.append((ts, short, d.get("timer")))
timers = collections.Counter(t for _, _, t in wakes)
print("  timer firings in the window: " + ", ".join(f"{k} {v}" for k, v in sorted(timers.items())), file=sys.stderr)
bad = []
for db, ws in sorted(by_db.items()):
    inwin = [w for w in ws if w[2]]
    probes = [t for t, tm, _ in ws if tm == "probe"]
    gaps = [round(b - a, 1) for a, b in zip(probes, probes[1:])]
    kinds = collections.Counter(tm for _, tm, _ in inwin)
    wgaps = [(round(b[0] - a[0], 1), a[1], b[1]) for a, b in zip(inwin, inwin[1:])]
    shortest = min((g for g, _, _ in wgaps), default=None)
    firsti = next((t for t, tm, _ in inwin if tm == "interval"), None)
    after = "" if firsti is None else f"; after its first interval: {len([1 for t, _, _ in inwin if t > firsti])} firings {dict(collections.Counter(tm for t, tm, _ in inwin if t > firsti))}"
    print(f"  {db:<32} window: {dict(kinds)}; shortest gap {shortest}s{after}; probe intervals (whole run) {gaps}", file=sys.stderr)
    for g, a, b in wgaps:
        if g < probe_min - 0.05:
            bad.append(f"{db}: {b} fired {g}s after {a} (sooner than the probe's {probe_min:.0f} s)")
    if mode == "offline" and probes:
        # After the first probe only probes (and the sync interval, 15 min,
        # longer than the cap) may wake this store, and each interval
        # doubles the one before (± the attempt's own time, ~1 s under
        # load) up to the cap.
        others = [tm for t, tm, _ in ws if t > probes[0] and tm not in ("probe", "interval")]
        if others:
            bad.append(f"{db}: {len(others)} non-probe wakeups while the probe waited ({collections.Counter(others)})")
        for a, b in zip(gaps, gaps[1:]):
            if not (b >= min(2 * a, cap) * 0.9 and b <= cap * 1.05 + 5):
                bad.append(f"{db}: probe interval {b}s after {a}s (want double, at most {cap:.0f}s)")
    if mode == "offline" and "Field_Survey" in db and not probes:
        bad.append(f"{db}: no probe while offline with a pending edit")
for b in bad:
    print("  BACKOFF: " + b, file=sys.stderr)
print(len(wakes), timers.get("probe", 0), "ok" if not bad else "failed")
PY
)
[ -n "${LOG:-}" ] && cp "$work/serve.log" "$LOG"
[ -n "$states" ] && echo "  sync state at the end: $states" >&2
line="mode=$MODE cpu_s=$cpu_s wakeups=$wakeups ctxsw=$((sw1 - sw0)) probes=$probes backoff=$checks duration_s=$DURATION target_cpu_s=$target"
bench_result idle-results.txt "$line"
awk -v c="$cpu_s" -v t="$target" 'BEGIN { exit !(c <= t) }' || { echo "above target: $cpu_s CPU-s > $target" >&2; exit 1; }
if [ "$MODE" = idle ] && [ "$probes" -ne 0 ]; then echo "probes sent with nothing to sync: $probes" >&2; exit 1; fi
if [ "$checks" != ok ]; then echo "the probe backoff was broken (see BACKOFF lines)" >&2; exit 1; fi
