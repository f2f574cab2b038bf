#!/bin/sh
# cairn plan honours topology: --topology-levels rack and --gang-placement
# on a cluster file of two racks (nodes listed a1 b1 a2 b2, so the two
# holds of the trace take one node of each rack): with require:rack the
# recorded 2-replica gang waits until a rack frees (99 s), with pack:rack
# and without placement it runs at once across the racks; bad options are
# usage errors (exit 2) naming what is wrong.
#   sh plan_topology.sh BIN_DIR TESTS_DIR
set -u
. "$(dirname "$0")/lib/common.sh"
cli_init plan-topology

node() { # node NAME RACK
    printf '  {"name": "%s", "cores": 8, "memory": "64G", "labels": {"topology.rack": "%s"},\n' "$1" "$2"
    printf '   "gpus": [{"model": "NVIDIA H100 80GB HBM3", "memory": "80G", "count": 1}]}'
}
{
    echo '{"nodes": ['
    node a1 r1 && echo , && node b1 r2 && echo , && node a2 r1 && echo , && node b2 r2
    echo ']}'
} >"$dir/cluster.json"
rec() { # rec JOB NAME TASK ATTEMPT RANK REPLICAS NODE SUBMIT END
    printf ' {"job_id": %s, "job_name": "%s", "task": "%s", "attempt_id": %s, "number": 1,
  "rank": %s, "replicas": %s, "cpus": 8, "gpus": 1, "node": "%s", "gpu_ids": [{"index": 0}],
  "submit_time_ms": %s, "ready_time_ms": %s, "placed_time_ms": %s, "start_time_ms": %s,
  "end_time_ms": %s, "end": "succeeded"}' "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8" "$8" "$8" "$8" "$9"
}
{
    echo '['
    rec 1 hold h1 1 0 1 a1 1000 101000 && echo ,
    rec 1 hold h2 2 0 1 b1 1000 201000 && echo ,
    rec 2 g ddp 3 0 2 a2 2000 12000 && echo ,
    rec 2 g ddp 3 1 2 b2 2000 12000
    echo ']'
} >"$dir/trace.json"

gang_wait='[w for w in j["predicted"]["waits"] if w["shape"] == "8c 1g x2"][0]["max_ms"]'
expect 0 "plan without placement" -- "$cairn" plan --trace "$dir/trace.json" \
    --cluster "$dir/cluster.json" --json
json_check "the gang runs at once, split across the racks" "$gang_wait == 0"
expect 0 "plan with every gang requiring a rack" -- "$cairn" plan --trace "$dir/trace.json" \
    --cluster "$dir/cluster.json" --topology-levels rack --gang-placement require:rack --json
json_check "the gang waits until rack r1 frees" "$gang_wait == 99000"
expect 0 "plan with every gang packing by rack" -- "$cairn" plan --trace "$dir/trace.json" \
    --cluster "$dir/cluster.json" --topology-levels rack,block --gang-placement pack:rack --json
json_check "pack: no rack has room, it runs at once" "$gang_wait == 0"

expect 2 "--gang-placement without --topology-levels" -- "$cairn" plan --trace "$dir/trace.json" \
    --cluster "$dir/cluster.json" --gang-placement require:rack
grep -q "\-\-gang-placement needs --topology-levels" "$dir/err" || bad "$(cat "$dir/err")"
expect 2 "a level not among --topology-levels" -- "$cairn" plan --trace "$dir/trace.json" \
    --cluster "$dir/cluster.json" --topology-levels rack --gang-placement require:block
grep -q "names level block, not one of rack" "$dir/err" || bad "$(cat "$dir/err")"
expect 2 "a bad --gang-placement" -- "$cairn" plan --trace "$dir/trace.json" \
    --cluster "$dir/cluster.json" --topology-levels rack --gang-placement near:rack
grep -q "expected pack:LEVEL or require:LEVEL" "$dir/err" || bad "$(cat "$dir/err")"
expect 2 "bad --topology-levels" -- "$cairn" plan --trace "$dir/trace.json" \
    --cluster "$dir/cluster.json" --topology-levels "rack,,block"
grep -q "bad --topology-levels 'rack,,block'" "$dir/err" || bad "$(cat "$dir/err")"
exit $fail
