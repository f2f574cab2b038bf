#!/bin/sh
# cairn-worker as a daemon: bad usage exits 2 with a message, a URL nng
# does not accept or a state directory others can write to exits 1; with
# a scheduler that is not there it still starts (defaults from
# CAIRN_WORKER_SCHEDULER and XDG_STATE_HOME, its state directory 0700),
# and SIGTERM stops it cleanly, exit 0, within a deadline.
set -eu
bin="$1"
src="$2"
w="$bin/cairn-worker"
topo="$src/topologies/hgx-h100-8gpu.xml"
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
fail=0

# Run a command, expecting exit status $2 and $3 in its stderr.
expect_exit() {
    name=$1 want=$2 msg=$3
    shift 3
    rc=0
    "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
    if [ "$rc" -ne "$want" ]; then
        echo "FAIL: $name: exit $rc, want $want"; cat "$tmp/err"; fail=1
    elif ! grep -q -- "$msg" "$tmp/err"; then
        echo "FAIL: $name: no '$msg' in:"; cat "$tmp/err"; fail=1
    fi
}

# Wait (up to 10 s) until file $1 contains $2.
wait_log() {
    i=0
    while ! grep -q -- "$2" "$1" 2>/dev/null; do
        i=$((i + 1))
        [ $i -gt 200 ] && return 1
        sleep 0.05
    done
}

# SIGTERM $pid and wait for it, SIGKILL after 10 s; its exit status in $rc.
stop_worker() {
    kill -TERM "$pid"
    (sleep 10 >/dev/null 2>&1 && kill -9 "$pid" 2>/dev/null &&
        echo "FAIL: $1: still running 10 s after SIGTERM") &
    watchdog=$!
    rc=0
    wait "$pid" || rc=$?
    kill "$watchdog" 2>/dev/null || true
    wait "$watchdog" 2>/dev/null || true
    pid=
}

expect_exit "--bogus" 2 "bogus" "$w" --bogus
expect_exit "bad log level" 2 "log-level" "$w" --log-level loud
expect_exit "bad report hold" 2 "report-hold" "$w" --report-hold 5ms
expect_exit "report hold too long" 2 "report-hold" "$w" --report-hold 1001
expect_exit "bad start timeout" 2 "start-timeout" "$w" --start-timeout 5x
expect_exit "zero start timeout" 2 "start-timeout" "$w" --start-timeout 0
expect_exit "bad URL" 1 "scheduler URL" "$w" --scheduler "nosuch://x" --topology "$topo" \
    --state-dir "$tmp/s0"
expect_exit "bad hash size" 2 "hash-max-bytes" "$w" --hash-max-bytes 5X
expect_exit "negative hash size" 2 "hash-max-bytes" "$w" --hash-max-bytes -1
expect_exit "bad hash timeout" 2 "hash-timeout" "$w" --hash-timeout soon
expect_exit "bad pass-env" 2 "pass-env" "$w" --pass-env 'LC_*,A=B'
# a state directory others can write to: refused, saying why
mkdir -m 0777 "$tmp/open"
chmod 0777 "$tmp/open"
expect_exit "open state dir" 1 "writable by other users" "$w" --scheduler "ipc://$tmp/x.sock" \
    --topology "$topo" --state-dir "$tmp/open"

# No scheduler at an ipc path: starts, dials in the background, stops on SIGTERM.
"$w" --scheduler "ipc://$tmp/nobody/workers.sock" --state-dir "$tmp/s1" --topology "$topo" \
    --pass-env 'LC_*' --pass-env TZ,HTTP_PROXY --hash-max-bytes 16G --hash-timeout 90s \
    --log-file "$tmp/ipc.log" 2>"$tmp/ipc.err" &
pid=$!
if wait_log "$tmp/ipc.log" "dialing the scheduler"; then
    [ "$(stat -c %a "$tmp/s1")" = 700 ] || { echo "FAIL: ipc: state dir not 0700"; fail=1; }
    stop_worker "ipc"
    [ "$rc" -eq 0 ] || { echo "FAIL: ipc: exit $rc after SIGTERM"; fail=1; }
    grep -q "SIGTERM: stopping" "$tmp/ipc.log" || { echo "FAIL: ipc: no stop logged"; fail=1; }
else
    echo "FAIL: ipc: the worker did not start"; cat "$tmp/ipc.log" "$tmp/ipc.err"; fail=1
    kill -9 "$pid"; pid=
fi

# A plain tcp:// scheduler that nothing authenticates is refused at start.
rc=0
CAIRN_WORKER_SCHEDULER="tcp://127.0.0.1:1" XDG_STATE_HOME="$tmp/xdg" \
    "$w" --name clitest --topology "$topo" 2>"$tmp/insecure.err" || rc=$?
[ "$rc" -eq 2 ] || { echo "FAIL: unauthenticated tcp: exit $rc, want 2"; fail=1; }
grep -q "refusing to take work from tcp://127.0.0.1:1" "$tmp/insecure.err" &&
    grep -q -- "--join-key" "$tmp/insecure.err" && grep -q -- "--insecure" "$tmp/insecure.err" ||
    { echo "FAIL: unauthenticated tcp: no reason and fix given"; cat "$tmp/insecure.err"; fail=1; }

# Defaults from the environment: a refused tcp port, state under XDG_STATE_HOME.
CAIRN_WORKER_SCHEDULER="tcp://127.0.0.1:1" XDG_STATE_HOME="$tmp/xdg" \
    "$w" --name clitest --topology "$topo" --log-file "$tmp/tcp.log" --insecure 2>"$tmp/tcp.err" &
pid=$!
if wait_log "$tmp/tcp.log" "dialing the scheduler at tcp://127.0.0.1:1"; then
    [ -d "$tmp/xdg/cairn/worker-clitest" ] || { echo "FAIL: tcp: no default state dir"; fail=1; }
    stop_worker "tcp"
    [ "$rc" -eq 0 ] || { echo "FAIL: tcp: exit $rc after SIGTERM"; fail=1; }
else
    echo "FAIL: tcp: the worker did not start"; cat "$tmp/tcp.log" "$tmp/tcp.err"; fail=1
    kill -9 "$pid"; pid=
fi

[ $fail -eq 0 ] && echo "worker_daemon: ok"
exit $fail
