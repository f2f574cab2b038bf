#!/bin/sh
# --gpu-error-drains-node: the operator's policy that a GPU fault also
# takes its node out. Two 8-GPU nodes, each with its own fake NVML; an Xid
# on the GPU a task runs on ends the attempt (gpu-error), drains that node
# with the GPU's reason, and the retry (retry.on gpu-error) runs on the
# other node with the same seed.
#   sh gpu_error_node.sh BIN_DIR TESTS_DIR
set -u
. "$(dirname "$0")/lib/common.sh"
cli_init gpu-error-node
. "$tests/cli/lib/fake_nvml.sh"
lib=$(fake_nvml_lib) || exit 1
cli_scheduler
sched_start --gpu-error-drains-node
for w in w1 w2; do
    fake_nvml_config "$dir/nvml-$w.json" "$dir/xid-$w"
    CAIRN_FAKE_NVML_CONFIG="$dir/nvml-$w.json" "$bin/cairn-worker" \
        --scheduler "ipc://$sched_state/workers.sock" --state-dir "$dir/$w" --name "$w" \
        --topology "$tests/topologies/hgx-h100-8gpu.xml" --nvml-lib "$lib" --allow-root-tasks \
        --log-file "$dir/$w.log" &
    pids="$pids $!"
done
wait_for "both nodes up" sh -c "[ \$('$cairn' --scheduler '$url' nodes | grep -c ' up ') -eq 2 ]"
cat >"$dir/job.yaml" <<X
name: moves
tasks:
  - name: t
    run: [sh, -c, 'echo \$CUDA_VISIBLE_DEVICES \$CAIRN_SEED >>$dir/runs; while [ ! -e $dir/go ]; do sleep 0.05; done']
    resources: {cpus: 1, gpus: 1}
    retry: {attempts: 2, on: [gpu-error]}
X
cli submit "$dir/job.yaml" >"$dir/out" 2>&1 || bad "submit: $(cat "$dir/out")"
job=$(cat "$dir/out")
wait_for "the task started" test -s "$dir/runs"
cli status "$job" --json >"$dir/out"
first=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tasks"][0]["attempts"][0]["node"])' "$dir/out")
uuid=$(cut -d' ' -f1 "$dir/runs")
bus=$(python3 -c 'import json,sys
print([d["pci_bus_id"] for d in json.load(open(sys.argv[1]))["devices"] if d["uuid"] == sys.argv[2]][0])' \
    "$dir/nvml-$first.json" "$uuid")
echo "$bus 79" >"$dir/xid.tmp" && mv "$dir/xid.tmp" "$dir/xid-$first"
wait_for "the task runs again" sh -c "[ \$(wc -l <$dir/runs) -ge 2 ]"
cli status "$job" --json >"$dir/out"
json_check "attempt 1 gpu-error on $first, attempt 2 on the other node" \
    "[(a['node'], a['end_class']) for a in j['tasks'][0]['attempts']] == [('$first', 'gpu-error'), ('w1' if '$first' == 'w2' else 'w2', '')]"
[ "$(sed -n 1p "$dir/runs" | cut -d' ' -f2)" = "$(sed -n 2p "$dir/runs" | cut -d' ' -f2)" ] &&
    ok "with the same seed" || bad "seeds: $(cat "$dir/runs")"
cli nodes --json >"$dir/out"
json_check "$first drained with the GPU's reason, the other up" \
    "[(n['name'], n['drained'], n['drain_reason']) for n in j['nodes']] == sorted([('$first', True, 'GPU ' + str([g['index'] for g in n0['gpus'] if g.get('unhealthy')][0]) + ' unhealthy: Xid 79'), ('w1' if '$first' == 'w2' else 'w2', False, '')]) if (n0 := [n for n in j['nodes'] if n['name'] == '$first'][0]) else False"
touch "$dir/go"
cli wait "$job" >/dev/null 2>&1 && ok "the job succeeds on the other node" || bad "the job"
exit $fail
