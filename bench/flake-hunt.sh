#!/usr/bin/env bash
# flake-hunt.sh runs the tests repeatedly while a CPU hog keeps every core
# busy, so timing-dependent tests fail here rather than in CI, and records
# the failures.
#
# usage: bench/flake-hunt.sh [-race] [-count N] [-o FILE] [packages...]
#   -race      run with the race detector
#   -count N   runs per test (default 5)
#   -o FILE    failure record, appended to (default bench/flake-hunt-results.txt)
#   packages   default ./...
# Last line: failed_tests=<n> failed_packages=<n> exit=<rc> …; exits with
# go test's status (non-zero: a test failed).
set -u
race=""
count=5
out="$(cd "$(dirname "$0")" && pwd)/flake-hunt-results.txt"
while [ $# -gt 0 ]; do
	case "$1" in
	-race) race="-race"; shift ;;
	-count) count="$2"; shift 2 ;;
	-o) out="$2"; shift 2 ;;
	-h|--help) sed -n '2,10p' "$0"; exit 0 ;;
	*) break ;;
	esac
done
pkgs=("$@")
[ ${#pkgs[@]} -eq 0 ] && pkgs=(./...)

cores=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
hogs=()
stop_hogs() {
	for p in "${hogs[@]}"; do kill "$p" 2>/dev/null; done
	wait "${hogs[@]}" 2>/dev/null
}
trap stop_hogs EXIT INT TERM
for _ in $(seq "$cores"); do
	( while :; do :; done ) &
	hogs+=($!)
done

log=$(mktemp)
start=$(date +%s)
echo "flake hunt: go test $race -count=$count -timeout $((20 * count))m ${pkgs[*]} with $cores CPU hogs" >&2
# -count runs every test count times in one test binary, and go test's
# 10-minute timeout is for the whole binary: scale it with the count, so a
# slow package under the hogs is not reported as a hang (localapi -race
# -count=2 reached it in its second run; offline took 563 s of 600 for
# -count=1 and hit 1200 s for -count=2 at load 13-27, in the middle of a
# test that was still moving): 20 minutes per count.
go test $race -count="$count" -timeout "$((20 * count))m" "${pkgs[@]}" >"$log" 2>&1
rc=$?
end=$(date +%s)
ftests=$(grep -c '^--- FAIL' "$log")
fpkgs=$(grep -c '^FAIL[[:space:]]' "$log")
summary="failed_tests=$ftests failed_packages=$fpkgs exit=$rc count=$count race=${race:-no} seconds=$((end - start))"
{
	echo
	echo "# flake hunt $(date -u +%Y-%m-%dT%H:%M:%SZ): go test $race -count=$count ${pkgs[*]}"
	echo "# $cores CPU hogs, $((end - start)) s, exit $rc, commit $(git rev-parse --short HEAD 2>/dev/null), uptime before the hogs stopped: $(uptime | sed 's/^ *//')"
	grep -E '^(--- FAIL|FAIL|panic:|ok )' "$log" || true
	if [ $rc -ne 0 ]; then
		echo
		echo "# failure details"
		grep -B2 -A25 -E '^(--- FAIL|panic:)' "$log" || tail -50 "$log"
	fi
	echo "$summary"
} >>"$out"
rm -f "$log"
echo "flake hunt: record appended to $out" >&2
echo "$summary"
exit $rc
