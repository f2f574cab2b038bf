#!/bin/sh
# The shape of every JSON output: each command's --json (and cairn
# provenance, plan --export-trace, cairn-worker --print-resources --json,
# the scheduler's /status page) on a real cluster (a scheduler, a simulated
# 8-GPU node labelled zone=a and a CPU node) is reduced to its paths with
# their types, in order (tests/cli/lib/json_paths.py), and compared with
# tests/cli/json_schema/NAME.paths: a field renamed, moved, dropped, added
# or changed in type fails. The runs cover the optional fields (a retry's
# next attempt time, a cached attempt's source, a gang's ranks, wait
# reasons, a preempted attempt); a seed of 2^64-1 is printed as that
# integer. Where the values
# are deterministic (plan of a CSV trace) they are compared too.
#   sh json_schema.sh BIN_DIR TESTS_DIR
# CAIRN_JSON_SCHEMA_UPDATE=1 writes the .paths files from this run instead;
# CAIRN_JSON_SCHEMA_KEEP=DIR copies every output there (to compare runs).
set -u
. "$(dirname "$0")/lib/common.sh"
cli_init json-schema
url="ipc://$dir/state/clients.sock"
cli() { timeout 60 "$cairn" --scheduler "$url" "$@"; }
paths_py="$tests/cli/lib/json_paths.py"
want_dir="$tests/cli/json_schema"
update=${CAIRN_JSON_SCHEMA_UPDATE:-}
checked=0

# check NAME FILE: FILE's paths are those of NAME.paths
check() {
    checked=$((checked + 1))
    if [ -n "$update" ]; then
        python3 "$paths_py" "$2" >"$want_dir/$1.paths" || bad "$1: not JSON: $(head -c 400 "$2")"
        return
    fi
    if python3 "$paths_py" "$2" "$want_dir/$1.paths" >"$dir/paths.diff" 2>&1; then
        ok "$1: the paths and types of its JSON"
    else
        bad "$1: its JSON changed shape"
        sed 's/^/  /' "$dir/paths.diff"
    fi
}
# run_json NAME ARGS...: cairn ARGS > NAME.json, exit 0, then check
run_json() {
    name=$1
    shift
    cli "$@" >"$dir/$name.json" 2>"$dir/err" || {
        bad "$name: cairn $*: exit $?: $(cat "$dir/err")"
        return 1
    }
    check "$name" "$dir/$name.json"
}
# a free loopback port for /status
port=$(free_port)

"$bin/cairn-scheduler" --state-dir "$dir/state" --heartbeat-interval 100ms \
    --sample-interval 100ms --http "127.0.0.1:$port" --log-file "$dir/scheduler.log" &
pids="$pids $!"
# g1 first: nodes are listed in the order they joined
"$bin/cairn-worker" --scheduler "ipc://$dir/state/workers.sock" --state-dir "$dir/g1" --name g1 \
    --label zone=a --topology "$tests/topologies/hgx-h100-8gpu.xml" --log-file "$dir/g1.log" &
pids="$pids $!"
wait_for "g1 up" sh -c "'$cairn' --scheduler '$url' nodes | grep -q '^g1 .* up '" || exit 1
"$bin/cairn-worker" --scheduler "ipc://$dir/state/workers.sock" --state-dir "$dir/c1" --name c1 \
    --topology "$tests/topologies/cpu-only-1s.xml" --log-file "$dir/c1.log" &
pids="$pids $!"
wait_for "two nodes up" sh -c "'$cairn' --scheduler '$url' nodes | grep -c ' up ' | grep -q 2" || exit 1

# main: a cached task with an input, a GPU task that fails once and is
# retried, a gang of two ranks; the largest seed
w=$dir/w
mkdir -p "$w"
echo "1 2 3" >"$w/in.txt"
cat >"$dir/main.yaml" <<EOF
name: main
seed: 18446744073709551615
tasks:
  - name: prep
    workdir: $w
    cache: true
    inputs: [in.txt]
    outputs: [mid.txt]
    shell: 'tr " " + < in.txt > mid.txt'
  - name: train
    needs: [prep]
    workdir: $w
    resources: {cpus: 2, gpus: 2}
    env: {LR: "0.5"}
    outputs: [model.txt]
    retry: {attempts: 2, backoff: 10ms, on: [any-exit]}
    shell: 'if [ ! -e tried ]; then touch tried; exit 3; fi; echo ok > model.txt'
  - {name: ddp, replicas: 2, resources: {cpus: 1}, run: ["true"]}
