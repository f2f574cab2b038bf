#!/bin/sh
# GPU health with the fake NVML (tests/fake_nvml): an 8 x H100 node; an Xid
# raised on the GPU a task runs on marks that GPU unhealthy in the
# scheduler (`cairn nodes` says why), the worker ends the task's attempt as
# gpu-error and, with retry.on gpu-error, it runs again on another GPU of
# the node with the same seed; new work then
# uses the node's 7 other GPUs and never the sick one; the mark is
# journaled (--verify-journal replays it); `cairn gpu enable` returns it to
# service (audited). Retired pages pending (polled) mark a GPU as well.
#   sh gpu_health.sh BIN_DIR TESTS_DIR
set -u
. "$(dirname "$0")/lib/common.sh"
cli_init gpu-health
cli_local_cluster
. "$tests/cli/lib/fake_nvml.sh"
CAIRN_NVML_LIB=$(fake_nvml_lib) || exit 1
CAIRN_FAKE_NVML_CONFIG="$dir/nvml.json"
export CAIRN_NVML_LIB CAIRN_FAKE_NVML_CONFIG
# the fixture's GPUs, none in MIG mode, and an event trigger
fake_nvml_config "$CAIRN_FAKE_NVML_CONFIG" "$dir/xid"
# UUID -> PCI bus id, as the fake NVML has them
bus_of() {
    python3 -c 'import json,sys
print([d["pci_bus_id"] for d in json.load(open(sys.argv[1]))["devices"] if d["uuid"] == sys.argv[2]][0])' \
        "$CAIRN_FAKE_NVML_CONFIG" "$1"
}

expect 0 "cairn up: one H100 node, its NVML the fake one" -- "$cairn" up \
    --state-dir "$CAIRN_STATE_DIR" --topology "$tests/topologies/hgx-h100-8gpu.xml"
cat >"$dir/one.yaml" <<X
name: victim
tasks:
  - name: v
    run: [sh, -c, 'echo \$CUDA_VISIBLE_DEVICES \$CAIRN_SEED >>$dir/v.cvd; while [ ! -e $dir/go-v ]; do sleep 0.05; done']
    resources: {cpus: 1, gpus: 1}
    retry: {attempts: 2, on: [gpu-error]}
X
expect 0 "submit a one-GPU task" -- "$cairn" submit "$dir/one.yaml"
victim=$(cat "$dir/out")
wait_for "the task started" test -s "$dir/v.cvd"
sick=$(cut -d' ' -f1 "$dir/v.cvd")
echo "$(bus_of "$sick") 79" >"$dir/xid.tmp" && mv "$dir/xid.tmp" "$dir/xid"
wait_for "the scheduler marks its GPU unhealthy" sh -c "'$cairn' nodes --json | grep -q '\"unhealthy_reason\": \"Xid 79\"'"
wait_for "the task runs again" sh -c "[ \$(wc -l <$dir/v.cvd) -ge 2 ]"
second=$(sed -n 2p "$dir/v.cvd" | cut -d' ' -f1)
[ "$second" != "$sick" ] && ok "attempt 2 on another GPU ($second)" || bad "attempt 2 on the sick GPU"
[ "$(sed -n 2p "$dir/v.cvd" | cut -d' ' -f2)" = "$(sed -n 1p "$dir/v.cvd" | cut -d' ' -f2)" ] &&
    ok "with the same seed" || bad "seeds: $(cat "$dir/v.cvd")"
expect 0 "status of the victim" -- "$cairn" status "$victim" --json
json_check "attempt 1 ended gpu-error, attempt 2 runs" \
    "[a['end_class'] for a in j['tasks'][0]['attempts']] == ['gpu-error', ''] and j['tasks'][0]['state'] == 'running'"
expect 0 "cairn nodes --json" -- "$cairn" nodes --json
json_check "that GPU, and only it, unhealthy with the reason, and free" \
    "[(g['uuid'], g['unhealthy_reason'], g['used']) for g in j['nodes'][0]['gpus'] if g.get('unhealthy')] == [('$sick', 'Xid 79', False)]"
expect 0 "cairn nodes" -- "$cairn" nodes
grep -q "UNHEALTHY (Xid 79)" "$dir/out" || bad "cairn nodes: $(cat "$dir/out")"
touch "$dir/go-v"
expect 0 "the task succeeds on its second GPU" -- "$cairn" wait "$victim"

