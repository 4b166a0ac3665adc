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
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
FEATURES=${FEATURES:-"400 5000"}
ATTACHMENTS=${ATTACHMENTS:-allLayers}
AREAS=(
	"-117.25,33.98,-117.10,34.10"  # the demo area
	"-117.20,34.02,-117.15,34.06"  # a small area
	"-117.30,33.95,-117.05,34.15"  # a wide area
)
SCALES=("150000 70000" "150000 10000" "300000 5000")

work=$(mktemp -d)
server_pid=
cleanup() {
	bench_cleanup
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/offlineserve" ./bench/cmd/offlineserve
go build -o "$work/offlined" ./cmd/offlined
export OFFLINED_PASSWORD=demo-password
n=0
for features in $FEATURES; do
	if [ -n "$server_pid" ]; then bench_stop "$server_pid"; fi
	rm -f "$work/addr"
	bench_start "$work/offlineserve" -features "$features" -work "$work/em-$features" >"$work/addr"
	server_pid=$BENCH_PID
	for _ in $(seq 300); do [ -s "$work/addr" ] && break; sleep 0.1; done
	url=$(head -1 "$work/addr")
	for area in "${AREAS[@]}"; do
		for sc in "${SCALES[@]}"; do
			set -- $sc
			n=$((n + 1))
			"$work/offlined" take-offline --portal "$url/sharing/rest" --item 0ff11ed0b5e94a3c8d2f000000000001 \
				--user demo --dir "$work/pkg-$n" --bbox "$area" --min-scale "$1" --max-scale "$2" \
				--attachments "$ATTACHMENTS" --json >"$work/result-$n.json"
			echo "features=$features bbox=$area scales=1:$1..1:$2" >"$work/run-$n.txt"
			rm -rf "$work/pkg-$n"
		done
	done
done

python3 - "$work" "$n" <<'PY'
import json, sys, statistics
work, n = sys.argv[1], int(sys.argv[2])
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
PY