EOF
run_json submit submit "$dir/main.yaml" --json
main=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['job_id'])" "$dir/submit.json")
run_json wait wait "$main" --json
python3 -c "import json,sys; sys.exit(json.load(open(sys.argv[1]))['seed'] != 2**64 - 1)" \
    "$dir/wait.json" && ok "the seed 2^64-1 is that integer" || bad "seed: $(cat "$dir/wait.json")"
run_json status status "$main" --json
# the same again: prep's result is reused (cached_from_job, cached_from_task)
cli submit "$dir/main.yaml" --wait >"$dir/again.out" 2>&1 || bad "submit again: $(cat "$dir/again.out")"
again=$(head -1 "$dir/again.out")
run_json status-cached status "$again" --json
python3 -c "import json,sys; t={x['name']: x for x in json.load(open(sys.argv[1]))['tasks']}; sys.exit('cached_from_job' not in t['prep']['attempts'][-1])" \
    "$dir/status-cached.json" || bad "prep was not cached: $(cat "$dir/status-cached.json")"

# a task backing off (next_attempt_time_ms), one waiting for it
cat >"$dir/retry.yaml" <<'EOF'
name: retry
tasks:
  - name: flaky
    shell: exit 3
    retry: {attempts: 2, backoff: 1h, on: [any-exit]}
  - {name: after, needs: [flaky], run: ["true"]}
EOF
retry=$(cli submit "$dir/retry.yaml") || bad "submit retry"
wait_for "flaky backs off" sh -c "'$cairn' --scheduler '$url' status $retry --json | grep -q '\"retry_wait\"'"
run_json status-retry status "$retry" --json
run_json explain-retry explain "$retry" flaky --json

# 5 GPUs held on g1; a 4-GPU task waits while g1 is drained (reasons),
# long enough for the census to see it
cat >"$dir/hold.yaml" <<EOF
name: hold
tasks:
  - {name: hog, resources: {cpus: 1, gpus: 5}, shell: 'while [ ! -e $dir/go ]; do sleep 0.02; done'}
EOF
cat >"$dir/big.yaml" <<'EOF'
name: big
tasks:
  - {name: big, resources: {cpus: 1, gpus: 4}, run: ["true"]}