# 8 one-GPU tasks: 7 run on the other GPUs, the 8th waits (the sick GPU is
# free but takes nothing; the 8th may queue behind one of the 7)
{
    echo "name: after"
    echo "tasks:"
    for i in 0 1 2 3 4 5 6 7; do
        echo "  - name: a$i"
        echo "    run: [sh, -c, 'echo \$CUDA_VISIBLE_DEVICES >$dir/a$i.cvd; while [ ! -e $dir/go ]; do sleep 0.05; done']"
        echo "    resources: {cpus: 1, gpus: 1}"
    done
} >"$dir/after.yaml"
expect 0 "submit 8 one-GPU tasks" -- "$cairn" submit "$dir/after.yaml"
job=$(cat "$dir/out")
wait_for "7 tasks started" sh -c "[ \$(ls $dir/a*.cvd 2>/dev/null | wc -l) -ge 7 ]"
expect 0 "status while 7 run" -- "$cairn" status "$job" --json
json_check "7 running, 1 pending" "sorted(t['state'] for t in j['tasks']) == ['pending'] + ['running'] * 7"
cat "$dir"/a*.cvd | sort -u >"$dir/used"
[ "$(wc -l <"$dir/used")" = 7 ] || bad "not 7 distinct GPUs: $(cat "$dir/used")"
grep -qx "$sick" "$dir/used" && bad "a new task got the sick GPU $sick"

# cairn gpu enable returns it to service: the waiting task takes it
"$cairn" nodes --json >"$dir/nodes.json"
idx=$(python3 -c 'import json,sys; print([g["index"] for g in json.load(open(sys.argv[1]))["nodes"][0]["gpus"] if g["uuid"] == sys.argv[2]][0])' "$dir/nodes.json" "$sick")
node=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["nodes"][0]["name"])' "$dir/nodes.json")
expect 2 "gpu enable: a bad index is a usage error" -- "$cairn" gpu enable "$node" x
grep -q "GPU 'x' is not a GPU index" "$dir/err" || bad "bad index: $(cat "$dir/err")"
expect 0 "cairn gpu enable NODE GPU" -- "$cairn" gpu enable "$node" "$idx"
grep -q "GPU $idx of node $node is in service again (it had: Xid 79)" "$dir/out" ||
    bad "gpu enable: $(cat "$dir/out")"
expect 1 "enabling a healthy GPU is refused" -- "$cairn" gpu enable "$node" "$idx"
grep -q "is not marked unhealthy" "$dir/err" || bad "enable again: $(cat "$dir/err")"
expect 0 "cairn nodes --json" -- "$cairn" nodes --json
json_check "no GPU unhealthy" "not any(g.get('unhealthy') for g in j['nodes'][0]['gpus'])"
touch "$dir/go"
expect 0 "the 8th task runs (now or behind another) and the job succeeds" -- "$cairn" wait "$job"
[ "$(ls "$dir"/a*.cvd | wc -l)" = 8 ] || bad "not every task ran"
# a memory repair pending (retired pages: polled, not an event) marks a GPU
# unhealthy too
other=$(python3 -c 'import json,sys
print([d["pci_bus_id"] for d in json.load(open(sys.argv[1]))["devices"] if d["uuid"] != sys.argv[2]][-1])' \
    "$CAIRN_FAKE_NVML_CONFIG" "$sick")
echo "$other pages" >"$dir/xid.tmp" && mv "$dir/xid.tmp" "$dir/xid"
wait_for "retired pages pending mark that GPU unhealthy" sh -c \
    "'$cairn' nodes --json | grep -q '\"unhealthy_reason\": \"retired pages pending\"'"
expect 0 "cairn audit" -- "$cairn" audit
grep -q "gpu_enable" "$dir/out" || bad "gpu enable not audited: $(cat "$dir/out")"
expect 0 "cairn down" -- "$cairn" down --state-dir "$CAIRN_STATE_DIR"
expect 0 "--verify-journal replays the GPU health event" -- "$bin/cairn-scheduler" \
    --state-dir "$CAIRN_STATE_DIR" --verify-journal
grep -q "replays identically" "$dir/err" && ok "identically" || bad "verify: $(cat "$dir/err")"
exit $fail
