#!/bin/sh
# Upgrade: the state an earlier release left (tests/fixtures/README.md: a
# journal pruned behind snapshots of format 1, a worker's logs, a job
# running at a kill -9) starts under this build. Old jobs and their logs
# are answered as they were, the journal verifies from the old snapshot,
# the audit chain verifies, the running job's attempt is handled by the
# restart path, and new work runs.
set -u
. "$(dirname "$0")/lib/common.sh"
cli_init upgrade
state="$dir/state"
mkdir -m 700 "$state"
CAIRN_STATE_DIR=$state
export CAIRN_STATE_DIR
fixtures="$tests/fixtures"
gzip -dc "$fixtures/journal-v1.db.gz" >"$state/journal.db" && chmod 600 "$state/journal.db" ||
    bad "unpacking the journal"
tar -xzf "$fixtures/worker-v1.tar.gz" -C "$dir" || bad "unpacking the worker's state"
chmod 700 "$dir/w1"
sched=""
alive() { ps -o stat= -p "$1" 2>/dev/null | grep -q '^[^Z]'; }
cleanup_more() { [ -n "$sched" ] && kill -9 "$sched" 2>/dev/null; }
start_scheduler() { # LOG
    "$bin/cairn-scheduler" --state-dir "$state" --log-file "$dir/$1" --log-level debug \
        --snapshot-every 5 --restart-grace 2s &
    sched=$!
    wait_for "the scheduler answers ($1)" sh -c "'$cairn' jobs || ! ps -o stat= -p $sched | grep -q '^[^Z]'"
    alive "$sched" || bad "the scheduler exited at its start: $(cat "$dir/$1")"
}

start_scheduler s1.log
grep -q "state from the snapshot of journal entry 43 " "$dir/s1.log" &&
    ok "started from the old release's newest snapshot (format 1)" ||
    bad "start: $(grep -i snapshot "$dir/s1.log")"
expect 0 "jobs" -- "$cairn" jobs --json
json_check "the four old jobs" "[x['job_id'] for x in j['jobs']] == [4, 3, 2, 1]"
expect 0 "status of old job 1" -- "$cairn" status 1 --json
json_check "job 1 as it ended: 3 succeeded, c failed" \
    "j['job']['state'] == 'failed' and sorted((t['name'], t['state']) for t in j['tasks']) == \
     [('a', 'succeeded'), ('b', 'succeeded'), ('c', 'failed'), ('d', 'succeeded')]"

"$bin/cairn-worker" --scheduler "ipc://$state/workers.sock" --state-dir "$dir/w1" --name w1 \
    --topology "$tests/topologies/cpu-only-1s.xml" --log-file "$dir/w1.log" --allow-root-tasks &
pids="$pids $!"
wait_for "the worker back" sh -c "'$cairn' nodes --json | grep -q '\"state\": \"up\"'"
expect 0 "logs of old job 2, task b" -- "$cairn" logs 2 b
grep -q "done-b" "$dir/out" && ok "the old log is served" || bad "old logs: $(cat "$dir/out")"
# the attempt that ran at the kill is gone with its worker: retried (node
# loss retries by default) and running again, or ended; never stuck
wait_for "job 4's attempt handled by the restart path (node lost, attempt 2)" sh -c \
    "'$cairn' status 4 --json | grep -q '\"number\": 2'"

cat >"$dir/new.yaml" <<'YAML'
name: after
tasks:
  - name: x
    shell: echo after-upgrade
YAML
expect 0 "a new job" -- "$cairn" submit --wait "$dir/new.yaml"
expect 0 "its logs" -- "$cairn" logs 5 x
grep -q "after-upgrade" "$dir/out" && ok "the new job ran" || bad "new job: $(cat "$dir/out")"
expect 0 "the audit chain verifies across the upgrade" -- "$cairn" audit verify
expect 0 "cancel the sleeper" -- "$cairn" cancel 4

# restart on the new format's snapshots, then verify the whole journal
kill -9 "$sched"
wait "$sched" 2>/dev/null
start_scheduler s2.log
expect 0 "old job 1 after a second restart" -- "$cairn" status 1 --json
kill -9 "$sched"
wait "$sched" 2>/dev/null
sched=""
expect 0 "verify-journal from the old snapshot on" -- \
    "$bin/cairn-scheduler" --verify-journal --state-dir "$state"
grep -q "replays identically" "$dir/err" && ok "the journal replays identically" ||
    bad "verify: $(cat "$dir/err")"
exit $fail
