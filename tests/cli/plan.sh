#!/bin/sh
# cairn plan: CSV and JSON traces on a cluster file, --add and --remove,
# errors with their exit codes, identical output for identical inputs, and
# real jobs on a local cluster (the scheduler's default configuration, so
# with prefetch) planned from their recorded accounting (last:1d on
# --cluster current) replay exactly: every attempt on the node it ran on at
# the time it was placed (or queued), and the same waits.
#   sh plan.sh BIN_DIR TESTS_DIR
set -u
. "$(dirname "$0")/lib/common.sh"
cli_init plan
cli_local_cluster
unset NO_COLOR
err_has() { grep -q "$1" "$dir/err" || bad "stderr lacks '$1': $(cat "$dir/err")"; }

cat >"$dir/cluster.json" <<'X'
{"nodes": [
  {"name": "gpu", "count": 2, "cores": 32, "numa": 2, "memory": "256G",
   "gpus": [{"model": "NVIDIA H100 80GB HBM3", "memory": "80G", "count": 4}]},
  {"name": "cpu", "cores": 16, "memory": "64G", "labels": {"rack": "b"}}
]}
X
cat >"$dir/trace.csv" <<'X'
job,task,submit_ms,needs,cpus,gpus,gpu_model,memory_bytes,duration_ms,priority
j1,prep,0,,4,0,,1G,60000,0
j1,train,0,prep,8,4,H100,16G,3600000,0
j1,eval,0,train,2,1,,1G,600000,0
j2,train,1000,,8,4,H100,16G,3600000,0
j3,train,2000,,8,4,H100,16G,3600000,1
j4,train,3000,,8,4,H100,16G,3600000,0
X

# CSV trace
expect 0 "plan a CSV trace" -- "$cairn" plan --trace "$dir/trace.csv" --cluster "$dir/cluster.json"
grep -q "^makespan" "$dir/out" || bad "no makespan row: $(cat "$dir/out")"
grep -q "8c 4g H100" "$dir/out" || bad "no wait row for the 8c 4g H100 shape"
expect 0 "plan a CSV trace --json" -- "$cairn" plan --trace "$dir/trace.csv" \
    --cluster "$dir/cluster.json" --json
json_check "6 attempts predicted, no actual" \
    "j['predicted']['attempts'] == 6 and j['actual'] is None and j['cluster']['gpus'] == 8"
cp "$dir/out" "$dir/base.json"
# 4 jobs of 4 H100s on 2 nodes of 4: two wait an hour (j3 first: priority)
json_check "waits on the base cluster" \
    "[w for w in j['predicted']['waits'] if w['shape'] == '8c 4g H100'][0]['max_ms'] >= 3590000"
expect 0 "same inputs, same output" -- "$cairn" plan --trace "$dir/trace.csv" \
    --cluster "$dir/cluster.json" --json
cmp -s "$dir/out" "$dir/base.json" || bad "two runs of the same plan differ"

# --add: two 8-GPU H100 nodes more: nothing waits
expect 0 "plan --add" -- "$cairn" plan --trace "$dir/trace.csv" --cluster "$dir/cluster.json" \
    --add 2x "$tests/topologies/hgx-h100-8gpu.xml" --json
json_check "added nodes: 24 GPUs, no wait" \
    "j['cluster']['what_if_gpus'] == 24 and j['predicted']['wait_p95_ms'] == 0 and j['predicted']['makespan_ms'] < $(python3 -c "import json;print(json.load(open('$dir/base.json'))['predicted']['makespan_ms'])")"
# --remove: one GPU node less: longer
expect 0 "plan --remove" -- "$cairn" plan --trace "$dir/trace.csv" --cluster "$dir/cluster.json" \
    --remove gpu-2 --json
json_check "removed node: 4 GPUs, longer makespan" \
    "j['cluster']['what_if_gpus'] == 4 and j['predicted']['makespan_ms'] > $(python3 -c "import json;print(json.load(open('$dir/base.json'))['predicted']['makespan_ms'])")"

