#!/bin/sh
# cairn plan and cairn report on a live cluster with preemption: on one
# 8-GPU node, two preemptible tasks of 4 GPUs trap USR1, write a checkpoint
# and exit; a priority-100 task of 8 GPUs preempts both; they resume from
# their checkpoint and succeed. The recorded run (last:1d on --cluster
# current) replays exactly: every attempt, the preempted ones too, on its
# recorded node at its recorded time, 2 preempted attempts recorded and
# predicted; so does its exported trace. --no-preemption predicts none and
# each part running once, for its work. cairn report counts the 2
# preemptions of the account and the GPU time lost: 4 GPUs x (end - the
# checkpoint file's write) of each preempted attempt, which the test
# computes from the accounting records.
#   sh plan_preempt_live.sh BIN_DIR TESTS_DIR
set -u
. "$(dirname "$0")/lib/common.sh"
cli_init plan-preempt-live
cli_local_cluster
unset NO_COLOR

expect 0 "cairn up" -- "$cairn" up --state-dir "$CAIRN_STATE_DIR" \
    --topology "$tests/topologies/hgx-h100-8gpu.xml"

# a victim: on USR1 it writes its checkpoint and exits; resumed (the
# checkpoint there) it finishes in 0.3 s; unsignalled it would run 60 s.
# The workdir is the test's: the default checkpoint directory is under it,
# named by job id (a job 1 of an earlier run must not leave one here)
mkdir "$dir/w"
cat >"$dir/train.yaml" <<X
name: train
defaults: {workdir: $dir/w}
tasks:
  - name: part
    matrix: {k: [1, 2]}
    preemptible: true
    checkpoint: {signal: USR1, grace: 20s}
    resources: {cpus: 1, gpus: 4}
    shell: |
      if [ -f "\$CAIRN_CHECKPOINT_DIR/ckpt" ]; then sleep 0.3; exit 0; fi
      trap 'echo "\$CAIRN_ATTEMPT" > "\$CAIRN_CHECKPOINT_DIR/ckpt"; exit 0' USR1
      i=0
      while [ \$i -lt 600 ]; do sleep 0.1; i=\$((i + 1)); done
X
cat >"$dir/eval.yaml" <<X
name: eval
defaults: {workdir: $dir/w}
tasks:
  - name: e
    priority: 100
    resources: {cpus: 1, gpus: 8}
    run: [/bin/sleep, "0.3"]
X
expect 0 "submit train" -- "$cairn" submit "$dir/train.yaml"
train=$(head -1 "$dir/out")
both_running() {
    "$cairn" status "$train" --json | python3 -c "
import json, sys
j = json.load(sys.stdin)
sys.exit(0 if sum(t['state'] == 'running' for t in j['tasks']) == 2 else 1)"
}
wait_for "both parts running" both_running || exit 1
expect 0 "submit eval" -- "$cairn" submit "$dir/eval.yaml"
eval_job=$(head -1 "$dir/out")
expect 0 "eval done" -- "$cairn" wait "$eval_job"
expect 0 "train done, resumed" -- "$cairn" wait "$train"

same_run="j['actual'] is not None and j['replay']['attempts'] == 5 and j['replay']['same_node'] == j['replay']['same_time'] == 5 and all(j['actual'][k] == j['predicted'][k] for k in ('makespan_ms', 'wait_p50_ms', 'wait_p95_ms', 'attempts'))"
preempted="j['preemption']['recorded']['attempts'] == 2 and j['preemption']['predicted']['attempts'] == 2 and j['preemption']['predicted']['lost_gpu_s'] == j['preemption']['recorded']['lost_gpu_s'] and j['preemption']['mode'] == 'priority'"

expect 0 "plan last:1d" -- "$cairn" plan --trace last:1d --cluster current --json
json_check "the run with preemptions replays exactly" "$same_run and $preempted"
cp "$dir/out" "$dir/plan.json"

expect 0 "export the trace" -- "$cairn" plan --trace last:1d --export-trace
cp "$dir/out" "$dir/exported.json"
json_check "two attempts ended preempted, each after its checkpoint" \
    "sorted(r['end'] for r in j if r['job_id'] == $train) == ['preempted', 'preempted', 'succeeded', 'succeeded'] and all(r['start_time_ms'] <= int(r['checkpoint_time_ms']) <= r['end_time_ms'] for r in j if r['end'] == 'preempted')"
expect 0 "plan the exported trace" -- "$cairn" plan --trace "$dir/exported.json" \
    --cluster current --json
json_check "the exported trace replays the same" "$same_run and $preempted"

expect 0 "plan --no-preemption" -- "$cairn" plan --trace last:1d --cluster current \
    --no-preemption --json
json_check "without preemption: none; each part runs once, its work" \
    "j['preemption']['mode'] == 'off' and j['preemption']['predicted'] == {'attempts': 0, 'decisions': 0, 'lost_gpu_s': 0.0} and j['predicted']['attempts'] == 3"

# the report: GPU time lost, from each checkpoint's write to the end
expect 0 "report" -- "$cairn" report --since 1h --json
python3 - "$dir/exported.json" "$dir/out" <<'X' && ok "report: 2 preemptions, and the GPU time after the checkpoints" || bad "report: $(cat "$dir/out")"
import json, sys
recs = json.load(open(sys.argv[1]))
r = json.load(open(sys.argv[2]))["lost_gpu"]
lost = sum(len(x["gpu_ids"]) * (x["end_time_ms"] - int(x["checkpoint_time_ms"])) / 1000
           for x in recs if x["end"] == "preempted")
assert r["preemptions"] == 2 and r["preempted_attempts"] == 2, r
assert abs(r["preempted_s"] - lost) < 1e-6 and abs(r["total_s"] - lost) < 1e-6, (r, lost)
assert [a["preemptions"] for a in r["by_account"]] == [2], r
X
# the plan's GPU time lost to preemption is the report's
python3 - "$dir/plan.json" "$dir/out" <<'X' && ok "plan: the GPU time lost, as the report counts it" || bad "plan and report: $(cat "$dir/plan.json")"
import json, sys
p = json.load(open(sys.argv[1]))["preemption"]
r = json.load(open(sys.argv[2]))["lost_gpu"]
assert abs(p["recorded"]["lost_gpu_s"] - r["preempted_s"]) < 0.001, (p, r)
assert p["predicted"]["lost_gpu_s"] == p["recorded"]["lost_gpu_s"], p
X

exit $fail
