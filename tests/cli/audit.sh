#!/bin/sh
# The audit trail: a submit, a cancel, a drain and undrain, a node joining
# and being lost, and the scheduler's configuration are recorded with who
# and what; 'cairn audit verify' finds the chain intact, then finds an
# entry edited in the database, and a removed newest entry against a head
# recorded earlier.
#   sh audit.sh BIN_DIR TESTS_DIR
set -u
. "$(dirname "$0")/lib/common.sh"
command -v python3 >/dev/null 2>&1 || { echo "skip: no python3 to edit the database"; exit 0; }
spid=""
wpid=""
cleanup_more() {
    [ -n "$wpid" ] && kill "$wpid" 2>/dev/null
    [ -n "$spid" ] && kill "$spid" 2>/dev/null
    wait 2>/dev/null
}
cli_init audit
me=$(id -un)
url="ipc://$dir/state/clients.sock"
cli() { timeout 60 "$cairn" --scheduler "$url" "$@"; }

start_scheduler() {
    "$bin/cairn-scheduler" --state-dir "$dir/state" --heartbeat-interval 100ms \
        --heartbeat-timeout 1s --restart-grace 0s --log-file "$dir/scheduler.log" "$@" &
    spid=$!
    i=0
    until cli jobs >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -gt 200 ] && { bad "the scheduler did not start"; exit 1; }
        sleep 0.05 # polling a condition with a deadline
    done
}
stop_scheduler() {
    kill "$spid"
    wait "$spid" 2>/dev/null
    spid=""
}

start_scheduler
"$bin/cairn-worker" --scheduler "ipc://$dir/state/workers.sock" --state-dir "$dir/w1" \
    --name w1 --topology "$tests/topologies/cpu-only-1s.xml" --log-file "$dir/w1.log" &
wpid=$!
wait_for "w1 up" sh -c "'$cairn' --scheduler '$url' nodes | grep -q '^w1 .*up'"

cat >"$dir/job.yaml" <<'YAML'
name: audited
tasks:
  - name: wait
    shell: sleep 600
YAML
id=$(cli submit "$dir/job.yaml" | grep -o '[0-9][0-9]*' | head -1)
[ -n "$id" ] || bad "submit failed"
cli cancel "$id" >/dev/null || bad "cancel failed"
cli drain w1 --reason "disk check" >/dev/null || bad "drain failed"
cli undrain w1 >/dev/null || bad "undrain failed"
kill "$wpid"
wait "$wpid" 2>/dev/null
wpid=""
wait_for "node_loss entry" sh -c "'$cairn' --scheduler '$url' audit | grep -q node_loss"

cli audit --json >"$dir/out" || bad "audit --json failed"
if python3 - "$dir/out" "$me" "$id" <<'PY'
import json, sys
entries = json.load(open(sys.argv[1]))
me, job = sys.argv[2], sys.argv[3]
want = [("config", None, "scheduler"), ("node_join", "node:w1", "node w1"),
        ("submit", me, "job " + job), ("cancel", me, "job " + job),
        ("drain", me, "node w1"), ("undrain", me, "node w1"),
        ("node_loss", "scheduler", "node w1")]
got = [(e["action"], e["user"], e["target"]) for e in entries]
for i, (a, u, t) in enumerate(want):
    g = got[i]
    assert g[0] == a and (u is None or g[1] == u) and g[2] == t, (i, g, (a, u, t))
assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
for a, b in zip(entries, entries[1:]):
    assert b["prev_hash"] == a["hash"], (a["seq"], b["seq"])
sub = entries[2]
assert "name=audited" in sub["detail"] and "spec_sha256=" in sub["detail"], sub["detail"]
assert "reason=disk check" in entries[4]["detail"], entries[4]["detail"]
PY
then ok "config, node_join, submit, cancel, drain, undrain, node_loss recorded with who"
else bad "the entries are not what was done: $(cat "$dir/out")"; fi

