#!/bin/sh
# Failure classes on a real cluster (a scheduler and a simulated 8-GPU
# worker, hgx-h100-8gpu.xml):
#  - retry.on {log: REGEX}: a task that writes "NCCL timeout" to stderr and
#    fails on attempt 1 is retried, and succeeds on attempt 2; one whose
#    stderr does not match is not retried; the worker matched the pattern
#    (it got it in AssignTask), the class "log" is in cairn status (text
#    and --json), inspect and the provenance record;
#  - retry.on oom: a task that exceeds its memory limit is killed, its
#    attempt is "oom" and retried until its attempts are used (the
#    worker's cgroup OOM kill where cgroups are delegated, its own RSS
#    sampling elsewhere: the test says which);
#  - cairn report --failures (text, --json, --csv): the failures by class,
#    per node and per GPU UUID; the full report's JSON has them too;
#  - a bad pattern is refused at submit, at its line;
#  - --verify-journal replays the run, classes included, identically.
#   sh failure_classes.sh BIN_DIR TESTS_DIR
set -u
. "$(dirname "$0")/lib/common.sh"
cli_init failure-classes
cli_scheduler
work="$dir/work"
mkdir -p "$work"
chmod 755 "$dir" "$work" # the tasks run as the submitter; root here in CI

sched_start --heartbeat-interval 100ms
"$bin/cairn-worker" --scheduler "ipc://$sched_state/workers.sock" --state-dir "$dir/g1" --name g1 \
    --topology "$tests/topologies/hgx-h100-8gpu.xml" --log-file "$dir/g1.log" \
    --allow-root-tasks &
wpid=$!
pids="$pids $wpid"
wait_for "g1 up" sh -c "'$cairn' --scheduler '$url' nodes | grep -q '^g1 .*up'" || exit 1

