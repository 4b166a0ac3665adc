#!/usr/bin/env bash
# Estimate accuracy: `offlined take-offline` (which estimates the package
# before the job and records estimate vs actual per layer in package.json)
# on the demo web map served by the emulator (bench/cmd/offlineserve), over
# a matrix of feature counts, areas and scale ranges; prints each run and
# the distribution of the relative error (estimate − actual) / actual for
# the whole package and per layer.
#   FEATURES="<n> …"   feature counts in total (default "400 5000"; above
#                      the sample size of 200 per layer, sizes are sampled)
#   ATTACHMENTS=<opt>  attachments option (default allLayers)
#   TARGET_PCT=<p>     the package estimate's p90 |error| allowed (default 25)
# Last line: package_p90_pct=… package_max_pct=… within_target=a/b runs=n
# target_pct=25; exit 1 above target. Results (every run and the
# distribution) are appended to bench/estimate-results.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
FEATURES=${FEATURES:-"400 5000"}
ATTACHMENTS=${ATTACHMENTS:-allLayers}
TARGET_PCT=${TARGET_PCT:-25}
AREAS=(
	"-117.25,33.98,-117.10,34.10"  # the demo area
	"-117.20,34.02,-117.15,34.06"  # a small area
	"-117.30,33.95,-117.05,34.15"  # a wide area
)
SCALES=("150000 70000" "150000 10000" "300000 5000")

bench_init
server_pid=
bench_build offlineserve offlined
export OFFLINED_PASSWORD=demo-password
n=0
for features in $FEATURES; do
	if [ -n "$server_pid" ]; then bench_stop "$server_pid"; fi
	bench_emulator "$features" -work "$work/em-$features"
	for area in "${AREAS[@]}"; do
		for sc in "${SCALES[@]}"; do
			set -- $sc
			n=$((n + 1))
			"$work/offlined" take-offline --portal "$url/sharing/rest" --item 0ff11ed0b5e94a3c8d2f000000000001 \
				--user demo --dir "$work/pkg-$n" --bbox "$area" --min-scale "$1" --max-scale "$2" \
				--attachments "$ATTACHMENTS" --accept-partial --json >"$work/result-$n.json"
			echo "features=$features bbox=$area scales=1:$1..1:$2" >"$work/run-$n.txt"
			rm -rf "$work/pkg-$n"
		done
	done
done

python3 - "$work" "$n" "$TARGET_PCT" >"$work/report.txt" <<'PY'
import json, sys, statistics
work, n, target = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]) / 100
total, per = [], {}
for i in range(1, n + 1):
    label = open(f"{work}/run-{i}.txt").read().strip()
    r = json.load(open(f"{work}/result-{i}.json"))
    e = (r.get("manifest") or {}).get("estimate")
    if not e:
        print(f"{label}: no estimate recorded (state {r.get('state')})")
        continue
    total.append(e["error"])
    print(f"{label}: estimated {e['estimated']['bytes']:>10} actual {e['actual']:>10} error {100*e['error']:+6.1f}%")
    for l in e["layers"]:
        if l.get("actual", 0) > 0:
            per.setdefault(l["kind"], []).append(l["error"])
            print(f"    {l['title']:<16} {l['kind']:<12} {l['estimated'].get('method',''):<14} estimated {l['estimated']['bytes']:>10} actual {l['actual']:>10} error {100*l['error']:+6.1f}%")

def dist(name, errs):
    if not errs:
        return
    a = sorted(abs(x) for x in errs)
    p90 = a[min(len(a) - 1, int(round(0.9 * (len(a) - 1))))]
    print(f"{name:<14} n={len(errs):<3} mean {100*statistics.mean(errs):+6.1f}%  median |e| {100*statistics.median(a):5.1f}%  p90 |e| {100*p90:5.1f}%  max |e| {100*a[-1]:5.1f}%  within ±25% {sum(x <= .25 for x in a)}/{len(a)}")

print("\nerror distribution (estimate − actual) / actual:")
dist("package", total)
for k in sorted(per):
    dist(k, per[k])
a = sorted(abs(x) for x in total) or [float("inf")]
p90 = a[min(len(a) - 1, int(round(0.9 * (len(a) - 1))))]
print(f"package_p90_pct={100*p90:.1f} package_max_pct={100*a[-1]:.1f} within_target={sum(x <= target for x in a)}/{len(total)} runs={n} target_pct={100*target:.0f}")
PY
echo "FEATURES=\"$FEATURES\" ATTACHMENTS=$ATTACHMENTS" >&2
mapfile -t lines <"$work/report.txt"
bench_result estimate-results.txt "${lines[@]}"
p90=$(tail -1 "$work/report.txt" | sed 's/package_p90_pct=\([^ ]*\).*/\1/')
awk -v p="$p90" -v t="$TARGET_PCT" 'BEGIN { exit !(p <= t) }' || { echo "package estimate p90 error above ${TARGET_PCT}%" >&2; exit 1; }
