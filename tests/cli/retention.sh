#!/bin/sh
# Retention (--keep-finished): a finished job leaves the scheduler's memory
# and every read still answers for it, the same as before, from history.
# A small DAG (a task that fails once and is retried, outputs, a secret env
# value) runs on a scheduler that keeps finished jobs (10m); every read's
# output is captured: status (human and JSON), jobs, logs of both attempts
# (stdout and stderr), inspect, provenance (masked and raw), diff, report,
# plan's exported trace, audit. The scheduler is then killed (-9) and
# started again with --keep-finished 0: the job is retired (seen in
# /status), and every read must give the same output. A rerun of the
# retired job runs and is retired in turn by the running scheduler; its
# diff with the original says the same. Killed and started again, the
# scheduler still answers every read the same. `cairn jobs --limit/--since`
# mixes live and retired jobs newest first.
#   sh retention.sh BIN_DIR TESTS_DIR
set -u
. "$(dirname "$0")/lib/common.sh"
cli_init retention
cli_scheduler
port=$(free_port)
start_sched() { sched_start --heartbeat-interval 100ms --http "127.0.0.1:$port" "$@"; }
status_json() { python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "http://127.0.0.1:$port/status"; }
retired_at_least() { # N: /status says N jobs or more were retired
    status_json | python3 -c "import json,sys; sys.exit(0 if json.load(sys.stdin)['jobs_retired'] >= $1 else 1)"
}

t0=$(date -u -d "@$(($(date +%s) - 1))" +%Y-%m-%dT%H:%M:%S)
start_sched --keep-finished 10m
"$bin/cairn-worker" --scheduler "ipc://$dir/state/workers.sock" --state-dir "$dir/w1" \
    --name w1 --topology "$tests/topologies/hgx-h100-8gpu.xml" --log-file "$dir/w1.log" \
    --allow-root-tasks &
pids="$pids $!"
wait_for "the node is up" sh -c "'$cairn' --scheduler '$url' nodes | grep -q ' up '" || exit 1

w=$dir/work
mkdir -p "$w"
echo "print('v1')" >"$w/train.py"
cat >"$dir/job.yaml" <<EOF
name: keep-test
seed: 77
tasks:
  - name: prep
    workdir: $w
    shell: 'echo prepared; echo to-stderr >&2'
  - name: train
    needs: [prep]
    workdir: $w
    resources: {cpus: 1, gpus: 1}
    env: {API_TOKEN: hunter2-secret}
    outputs: [model.txt]
    inputs: [train.py]
    retry: {attempts: 3, backoff: 10ms, on: [any-exit]}
    shell: 'if [ ! -e tried ]; then touch tried; echo first-try; exit 3; fi; echo \$CAIRN_SEED > model.txt; echo second-try'
  - name: eval
    needs: [train]
    workdir: $w
    shell: 'cat model.txt'
EOF
cli submit --wait "$dir/job.yaml" >"$dir/out" 2>&1 || { bad "job 1 failed: $(cat "$dir/out")"; exit 1; }
# job 2: its train succeeds at once
cli submit --wait "$dir/job.yaml" >"$dir/out" 2>&1 || { bad "job 2 failed: $(cat "$dir/out")"; exit 1; }
# the report's window: from before the test to a second after job 2 ended
t1s=$(($(date +%s) + 2))
t1=$(date -u -d "@$t1s" +%Y-%m-%dT%H:%M:%S)

