#!/bin/sh
# Nodes that come and go: g1 runs a job alone, then g2 joins and both run
# one; cairn report and cairn plan --cluster current count g2's capacity
# only from when it joined (its node_join in the audit log), which the test
# works out by hand. g2's worker then stops: lost (down), it leaves the
# current cluster; cairn node remove forgets it (audited, journaled); it
# leaves cairn nodes, the report still counts the time it was there (to
# its loss), and the journal verifies.
#   sh nodes_timeline.sh BIN_DIR TESTS_DIR
set -u
. "$(dirname "$0")/lib/common.sh"
cli_init nodes-timeline
url="ipc://$dir/state/clients.sock"
cli() { timeout 60 "$cairn" --scheduler "$url" "$@"; }
topo="$tests/topologies/hgx-h100-8gpu.xml"

"$bin/cairn-scheduler" --state-dir "$dir/state" --heartbeat-interval 100ms \
    --heartbeat-timeout 1s --log-file "$dir/scheduler.log" &
spid=$!
pids="$pids $spid"
worker() {
    "$bin/cairn-worker" --scheduler "ipc://$dir/state/workers.sock" --state-dir "$dir/$1" \
        --name "$1" --topology "$topo" --log-file "$dir/$1.log" &
}
worker g1
pids="$pids $!"
wait_for "g1 up" sh -c "'$cairn' --scheduler '$url' nodes | grep -q '^g1 .* up '" || exit 1
cat >"$dir/one.yaml" <<'X'
name: one
tasks:
  - name: t
    run: [/bin/sleep, "0.5"]
    resources: {cpus: 1, gpus: 8}
X
cat >"$dir/two.yaml" <<'X'
name: two
tasks:
  - name: t
    matrix: {k: [1, 2]}
    run: [/bin/sleep, "0.5"]
    resources: {cpus: 1, gpus: 8}
X
cli submit "$dir/one.yaml" --wait >"$dir/out" 2>&1 || bad "job one: $(cat "$dir/out")"
worker g2
g2pid=$!
pids="$pids $g2pid"
wait_for "g2 up" sh -c "'$cairn' --scheduler '$url' nodes | grep -q '^g2 .* up '" || exit 1
cli submit "$dir/two.yaml" --wait >/dev/null || bad "job two"
cli audit --json >"$dir/audit.json" || bad "audit"

cli plan --trace last:1d --cluster current --json >"$dir/plan.json" || bad "plan"
python3 - "$dir/plan.json" "$dir/audit.json" <<'PY' && ok "plan --cluster current: g2's capacity from its join" || bad "plan: $(cat "$dir/plan.json")"
import json, sys
p, audit = (json.load(open(f)) for f in sys.argv[1:3])
join = {e["target"]: e["time_ms"] for e in audit if e["action"] == "node_join"}
a = p["actual"]
start, end = a["start_ms"], a["end_ms"]
assert join["node g2"] > start, (join, start)
nodes = {n["name"]: n for n in a["nodes"]}
# g1 there all the run, g2 from its join (the audit entry is written just
# after the timeline's row: a few ms apart)
assert abs(nodes["g1"]["capacity_gpu_s"] - 8 * (end - start) / 1000) < 1e-6, nodes["g1"]
want = 8 * (end - join["node g2"]) / 1000
assert abs(nodes["g2"]["capacity_gpu_s"] - want) < 8 * 0.1, (nodes["g2"], want)
assert abs(a["total"]["capacity_gpu_s"] - nodes["g1"]["capacity_gpu_s"] - nodes["g2"]["capacity_gpu_s"]) < 1e-6
# the replay on the cluster it ran on stays exact
r = p["replay"]
assert r["attempts"] == 3 and r["same_node"] == 3 and r["same_time"] == 3, r
assert a["makespan_ms"] == p["predicted"]["makespan_ms"], (a, p["predicted"])
PY

cli report --since 1h --json >"$dir/r1.json" || bad "report"
python3 - "$dir/r1.json" "$dir/audit.json" <<'PY' && ok "report: each node's capacity from its join" || bad "report: $(cat "$dir/r1.json")"
import json, sys
r, audit = (json.load(open(f)) for f in sys.argv[1:3])
join = {e["target"]: e["time_ms"] for e in audit if e["action"] == "node_join"}
to = r["to_ms"]
nodes = {n["name"]: n for n in r["nodes"]}
for n in ("g1", "g2"):
    there = (to - join["node " + n]) / 1000
    assert abs(nodes[n]["present_s"] - there) < 0.1, (n, nodes[n], there)
    assert abs(nodes[n]["gpu_capacity_s"] - 8 * nodes[n]["present_s"]) < 1e-3, nodes[n]
    assert abs(nodes[n]["core_capacity_s"] - nodes[n]["cores"] * nodes[n]["present_s"]) < 1e-3
h100 = r["gpu_models"][0]
assert abs(h100["gpu_capacity_s"] - nodes["g1"]["gpu_capacity_s"] - nodes["g2"]["gpu_capacity_s"]) < 1e-3, h100
PY

