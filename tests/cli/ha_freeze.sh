#!/bin/sh
# The leader is frozen (SIGSTOP) past its lease in the middle of a DAG: the
# standby takes over and the DAG goes on. Then the old leader is thawed
# (SIGCONT): it writes nothing (its lease ran out by its own clock, and its
# fence would fail on the epoch), steps down and stands by. The journal
# holds no entry of the old epoch after the new epoch's first, and every
# task succeeded exactly once.
#   sh ha_freeze.sh BIN_DIR TESTS_DIR
set -u
. "$(dirname "$0")/lib/common.sh"
cli_init ha_freeze
. "$(dirname "$0")/lib/pg.sh"
pg_skip_unless_available
. "$(dirname "$0")/lib/ha.sh"
pg_start

ha_pair 2

ha_dag "$dir/dag.yaml" 200
job=$(hcli submit "$dir/dag.yaml") || { bad "submit"; exit 1; }
wait_for "50 tasks ran" runs_at_least 50 || exit 1

t0=$(ha_now_ms)
eval "kill -STOP \$ha_pid_A"
ha_wait_log B "leading the schedulers as B" || exit 1
t1=$(ha_now_ms)
echo "takeover: the standby led $((t1 - t0)) ms after the leader froze (lease 2s)"
ok "the standby took over from the frozen leader"
before=$(wc -l <"$dir/runs.log")
wait_for "the DAG goes on under the new leader" runs_at_least $((before + 20)) || exit 1
ok "the DAG goes on"

eval "kill -CONT \$ha_pid_A"
ha_wait_log A "stepping down" || exit 1
ha_wait_log A "standing by as A" || exit 1
ok "the thawed leader stepped down and stands by"
grep "stepping down" "$dir/A.log" | head -1

wait_for "the job ends" ha_job_is "$job" succeeded || { hcli status "$job"; exit 1; }
ha_exactly_once "$job" 200

first2=$(pg_psql "SELECT min(seq) FROM events WHERE epoch = 2")
late=$(pg_psql "SELECT count(*) FROM events WHERE epoch = 1 AND seq > $first2")
other=$(pg_psql "SELECT count(*) FROM events WHERE epoch NOT IN (1, 2)")
if [ "$late" = "0" ] && [ "$other" = "0" ]; then
    ok "the journal holds no entry of the old leader after the takeover"
else
    bad "after the takeover (entry $first2): $late entries of epoch 1, $other of other epochs"
fi
hcli schedulers --json >"$dir/out" 2>"$dir/err"
json_check "cairn schedulers: B leads, A stands by" \
    "[(i['holder'], i['state']) for i in j['instances']] == [('B', 'leading'), ('A', 'standby')]"
exit $fail