EOF
hold=$(cli submit "$dir/hold.yaml") || bad "submit hold"
wait_for "hog runs" sh -c "'$cairn' --scheduler '$url' status $hold | grep -q '^hog  *running'"
cli drain g1 --reason "disk check" >/dev/null || bad "drain"
big=$(cli submit "$dir/big.yaml") || bad "submit big"
wait_for "a wait reason in the census" sh -c "'$cairn' --scheduler '$url' report --since 1h --json |
    python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)[\"wait_reasons\"] else 1)'"
run_json explain-wait explain "$big" big --json
run_json nodes nodes --json
python3 - "$port" >"$dir/status-page.json" <<'EOF' || bad "GET /status"
import sys, urllib.request
print(urllib.request.urlopen("http://127.0.0.1:%s/status" % sys.argv[1], timeout=10).read().decode(), end="")
EOF
check status-page "$dir/status-page.json"
run_json jobs jobs --json
cli undrain g1 >/dev/null || bad "undrain"
touch "$dir/go"
cli wait "$big" >/dev/null || bad "big failed"
cli cancel "$retry" >/dev/null || bad "cancel retry"
cli wait "$hold" >/dev/null || bad "hold failed"

# a preempted attempt (preempted: by whom, why, when): a preemptible
# one-GPU task on g1 gives way to an eight-GPU one of priority 100, stops
# on SIGTERM and succeeds on its second attempt
cat >"$dir/victim.yaml" <<'EOF'
name: victim
tasks:
  - name: v
    preemptible: true
    checkpoint: {grace: 10s}
    resources: {cpus: 1, gpus: 1}
    shell: '[ "$CAIRN_ATTEMPT" = 2 ] && exit 0; trap "exit 0" TERM; touch "$CAIRN_CHECKPOINT_DIR/c"; while :; do sleep 0.02; done'
EOF
cat >"$dir/urgent.yaml" <<'EOF'
name: urgent
tasks:
  - {name: u, priority: 100, resources: {cpus: 1, gpus: 8}, run: ["true"]}
EOF
victim=$(cli submit "$dir/victim.yaml") || bad "submit victim"
wait_for "the victim runs" sh -c "'$cairn' --scheduler '$url' status $victim | grep -q '^v  *running'"
urgent=$(cli submit "$dir/urgent.yaml") || bad "submit urgent"
cli wait "$urgent" >/dev/null || bad "urgent failed"
cli wait "$victim" >/dev/null || bad "victim failed"
run_json status-preempted status "$victim" --json
python3 -c "import json,sys; a=json.load(open(sys.argv[1]))['tasks'][0]['attempts']; sys.exit(a[0]['end_reason'] != 'preempted' or 'preempted' not in a[0])" \
    "$dir/status-preempted.json" || bad "v was not preempted: $(cat "$dir/status-preempted.json")"

run_json audit audit --json
run_json audit-verify audit verify --json
run_json inspect inspect "$main" --json
run_json provenance provenance "$main"
cli diff "$main" "$retry" --json >"$dir/diff.json" # exit 1: they differ
check diff "$dir/diff.json"
run_json report report --since 1h --json
run_json plan-current plan --trace last:1d --cluster current --json
run_json export-trace plan --trace last:1d --export-trace
run_json rerun rerun "$main" --json
# accounts: a top-level one with every limit, cap and member, a child with none
cli account set team --share 2 --users alice --groups ml --max-gpus 8 --max-cpus 64 \
    --max-running 10 --max-priority 5 --default >/dev/null || bad "account set team"
cli account set sub --parent team >/dev/null || bad "account set sub"
run_json account-list account list --json
run_json account-usage account usage --json

# plan of a CSV trace on a cluster file: the values too
cat >"$dir/cluster.json" <<'EOF'
{"nodes": [{"name": "gpu", "count": 2, "cores": 16, "memory": "64G",
            "gpus": [{"model": "H100", "memory": "80G", "count": 4}]},
           {"name": "cpu", "cores": 8}]}
EOF
cat >"$dir/trace.csv" <<'EOF'
job,task,submit_ms,needs,cpus,gpus,gpu_model,memory_bytes,duration_ms,priority
1,prep,0,,2,0,,0,1000,0
1,train,0,prep,4,4,H100,0,60000,0
1,eval,0,train,2,1,,0,5000,0
2,solo,500,,4,8,H100,0,30000,5
EOF
# relative paths: the sources are named as given
(cd "$dir" && timeout 60 "$cairn" plan --trace trace.csv --cluster cluster.json --json) \
    >"$dir/plan-csv.json" || bad "plan-csv: exit $?"
check plan-csv "$dir/plan-csv.json"
if [ -n "$update" ]; then
    python3 -c "import json,sys; print(json.dumps(json.load(open(sys.argv[1])), indent=1))" \
        "$dir/plan-csv.json" >"$want_dir/plan-csv.json"
elif python3 -c "import json,sys; sys.exit(json.load(open(sys.argv[1])) != json.load(open(sys.argv[2])))" \
    "$dir/plan-csv.json" "$want_dir/plan-csv.json"; then
    ok "plan-csv: the values"
else
    bad "plan-csv: the values differ from plan-csv.json: $(cat "$dir/plan-csv.json")"
fi

# a file name with a tab, a control character, a quote, a backslash and a
# byte that is not UTF-8: escaped, the byte as U+FFFD
odd=$(printf 'we\tird\001"\\\377.csv')
cp "$dir/trace.csv" "$dir/$odd"
(cd "$dir" && timeout 60 "$cairn" plan --trace "$odd" --cluster cluster.json --json) \
    >"$dir/plan-odd.json" || bad "plan of $odd: exit $?"
python3 -c "import json,sys; sys.exit(json.load(open(sys.argv[1]))['trace']['source'] != 'we\tird\x01\"\\\\\ufffd.csv')" \
    "$dir/plan-odd.json" && ok "an odd file name, escaped" || bad "odd name: $(cat "$dir/plan-odd.json")"

"$bin/cairn-worker" --print-resources --topology "$tests/topologies/hgx-h100-8gpu.xml" \
    --name g1 --label zone=a --json >"$dir/worker.json" || bad "cairn-worker --print-resources --json"
check worker "$dir/worker.json"

[ -n "${CAIRN_JSON_SCHEMA_KEEP:-}" ] && mkdir -p "$CAIRN_JSON_SCHEMA_KEEP" &&
    cp "$dir"/*.json "$CAIRN_JSON_SCHEMA_KEEP"/
[ -n "$update" ] && echo "json_schema: wrote $checked files in $want_dir"
[ "$fail" -eq 0 ] && echo "json_schema: $checked outputs ok"
exit $fail