# g2 goes: refused while its worker is connected, then removed
cli node remove g2 >"$dir/out" 2>&1
[ $? -ne 0 ] && grep -q "node g2 is connected: stop its worker first" "$dir/out" &&
    ok "remove refused while connected" || bad "remove while connected: $(cat "$dir/out")"
kill "$g2pid"
wait "$g2pid" 2>/dev/null
wait_for "g2 down" sh -c "'$cairn' --scheduler '$url' nodes | grep -q '^g2 .* down '" || exit 1
cli plan --trace last:1d --cluster current --json >"$dir/plan2.json" || bad "plan with g2 down"
python3 -c "import json,sys; j=json.load(open(sys.argv[1])); assert j['cluster']['nodes'] == 1 and j['cluster']['gpus'] == 8, j['cluster']" \
    "$dir/plan2.json" && ok "plan --cluster current: the lost node is not counted" ||
    bad "plan with g2 down: $(cat "$dir/plan2.json")"
cli node remove g2 >"$dir/out" 2>&1 && grep -q "node g2 removed" "$dir/out" &&
    ok "cairn node remove g2" || bad "remove: $(cat "$dir/out")"
cli nodes >"$dir/nodes" || bad "nodes"
grep -q "^g2 " "$dir/nodes" && bad "g2 still listed: $(cat "$dir/nodes")"
cli nodes --removed >"$dir/nodes" || bad "nodes --removed"
grep -q "^g2 .*removed" "$dir/nodes" && ok "listed as removed when asked" || bad "nodes --removed: $(cat "$dir/nodes")"
cli plan --trace last:1d --cluster current --json >"$dir/plan3.json" || bad "plan after the removal"
python3 -c "import json,sys; j=json.load(open(sys.argv[1])); assert j['cluster']['nodes'] == 1 and j['cluster']['gpus'] == 8, j['cluster']" \
    "$dir/plan3.json" && ok "plan --cluster current: the removed node is not counted" ||
    bad "plan after the removal: $(cat "$dir/plan3.json")"
cli audit --json >"$dir/audit2.json" || bad "audit"
cli report --since 1h --json >"$dir/r2.json" || bad "report after the removal"
python3 - "$dir/r2.json" "$dir/audit2.json" <<'PY' && ok "report after the removal: g2 counted while it was there" || bad "report after removal: $(cat "$dir/r2.json")"
import json, sys
r, audit = (json.load(open(f)) for f in sys.argv[1:3])
at = {e["action"] + " " + e["target"]: e for e in audit}
# there from its join to its loss (removed later, while down)
join, gone = at["node_join node g2"]["time_ms"], at["node_loss node g2"]["time_ms"]
assert gone < at["node_remove node g2"]["time_ms"]
assert at["node_remove node g2"]["user"] not in ("", "scheduler"), at["node_remove node g2"]
assert at["node_remove node g2"]["detail"] == "was=down", at["node_remove node g2"]
nodes = {n["name"]: n for n in r["nodes"]}
assert abs(nodes["g2"]["present_s"] - (gone - join) / 1000) < 0.1, (nodes["g2"], join, gone)
assert nodes["g2"]["present_s"] < (r["to_ms"] - join) / 1000 - 0.05
PY
cli report --since 1h --svg "$dir/chart.svg" >/dev/null || bad "report --svg"
python3 - "$dir/chart.svg" <<'PY' && ok "the chart's capacity steps up to 16 GPUs and back to 8" || bad "svg capacity"
import sys, xml.etree.ElementTree as ET
ns = "{http://www.w3.org/2000/svg}"
root = ET.parse(sys.argv[1]).getroot()
cap = [p for p in root.iter(ns + "polyline") if p.get("id") == "capacity"][0]
ys = [float(pt.split(",")[1]) for pt in cap.get("points").split()]
# y grows downwards: 0 GPUs (before g1), 8, 16, 8 again
levels = []
for y in ys:
    if not levels or abs(levels[-1] - y) > 0.05:
        levels.append(y)
assert len(levels) == 4 and levels[0] > levels[1] > levels[2] and abs(levels[3] - levels[1]) < 0.05, levels
assert any("at most 16 GPUs" in (t.text or "") for t in root.iter(ns + "text"))
PY

# the removal survives a restart, and the journal replays exactly
kill "$spid"
wait "$spid" 2>/dev/null
"$bin/cairn-scheduler" --verify-journal --state-dir "$dir/state" >/dev/null 2>"$dir/verify" &&
    grep -q "replays identically" "$dir/verify" && ok "--verify-journal" || bad "verify: $(cat "$dir/verify")"
"$bin/cairn-scheduler" --state-dir "$dir/state" --heartbeat-interval 100ms \
    --log-file "$dir/scheduler2.log" &
pids="$pids $!"
wait_for "restarted" sh -c "'$cairn' --scheduler '$url' nodes --removed | grep -q '^g2 .*removed'" &&
    ok "still removed after a restart" || bad "after restart: $(cli nodes --removed)"
exit $fail
