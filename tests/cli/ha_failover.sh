#!/bin/sh
# Two schedulers on one PostgreSQL store, two workers and the client given
# both endpoints. The leader is killed (kill -9) in the middle of a
# 300-task DAG: the standby, which followed the journal, leads within
# seconds (printed, not asserted), the workers and the client follow it,
# and every task succeeds exactly once: no task has two succeeded
# attempts, no attempt is lost (each has an end), each task ran to its
# end once. The store then replays identically (--verify-journal).
#   sh ha_failover.sh BIN_DIR TESTS_DIR
set -u
. "$(dirname "$0")/lib/common.sh"
cli_init ha_failover
. "$(dirname "$0")/lib/pg.sh"
pg_skip_unless_available
. "$(dirname "$0")/lib/ha.sh"
pg_start

ha_pair 2
ok "a standby, and two workers registered with the leader"

ha_dag "$dir/dag.yaml" 300
job=$(hcli submit "$dir/dag.yaml") || { bad "submit"; exit 1; }
wait_for "100 tasks ran" runs_at_least 100 || exit 1

t0=$(ha_now_ms)
eval "kill -9 \$ha_pid_A"
ha_wait_log B "leading the schedulers as B" || exit 1
t1=$(ha_now_ms)
echo "takeover: the standby led $((t1 - t0)) ms after the leader's kill -9 (lease 2s)"
ok "the standby took over"

wait_for "the job ends" ha_job_is "$job" succeeded || { hcli status "$job"; tail -5 "$dir/B.log"; exit 1; }
t2=$(ha_now_ms)
echo "the job ended $((t2 - t1)) ms after the takeover"
ha_exactly_once "$job" 300

hcli schedulers --json >"$dir/out" 2>"$dir/err"
json_check "cairn schedulers: B leads in epoch 2" \
    "j['instances'][0]['holder'] == 'B' and j['instances'][0]['leader'] and int(j['instances'][0]['epoch']) == 2"
pg_psql "SELECT count(*) FROM events WHERE epoch = 1 AND seq > (SELECT min(seq) FROM events WHERE epoch = 2)" >"$dir/late"
[ "$(cat "$dir/late")" = "0" ] && ok "no entry of epoch 1 after epoch 2's first" || bad "$(cat "$dir/late") entries of epoch 1 after the takeover"

eval "kill \$ha_pid_B"
eval "wait \$ha_pid_B"
expect 0 "the shared store replays identically" -- \
    "$bin/cairn-scheduler" --state-dir "$dir/B" --store "$PG_URL" --verify-journal
exit $fail