# a JSON trace (accounting records): replayed on the nodes it names
cat >"$dir/trace.json" <<'X'
[
 {"job_id": 1, "job_name": "a", "task": "prep", "attempt_id": 1, "number": 1, "rank": 0,
  "replicas": 1, "needs": [], "cpus": 4, "gpus": 0, "gpu_model": "", "memory_bytes": 0,
  "node": "cpu", "gpu_ids": [], "submit_time_ms": 1000, "ready_time_ms": 1000,
  "placed_time_ms": 1000, "start_time_ms": 1005, "end_time_ms": 61000, "end": "succeeded"},
 {"job_id": 1, "job_name": "a", "task": "train", "attempt_id": 2, "number": 1, "rank": 0,
  "replicas": 1, "needs": ["prep"], "cpus": 8, "gpus": 4, "gpu_model": "H100",
  "memory_bytes": 0, "node": "gpu-1", "gpu_ids": [{"index": 0}, {"index": 1}, {"index": 2},
  {"index": 3}], "submit_time_ms": 1000, "ready_time_ms": 61000, "placed_time_ms": 61000,
  "start_time_ms": 61010, "end_time_ms": 661000, "end": "node_lost"},
 {"job_id": 1, "job_name": "a", "task": "train", "attempt_id": 3, "number": 2, "rank": 0,
  "replicas": 1, "needs": ["prep"], "cpus": 8, "gpus": 4, "gpu_model": "H100",
  "memory_bytes": 0, "node": "gpu-1", "gpu_ids": [{"index": 0}, {"index": 1}, {"index": 2},
  {"index": 3}], "submit_time_ms": 1000, "ready_time_ms": 661000, "placed_time_ms": 661000,
  "start_time_ms": 661010, "end_time_ms": 1261000, "end": "succeeded"}
]
X
expect 0 "plan a JSON trace" -- "$cairn" plan --trace "$dir/trace.json" \
    --cluster "$dir/cluster.json" --json
json_check "JSON trace: every attempt on its recorded node and time, actual = predicted" \
    "j['replay'] == {'attempts': 3, 'same_node': 3, 'same_time': 3} and j['actual']['makespan_ms'] == j['predicted']['makespan_ms'] == 1260000"
expect 0 "plan a JSON trace (table)" -- "$cairn" plan --trace "$dir/trace.json" \
    --cluster "$dir/cluster.json"
grep -q "3 of 3 attempts on the recorded node" "$dir/out" || bad "replay line: $(cat "$dir/out")"

# a gang recorded across two GPU models (its spec said resources.gpu.mixed,
# which records do not carry) replays across them too
cat >"$dir/two-models.json" <<'X'
{"nodes": [
  {"name": "h", "cores": 8, "memory": "64G", "gpus": [{"model": "NVIDIA H100 80GB HBM3", "memory": "80G", "count": 1}]},
  {"name": "a", "cores": 8, "memory": "64G", "gpus": [{"model": "NVIDIA A100-SXM4-40GB", "memory": "40G", "count": 1}]}
]}
X
cat >"$dir/gang.json" <<'X'
[
 {"job_id": 7, "job_name": "g", "task": "ddp", "attempt_id": 1, "number": 1, "rank": 0,
  "replicas": 2, "cpus": 1, "gpus": 1, "node": "h", "gpu_ids": [{"index": 0}],
  "submit_time_ms": 1000, "ready_time_ms": 1000, "placed_time_ms": 1000, "start_time_ms": 1001,
  "end_time_ms": 5000, "end": "succeeded"},
 {"job_id": 7, "job_name": "g", "task": "ddp", "attempt_id": 1, "number": 1, "rank": 1,
  "replicas": 2, "cpus": 1, "gpus": 1, "node": "a", "gpu_ids": [{"index": 0}],
  "submit_time_ms": 1000, "ready_time_ms": 1000, "placed_time_ms": 1000, "start_time_ms": 1001,
  "end_time_ms": 5000, "end": "succeeded"}
]
X
expect 0 "plan a gang recorded across two models" -- "$cairn" plan --trace "$dir/gang.json" \
    --cluster "$dir/two-models.json" --json
json_check "it replays across them" \
    "j['replay'] == {'attempts': 2, 'same_node': 2, 'same_time': 2} and j['simulation']['unplaced_tasks'] == 0"

# errors
printf 'job,task,submit_ms,needs,cpus,gpus,gpu_model,memory_bytes,duration_ms,priority\nj1,a,0,,4,0,,1G,10,0\nj1,b,zero,,4,0,,1G,10,0\n' >"$dir/bad.csv"
expect 2 "a bad CSV line" -- "$cairn" plan --trace "$dir/bad.csv" --cluster "$dir/cluster.json"
err_has "bad.csv:3: submit_ms is not an integer"
printf 'job,task\n' >"$dir/badh.csv"
expect 2 "a bad CSV header" -- "$cairn" plan --trace "$dir/badh.csv" --cluster "$dir/cluster.json"
err_has "badh.csv:1: the header must be"
printf 'job,task,submit_ms,needs,cpus,gpus,gpu_model,memory_bytes,duration_ms,priority\nj1,a,0,nope,4,0,,1G,10,0\n' >"$dir/badn.csv"
expect 2 "an unknown need" -- "$cairn" plan --trace "$dir/badn.csv" --cluster "$dir/cluster.json"
err_has "badn.csv:2: task a needs nope"
printf '[{"job_id": 1, "task": "x", "node": "cpu", "placed_time_ms": "soon"}]' >"$dir/bad.json"
expect 2 "a bad JSON record" -- "$cairn" plan --trace "$dir/bad.json" --cluster "$dir/cluster.json"
err_has "bad.json:1: \"placed_time_ms\" is not an integer"
printf '[{"job_id": 1,, }]' >"$dir/broken.json"
expect 2 "malformed JSON" -- "$cairn" plan --trace "$dir/broken.json" --cluster "$dir/cluster.json"
err_has "broken.json:1"
expect 4 "--remove of an unknown node" -- "$cairn" plan --trace "$dir/trace.csv" \
    --cluster "$dir/cluster.json" --remove nosuch