cli audit --user "$me" --json >"$dir/out"
n=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))))" "$dir/out")
# the configuration entry is by the user the scheduler runs as: $me too
[ "$n" = 5 ] && ok "--user $me: the 5 entries of $me" || bad "--user $me gave $n entries"
cli audit --since 1h --limit 2 --json >"$dir/out"
n=$(python3 -c "import json,sys; print(' '.join(e['action'] for e in json.load(open(sys.argv[1]))))" "$dir/out")
# the newest two, oldest first
[ "$n" = "undrain node_loss" ] && ok "--limit 2: the newest two" || bad "--limit 2 gave: $n"
cli audit --user "$me" --limit 1 --json >"$dir/out"
n=$(python3 -c "import json,sys; print(' '.join(e['action'] for e in json.load(open(sys.argv[1]))))" "$dir/out")
[ "$n" = "undrain" ] && ok "--user --limit 1: $me's newest" || bad "--user --limit 1 gave: $n"
for bad_limit in abc 2x -1 0 4294967296 ' 3' +3; do
    timeout 60 "$cairn" --scheduler "$url" audit --limit "$bad_limit" >/dev/null 2>"$dir/err"
    [ $? -eq 2 ] && grep -q "limit '$bad_limit' is not a number from 1 to 4294967295" "$dir/err" &&
        ok "--limit '$bad_limit' refused" || bad "--limit '$bad_limit': $(cat "$dir/err")"
done
timeout 60 "$cairn" --scheduler "$url" audit --since yesterday >/dev/null 2>"$dir/err"
[ $? -eq 2 ] && grep -q "since 'yesterday'" "$dir/err" && ok "a bad --since is named" ||
    bad "bad --since: $(cat "$dir/err")"

cli audit verify >"$dir/out"
rc=$?
if [ $rc -eq 0 ] && grep -q "audit trail intact: 7 entries" "$dir/out"; then
    ok "verify: $(cat "$dir/out")"
else bad "verify of the untouched trail: exit $rc, $(cat "$dir/out")"; fi
head=$(grep -o '[0-9a-f]\{64\}' "$dir/out")

# someone with the database edits the submit's detail
stop_scheduler
python3 - "$dir/state/journal.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE audit SET detail = replace(detail, 'name=audited', 'name=innocent') WHERE seq = 3")
db.commit()
PY
start_scheduler
cli audit verify >"$dir/out"
rc=$?
if [ $rc -eq 1 ] && grep -q "entry 3: its contents do not match its hash" "$dir/out"; then
    ok "an edited entry is found: $(cat "$dir/out")"
else bad "edited entry: exit $rc, $(cat "$dir/out")"; fi

# the edit undone, the newest entries removed: intact as a chain, but not
# against the head recorded before
stop_scheduler
python3 - "$dir/state/journal.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE audit SET detail = replace(detail, 'name=innocent', 'name=audited') WHERE seq = 3")
db.execute("DELETE FROM audit WHERE seq >= 6")
db.commit()
PY
start_scheduler
cli audit verify --head "$head" >"$dir/out"
rc=$?
if [ $rc -eq 1 ] && grep -q "recorded head .* is not in the chain" "$dir/out"; then
    ok "removed newest entries are found against the recorded head"
else bad "truncated trail against the head: exit $rc, $(cat "$dir/out")"; fi
stop_scheduler

# a restart with another configuration is an entry; the same one is not
start_scheduler --secret-env '*PASS*'
stop_scheduler
start_scheduler --secret-env '*PASS*'
n=$(cli audit --json | python3 -c "import json,sys; e=json.load(sys.stdin); print(sum(x['action']=='config' for x in e), e[-1]['action'], 'secret_pattern=*PASS*' in e[-1]['detail'])")
[ "$n" = "2 config True" ] && ok "a configuration change is recorded once" || bad "config entries: $n"
stop_scheduler

exit $fail
