#!/bin/sh
# cairn plan --accounts: a contended trace of three teams on one 8-GPU node
# replayed under account trees in the format of `cairn account list --json`:
# doubling vision's share lowers its predicted p50 wait; limits in the file
# (max_gpus, of a child and of its parent) hold in the replay; accounts the
# tree lacks go to default with one warning each; a recorded JSON trace with
# accounts replays exactly, its recorded and predicted figures per account
# side by side; the fair-share options; bad files refused.
#   sh plan_accounts.sh BIN_DIR TESTS_DIR
set -u
. "$(dirname "$0")/lib/common.sh"
cli_init plan-accounts
unset NO_COLOR
err_has() { grep -q "$1" "$dir/err" || bad "stderr lacks '$1': $(cat "$dir/err")"; }
acct() { # acct NAME: Python for the account's entry in j['accounts']['list']
    echo "[a for a in j['accounts']['list'] if a['name'] == '$1'][0]"
}

cat >"$dir/cluster.json" <<'X'
{"nodes": [
  {"name": "g", "cores": 32, "numa": 2, "memory": "256G",
   "gpus": [{"model": "NVIDIA H100 80GB HBM3", "memory": "80G", "count": 8}]}
]}
X
# nlp queues 100 one-GPU tasks of 10 minutes, vision 100 a second later,
# speech 8 (an account the trees below do not have)
{
    echo "job,task,submit_ms,needs,cpus,gpus,gpu_model,memory_bytes,duration_ms,priority,account"
    i=0
    while [ $i -lt 100 ]; do
        echo "n$i,t,0,,1,1,,1G,600000,0,nlp"
        echo "v$i,t,1000,,1,1,,1G,600000,0,vision"
        [ $i -lt 8 ] && echo "s$i,t,2000,,1,1,,1G,600000,0,speech"
        i=$((i + 1))
    done
} >"$dir/trace.csv"

# tree VISION_SHARE VISION_MAX_GPUS RESEARCH_MAX_GPUS: the accounts, as
# `cairn account list --json` prints them
tree() {
    cat <<X
{"accounts": [
  {"name": "default", "parent": null, "share": 1, "users": [], "groups": [], "default": false,
   "max_gpus": null, "max_cpus": null, "max_running": null, "max_priority": null, "builtin": true},
  {"name": "research", "parent": null, "share": 1, "users": [], "groups": ["ml"], "default": false,
   "max_gpus": $3, "max_cpus": null, "max_running": null, "max_priority": null, "builtin": false},
  {"name": "nlp", "parent": "research", "share": 1, "users": ["alice"], "groups": [],
   "default": true, "max_gpus": null, "max_cpus": null, "max_running": null,
   "max_priority": null, "builtin": false},
  {"name": "vision", "parent": "research", "share": $1, "users": ["bob"], "groups": [],
   "default": false, "max_gpus": $2, "max_cpus": null, "max_running": null,
   "max_priority": null, "builtin": false}
]}
X
}
tree 1 null null >"$dir/even.json"
tree 2 null null >"$dir/vision2.json"
tree 1 3 6 >"$dir/limits.json"
# the plan of the contended trace ($dir has no blanks)
plan="$cairn plan --trace $dir/trace.csv --cluster $dir/cluster.json"

# no --accounts on a file trace: every job in default, one warning per account
expect 0 "plan without --accounts" -- $plan --json
json_check "no tree: default only, holding every job" \
    "j['accounts']['from'] == 'none' and j['accounts']['source'] == 'none: every job in default' and [a['name'] for a in j['accounts']['list']] == ['default'] and j['accounts']['list'][0]['jobs'] == 208 and sorted(j['accounts']['unknown']) == ['nlp', 'speech', 'vision'] and j['accounts']['gpu_weight'] == 16 and j['accounts']['half_life_ms'] == 7 * 86400000"
[ "$(grep -c 'warning: the trace charges jobs to account' "$dir/err")" = 3 ] ||
    bad "one warning per account: $(cat "$dir/err")"

