#!/bin/sh
# Memory of a scheduler that has seen many finished tasks (--keep-finished):
# streams TASKS finished tasks through a real scheduler and one worker, in
# jobs of PER_JOB tasks, and prints the scheduler's resident memory at its
# idle baseline and once every job has left its memory, with the bytes of
# history per task in journal.db.
#
# Each job is a root task and PER_JOB-1 tasks that need it. Every RUN_EVERY-th
# job's root succeeds and all its tasks run (real processes, /bin/true);
# the others' root fails and the rest end upstream_failed at once (so a
# million tasks take minutes, not the hours of a million processes).
#
#   sh tests/bench/retention_rss.sh BIN_DIR [TASKS [PER_JOB [RUN_EVERY [KEEP]]]]
# defaults: 20000 tasks, 1000 per job, every 10th job run, --keep-finished 1s.
# A KEEP in hours or days (1h) keeps every job: the figures without retention.
# Prints figures; asserts nothing.
set -u
bin=$1
tasks=${2:-20000}
per_job=${3:-1000}
run_every=${4:-10}
keep=${5:-1s}
dir=$(mktemp -d /tmp/cairn-bench-retention-XXXXXX)
url="ipc://$dir/state/clients.sock"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    for p in $pids; do wait "$p" 2>/dev/null; done
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
cli() { timeout 600 "$bin/cairn" --scheduler "$url" "$@"; }
# until COMMAND... succeeds, at most 120 s
wait_for() {
    i=0
    until "$@" >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -gt 2400 ] && { echo "timed out: $*" >&2; exit 1; }
        sleep 0.05 # polling a condition with a deadline
    done
}
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$sched/status"; }
in_memory() { python3 -c 'import json, sys, urllib.request; print(json.load(urllib.request.urlopen(sys.argv[1], timeout=5))["jobs_in_memory"])' "http://127.0.0.1:$port/status"; }
none_in_memory() { [ "$(in_memory)" = 0 ]; }
# with a KEEP in hours or days every job stays (the figures without
# retention): nothing to wait for
settled() {
    case $keep in
    *h | *d) ;;
    *) wait_for none_in_memory ;;
    esac
}

"$bin/cairn-scheduler" --state-dir "$dir/state" --http "127.0.0.1:$port" \
    --keep-finished "$keep" --log-file "$dir/scheduler.log" &
sched=$!
pids="$pids $sched"
"$bin/cairn-worker" --scheduler "ipc://$dir/state/workers.sock" --state-dir "$dir/w" \
    --name w1 --allow-root-tasks --log-file "$dir/worker.log" &
pids="$pids $!"
wait_for sh -c "'$bin/cairn' --scheduler '$url' nodes | grep -q ' up '"

# job files: one that runs, one whose root fails
for kind in run fail; do
    python3 - "$dir/$kind.yaml" "$per_job" "$kind" <<'PY'
import sys
path, n, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(path, "w") as f:
    f.write("name: stream-%s\ntasks:\n  - name: root\n    run: [/bin/%s]\n"
            % (kind, "true" if kind == "run" else "false"))
    for i in range(1, n):
        f.write("  - name: t%d\n    needs: [root]\n    run: [/bin/true]\n" % i)
PY
done

# the idle baseline: after one job of each kind went through and left
cli submit --wait "$dir/run.yaml" >/dev/null || { echo "the job that runs failed" >&2; exit 1; }
cli submit --wait "$dir/fail.yaml" >/dev/null 2>&1 # fails, as it should
settled
base=$(rss_kb)
echo "baseline: scheduler RSS $((base / 1024)) MiB (idle, after 2 jobs went through, --keep-finished $keep)"

jobs=$(((tasks + per_job - 1) / per_job))
t0=$(date +%s)
j=0
while [ $j -lt $jobs ]; do
    kind=fail
    [ $((j % run_every)) -eq 0 ] && kind=run
    if [ $kind = run ]; then
        cli submit --wait "$dir/$kind.yaml" >/dev/null || { echo "a job failed" >&2; exit 1; }
    else
        cli submit --wait "$dir/$kind.yaml" >/dev/null 2>&1
    fi
    j=$((j + 1))
    if [ $((j % 100)) -eq 0 ]; then
        echo "  $((j * per_job)) tasks: RSS $(($(rss_kb) / 1024)) MiB, $(in_memory) jobs in memory"
    fi
done
peak=$(awk '/^VmHWM/ {print $2}' "/proc/$sched/status")
settled
after=$(rss_kb)
t1=$(date +%s)
db=$(du -b "$dir/state/journal.db" "$dir/state/journal.db-wal" 2>/dev/null | awk '{s += $1} END {print s}')
echo "streamed $((jobs * per_job)) finished tasks in $jobs jobs ($((t1 - t0)) s)"
echo "after:    scheduler RSS $((after / 1024)) MiB ($(in_memory) jobs in memory), peak $((peak / 1024)) MiB"
echo "growth:   $(((after - base) / 1024)) MiB over the baseline (target: within 64 MiB)"
echo "journal.db: $db bytes, $((db / ((jobs + 2) * per_job))) bytes per task; by table:"
kill "$sched" 2>/dev/null # its last checkpoint: every page in journal.db
wait "$sched" 2>/dev/null
python3 - "$dir/state/journal.db" $(((jobs + 2) * per_job)) <<'PY'
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
n = int(sys.argv[2])
for name, size in db.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT 8"):
    print("  %-24s %12d bytes  %6d per task" % (name, size, size // n))
PY
