#!/usr/bin/env bash
# flake-hunt.sh runs the tests repeatedly while a CPU hog keeps every core
# busy, so timing-dependent tests fail here rather than in CI, and records
# the failures.
#
# usage: bench/flake-hunt.sh [-race] [-count N] [-o FILE] [packages...]
#   -race      run with the race detector
#   -count N   runs per test (default 5)
#   -o FILE    failure record (default flake-hunt-<date>.txt)
#   packages   default ./...
set -u
race=""
count=5
out="flake-hunt-$(date +%Y%m%d-%H%M%S).txt"
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
echo "flake hunt: go test $race -count=$count ${pkgs[*]} with $cores CPU hogs" >&2
go test $race -count="$count" "${pkgs[@]}" >"$log" 2>&1
rc=$?
end=$(date +%s)
{
	echo "# flake hunt $(date -u +%Y-%m-%dT%H:%M:%SZ): go test $race -count=$count ${pkgs[*]}"
	echo "# $cores CPU hogs, $((end - start)) s, exit $rc, commit $(git rev-parse --short HEAD 2>/dev/null)"
	grep -E '^(--- FAIL|FAIL|panic:|ok )' "$log" || true
	if [ $rc -ne 0 ]; then
		echo
		echo "# failure details"
		grep -B2 -A25 -E '^(--- FAIL|panic:)' "$log" || tail -50 "$log"
	fi
} >"$out"
rm -f "$log"
echo "flake hunt: exit $rc, record in $out" >&2
exit $rc
