#!/bin/sh
# cairn report on a recorded run: two simulated 8-GPU nodes; two 5-GPU tasks
# hold 5 GPUs on each, so a 4-GPU task waits while 3 + 3 sit free (split
# across nodes). Two more 5-GPU tasks are queued behind the running ones
# (prefetch, on by default): placed at once, they wait until they start;
# one is cancelled while queued (it never starts). The report's GPU-hours,
# waits (ready to started, and ready to placed) and fragmentation are
# checked against figures computed by hand from cairn status; the SVG
# parses as XML and carries its series.
#   sh report.sh BIN_DIR TESTS_DIR
set -u
. "$(dirname "$0")/lib/common.sh"
cli_init report
url="ipc://$dir/state/clients.sock"
cli() { timeout 60 "$cairn" --scheduler "$url" "$@"; }

"$bin/cairn-scheduler" --state-dir "$dir/state" --heartbeat-interval 100ms \
    --sample-interval 100ms --log-file "$dir/scheduler.log" &
pids="$pids $!"
for n in g1 g2; do
    "$bin/cairn-worker" --scheduler "ipc://$dir/state/workers.sock" --state-dir "$dir/$n" \
        --name "$n" --topology "$tests/topologies/hgx-h100-8gpu.xml" --log-file "$dir/$n.log" &
    pids="$pids $!"
done
wait_for "two nodes up" sh -c "'$cairn' --scheduler '$url' nodes | grep -c ' up ' | grep -q 2" || exit 1

flag=$dir/go
cat >"$dir/fill.yaml" <<EOF
name: fill
tasks:
  - name: f1
    resources: {cpus: 1, gpus: 5}
    shell: 'while [ ! -e $flag ]; do sleep 0.02; done'
  - name: f2
    resources: {cpus: 1, gpus: 5}
    shell: 'while [ ! -e $flag ]; do sleep 0.02; done'
EOF
cat >"$dir/queue.yaml" <<EOF
name: queue
tasks:
  - name: q1
    resources: {cpus: 1, gpus: 5}
    shell: 'true'
  - name: q2
    resources: {cpus: 1, gpus: 5}
    shell: 'true'
EOF
cat >"$dir/big.yaml" <<EOF
name: big
tasks:
  - name: big
    resources: {cpus: 1, gpus: 4}
    shell: 'sleep 0.2'
