#!/bin/sh
# A job charged to an account of its own (needs `cairn account set` and the
# spec's `account:`): the account shows in status, jobs (--account),
# inspect, provenance, the accounting records and report --by account /
# --account, and stays so once the job is retired, the account deleted and
# the scheduler restarted. An account at its GPU limit: its second task
# waits, and the census and the report count that as waiting on a limit,
# not as fragmentation, with free GPUs beside it.
#   sh accounts_show.sh BIN_DIR TESTS_DIR
set -u
. "$(dirname "$0")/lib/common.sh"
cli_init accounts-show
cli_scheduler
port=$(free_port)
start_sched() { sched_start --heartbeat-interval 100ms --sample-interval 100ms --http "127.0.0.1:$port" "$@"; }
retired() { # N: /status says N jobs were retired
    python3 -c 'import sys, json, urllib.request; sys.exit(0 if json.load(urllib.request.urlopen(sys.argv[1], timeout=5))["jobs_retired"] == int(sys.argv[2]) else 1)' \
        "http://127.0.0.1:$port/status" "$1"
}
me=$(id -un)

start_sched --keep-finished 10m
"$bin/cairn-worker" --scheduler "ipc://$dir/state/workers.sock" --state-dir "$dir/w1" \
    --name w1 --topology "$tests/topologies/hgx-h100-8gpu.xml" --log-file "$dir/w1.log" \
    --allow-root-tasks &
pids="$pids $!"
wait_for "the node is up" sh -c "'$cairn' --scheduler '$url' nodes | grep -q ' up '" || exit 1
cli account set vision --users "$me" --max-gpus 1 >"$dir/out" 2>&1 ||
    { bad "account set: $(cat "$dir/out")"; exit 1; }
t0=$(date -u -d "@$(($(date +%s) - 3600))" +%Y-%m-%dT%H:%M:%S)

# job 1: the built-in default's; job 2: vision's, two 1-GPU tasks, the
# second waits on vision's limit of 1 GPU while 7 are free
cat >"$dir/plain.yaml" <<EOF
name: plain
account: default
tasks:
  - name: a
    resources: {cpus: 1, gpus: 1}
    shell: 'true'
EOF
cat >"$dir/vision.yaml" <<EOF
name: limited
account: vision
tasks:
  - name: first
    resources: {cpus: 1, gpus: 1}
    shell: 'while [ ! -e $dir/go ]; do sleep 0.02; done'
  - name: second
    resources: {cpus: 1, gpus: 1}
    shell: 'true'
EOF
cli submit --wait "$dir/plain.yaml" >"$dir/out" 2>&1 || bad "job 1: $(cat "$dir/out")"
cli submit "$dir/vision.yaml" >"$dir/out" 2>&1 || bad "job 2: $(cat "$dir/out")"
waits_on_limit() {
    cli explain 2 second 2>&1 | grep -q "account vision is at its GPU limit: 1 of 1 in use"
}
wait_for "job 2's second task waits on vision's limit" waits_on_limit || cli explain 2 second
# a few census samples (100 ms apart) with it waiting
census_has_limit() {
    cli report --since "$t0" --json | python3 -c 'import json,sys; j=json.load(sys.stdin); sys.exit(0 if j["fragmentation"]["waiting_on_limit_s"] >= 0.3 else 1)'
}
wait_for "the census counts the limit" census_has_limit
cli report --since "$t0" --json >"$dir/out"
json_check "report: waiting on a limit, not fragmentation" '
j["fragmentation"]["waiting_on_limit_s"] > 0 and j["fragmentation"]["split_across_nodes_s"] == 0
and j["wait_reasons"][0]["reason"] == "waiting on an account limit"'
touch "$dir/go"
cli wait 2 >/dev/null || bad "job 2 failed"

# shows WHEN: each job names its account everywhere
shows() {
    cli status 2 >"$dir/out" 2>&1
    grep -q '^job 2 (limited): succeeded, 2/2 tasks succeeded; account vision$' "$dir/out" &&
        ok "$1: status's header" || bad "$1: status: $(cat "$dir/out")"
    cli jobs --json >"$dir/out"
    json_check "$1: jobs --json" '[(x["job_id"], x["account"]) for x in j["jobs"]] == [(2, "vision"), (1, "default")]'
    cli jobs >"$dir/out"
    grep -q '^2 .* vision ' "$dir/out" && grep -q '^1 .* default ' "$dir/out" &&
        ok "$1: jobs' ACCOUNT column" || bad "$1: jobs: $(cat "$dir/out")"
    cli jobs --account vision --json >"$dir/out"
    json_check "$1: jobs --account vision" '[x["job_id"] for x in j["jobs"]] == [2]'
    cli jobs --account default --json >"$dir/out"
    json_check "$1: jobs --account default" '[x["job_id"] for x in j["jobs"]] == [1]'
    cli inspect 2 >"$dir/out" 2>&1
    grep -q '^job 2 (limited): .*, account vision$' "$dir/out" && ok "$1: inspect" ||
        bad "$1: inspect: $(cat "$dir/out")"
    cli provenance 2 >"$dir/out"
    json_check "$1: provenance" 'j["account"] == "vision"'
    cli plan --trace last:1d --export-trace >"$dir/out"
    json_check "$1: the accounting records" 'sorted((x["job_id"], x["account"]) for x in j) == [(1, "default"), (2, "vision"), (2, "vision")]'
    cli report --since "$t0" --by account --json >"$dir/out"
    json_check "$1: report --by account" 'sorted((g["key"], g["attempts"]) for g in j["groups"]) == [("default", 1), ("vision", 2)]'
    cli report --since "$t0" --account vision --by job --json >"$dir/out"
    json_check "$1: report --account vision" '[g["key"] for g in j["groups"]] == ["2 limited"]'
    cli report --since "$t0" --by account --csv >"$dir/out"
    grep -q '^vision,2,' "$dir/out" && ok "$1: report --by account --csv" ||
        bad "$1: csv: $(cat "$dir/out")"
}
shows "live"
sched_stop
start_sched --keep-finished 0
wait_for "both jobs retired" retired 2 || exit 1
cli account delete vision >"$dir/out" 2>&1 || bad "account delete: $(cat "$dir/out")"
shows "retired, the account deleted"
sched_stop
start_sched --keep-finished 0
shows "restarted"
sched_stop
exit $fail
