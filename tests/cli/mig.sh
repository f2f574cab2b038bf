#!/bin/sh
# MIG instances with the fake NVML (tests/fake_nvml): on an 8 x H100 node
# whose GPU 2 is in MIG mode with 7 1g.10gb instances, `cairn nodes` shows
# the 7 instances (and not that GPU whole); tasks that ask `mig: 1g.10gb`
# (or gpu: {model: 1g.10gb}) run with CUDA_VISIBLE_DEVICES=MIG-..., 7 at
# once while an 8th waits; a task for whole GPUs never gets a slice. An
# Xid raised through the fake NVML reaches the worker's GPU health watcher.
#   sh mig.sh BIN_DIR TESTS_DIR
set -u
. "$(dirname "$0")/lib/common.sh"
cli_init mig
cli_local_cluster
CAIRN_NVML_LIB="$bin/../tests/libfake_nvml.so"
CAIRN_FAKE_NVML_CONFIG="$dir/nvml.json"
. "$tests/cli/lib/fake_nvml.sh"
fake_nvml_config "$CAIRN_FAKE_NVML_CONFIG" "$dir/xid" mig
export CAIRN_NVML_LIB CAIRN_FAKE_NVML_CONFIG
[ -f "$CAIRN_NVML_LIB" ] || { echo "FAIL: no $CAIRN_NVML_LIB"; exit 1; }
parent=GPU-da2b7b3c-5c13-4341-712e-1b14b32c6620

expect 0 "print-resources with the fake NVML: GPU 2 as 7 MIG instances" -- \
    "$bin/cairn-worker" --print-resources --json --topology "$tests/topologies/hgx-h100-8gpu.xml" \
    --nvml-lib "$CAIRN_NVML_LIB"
json_check "7 instances of GPU 2, 7 whole GPUs, indexes in order" \
    "len(j['gpus']) == 14 and [g['index'] for g in j['gpus']] == list(range(14)) and \
     [g.get('mig_profile') for g in j['gpus'] if g.get('mig')] == ['1g.10gb'] * 7 and \
     all(g['pci_bus_id'] == '0000:38:00.0' and g['numa'] == 0 and g['mig_parent_uuid'] == '$parent' \
         for g in j['gpus'] if g.get('mig')) and \
     all(g['uuid'] != '$parent' for g in j['gpus'])"

expect 0 "cairn up: one H100 node, its NVML the fake one" -- "$cairn" up \
    --state-dir "$CAIRN_STATE_DIR" --topology "$tests/topologies/hgx-h100-8gpu.xml"
expect 0 "cairn nodes --json" -- "$cairn" nodes --json
json_check "7 MIG devices of GPU 2, 7 whole GPUs, GPU 2 not offered whole" \
    "[len([g for g in n['gpus'] if g.get('mig')]) for n in j['nodes']] == [7] and \
     all(g['model'] == 'NVIDIA H100 80GB HBM3 MIG 1g.10gb' and g['uuid'].startswith('MIG-') and \
         g['mig_parent_uuid'] == '$parent' for g in j['nodes'][0]['gpus'] if g.get('mig')) and \
     len(j['nodes'][0]['gpus']) == 14 and all(g['uuid'] != '$parent' for g in j['nodes'][0]['gpus'])"
expect 0 "cairn nodes" -- "$cairn" nodes
[ "$(grep -c 'NVIDIA H100 80GB HBM3 MIG 1g.10gb' "$dir/out")" = 7 ] ||
    bad "cairn nodes does not list 7 MIG devices: $(cat "$dir/out")"

# 8 tasks of one slice each; each writes its CUDA_VISIBLE_DEVICES and waits
# for $dir/go, so the 7 that fit hold their slices together
{
    echo "name: slices"
    echo "tasks:"
    for i in 0 1 2 3 4 5 6 7; do
        echo "  - name: s$i"
        echo "    run: [sh, -c, 'echo \$CUDA_VISIBLE_DEVICES >$dir/s$i.cvd; while [ ! -e $dir/go ]; do sleep 0.05; done']"
        if [ $i = 7 ]; then
            echo "    resources: {cpus: 1, gpu: {model: 1g.10gb}, gpus: 1}"
        else
            echo "    resources: {cpus: 1, mig: 1g.10gb}"
        fi
    done
} >"$dir/slices.yaml"
expect 0 "submit 8 one-slice tasks" -- "$cairn" submit "$dir/slices.yaml"
job=$(cat "$dir/out")
wait_for "7 tasks started" sh -c "[ \$(ls $dir/*.cvd 2>/dev/null | wc -l) -ge 7 ]"
expect 0 "status while 7 run" -- "$cairn" status "$job" --json
json_check "7 running and 1 pending (no slice left for it)" \
    "sorted(t['state'] for t in j['tasks']) == ['pending'] + ['running'] * 7"
n=$(ls "$dir"/*.cvd | wc -l)
[ "$n" = 7 ] || bad "$n tasks started while 7 slices exist"
cat "$dir"/*.cvd | sort -u >"$dir/cvd"
[ "$(grep -c '^MIG-' "$dir/cvd")" = 7 ] || bad "CUDA_VISIBLE_DEVICES not 7 distinct MIG-... : $(cat "$dir/cvd")"
# a whole-GPU task meanwhile takes whole GPUs only
cat >"$dir/whole.yaml" <<X
name: whole
tasks:
  - name: w
    run: [sh, -c, 'echo \$CUDA_VISIBLE_DEVICES >$dir/whole.cvd']
    resources: {cpus: 1, gpus: 7}
X
expect 0 "a 7-GPU task runs on the 7 whole GPUs next to the slices" -- \
    "$cairn" submit "$dir/whole.yaml" --wait
tr ',' '\n' <"$dir/whole.cvd" >"$dir/whole.list"
[ "$(grep -c '^GPU-' "$dir/whole.list")" = 7 ] && ! grep -q "$parent" "$dir/whole.list" ||
    bad "the whole-GPU task got: $(cat "$dir/whole.cvd")"
touch "$dir/go"
expect 0 "the 8th task runs once a slice frees, and the job succeeds" -- "$cairn" wait "$job"
[ "$(ls "$dir"/s*.cvd | wc -l)" = 8 ] || bad "not every task ran"
grep -q '^MIG-' "$dir/s7.cvd" || bad "the gpu.model 1g.10gb task got $(cat "$dir/s7.cvd")"

# GPU health: a critical Xid is logged (test_worker_gpu_health checks that
# an application's Xid is not)
log=$(ls "$CAIRN_STATE_DIR"/worker-*.log)
grep -q "GPU health: watching NVML's critical events" $log || bad "no health watcher: $(cat $log)"
echo "0000:39:00.0 79" >"$dir/xid.tmp" && mv "$dir/xid.tmp" "$dir/xid"
wait_for "the worker logs the Xid 79 of GPU 9" grep -q "GPU 9 (0000:39:00.0 GPU-79e2ea23-c446-7a50-d2df-d9b2cba36bf3): Xid 79" $log &&
    ok "the worker's health watcher saw the Xid 79 of GPU 9"
exit $fail