# equal shares, then vision's doubled
expect 0 "plan under the tree" -- $plan --accounts "$dir/even.json" --json
cp "$dir/out" "$dir/even.out"
json_check "the tree, in order, parents first; speech's jobs in default" \
    "j['accounts']['from'] == 'file' and j['accounts']['source'].endswith('even.json') and [a['name'] for a in j['accounts']['list']] == ['default', 'research', 'nlp', 'vision'] and j['accounts']['unknown'] == ['speech'] and $(acct default)['jobs'] == 8 and $(acct research)['jobs'] == 200 and $(acct vision)['parent'] == 'research' and $(acct vision)['max_gpus'] is None and $(acct vision)['predicted']['attempts'] == 100 and abs($(acct nlp)['predicted']['gpu_hours'] - 100 / 6) < 0.01"
[ "$(grep -c warning "$dir/err")" = 1 ] && err_has "account speech, which .*even.json does not have" ||
    bad "one warning, for speech: $(cat "$dir/err")"
json_check "without limits vision and research take more than the limits below" \
    "$(acct vision)['predicted']['peak_gpus'] > 3 and $(acct research)['predicted']['peak_gpus'] > 6"
expect 0 "plan with vision's share doubled" -- $plan --accounts "$dir/vision2.json" --json
json_check "doubling vision's share lowers its predicted p50 wait" \
    "$(acct vision)['predicted']['wait_p50_ms'] < $(python3 -c "import json,sys; print([a for a in json.load(open(sys.argv[1]))['accounts']['list'] if a['name'] == 'vision'][0]['predicted']['wait_p50_ms'])" "$dir/even.out")"
expect 0 "plan under the tree (table)" -- $plan --accounts "$dir/vision2.json"
grep -q "^accounts: .*vision2.json: 3 besides default; fair share: a GPU-second counts 16 core-seconds, half-life 7d$" "$dir/out" &&
    grep -q "^wait p50 / p95  account vision " "$dir/out" &&
    grep -q "^GPU-hours        account nlp .* 16.7" "$dir/out" || bad "table: $(cat "$dir/out")"

# limits: vision at most 3 GPUs, research (nlp and vision) at most 6
expect 0 "plan under limits" -- $plan --accounts "$dir/limits.json" --json
json_check "no moment over a limit, at either level; every task still runs" \
    "$(acct vision)['max_gpus'] == 3 and $(acct research)['max_gpus'] == 6 and 0 < $(acct vision)['predicted']['peak_gpus'] <= 3 and 0 < $(acct research)['predicted']['peak_gpus'] <= 6 and j['simulation']['unplaced_tasks'] == 0 and j['predicted']['attempts'] == 208"

# fair-share settings
expect 0 "--fair-share-* options" -- $plan --accounts "$dir/even.json" \
    --fair-share-gpu-weight 4 --fair-share-half-life 1h --json
json_check "the settings given" \
    "j['accounts']['gpu_weight'] == 4 and j['accounts']['half_life_ms'] == 3600000"
expect 2 "--fair-share-gpu-weight 0" -- $plan --fair-share-gpu-weight 0
err_has "fair-share-gpu-weight '0' is not a number"
expect 2 "--fair-share-half-life 3x" -- $plan --fair-share-half-life 3x
err_has "bad --fair-share-half-life '3x'"

# a recorded trace with accounts replays exactly under its tree: nlp's job
# holds the node for a minute, vision's waits for it, queued behind it
# (prefetch)
cat >"$dir/rec.json" <<'X'
[
 {"job_id": 1, "job_name": "a", "task": "t", "attempt_id": 1, "number": 1, "rank": 0,
  "replicas": 1, "cpus": 8, "gpus": 8, "node": "g", "account": "nlp",
  "gpu_ids": [{"index": 0}, {"index": 1}, {"index": 2}, {"index": 3}, {"index": 4},
  {"index": 5}, {"index": 6}, {"index": 7}], "submit_time_ms": 1000, "ready_time_ms": 1000,
  "placed_time_ms": 1000, "start_time_ms": 1010, "end_time_ms": 61000, "end": "succeeded"},
 {"job_id": 2, "job_name": "b", "task": "t", "attempt_id": 2, "number": 1, "rank": 0,
  "replicas": 1, "cpus": 8, "gpus": 8, "node": "g", "account": "vision",
  "gpu_ids": [{"index": 0}, {"index": 1}, {"index": 2}, {"index": 3}, {"index": 4},
  {"index": 5}, {"index": 6}, {"index": 7}], "submit_time_ms": 2000, "ready_time_ms": 2000,
  "placed_time_ms": 2000, "start_time_ms": 61010, "end_time_ms": 121000, "end": "succeeded"}
]
X
expect 0 "plan a recorded trace under its tree" -- "$cairn" plan --trace "$dir/rec.json" \
    --cluster "$dir/cluster.json" --accounts "$dir/even.json" --json