# every read, into $1/ (its output and exit code)
r() {
    f=$out/$1
    shift
    cli "$@" >"$f" 2>&1
    echo "exit $?" >>"$f"
}
reads() {
    out=$1
    mkdir -p "$out"
    r status status 1
    r status.json status 1 --json
    r jobs.json jobs --json
    r logs-prep logs 1 prep
    r logs-prep-err logs 1 prep --stderr
    r logs-train logs 1 train
    r logs-train-1 logs 1 train --attempt 1
    r logs-train-9 logs 1 train --attempt 9
    r logs-nosuch logs 1 nosuch
    r inspect inspect 1
    r inspect-train.json inspect 1 train --json
    r inspect-nosuch inspect 1 nosuch
    r prov.json provenance 1
    r diff.json diff 1 2 --json
    r report-empty.json report --since 2026-01-01 --until 2026-01-02 --json
    r report.json report --since "$t0" --until "$t1" --by job --json
    r trace.json plan --trace last:1d --export-trace
    r audit.json audit --json
}
same_reads() { # BEFORE AFTER WHAT
    for f in "$1"/*; do
        n=$(basename "$f")
        if cmp -s "$f" "$2/$n"; then :; else
            bad "$3: $n differs"
            diff "$f" "$2/$n" | head -20 | sed 's/^/  /'
            return
        fi
    done
    ok "$3: every read gives the same output ($(ls "$1" | wc -l) reads)"
}

reads "$dir/before"
grep -q 'second-try' "$dir/before/logs-train" || bad "logs before: $(cat "$dir/before/logs-train")"
grep -q 'first-try' "$dir/before/logs-train-1" || bad "logs of attempt 1 before"
grep -q 'to-stderr' "$dir/before/logs-prep-err" || bad "stderr before"
grep -q 'hunter2' "$dir/before/prov.json" && bad "a secret in the provenance"
python3 -c "import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))['jobs_retired'] == 0 else 1)" \
    /dev/stdin <<EOF || bad "a job was retired before --keep-finished"
$(status_json)
EOF

sched_kill9
start_sched --keep-finished 0
wait_for "both jobs retired" retired_at_least 2 || exit 1
status_json >"$dir/st.json"
python3 - "$dir/st.json" <<'PY' && ok "/status: 2 jobs retired, none in memory, tasks still counted" || bad "/status after retirement: $(cat "$dir/st.json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["jobs_retired"] == 2 and s["jobs_in_memory"] == 0 and s["jobs"] == 2, s
assert s["tasks"]["succeeded"] == 6, s
PY
reads "$dir/after"
same_reads "$dir/before" "$dir/after" "retired"
cli cancel 1 >"$dir/out" 2>&1
grep -q "job 1 has ended (succeeded)" "$dir/out" && ok "cancel of a retired job: it has ended" ||
    bad "cancel of a retired job: $(cat "$dir/out")"
[ -n "${RETENTION_KEEP:-}" ] && cp -r "$dir/before" "$RETENTION_KEEP"

# a rerun of a retired job: runs, with the same seed, and retires in turn
# (after the report's window, so that the report of jobs 1 and 2 stays)
wait_for "the report's window passed" sh -c "[ \$(date +%s) -gt $t1s ]" || exit 1
cli rerun 1 --wait >"$dir/rerun" 2>&1 || bad "rerun of the retired job: $(cat "$dir/rerun")"
wait_for "the rerun retired" retired_at_least 3 || exit 1
cli diff 1 3 --json >"$dir/out" 2>&1
json_check "the rerun of a retired job: the same seeds" 'not any(d["what"] in ("seed", "spec") for d in j["differences"])'
cli jobs --json >"$dir/out"
json_check "jobs: three, newest first" '[x["job_id"] for x in j["jobs"]] == [3, 2, 1]'
cli jobs --limit 2 --json >"$dir/out"
json_check "jobs --limit 2: the two newest, truncated" '[x["job_id"] for x in j["jobs"]] == [3, 2] and j["truncated"]'
cli jobs --limit 2 --before 2 --json >"$dir/out"
json_check "jobs --limit 2 --before 2: the next page" '[x["job_id"] for x in j["jobs"]] == [1] and not j["truncated"]'
cli jobs --since 1h --limit 1 --json >"$dir/out"
json_check "jobs --since 1h --limit 1" '[x["job_id"] for x in j["jobs"]] == [3]'
cli jobs --since 2099-01-01 --json >"$dir/out"
json_check "jobs --since in the future: none" 'j["jobs"] == []'
# a job retired while an older one still runs: listed in id order
cat >"$dir/long.yaml" <<EOF
name: long
tasks:
  - name: wait
    shell: 'while [ ! -e $dir/go ]; do sleep 0.02; done'
EOF
cli submit "$dir/long.yaml" >/dev/null || bad "submit job 4"
cli submit --wait "$dir/job.yaml" >/dev/null 2>&1 || bad "job 5 failed"
wait_for "job 5 retired while job 4 runs" retired_at_least 4 || exit 1
cli jobs --json >"$dir/out"
json_check "jobs: a retired job above a live one, in order" '[(x["job_id"], x["state"]) for x in j["jobs"]] == [(5, "succeeded"), (4, "running"), (3, "succeeded"), (2, "succeeded"), (1, "succeeded")]'
cli jobs --limit 2 --json >"$dir/out"
json_check "jobs --limit 2: 5 and 4" '[x["job_id"] for x in j["jobs"]] == [5, 4] and j["truncated"]'
touch "$dir/go"
cli wait 4 >/dev/null || bad "job 4 failed"
wait_for "job 4 retired" retired_at_least 5 || exit 1

sched_kill9
start_sched --keep-finished 0
wait_for "the node is back" sh -c "'$cairn' --scheduler '$url' nodes | grep -q ' up '" || exit 1
reads "$dir/restarted"
# jobs 3 to 5 are new since "before": leave them out where they show
cp -r "$dir/before" "$dir/before2"
python3 - "$dir/restarted" "$dir/before2" <<'PY' || bad "leaving job 3 out"
import json, os, sys
def rewrite(name, fn):
    p = os.path.join(d, name)
    text, code = open(p).read().rsplit("exit ", 1)
    doc = json.loads(text)
    out = json.dumps(fn(doc), indent=2 if text.startswith("[\n") or text.startswith("{\n") else None)
    open(p, "w").write(out + "\nexit " + code)
def jobs(j):
    j["jobs"] = [x for x in j["jobs"] if x["job_id"] < 3]
    return j
for d in sys.argv[1:]:
    rewrite("trace.json", lambda t: [x for x in t if x["job_id"] < 3])
    rewrite("audit.json", lambda a: [x for x in a if x["target"] not in ("job 3", "job 4", "job 5")])
    rewrite("jobs.json", jobs)
PY
same_reads "$dir/before2" "$dir/restarted" "after kill -9 and a start"
cli status 3 --json >"$dir/out"
json_check "the retired rerun answers after a restart" 'j["job"]["state"] == "JOB_STATE_SUCCEEDED" or j["job"]["state"] == "succeeded"'
# the journal with its retirements replays to the placements it recorded
sched_kill9
timeout 60 "$bin/cairn-scheduler" --state-dir "$dir/state" --verify-journal >"$dir/out" 2>&1 &&
    ok "--verify-journal over retirements" || bad "--verify-journal: $(cat "$dir/out")"
exit $fail