# job_state JOB: its state word in cairn status --json
job_state() { cli status "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["job"]["state"])'; }
# wait_done JOB: until it succeeded or failed
wait_done() {
    wait_for "job $1 ends" sh -c "'$cairn' --scheduler '$url' status $1 --json | grep -Eq '\"state\": \"(succeeded|failed)\"'"
}

# ---- log: a matching stderr is retried, another is not --------------------
cat >"$dir/nccl.yaml" <<EOF
name: nccl
defaults:
  workdir: $work
  resources: {cpus: 1, gpus: 1}
  retry: {attempts: 3, backoff: 10ms, on: [{log: "NCCL.*(timeout|unhandled system error)"}]}
tasks:
  - name: flaky
    shell: |
      echo "step 1" >&2
      if [ "\$CAIRN_ATTEMPT" = 1 ]; then echo "rank 0: NCCL WARN timeout after 1800 s" >&2; exit 1; fi
      echo done
  - name: broken
    shell: |
      echo "Segmentation fault (core dumped)" >&2
      exit 3
EOF
nccl=$(cli submit "$dir/nccl.yaml") || bad "submit nccl"
wait_done "$nccl"
cli status "$nccl" --json >"$dir/out"
json_check "the matching task was retried once and succeeded; attempt 1's class is log" \
    '[t for t in j["tasks"] if t["name"] == "flaky"][0]["state"] == "succeeded" and
     [a["end_class"] for a in [t for t in j["tasks"] if t["name"] == "flaky"][0]["attempts"]] == ["log", ""]'
json_check "the task whose stderr does not match failed at its first attempt (exit_nonzero)" \
    '[t for t in j["tasks"] if t["name"] == "broken"][0]["state"] == "failed" and
     [a["end_class"] for a in [t for t in j["tasks"] if t["name"] == "broken"][0]["attempts"]] == ["exit_nonzero"]'
grep -q "task flaky attempt 1 ended (exit, log): retrying" "$dir/scheduler.log" &&
    ok "the scheduler logs the retry with its class" ||
    bad "no retry with class log in the scheduler's log: $(grep -i retrying "$dir/scheduler.log")"
cli status "$nccl" >"$dir/out" 2>&1
grep -q "broken .*failed.*exit code 3$" "$dir/out" && ok "status text: exit code 3, no class" ||
    bad "status text for broken: $(cat "$dir/out")"
cli inspect "$nccl" flaky >"$dir/out" 2>&1
grep -q "exit_nonzero (code 1) (log)" "$dir/out" && ok "inspect shows the class of attempt 1" ||
    bad "inspect: $(cat "$dir/out")"
cli provenance "$nccl" >"$dir/prov.json" || bad "provenance"
python3 - "$dir/prov.json" <<'PY' && ok "provenance: end_class log, then succeeded" || bad "provenance end_class: $(head -c 600 "$dir/prov.json")"
import json, sys
j = json.load(open(sys.argv[1]))
t = [t for t in j["tasks"] if t["name"] == "flaky"][0]
sys.exit(0 if [a.get("end_class", "") for a in t["attempts"]] == ["log", ""] else 1)
PY

# ---- oom: over its memory limit, killed, retried -----------------------------
cat >"$dir/oom.yaml" <<EOF
name: oom
defaults: {workdir: $work}
tasks:
  - name: hog
    resources: {cpus: 1, gpus: 1, memory: 64M}
    retry: {attempts: 2, backoff: 10ms, on: [oom]}
    run: [python3, -c, "import time; x = b'a' * (400 << 20); time.sleep(20)"]
EOF
oom=$(cli submit "$dir/oom.yaml") || bad "submit oom"
wait_done "$oom"
cli status "$oom" --json >"$dir/out"
json_check "the task over its memory limit ran twice, both attempts oom, and failed" \
    'j["tasks"][0]["state"] == "failed" and [a["end_class"] for a in j["tasks"][0]["attempts"]] == ["oom", "oom"]'
# the worker makes task cgroups (memory.max, the kernel's OOM kill) where
# cgroup v2 with the memory controller is there for it to write
if grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null &&
    [ -w /sys/fs/cgroup/cgroup.subtree_control ]; then
    echo "note: the OOM case ran with the worker's task cgroups (memory.max)"
else
    echo "skip: no cgroup v2 memory controller delegated here: the OOM case ran with the" \
        "worker's own RSS sampling, not a cgroup's OOM kill"
fi
cli status "$oom" >"$dir/out" 2>&1
grep -q "(oom)" "$dir/out" && ok "status text names oom" || bad "status text: $(cat "$dir/out")"

# ---- a bad pattern is refused at its line -----------------------------------
printf 'name: bad\ntasks:\n  - name: a\n    run: [x]\n    retry: {on: [{log: "NCCL("}]}\n' >"$dir/bad.yaml"
expect 2 "a bad log pattern is refused at submit" -- "$cairn" --scheduler "$url" submit "$dir/bad.yaml"
grep -q "bad.yaml:5:24: retry.on: bad log pattern 'NCCL('" "$dir/err" &&
    ok "the error names the pattern at its line" || bad "error: $(cat "$dir/err")"

# ---- report: failures by class, per node and per GPU ------------------------
cli report --since 1h --failures --json >"$dir/out" || bad "report --failures --json"
json_check "report: failures by class (log 1, exit_nonzero 1, oom 2)" \
    '{k: v for k, v in j["by_class"].items() if v} == {"log": 1, "exit_nonzero": 1, "oom": 2} and len(j["by_class"]) == 8'
json_check "report: node g1 failed 4 attempts of 2 jobs" \
    '[(n["node"], n["jobs"], n["attempts"], {k: v for k, v in n["classes"].items() if v}) for n in j["by_node"]] == [("g1", 2, 4, {"oom": 2, "log": 1, "exit_nonzero": 1})]'
json_check "report: the failures per GPU UUID add up, each GPU on g1 with its UUID" \
    'sum(g["attempts"] for g in j["by_gpu"]) == 4 and all(g["node"] == "g1" and g["uuid"] for g in j["by_gpu"])'
cli report --since 1h --failures --csv >"$dir/out" || bad "report --failures --csv"
head -1 "$dir/out" | grep -q "^scope,key,node,gpu_index,jobs,attempts,oom,gpu-error,log," &&
    grep -q "^node,g1,g1,,2,4,2,0,1,1," "$dir/out" && ok "report --failures --csv" ||
    bad "csv: $(cat "$dir/out")"
cli report --since 1h >"$dir/out" || bad "report"
grep -q "Failed attempts per GPU" "$dir/out" && grep -q "^  oom  *2$" "$dir/out" &&
    ok "the text report has the failures" || bad "report text: $(cat "$dir/out")"
cli report --since 1h --json >"$dir/out" || bad "report --json"
json_check "the full JSON report has the failures" 'j["failures"]["by_class"]["oom"] == 2'

# ---- the journal replays the classes ----------------------------------------
kill "$wpid" 2>/dev/null
wait "$wpid" 2>/dev/null
sched_stop
if "$bin/cairn-scheduler" --verify-journal --state-dir "$sched_state" >"$dir/verify.out" \
    2>"$dir/verify.err"; then
    grep -q "replays identically" "$dir/verify.err" &&
        ok "--verify-journal: the run with its classes replays identically" ||
        bad "verify: $(cat "$dir/verify.err")"
else
    bad "verify failed: $(cat "$dir/verify.err")"
fi
exit $fail