for x in nlp vision research; do
    json_check "$x: recorded = predicted" "$(acct $x)['actual'] == $(acct $x)['predicted'] and $(acct $x)['actual'] is not None"
done
json_check "vision waited a minute for nlp's job, 8 GPUs for a minute" \
    "j['replay'] == {'attempts': 2, 'same_node': 2, 'same_time': 2} and $(acct vision)['actual']['wait_p50_ms'] == 59000 and abs($(acct vision)['actual']['gpu_hours'] - 8 * 60 / 3600) < 0.001 and $(acct nlp)['actual']['attempts'] == 1 and $(acct default)['actual']['attempts'] == 0"

# a job's records must agree on its account (CSV)
printf 'job,task,submit_ms,needs,cpus,gpus,gpu_model,memory_bytes,duration_ms,priority,account\nj1,a,0,,1,0,,1G,10,0,nlp\nj1,b,0,,1,0,,1G,10,0,vision\n' >"$dir/mixed.csv"
expect 2 "a job charged to two accounts" -- "$cairn" plan --trace "$dir/mixed.csv" \
    --cluster "$dir/cluster.json"
err_has "mixed.csv:3: job j1: its records name accounts \"nlp\" and \"vision\""
printf 'job,task,submit_ms,needs,cpus,gpus,gpu_model,memory_bytes,duration_ms,priority,account\nj1,a,0,,1,0,,1G,10,0\n' >"$dir/short.csv"
expect 2 "a row without its account field" -- "$cairn" plan --trace "$dir/short.csv" \
    --cluster "$dir/cluster.json"
err_has "short.csv:2: expected 11 fields"

# bad --accounts files: exit 2 naming the file, line and problem; missing: 4
bad_file() { # bad_file DESCRIPTION MESSAGE CONTENT
    printf '%s\n' "$3" >"$dir/bad.json"
    expect 2 "$1" -- $plan --accounts "$dir/bad.json"
    err_has "bad.json:[0-9]*: .*$2"
}
bad_file "not JSON" "" '{"accounts": [{"name": "a",, }]}'
bad_file "no accounts list" 'expected {"accounts": \[...\]}' '{"nodes": []}'
bad_file "an account that is not an object" "an account must be an object" '{"accounts": [3]}'
bad_file "no name" 'an account needs a "name"' '{"accounts": [{"share": 2}]}'
bad_file "share 0" 'account a: "share" must be null or an integer from 1' \
    '{"accounts": [{"name": "a", "share": 0}]}'
bad_file "a limit that is not a number" 'account a: "max_gpus" must be null or an integer' \
    '{"accounts": [{"name": "a", "max_gpus": "lots"}]}'
bad_file "listed twice" "account a is listed twice" \
    '{"accounts": [{"name": "a"}, {"name": "a"}]}'
bad_file "an unknown parent" "account a: no account nosuch to be its parent" \
    '{"accounts": [{"name": "a", "parent": "nosuch"}]}'
bad_file "a cycle" "its parents form a cycle" \
    '{"accounts": [{"name": "a", "parent": "b"}, {"name": "b", "parent": "a"}]}'
bad_file "default changed" "account default is built in" \
    '{"accounts": [{"name": "default", "builtin": true, "max_gpus": 4}]}'
bad_file "another built-in" "account a: only default is built in" \
    '{"accounts": [{"name": "a", "builtin": true}]}'
bad_file "a bad name" "a name is 1 to" '{"accounts": [{"name": "a b"}]}'
bad_file "members not a list" 'account a: "users" must be a list of names' \
    '{"accounts": [{"name": "a", "users": "alice"}]}'
expect 4 "a missing --accounts file" -- $plan --accounts "$dir/nothing.json"
err_has "cannot read .*nothing.json"

exit $fail
