#!/bin/sh
# A gang is never split across GPU vendors or models unless its spec says
# resources.gpu.mixed: on a local cluster of one 8 x H100 node and one AMD
# MI250X node, a gang of two 1-GPU replicas waits (and explain says why),
# and the same gang with gpu: {mixed: true} runs across both.
#   sh gang_models.sh BIN_DIR TESTS_DIR
set -u
. "$(dirname "$0")/lib/common.sh"
cli_init gang
cli_local_cluster
unset NO_COLOR

expect 0 "cairn up: an H100 node and an MI250X node" -- "$cairn" up --state-dir "$CAIRN_STATE_DIR" \
    --topology "$tests/topologies/hgx-h100-8gpu.xml" --topology "$tests/topologies/mi250x-4gcd.xml"
cat >"$dir/same.yaml" <<'X'
name: same-model
tasks:
  - name: ddp
    replicas: 2
    run: ["true"]
    resources: {cpus: 1, gpus: 1}
X
sed -e 's/name: same-model/name: mixed-models/' -e 's/gpus: 1}/gpus: 1, gpu: {mixed: true}}/' \
    "$dir/same.yaml" >"$dir/mixed.yaml"
expect 0 "submit a gang of one model" -- "$cairn" submit "$dir/same.yaml"
same=$(cat "$dir/out")
wait_for "the gang explained as waiting for one model" \
    sh -c "'$cairn' explain $same ddp | grep -q 'no model has 2: 1 with .*, 1 with '"
expect 0 "explain the waiting gang" -- "$cairn" explain "$same" ddp
grep -q "its replicas take one GPU model (unless resources.gpu.mixed)" "$dir/out" ||
    bad "explain: $(cat "$dir/out")"
expect 0 "status: nothing placed" -- "$cairn" status "$same" --json
json_check "the gang is pending, no attempt" \
    "all(t['state'] == 'pending' and not t['attempts'] for t in j['tasks'])"
expect 0 "cancel it" -- "$cairn" cancel "$same"
expect 0 "submit the gang with gpu.mixed" -- "$cairn" submit "$dir/mixed.yaml" --wait
expect 0 "status of the mixed gang" -- "$cairn" status "$(head -1 "$dir/out")" --json
json_check "it ran on both nodes" \
    "j['job']['state'] == 'succeeded' and sorted(j['tasks'][0]['attempts'][-1]['node'].split(',')) == ['sim1', 'sim2']"
exit $fail
