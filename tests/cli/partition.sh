#!/bin/sh
# A worker cut off from the network: it runs in its own network namespace,
# joined to the scheduler's by a veth pair. Its task is running when the
# link goes down; the scheduler marks the node lost and retries the task on
# another worker, where it succeeds. When the link comes back the cut-off
# worker registers again and its stale attempt is killed; its late events
# change nothing.
#   sh partition.sh BIN_DIR TESTS_DIR   (needs root and `ip netns`; skips otherwise)
set -u
. "$(dirname "$0")/lib/common.sh"
ns="cairnp$$"
hv="cph$$"
nv="cpn$$"
if [ "$(id -u)" != 0 ] || ! ip netns add "$ns" 2>/dev/null; then
    echo "skip: needs root and network namespaces"
    exit 0
fi
cleanup_more() {
    ip link del "$hv" 2>/dev/null
    ip netns del "$ns" 2>/dev/null
}
cli_init part

# 10.231.N.0/30 between the root namespace (.1) and the worker's (.2)
n=$(( $$ % 250 + 1 ))
hip="10.231.$n.1"
nip="10.231.$n.2"
ip link add "$hv" type veth peer name "$nv" || exit 1
ip link set "$nv" netns "$ns"
ip addr add "$hip/30" dev "$hv"
ip link set "$hv" up
ip netns exec "$ns" ip addr add "$nip/30" dev "$nv"
ip netns exec "$ns" ip link set "$nv" up
ip netns exec "$ns" ip link set lo up

port=$(python3 -c 'import socket
s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export CAIRN_STATE_DIR="$dir/state"
# plain tcp between hosts: the join key authenticates both ways
head -c 32 /dev/urandom | base64 >"$dir/join.key"
chmod 600 "$dir/join.key"
"$bin/cairn-scheduler" --workers "tcp://$hip:$port" --heartbeat-interval 200ms \
    --heartbeat-timeout 1s --log-file "$dir/scheduler.log" --log-level debug \
    --join-key "$dir/join.key" &
pids="$pids $!"
topo="$tests/topologies/cpu-only-1s.xml"
ip netns exec "$ns" "$bin/cairn-worker" --scheduler "tcp://$hip:$port" --name cut \
    --state-dir "$dir/cut" --topology "$topo" --log-file "$dir/cut.log" \
    --join-key "$dir/join.key" &
pids="$pids $!"
"$bin/cairn-worker" --scheduler "tcp://$hip:$port" --name safe --state-dir "$dir/safe" \
    --topology "$topo" --log-file "$dir/safe.log" --join-key "$dir/join.key" &
pids="$pids $!"

# until COMMAND succeeds, polled every 100 ms for at most SECONDS
until_ok() {
    secs=$1 what=$2
    shift 2
    i=0
    until "$@" >/dev/null 2>&1; do
        i=$((i + 1))
        if [ $i -gt $((secs * 10)) ]; then
            bad "$what (after ${secs} s)"
            tail -5 "$dir/scheduler.log" | sed 's/^/  scheduler: /'
            exit 1
        fi
        sleep 0.1 # polling a condition with a deadline
    done
}
nodes_up() { [ "$("$cairn" nodes 2>/dev/null | grep -c ' up ')" -ge "$1" ]; }
until_ok 20 "both workers up" nodes_up 2

# the task must start on the cut-off worker: the other is drained meanwhile
"$cairn" drain safe >/dev/null || bad "drain safe"
cat >"$dir/job.yaml" <<YAML
name: partition
tasks:
  - name: work
    shell: echo \$\$ >> "$dir/pids.\$CAIRN_ATTEMPT"; sleep 4; echo finished
YAML
job=$("$cairn" submit "$dir/job.yaml" 2>"$dir/err") || { bad "submit: $(cat "$dir/err")"; exit 1; }
job=$(echo "$job" | grep -o '[0-9][0-9]*' | head -1)
until_ok 20 "the task started on the cut-off worker" test -s "$dir/pids.1"
pid1=$(head -1 "$dir/pids.1")
"$cairn" undrain safe >/dev/null || bad "undrain safe"

# cut the link: the node is lost after the heartbeat timeout, the task retried
ip link set "$hv" down
status_has() { "$cairn" status "$job" --json 2>/dev/null | python3 -c "$1"; }
retried='import json,sys
j=json.load(sys.stdin); a=j["tasks"][0]["attempts"]
sys.exit(0 if len(a) >= 2 and a[0]["end_reason"].lower() == "node_lost" and a[1]["node"] == "safe" else 1)'
until_ok 20 "the scheduler retried the task on the other worker" status_has "$retried"
ok "the cut-off node was lost and its task retried elsewhere"

# the link comes back while the stale attempt still runs
ip link set "$hv" up
kill -0 "$pid1" 2>/dev/null && ok "the stale attempt was still running when the link came back" \
    || echo "note: the stale attempt had already ended"
until_ok 20 "the cut-off worker registered again" nodes_up 2
until_ok 20 "the stale attempt was killed" sh -c "! kill -0 $pid1 2>/dev/null"
ok "the stale attempt was killed after the worker came back"
succeeded='import json,sys
j=json.load(sys.stdin); t=j["tasks"][0]; a=t["attempts"]
sys.exit(0 if j["job"]["state"].lower() == "succeeded" and a[-1]["node"] == "safe"
         and a[0]["end_reason"].lower() == "node_lost" else 1)'
until_ok 30 "the job succeeded on the other worker" status_has "$succeeded"
ok "the job succeeded, the lost attempt stays node-lost"
exit $fail
