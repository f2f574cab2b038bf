#!/bin/sh
# The operator's node health check (cairn-worker --health-check CMD
# --health-interval T, as Slurm's HealthCheckProgram): while it passes the
# node takes work; once it exits non-zero the scheduler drains the node
# with the command's output as the reason (audited as the node's), and
# what runs there goes on; `cairn undrain` puts it back.
#   sh health_check.sh BIN_DIR TESTS_DIR
set -u
. "$(dirname "$0")/lib/common.sh"
cli_init health-check
cli_scheduler
sched_start
check="echo run >>$dir/runs; if [ -e $dir/sick ]; then echo checking; echo 'disk /scratch is full'; exit 1; fi"
"$bin/cairn-worker" --scheduler "ipc://$sched_state/workers.sock" --state-dir "$dir/w1" --name w1 \
    --topology "$tests/topologies/cpu-only-1s.xml" --allow-root-tasks \
    --health-check "$check" --health-interval 1s --log-file "$dir/w1.log" &
pids="$pids $!"
wait_for "the node is up" sh -c "'$cairn' --scheduler '$url' nodes | grep -q '^w1 .*up'"
wait_for "the check ran twice" sh -c "[ \$(wc -l <$dir/runs) -ge 2 ]"
cli nodes >"$dir/out" 2>&1
grep -q '^w1 .*up' "$dir/out" && ok "passing checks leave the node up" || bad "nodes: $(cat "$dir/out")"
cat >"$dir/job.yaml" <<X
name: during
tasks:
  - name: t
    shell: touch $dir/started; while [ ! -e $dir/go ]; do sleep 0.05; done
X
cli submit "$dir/job.yaml" >"$dir/out" 2>&1 || bad "submit: $(cat "$dir/out")"
job=$(cat "$dir/out")
wait_for "the task started" test -e "$dir/started"
touch "$dir/sick"
wait_for "the node drains with the check's output" sh -c \
    "'$cairn' --scheduler '$url' nodes --json | grep -q '\"drain_reason\": \"health check: disk /scratch is full\"'"
cli nodes --json >"$dir/out" 2>&1
json_check "draining, its task still running" \
    "j['nodes'][0]['drained'] and j['nodes'][0]['running_attempts'] == 1"
grep -q "health check failed: disk /scratch is full" "$dir/w1.log" && ok "the worker logs why" ||
    bad "worker log: $(tail -3 "$dir/w1.log")"
cli audit >"$dir/out" 2>&1
grep -q "drain.*node w1.*health check: disk /scratch is full" "$dir/out" && ok "audited" ||
    bad "audit: $(cat "$dir/out")"
touch "$dir/go"
cli wait "$job" >/dev/null 2>&1 && ok "the running task ended well" || bad "the task"
rm -f "$dir/sick"
cli undrain w1 >"$dir/out" 2>&1 || bad "undrain: $(cat "$dir/out")"
n=$(wc -l <"$dir/runs")
wait_for "the check ran again" sh -c "[ \$(wc -l <$dir/runs) -ge $((n + 2)) ]"
cli nodes >"$dir/out" 2>&1
grep -q '^w1 .*up' "$dir/out" && ok "undrained, and the passing check leaves it up" ||
    bad "nodes: $(cat "$dir/out")"
exit $fail
