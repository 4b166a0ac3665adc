# bench/lib.sh: helpers shared by the bench scripts (source it).
#
# Every process a bench starts in the background runs in its own session and
# process group (setsid), so stopping it stops its children too (npx → node,
# a shell wrapper → the server). bench_cleanup, called from the EXIT trap,
# stops every group still running and says so if one survives.

BENCH_GROUPS=()
BENCH_STARTED=()

# bench_start CMD ARGS… runs CMD in the background in a new process group and
# sets BENCH_PID to its pid (which is also the group id). Redirections go
# around the call: bench_start cmd >log 2>&1
bench_start() {
	# A background child of a non-interactive shell is no group leader, so
	# setsid turns it into one in place: $! is the group id.
	setsid "$@" &
	BENCH_PID=$!
	BENCH_GROUPS+=("$BENCH_PID")
	BENCH_STARTED+=("$BENCH_PID")
}

# bench_stop PID stops the process group PID: TERM, then KILL after 5 s.
bench_stop() {
	local g=$1 i
	kill -TERM -- "-$g" 2>/dev/null || true
	for i in $(seq 50); do
		kill -0 -- "-$g" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 -- "-$g" 2>/dev/null; then
		echo "bench: process group $g ignored TERM; killing it" >&2
		kill -KILL -- "-$g" 2>/dev/null || true
	fi
	wait "$g" 2>/dev/null || true
	local rest=() x
	for x in "${BENCH_GROUPS[@]}"; do [ "$x" = "$g" ] || rest+=("$x"); done
	BENCH_GROUPS=("${rest[@]}")
}

# bench_cleanup stops every group bench_start started and reports survivors.
bench_cleanup() {
	local g
	for g in "${BENCH_GROUPS[@]}"; do bench_stop "$g"; done
	for g in "${BENCH_STARTED[@]}"; do
		if pgrep -g "$g" >/dev/null 2>&1; then
			echo "bench: processes left in group $g: $(pgrep -g "$g" | tr '\n' ' ')" >&2
		fi
	done
}
