#!/bin/sh
# Network-aware gangs on a real scheduler (--topology-levels rack,block) and
# four simulated 8-core workers in two racks of one block, labelled
# topology.rack / topology.block by --label: with a node of each rack busy,
# a 2-replica gang with placement pack: rack is placed in the block (explain
# says so and why not a rack), one with require: rack waits and explain
# counts each rack's free nodes, then runs in the rack that frees; a level
# the scheduler lacks is refused at submit, naming the spec's line; a bad
# --topology-levels is refused; --verify-journal replays it identically.
#   sh topology.sh BIN_DIR TESTS_DIR
set -u
. "$(dirname "$0")/lib/common.sh"
cli_init topology
cli_scheduler
# the client as a command, for expect (which runs commands, not functions)
printf '#!/bin/sh\nexec "%s" --scheduler "%s" "$@"\n' "$cairn" "$url" >"$dir/c"
chmod 755 "$dir/c"

expect 2 "a bad --topology-levels is refused" -- "$bin/cairn-scheduler" \
    --topology-levels "rack,rack" --state-dir "$dir/bad"
grep -q "invalid --topology-levels 'rack,rack': topology level rack is named twice" "$dir/err" &&
    ok "naming the problem" || bad "bad levels: $(cat "$dir/err")"

sched_start --topology-levels rack,block --heartbeat-interval 100ms
for w in a1:r1 a2:r1 b1:r2 b2:r2; do
    name=${w%%:*}
    rack=${w#*:}
    "$bin/cairn-worker" --scheduler "ipc://$sched_state/workers.sock" --state-dir "$dir/w-$name" \
        --name "$name" --topology "$tests/topologies/cpu-only-1s.xml" --label "host=$name" \
        --label "topology.rack=$rack" --label topology.block=k1 --log-file "$dir/$name.log" &
    pids="$pids $!"
done
wait_for "four nodes up" sh -c "[ \$('$cairn' --scheduler '$url' nodes | grep -c ' up') -eq 4 ]" ||
    exit 1

# a1 and b1 busy: each rack has one node free
for n in a1 b1; do
    cat >"$dir/busy-$n.yaml" <<X
name: busy-$n
tasks:
  - name: hold
    run: ["sleep", "300"]
    resources: {cpus: 8}
    labels: {host: $n}
X
    expect 0 "hold $n" -- "$dir/c" submit "$dir/busy-$n.yaml"
    eval "busy_$n=\$(cat "\$dir/out")"
done
wait_for "a1 and b1 run their holds" sh -c \
    "'$cairn' --scheduler '$url' status $busy_a1 | grep -q running &&
     '$cairn' --scheduler '$url' status $busy_b1 | grep -q running"

gang() { # gang NAME MODE LEVEL
    cat >"$dir/$1.yaml" <<X
name: $1
tasks:
  - name: ddp
    replicas: 2
    run: ["sleep", "300"]
    resources: {cpus: 8}
    placement: {$2: $3}
X
}

# a level the scheduler does not have: refused at the edge, at its line
gang zone require zone
expect 2 "a placement by a level the scheduler lacks is refused" -- "$dir/c" submit "$dir/zone.yaml"
grep -q "zone.yaml:7:.*placement names topology level zone, which this scheduler does not have (--topology-levels rack,block)" \
    "$dir/err" && ok "naming the level and the line" || bad "zone: $(cat "$dir/err")"

# pack: no rack has 2 free, the block does: placed there, ranks by rack
gang pack pack rack
expect 0 "submit the pack gang" -- "$dir/c" submit "$dir/pack.yaml"
pack=$(cat "$dir/out")
wait_for "the pack gang runs" sh -c "'$cairn' --scheduler '$url' status $pack | grep -q running"
expect 0 "explain the pack gang" -- "$dir/c" explain "$pack" ddp
grep -q "placed in block k1 (pack: rack): no rack had 2 nodes free for it when it was placed" \
    "$dir/out" && ok "pack: the block, and why not a rack" || bad "pack: $(cat "$dir/out")"
expect 0 "status of the pack gang" -- "$dir/c" status "$pack" --json
json_check "rank 0 in rack r1 (a2), rank 1 in r2 (b2)" \
    "j['tasks'][0]['attempts'][-1]['node'] == 'a2,b2'"
expect 0 "cancel the pack gang" -- "$dir/c" cancel "$pack"
wait_for "a2 and b2 free again" sh -c \
    "'$cairn' --scheduler '$url' status $pack | grep -q cancelled"

# require: waits rather than split, explain counts each rack
gang req require rack
expect 0 "submit the require gang" -- "$dir/c" submit "$dir/req.yaml"
req=$(cat "$dir/out")
wait_for "explain counts each rack's free nodes" sh -c \
    "'$cairn' --scheduler '$url' explain $req ddp | grep -q 'needs 2 nodes in one rack (require: rack): rack r1 has 1 free, r2 has 1 free'"
expect 0 "status of the require gang" -- "$dir/c" status "$req" --json
json_check "it waits, not split" \
    "j['tasks'][0]['state'] == 'pending' and not j['tasks'][0]['attempts']"
expect 0 "end the hold on b1" -- "$dir/c" cancel "$busy_b1"
wait_for "the require gang runs" sh -c "'$cairn' --scheduler '$url' status $req | grep -q running"
expect 0 "explain the require gang" -- "$dir/c" explain "$req" ddp
grep -q "placed in rack r2 (require: rack)" "$dir/out" && ok "require: in rack r2" ||
    bad "require: $(cat "$dir/out")"
expect 0 "status of the require gang" -- "$dir/c" status "$req" --json
# (in a rack, ranks follow the node ids: the order the workers registered)
json_check "on b1 and b2" "sorted(j['tasks'][0]['attempts'][-1]['node'].split(',')) == ['b1', 'b2']"

# the journal re-derives every placement with the same levels
sched_stop
expect 0 "--verify-journal replays the topology placements" -- "$bin/cairn-scheduler" \
    --state-dir "$sched_state" --topology-levels rack,block --verify-journal
grep -q "replays identically" "$dir/err" && ok "identically" || bad "verify: $(cat "$dir/err")"
# the levels are part of the configuration: without them the gang that
# required a rack is not placed again
expect 1 "--verify-journal without the levels differs" -- "$bin/cairn-scheduler" \
    --state-dir "$sched_state" --verify-journal
grep -q "DIFFERS" "$dir/err" && ok "naming the difference" || bad "verify: $(cat "$dir/err")"
exit $fail
