#!/bin/sh
# Task logs and the scheduler's identity. Job and attempt ids are a
# scheduler's: when its state is lost (journal.db wiped) they start again
# from 1, while a worker keeps the logs of the old ids. A scheduler runs a
# job that writes a known line; killed (-9) and started again on its state
# it still serves it, and a job running across that restart is adopted and
# its log served too. Its state directory is then wiped and it starts
# again on the same address with the same worker (which keeps running):
# a new job gets the same job and attempt ids, and `cairn logs` of it must
# not show the old line (the worker moved the old logs aside and says so).
#   sh logs_identity.sh BIN_DIR TESTS_DIR
set -u
. "$(dirname "$0")/lib/common.sh"
cli_init logs_identity
state=$dir/sched
cli_scheduler "$state"
start_sched() { sched_start --heartbeat-interval 100ms --restart-grace 5s "$@"; }
node_up() { cli nodes | grep -q ' up '; }

start_sched
"$bin/cairn-worker" --scheduler "ipc://$state/workers.sock" --state-dir "$dir/w1" \
    --name w1 --log-file "$dir/w1.log" --allow-root-tasks &
pids="$pids $!"
wait_for "the node is up" node_up || exit 1

cat >"$dir/first.yaml" <<'YAML'
name: first
tasks:
  - name: t
    shell: echo the-first-schedulers-secret; echo its-stderr >&2
YAML
cat >"$dir/quiet.yaml" <<'YAML'
name: second
tasks:
  - name: t
    shell: "true"
YAML
cat >"$dir/across.yaml" <<YAML
name: across
tasks:
  - name: long
    shell: echo before-the-restart; while [ ! -e "$dir/gate" ]; do sleep 0.05; done; echo after-it
YAML

expect 0 "submit a job that writes a known line" -- "$cairn" --scheduler "$url" submit "$dir/first.yaml" --wait
job1=$(head -n 1 "$dir/out")
expect 0 "its log" -- "$cairn" --scheduler "$url" logs "$job1" t
[ "$(cat "$dir/out")" = "the-first-schedulers-secret" ] || bad "the first job's log: $(cat "$dir/out")"

# the same scheduler again (kill -9): same identity, the log still served,
# and an attempt running across the restart adopted with its log
expect 0 "submit a job that runs across a restart" -- "$cairn" --scheduler "$url" submit "$dir/across.yaml"
job2=$(cat "$dir/out")
wrote() { cli logs "$job2" long | grep -q before-the-restart; }
wait_for "the long task's output" wrote
sched_kill9
start_sched
wait_for "the node is up again" node_up || exit 1
expect 0 "the first job's log after a restart" -- "$cairn" --scheduler "$url" logs "$job1" t
[ "$(cat "$dir/out")" = "the-first-schedulers-secret" ] ||
    bad "after a restart of the same scheduler: $(cat "$dir/out")"
touch "$dir/gate"
succeeded() { cli status "$job2" --json | grep -q '"state": *"succeeded"'; }
wait_for "the adopted task succeeded" succeeded
expect 0 "the adopted task's log" -- "$cairn" --scheduler "$url" logs "$job2" long
[ "$(printf 'before-the-restart\nafter-it')" = "$(cat "$dir/out")" ] ||
    bad "the adopted task's log: $(cat "$dir/out")"
grep -q "moved aside" "$dir/w1.log" && bad "a restart of the same scheduler moved logs aside"

# the scheduler's state lost: ids start again, the worker's logs stay
sched_kill9
rm -rf "$state"
start_sched
wait_for "the node is up with the new scheduler" node_up || exit 1
expect 0 "submit a new job" -- "$cairn" --scheduler "$url" submit "$dir/quiet.yaml" --wait
job3=$(head -n 1 "$dir/out")
[ "$job3" = "$job1" ] && ok "the new job has the first job's id ($job3)" ||
    bad "the new job's id $job3 is not the first's ($job1): the test shows nothing"
expect 0 "the new job's log" -- "$cairn" --scheduler "$url" logs "$job3" t
grep -q the-first-schedulers-secret "$dir/out" &&
    bad "the new job is served the first scheduler's log: $(cat "$dir/out")"
[ -s "$dir/out" ] && bad "the new job's log is not empty: $(cat "$dir/out")"
expect 0 "the new job's stderr" -- "$cairn" --scheduler "$url" logs "$job3" t --stderr
[ -s "$dir/out" ] && bad "the new job's stderr is the old one's: $(cat "$dir/out")"
grep -q "moved aside" "$dir/w1.log" && ok "the worker says it moved the old logs aside" ||
    bad "the worker's log does not say so: $(tail -5 "$dir/w1.log")"
old=$(find "$dir/w1/logs" -path '*/.old-*' -name 't.*.out' | head -n 1)
[ -n "$old" ] && [ "$(cat "$old")" = "the-first-schedulers-secret" ] &&
    ok "the old log is kept aside ($old)" || bad "no old log aside: $(find "$dir/w1/logs")"

# a job that writes, under the new identity: served as usual
expect 0 "a job under the new scheduler" -- "$cairn" --scheduler "$url" submit "$dir/first.yaml" --wait
job4=$(head -n 1 "$dir/out")
expect 0 "its log" -- "$cairn" --scheduler "$url" logs "$job4" t
[ "$(cat "$dir/out")" = "the-first-schedulers-secret" ] || bad "the new job's log: $(cat "$dir/out")"
exit $fail