EOF
cli submit "$dir/fill.yaml" >/dev/null || bad "submit fill"
wait_for "both fillers running" sh -c "'$cairn' --scheduler '$url' status 1 | grep -c ' running ' | grep -q 2" || exit 1
# no node has 5 GPUs free: both are queued behind the fillers (before the
# 4-GPU job, whose backfill reservation would stop any queueing)
cli submit "$dir/queue.yaml" >/dev/null || bad "submit queue"
wait_for "q1 and q2 queued behind the fillers" sh -c "'$cairn' --scheduler '$url' status 2 | grep -c 'queued on node' | grep -q 2" || exit 1
cli cancel 2 q2 >/dev/null || bad "cancel q2"
wait_for "q2 cancelled" sh -c "'$cairn' --scheduler '$url' status 2 | grep -q '^q2 .*cancelled'" || exit 1
cli report --since 1h --json >"$dir/r0.json" || bad "report --json while q1 waits"
python3 - "$dir/r0.json" <<'PY' && ok "while q1 is queued: counted as queued, not as a wait" || bad "report while queued: $(cat "$dir/r0.json")"
import json, sys
w = {x["shape"]: x for x in json.load(open(sys.argv[1]))["waits"]}["1c 5g"]
assert (w["tasks"], w["placed_tasks"], w["queued"], w["never_started"]) == (2, 4, 1, 1), w
PY
cli submit "$dir/big.yaml" >/dev/null || bad "submit big"
# let the census see the 4-GPU task wait for a while (a GPU-second of split)
wait_for "split GPUs in the census" sh -c "'$cairn' --scheduler '$url' report --since 1h --json |
    python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)[\"fragmentation\"][\"split_across_nodes_s\"] > 4 else 1)'" || exit 1
touch "$flag"
cli wait 3 >/dev/null || bad "the big job failed"
cli wait 1 >/dev/null || bad "the fill job failed"
cli wait 2 >/dev/null # cancelled in part: exit 1
cli status 2 >"$dir/st2"
grep -q '^q1 .*succeeded' "$dir/st2" || bad "q1: $(cat "$dir/st2")"

cli status 1 --json >"$dir/s1.json"
cli provenance 2 >"$dir/sq.json" # start_time_ms 0: never started
cli status 3 --json >"$dir/s2.json"
cli report --since 1h --json >"$dir/r.json" || bad "report --json"
python3 - "$dir/s1.json" "$dir/s2.json" "$dir/r.json" "$dir/sq.json" <<'PY' && ok "GPU-hours, waits and fragmentation match the hand computation" || bad "report figures: $(cat "$dir/r.json")"
import json, sys
s1, s2, r, sq = (json.load(open(p)) for p in sys.argv[1:5])
gpus = {"f1": 5, "f2": 5, "big": 4, "q1": 5, "q2": 5}
hand = 0.0
for s in (s1, s2, sq):
    for t in s["tasks"]:
        for a in t["attempts"]:
            if a["start_time_ms"] > 0:  # q2 never started: no GPU time
                hand += (a["end_time_ms"] - a["start_time_ms"]) / 1000.0 * gpus[t["name"]]
groups = r["groups"]
assert len(groups) == 1, groups
got = groups[0]["gpu_s"]
assert abs(got - hand) < 0.05 * 3, (got, hand)   # start: placed vs started, ms apart
models = {m["name"]: m for m in r["gpu_models"]}
h100 = models["NVIDIA H100 80GB HBM3"]
assert h100["gpus"] == 16 and abs(h100["gpu_allocated_s"] - got) < 1e-6, h100
waits = {w["shape"]: w for w in r["waits"]}
# q1 was queued (placed) at once and started when f1 ended: its wait is
# to its start; q2, cancelled while queued, has none and is counted apart
q = {t["name"]: t["attempts"][0] for t in sq["tasks"]}
assert q["q2"]["start_time_ms"] == 0 and q["q2"]["end"] == "cancelled", q["q2"]
hand_q1 = (q["q1"]["start_time_ms"] - sq["submit_time_ms"]) / 1000.0
assert hand_q1 > 1, hand_q1   # it waited for the census above
w5 = waits["1c 5g"]
assert abs(w5["max_s"] - hand_q1) < 0.3, (w5, hand_q1)
assert (w5["tasks"], w5["placed_tasks"], w5["never_started"], w5["queued"]) == (3, 4, 1, 0), w5
assert w5["placed_max_s"] < 0.3 and w5["placed_max_s"] <= w5["max_s"], w5
assert waits["1c 4g"]["tasks"] == 1, waits
big = s2["tasks"][0]["attempts"][0]
hand_wait = (big["start_time_ms"] - s2["job"]["submit_time_ms"]) / 1000.0
assert abs(waits["1c 4g"]["max_s"] - hand_wait) < 0.3, (waits["1c 4g"], hand_wait)
frag = r["fragmentation"]
# 4 GPUs wanted, 3 + 3 free the whole wait: 4 GPU-seconds per second waited
assert abs(frag["split_across_nodes_s"] - 4 * hand_wait) < 4 * 0.5, (frag, hand_wait)
assert frag["idle_gpu_s"] >= frag["split_across_nodes_s"] - 1e-6
assert r["wait_reasons"][0]["reason"] == "GPUs split across nodes", r["wait_reasons"]
PY

cli report --since 1h >"$dir/r.txt" || bad "report"
grep -q "split across nodes" "$dir/r.txt" && grep -q "NVIDIA H100" "$dir/r.txt" &&
    grep -q "ready to started" "$dir/r.txt" && grep -q "^  1c 5g  *3 .* 1  *0\$" "$dir/r.txt" &&
    ok "the text report" || bad "text report: $(cat "$dir/r.txt")"
cli report --since 1h --by gpu-model --csv >"$dir/r.csv" || bad "report --csv"
head -1 "$dir/r.csv" | grep -q "^gpu-model,attempts,gpu_hours" && grep -q "^NVIDIA H100 80GB HBM3,5," "$dir/r.csv" &&
    ok "--by gpu-model --csv" || bad "csv: $(cat "$dir/r.csv")"
cli report --since 1h --svg "$dir/chart.svg" >/dev/null || bad "report --svg"
python3 - "$dir/chart.svg" <<'PY' && ok "the SVG parses and has its series" || bad "svg"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ns = "{http://www.w3.org/2000/svg}"
assert root.tag == ns + "svg"
ids = {p.get("id") for p in root.iter(ns + "polyline")}
assert {"capacity", "waiting-demand", "allocated-0"} <= ids, ids
demand = [p for p in root.iter(ns + "polyline") if p.get("id") == "waiting-demand"][0]
ys = [float(pt.split(",")[1]) for pt in demand.get("points").split()]
assert min(ys) < max(ys), "the waiting demand is drawn (it rises above zero)"
assert any("NVIDIA H100" in (t.text or "") for t in root.iter(ns + "text"))
PY
timeout 60 "$cairn" --scheduler "$url" report --by color >/dev/null 2>"$dir/err"
[ $? -eq 2 ] && grep -q "by 'color'" "$dir/err" && ok "a bad --by is named" || bad "bad --by: $(cat "$dir/err")"
timeout 60 "$cairn" --scheduler "$url" report --since 1h --until 2h >/dev/null 2>"$dir/err"
[ $? -eq 2 ] && grep -q "window is empty" "$dir/err" && ok "an empty window is refused" || bad "empty window: $(cat "$dir/err")"
exit $fail
