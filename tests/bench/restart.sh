#!/bin/sh
# Restart to the first new dispatch: a scheduler whose journal holds N
# finished tasks (written by bench_restart, with a snapshot every 50,000
# entries as the scheduler takes them) is killed with kill -9 while a
# worker is connected, started again, and a new one-task job submitted at
# once. Prints the time from the start to the accepted submit and to the
# new task's start on the worker, and what the start loaded and replayed.
#
#   sh tests/bench/restart.sh BUILD_DIR [N ...]     (default: 10000 1000000)
#
# RESTART_RETIRE=1 retires each job once ended (what --keep-finished does);
# RESTART_SNAPSHOT_EVERY=E for other snapshot intervals (0: none, so the
# whole journal is replayed).
set -u
build=${1:?usage: restart.sh BUILD_DIR [N ...]}
shift
[ $# -eq 0 ] && set -- 10000 1000000
bin="$build/bin"
fill="$build/tests/bench/bench_restart"
topo="$(dirname "$0")/../topologies/cpu-only-1s.xml"
every=${RESTART_SNAPSHOT_EVERY:-50000}
retire=""
[ "${RESTART_RETIRE:-0}" = 1 ] && retire=--retire
work=$(mktemp -d /tmp/cairn-restart-bench-XXXXXX)
sched="" worker=""
cleanup() {
    [ -n "$sched" ] && kill -9 "$sched" 2>/dev/null
    [ -n "$worker" ] && kill "$worker" 2>/dev/null && wait "$worker" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
ms() { date +%s%3N; }
# until COMMAND succeeds, at most 120 s
until_ok() {
    i=0
    until "$@" >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -gt 24000 ] && { echo "restart: never: $*" >&2; exit 1; }
        sleep 0.005 # polling a condition with a deadline
    done
}
cat >"$work/one.yaml" <<'YAML'
name: after-restart
tasks:
  - name: t
    run: ["true"]
YAML

# a worker run by root runs root's tasks only when told to
root_tasks=""
[ "$(id -u)" = 0 ] && root_tasks="--allow-root-tasks"

for n in "$@"; do
    state="$work/state-$n"
    mkdir -m 700 "$state"
    "$fill" --db "$state/journal.db" --tasks "$n" --snapshot-every "$every" $retire || exit 1
    export CAIRN_STATE_DIR="$state"
    "$bin/cairn-scheduler" --state-dir "$state" --snapshot-every "$every" \
        --log-file "$work/s-$n.log" &
    sched=$!
    "$bin/cairn-worker" --scheduler "ipc://$state/workers.sock" --state-dir "$work/w-$n" \
        --name w1 --topology "$topo" --log-file "$work/w-$n.log" $root_tasks &
    worker=$!
    until_ok sh -c "'$bin/cairn' nodes --json | grep -q '\"state\": \"up\"'"
    kill -9 "$sched"
    wait "$sched" 2>/dev/null
    t0=$(ms)
    "$bin/cairn-scheduler" --state-dir "$state" --snapshot-every "$every" \
        --log-file "$work/s2-$n.log" &
    sched=$!
    until_ok "$bin/cairn" submit "$work/one.yaml"
    t1=$(ms)
    job=$("$bin/cairn" jobs --json | python3 -c 'import json,sys
print(max(j["job_id"] for j in json.load(sys.stdin)["jobs"]))')
    "$bin/cairn" wait "$job" >"$work/wait.txt" 2>&1 || { cat "$work/wait.txt" >&2; exit 1; }
    started=$("$bin/cairn" status "$job" --json | python3 -c 'import json,sys
print(json.load(sys.stdin)["tasks"][0]["attempts"][0]["start_time_ms"])')
    echo "restart after $n finished tasks: submit accepted $((t1 - t0)) ms after the start," \
        "the new task started $((started - t0)) ms after it"
    grep -o "state from the snapshot.*" "$work/s2-$n.log" | sed 's/^/  scheduler: /'
    grep -o "state .*journal entries.*nodes" "$work/s2-$n.log" | head -n 1 | sed 's/^/  scheduler: /'
    kill -9 "$sched"
    wait "$sched" 2>/dev/null
    sched=""
    kill "$worker"
    wait "$worker" 2>/dev/null
    worker=""
    rm -rf "$state" "$work/w-$n"
done
