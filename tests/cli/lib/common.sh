# What the shell tests share. A test (tests/cli/NAME.sh BIN_DIR TESTS_DIR)
# sources this after `set -u`:
#   . "$(dirname "$0")/lib/common.sh"
#   cli_init NAME
# and gets bin, tests, cairn, dir (a new /tmp/cairn-NAME-test-XXXXXX),
# fail=0, ok/bad, expect and json_check, and on exit: the processes in $pids
# killed and waited for, cleanup_more (if the test defines one), the
# functions registered with cli_on_exit (by a library: lib/pg.sh), the
# local cluster of $CAIRN_STATE_DIR (cli_local_cluster) brought down,
# whatever still runs with $dir in its command line killed, $dir removed.
bin="$1"
tests="$2"
cairn="$bin/cairn"
fail=0
pids=""
on_exit=""

# cli_on_exit FUNCTION: run FUNCTION at the clean-up (once, however often
# registered), after the test's own processes are gone
cli_on_exit() {
    case " $on_exit " in
    *" $1 "*) ;;
    *) on_exit="$on_exit $1" ;;
    esac
}

cli_cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    for p in $pids; do wait "$p" 2>/dev/null; done
    if command -v cleanup_more >/dev/null 2>&1; then cleanup_more; fi
    for f in $on_exit; do "$f"; done
    [ -n "${CAIRN_STATE_DIR:-}" ] && "$cairn" down --state-dir "$CAIRN_STATE_DIR" >/dev/null 2>&1
    pkill -KILL -f -- "$dir/" 2>/dev/null # whatever down could not stop
    rm -rf "$dir"
}

# cli_init NAME: the test's directory and its clean-up.
cli_init() {
    dir=$(mktemp -d "/tmp/cairn-$1-test-XXXXXX")
    trap cli_cleanup EXIT
    trap 'exit 1' INT TERM
}

# A local cluster ('cairn up') in $dir/state, the cairn command's default.
cli_local_cluster() {
    CAIRN_STATE_DIR=$dir/state
    export CAIRN_STATE_DIR
    unset CAIRN_SCHEDULER
}

# wait_for DESCRIPTION COMMAND...: poll until the command succeeds, at most
# 30 s; then it is a failure (returns 1)
wait_for() {
    what=$1
    shift
    i=0
    until "$@" >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -gt 600 ] && { bad "$what never happened"; return 1; }
        sleep 0.05 # polling a condition with a deadline
    done
}

ok() { echo "ok: $1"; }
bad() {
    echo "FAIL: $1"
    fail=1
}
# expect CODE DESCRIPTION -- COMMAND...: run with a timeout, check the exit code
expect() {
    want=$1 what=$2
    shift 3
    timeout 60 "$@" >"$dir/out" 2>"$dir/err"
    got=$?
    if [ "$got" -eq "$want" ]; then ok "$what"; else
        bad "$what: exit $got, expected $want"
        sed 's/^/  out: /' "$dir/out"
        sed 's/^/  err: /' "$dir/err"
    fi
}
# json_check DESCRIPTION PYTHON-EXPRESSION (on j, the JSON in $dir/out)
json_check() {
    if python3 -c "import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if ($2) else 1)" \
        "$dir/out"; then ok "$1"; else
        bad "$1"
        sed 's/^/  json: /' "$dir/out"
    fi
}

# A scheduler of the test's own (not `cairn up`). cli_scheduler [STATE]:
# $sched_state (default $dir/state), $url and cli (the client on it).
# sched_start OPTIONS...: cairn-scheduler on it, logging to
# $dir/scheduler.log, waited for until it answers; sched_stop (SIGTERM) and
# sched_kill9 end it. free_port prints a free loopback TCP port.
cli_scheduler() {
    sched_state=${1:-$dir/state}
    url="ipc://$sched_state/clients.sock"
    sched=""
    cli() { timeout 60 "$cairn" --scheduler "$url" "$@"; }
}
sched_start() {
    "$bin/cairn-scheduler" --state-dir "$sched_state" --log-file "$dir/scheduler.log" "$@" &
    sched=$!
    pids="$pids $sched"
    wait_for "the scheduler answers" cli nodes || { tail -5 "$dir/scheduler.log"; exit 1; }
}
sched_stop() {
    kill "$sched" 2>/dev/null
    wait "$sched" 2>/dev/null
}
sched_kill9() {
    kill -9 "$sched" 2>/dev/null
    wait "$sched" 2>/dev/null
}
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