err_has "nosuch: no such node"
expect 2 "bad --add syntax" -- "$cairn" plan --trace "$dir/trace.csv" \
    --cluster "$dir/cluster.json" --add four "$tests/topologies/hgx-h100-8gpu.xml"
err_has "bad --add 'four'"
expect 4 "--add of a missing file" -- "$cairn" plan --trace "$dir/trace.csv" \
    --cluster "$dir/cluster.json" --add 2x "$dir/nothing.xml"
expect 4 "a missing trace" -- "$cairn" plan --trace "$dir/nothing.csv" --cluster "$dir/cluster.json"
printf '{"nodes": [{"name": "n", "cores": 0}]}' >"$dir/badc.json"
expect 2 "a bad cluster file" -- "$cairn" plan --trace "$dir/trace.csv" --cluster "$dir/badc.json"
err_has "badc.json:1: a node needs \"cores\""
expect 2 "no --trace" -- "$cairn" plan --cluster "$dir/cluster.json"
expect 2 "bad last:" -- "$cairn" plan --trace last:7x --cluster "$dir/cluster.json"
expect 0 "plan --help" -- "$cairn" plan --help
grep -q "Usage: cairn plan" "$dir/out" || bad "plan --help"

# a recorded run on a local cluster, planned on the cluster it ran on
expect 0 "cairn up" -- "$cairn" up --state-dir "$CAIRN_STATE_DIR" \
    --topology "$tests/topologies/hgx-h100-8gpu.xml" --topology "$tests/topologies/cpu-only-1s.xml"
cat >"$dir/job.yaml" <<'X'
name: plan-probe
tasks:
  - name: prep
    run: [/bin/true]
    resources: {cpus: 1}
  - name: train
    needs: [prep]
    matrix: {k: [1, 2, 3]}
    run: [/bin/sleep, "0.2"]
    resources: {cpus: 2, gpus: 2}
  - name: eval
    needs: [train]
    run: [/bin/true]
    resources: {cpus: 1}
X
expect 0 "submit --wait" -- "$cairn" submit "$dir/job.yaml" --wait
expect 0 "plan last:1d on the current cluster" -- "$cairn" plan --trace last:1d --cluster current --json
same_run="j['actual'] is not None and j['replay']['same_node'] == j['replay']['same_time'] == j['replay']['attempts'] and all(j['actual'][k] == j['predicted'][k] for k in ('makespan_ms', 'wait_p50_ms', 'wait_p95_ms', 'attempts'))"
json_check "the recorded run replays exactly" "j['replay']['attempts'] == 5 and $same_run"

# six tasks that each take the whole GPU node: the scheduler queues two on
# it behind the running one (prefetch), and the worker starts each the
# moment the one ahead of it ends
cat >"$dir/line.yaml" <<'X'
name: plan-prefetch
tasks:
  - name: train
    matrix: {k: [1, 2, 3, 4, 5, 6]}
    run: [/bin/sleep, "0.2"]
    resources: {cpus: 1, gpus: 8}
X
expect 0 "submit six whole-node tasks --wait" -- "$cairn" submit "$dir/line.yaml" --wait
expect 0 "export the trace" -- "$cairn" plan --trace last:1d --export-trace
json_check "11 records exported, tasks queued on their node" \
    "len(j) == 11 and all('placed_time_ms' in r for r in j) and sum(r['start_time_ms'] > r['placed_time_ms'] + 150 for r in j) >= 3"
cp "$dir/out" "$dir/exported.json"
expect 0 "plan last:1d with prefetch on the current cluster" -- "$cairn" plan --trace last:1d \
    --cluster current --json
json_check "the recorded runs replay exactly: nodes, placed and queued times, waits" \
    "j['replay']['attempts'] == 11 and $same_run"
expect 0 "plan the exported trace" -- "$cairn" plan --trace "$dir/exported.json" --cluster current --json
json_check "the exported trace replays the same" "j['replay']['attempts'] == 11 and $same_run"
expect 0 "plan as if the scheduler ran --no-prefetch" -- "$cairn" plan --trace last:1d \
    --cluster current --no-prefetch --json
json_check "without prefetch the queued tasks are placed later" "j['replay']['same_time'] < 11"
expect 0 "plan last:1d (table)" -- "$cairn" plan --trace last:1d --cluster current
grep -q "replay: 11 of 11 attempts on the recorded node, 11 at the recorded time" "$dir/out" ||
    bad "replay line: $(cat "$dir/out")"

exit $fail
