#!/bin/sh
# cairn plan on a live cluster with accounts: two teams' contended work on
# an 8-GPU node, charged with the spec's `account:`, is planned from its
# recorded accounting (last:1d on --cluster current) under the scheduler's
# current accounts and again under `cairn account list --json` given as
# --accounts: both replay exactly (every attempt on its recorded node at its
# recorded time, each account's recorded and predicted figures equal), and
# so does the exported trace (--export-trace writes each record's account)
# under that list; the same list with a GPU limit added predicts within it.
#   sh plan_accounts_live.sh BIN_DIR TESTS_DIR
# Needs `cairn account set` and the spec's `account:` (helper h21-a).
set -u
. "$(dirname "$0")/lib/common.sh"
cli_init plan-accounts-live
cli_local_cluster
unset NO_COLOR
acct() { # acct NAME: Python for the account's entry in j['accounts']['list']
    echo "[a for a in j['accounts']['list'] if a['name'] == '$1'][0]"
}

expect 0 "cairn up" -- "$cairn" up --state-dir "$CAIRN_STATE_DIR" \
    --topology "$tests/topologies/hgx-h100-8gpu.xml"
me=$(id -un)
# vision created before nlp, so account ids are in neither name nor submit
# order: accounts equal in fair share are served in the order they were
# created, which the replay takes from each account's id (in the reply and
# in the list's JSON). And the run is a race the replay must not see: the
# worker stamps each end before the scheduler hears of it, so a pass often
# runs between the two (a replay that applied such an end before that pass
# queued one of vision's tasks a pass early, about 1 run in 4, until the
# scheduler's core applied every event at a time not before the last one
# it saw: scheduler/batch.c)
expect 0 "account set vision" -- "$cairn" account set vision --users "$me" --share 1
expect 0 "account set nlp" -- "$cairn" account set nlp --users "$me" --share 1

# each team 12 tasks of 2 GPUs: 24 tasks for 4 slots
for team in nlp vision; do
    cat >"$dir/$team.yaml" <<X
name: $team-sweep
account: $team
tasks:
  - name: train
    matrix: {k: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]}
    run: [/bin/sleep, "0.2"]
    resources: {cpus: 1, gpus: 2}
X
done
expect 0 "submit nlp's sweep" -- "$cairn" submit "$dir/nlp.yaml"
nlp=$(head -1 "$dir/out")
expect 0 "submit vision's sweep" -- "$cairn" submit "$dir/vision.yaml"
vision=$(head -1 "$dir/out")
expect 0 "nlp's sweep done" -- "$cairn" wait "$nlp"
expect 0 "vision's sweep done" -- "$cairn" wait "$vision"

same_run="j['actual'] is not None and j['replay']['attempts'] == 24 and j['replay']['same_node'] == j['replay']['same_time'] == 24 and all(j['actual'][k] == j['predicted'][k] for k in ('makespan_ms', 'wait_p50_ms', 'wait_p95_ms', 'attempts'))"
per_account="all(a['actual'] == a['predicted'] for a in j['accounts']['list']) and $(acct nlp)['jobs'] == 1 and $(acct vision)['jobs'] == 1 and $(acct vision)['actual']['attempts'] == 12 and j['accounts']['unknown'] == []"

expect 0 "plan last:1d under the scheduler's accounts" -- "$cairn" plan --trace last:1d \
    --cluster current --json
json_check "the scheduler's tree" \
    "j['accounts']['from'] == 'scheduler' and j['accounts']['source'] == \"the scheduler's current accounts\" and [a['name'] for a in j['accounts']['list']] == ['default', 'vision', 'nlp']"
json_check "the recorded run replays exactly, per account too" "$same_run and $per_account"

expect 0 "account list --json" -- "$cairn" account list --json
cp "$dir/out" "$dir/accounts.json"
expect 0 "plan last:1d under the listed accounts" -- "$cairn" plan --trace last:1d \
    --cluster current --accounts "$dir/accounts.json" --json
json_check "the listed tree replays the same" \
    "j['accounts']['from'] == 'file' and $same_run and $per_account"

# the exported trace carries each record's account: planned as a file
# under the same list, it replays the same
expect 0 "export the trace" -- "$cairn" plan --trace last:1d --export-trace
json_check "each record names its job's account" \
    "len(j) == 24 and sorted(set(r['account'] for r in j)) == ['nlp', 'vision'] and all(r['account'] == ('nlp' if r['job_id'] == $nlp else 'vision') for r in j)"
cp "$dir/out" "$dir/exported.json"
expect 0 "plan the exported trace under the listed accounts" -- "$cairn" plan \
    --trace "$dir/exported.json" --cluster current --accounts "$dir/accounts.json" --json
json_check "the exported trace replays the same" "$same_run and $per_account"

# what if vision may hold only 2 GPUs
python3 - "$dir/accounts.json" "$dir/limited.json" <<'X'
import json, sys
d = json.load(open(sys.argv[1]))
for a in d["accounts"]:
    if a["name"] == "vision":
        a["max_gpus"] = 2
json.dump(d, open(sys.argv[2], "w"))
X
expect 0 "plan under vision limited to 2 GPUs" -- "$cairn" plan --trace last:1d \
    --cluster current --accounts "$dir/limited.json" --json
json_check "vision never over 2 GPUs, and waits longer" \
    "0 < $(acct vision)['predicted']['peak_gpus'] <= 2 < $(acct vision)['actual']['peak_gpus'] and $(acct vision)['predicted']['wait_p95_ms'] > $(acct vision)['actual']['wait_p95_ms']"
expect 0 "plan (table)" -- "$cairn" plan --trace last:1d --cluster current
grep -q "^accounts: the scheduler's current accounts: 2 besides default" "$dir/out" &&
    grep -q "^wait p50 / p95  account vision" "$dir/out" || bad "table: $(cat "$dir/out")"

exit $fail
