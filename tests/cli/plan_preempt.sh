#!/bin/sh
# cairn plan with preemption, on a recorded JSON trace and a cluster file
# (a what-if: the simulation decides the preemptions): node g has 2 H100,
# h 1 A100. base holds h's A100 for 300 s; train's a0 and a1 (1 GPU each)
# were preempted twice, by eval (priority 100, 2 H100, submitted at 10 s)
# and eval2 (at 90 s), and succeeded at their third attempt (45 s each).
# The records' preemptions and GPU time are counted; the replay preempts
# a0 and a1 once (eval, at 10 s: they stop at the 30 s grace's end, 40 s)
# and eval2 preempts nothing (it takes g before they come back);
# --no-preemption: eval waits for them (45 s); --preempt-for-fair-share is
# taken; both at once are refused.
#   sh plan_preempt.sh BIN_DIR TESTS_DIR
set -u
. "$(dirname "$0")/lib/common.sh"
cli_init plan-preempt

cat >"$dir/cluster.json" <<'X'
{"nodes": [
  {"name": "g", "cores": 8, "memory": "64G",
   "gpus": [{"model": "NVIDIA H100 80GB HBM3", "memory": "80G", "count": 2}]},
  {"name": "h", "cores": 8, "memory": "64G",
   "gpus": [{"model": "NVIDIA A100 40GB", "memory": "40G", "count": 1}]}
]}
X
# rec ATTEMPT JOB TASK NUMBER NODE GPUS PRIORITY SUBMIT PLACED END HOW [CHECKPOINT]
# (GPUS: the indexes, comma-separated; "" none; times in ms; CHECKPOINT:
# when its newest checkpoint file was written, none by default)
rec() {
    ids=""
    n=0
    for g in $(echo "$6" | tr ',' ' '); do
        ids="$ids${ids:+, }{\"index\": $g}"
        n=$((n + 1))
    done
    model=""
    [ "$3" = base ] && model=A100
    [ "$3" = eval ] && model=H100
    printf '{"attempt_id": %s, "job_id": %s, "job_name": "j%s", "task": "%s", "number": %s,
 "node": "%s", "cpus": 1, "gpus": %s, "gpu_model": "%s", "gpu_ids": [%s], "priority": %s,
 "submit_time_ms": %s, "ready_time_ms": %s, "placed_time_ms": %s, "start_time_ms": %s,
 "end_time_ms": %s, "end": "%s", "checkpoint_time_ms": %s}' "$1" "$2" "$2" "$3" "$4" "$5" "$n" \
        "$model" "$ids" "$7" "$8" "$8" "$9" "$(($9 + 1))" "${10}" "${11}" "${12:-0}"
}
{
    echo '{"records": ['
    rec 1 1 base 1 h 0 0 0 1 300001 succeeded
    for r in "2 2 a0 1 g 0 0 0 1 15001 preempted 14001" "3 2 a1 1 g 1 0 0 1 17001 preempted" \
        "4 3 eval 1 g 0,1 100 10000 17002 67002 succeeded" \
        "5 5 cpu 1 g '' 0 20000 20001 40001 succeeded" \
        "6 2 a0 2 g 0 0 0 67003 95001 preempted 94001" \
        "7 2 a1 2 g 1 0 0 67003 97001 preempted 60000" \
        "8 4 eval 1 g 0,1 100 90000 97002 117002 succeeded" \
        "9 2 a0 3 g 0 0 0 117003 162003 succeeded" "10 2 a1 3 g 1 0 0 117003 162003 succeeded"; do
        echo ','
        eval rec "$r"
    done
    echo ']}'
} >"$dir/trace.json"
plan="$cairn plan --trace $dir/trace.json --cluster $dir/cluster.json"

# recorded: 4 preempted attempts of 1 GPU each; a0 lost the second after
# its checkpoints (1 + 1 s), a1 its whole attempts: the first wrote none,
# the second's is an earlier one's, from before it (17.000 + 29.998 s):
# 48.998 GPU-s; predicted: a0 and a1 from 0 to 40 s (the simulation's own
# preemptions know of no checkpoint): 80 GPU-s, one decision
expect 0 "a trace with preempted attempts" -- $plan --json
json_check "recorded preemptions and their GPU-hours" \
    "j['preemption']['recorded'] == {'attempts': 4, 'lost_gpu_s': 48.998}"
json_check "the replay preempts a0 and a1 once, for eval" \
    "j['preemption']['predicted'] == {'attempts': 2, 'decisions': 1, 'lost_gpu_s': 80.0}
     and j['preemption']['mode'] == 'priority'"
# the whole predicted run: a0 and a1 stop at 40 s, eval runs 40-90 s,
# eval2 90-110 s, a0 and a1 again 110-155 s; base 0-300 s: 8 attempts
# (base, cpu, eval, eval2, and two each of a0 and a1); eval waited 30 s,
# eval2 none
json_check "every task runs, eval after the grace" "j['simulation']['unplaced_tasks'] == 0 and
     j['predicted']['attempts'] == 8 and j['predicted']['makespan_ms'] == 300000 and
     [w['max_ms'] for w in j['predicted']['waits'] if w['shape'] == '1c 2g H100'] == [30000]"
expect 0 "the text" -- $plan
grep -q "^preemption: priority; 4 attempts preempted in the records, 2 in the replay (1 decision)" \
    "$dir/out" && grep -q "^preempted attempts  *4  *2 *$" "$dir/out" &&
    grep -q "^GPU-hours lost to preemption  *0.014  *0.022 *$" "$dir/out" &&
    ok "the text: preemptions recorded and predicted" || bad "text: $(cat "$dir/out")"

# without preemption: nothing preempted; eval waits for a0 and a1's work
# (45 s: a wait of 35 s), the attempts recorded preempted left out: 6
# attempts
expect 0 "--no-preemption" -- $plan --no-preemption --json
json_check "--no-preemption: nothing preempted" \
    "j['preemption']['mode'] == 'off' and j['preemption']['predicted'] ==
     {'attempts': 0, 'decisions': 0, 'lost_gpu_s': 0.0} and
     j['preemption']['recorded']['attempts'] == 4 and j['predicted']['attempts'] == 6 and
     [w['max_ms'] for w in j['predicted']['waits'] if w['shape'] == '1c 2g H100'] == [35000]"

expect 0 "--preempt-for-fair-share" -- $plan --preempt-for-fair-share --json
json_check "--preempt-for-fair-share: its mode, and priority preemption as before" \
    "j['preemption']['mode'] == 'priority or fair share' and
     j['preemption']['predicted']['attempts'] == 2"

expect 2 "--no-preemption with --preempt-for-fair-share" -- \
    $plan --no-preemption --preempt-for-fair-share
grep -q "not both" "$dir/err" || bad "stderr: $(cat "$dir/err")"

exit $fail
