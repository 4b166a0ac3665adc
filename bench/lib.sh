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

# bench_init makes the work directory $work and sets the EXIT trap that
# stops every group and removes it.
bench_init() {
	work=$(mktemp -d)
	trap 'bench_cleanup; rm -rf "$work"' EXIT
}

# bench_build NAME… builds each command into $work: offlined
# (./cmd/offlined; OFFLINED_BIN=<file> uses that binary instead, to compare
# two builds) or a bench command (./bench/cmd/NAME).
bench_build() {
	local n
	for n in "$@"; do
		if [ "$n" = offlined ] && [ -n "${OFFLINED_BIN:-}" ]; then
			cp "$OFFLINED_BIN" "$work/offlined"
		elif [ "$n" = offlined ]; then
			# The device build the README gives (static, no libc).
			CGO_ENABLED=0 go build -trimpath -o "$work/offlined" ./cmd/offlined
		else
			go build -o "$work/$n" "./bench/cmd/$n"
		fi
	done
}

# bench_wait_file FILE [TENTHS] waits until FILE is non-empty (default 30 s).
bench_wait_file() {
	local i
	for i in $(seq "${2:-300}"); do
		[ -s "$1" ] && return 0
		sleep 0.1
	done
	echo "bench: $1 not written in time" >&2
	return 1
}

# bench_wrk DEFAULT_SECONDS sets the wrk load's parameters from the
# environment: DURATION (default DEFAULT_SECONDS), CONN (CONNECTIONS,
# default 32) and THREADS (default 1); it installs wrk (Debian package) when
# it is missing.
bench_wrk() {
	DURATION=${DURATION:-$1}
	CONN=${CONNECTIONS:-32}
	THREADS=${THREADS:-1}
	if ! command -v wrk >/dev/null; then
		echo "installing wrk (Debian package)…" >&2
		apt-get install -y wrk >/dev/null
	fi
}

# bench_free_port prints a loopback port free at the time of the call.
bench_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# bench_demo_root MAPS takes the demo web map offline (built-in emulator)
# into $work/pkg and registers MAPS copies of it in the data root $work/data
# (needs offlined and localapibench built).
bench_demo_root() {
	"$work/offlined" demo -dir "$work/pkg" -no-sync -no-progress >"$work/demo.log" 2>&1 || { cat "$work/demo.log" >&2; return 1; }
	"$work/localapibench" dataroot -root "$work/data" -package "$work/pkg" -maps "$1"
}

# bench_serve ARGS… starts `offlined serve -data $work/data ARGS…` (stderr to
# $work/serve.log), waits for its address and sets pid, base and auth (the
# Authorization header).
bench_serve() {
	bench_start "$work/offlined" serve -data "$work/data" "$@" 2>"$work/serve.log"
	pid=$BENCH_PID
	bench_wait_file "$work/data/api-addr" 100 || { tail -20 "$work/serve.log" >&2; return 1; }
	base=$(cat "$work/data/api-addr")
	auth="Authorization: Bearer $(cat "$work/data/api-token")"
}

# bench_emulator FEATURES ARGS… starts bench/cmd/offlineserve (built) with
# FEATURES features and sets url to its root.
bench_emulator() {
	local f=$1
	shift
	rm -f "$work/addr"
	bench_start "$work/offlineserve" -features "$f" "$@" >"$work/addr"
	server_pid=$BENCH_PID
	bench_wait_file "$work/addr"
	url=$(head -1 "$work/addr")
}

# bench_load prints the machine's load averages (1, 5, 15 min).
bench_load() { cut -d' ' -f1-3 /proc/loadavg; }

# bench_result FILE LINE… prints each LINE and appends them to FILE (under
# bench/) after a header with the date, the commit and the machine's load:
# the figures' last line is the script's last line.
bench_result() {
	local f=$1
	shift
	{
		echo
		echo "# $(basename "$0") $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo ?), $(nproc) cores${OFFLINED_BIN:+, offlined=$OFFLINED_BIN}, uptime: $(uptime | sed 's/^ *//')"
		printf '%s\n' "$@"
	} >>"bench/$f"
	printf '%s\n' "$@"
}
