#!/bin/sh
# Accounts on a real cluster (a scheduler and a CPU worker of 8 cores):
# set, list (a tree), usage and delete; changes audited with what changed;
# non-administrators (nobody) may read but not change them (exit 5); a
# job is charged to its spec's account: when the submitter is a member
# (else refused naming their accounts), to their only account, to the one
# of theirs marked --default, or to "default"; a priority above an
# account's cap is refused naming the cap; a delete waits for the
# account's work; a --max-running limit holds a task back, `explain` says
# so with numbers, and the task starts when the other ends; accounts and
# members survive kill -9; --verify-journal replays the account events
# (with non-default fair-share settings) identically.
#   sh accounts.sh BIN_DIR TESTS_DIR
set -u
. "$(dirname "$0")/lib/common.sh"
spid=""
wpid=""
cleanup_more() {
    [ -n "$wpid" ] && kill "$wpid" 2>/dev/null
    [ -n "$spid" ] && kill "$spid" 2>/dev/null
    wait 2>/dev/null
}
cli_init accounts
url="ipc://$dir/state/clients.sock"
cli() { timeout 60 "$cairn" --scheduler "$url" "$@"; }
# the same as a command, for expect (which runs commands, not functions)
printf '#!/bin/sh\nexec "%s" --scheduler "%s" "$@"\n' "$cairn" "$url" >"$dir/c"
chmod 755 "$dir/c"
fs="--fair-share-gpu-weight 4 --fair-share-half-life 1h"

start_scheduler() {
    # shellcheck disable=SC2086 # $fs is two options
    "$bin/cairn-scheduler" --state-dir "$dir/state" --heartbeat-interval 100ms \
        --restart-grace 0s $fs --log-file "$dir/scheduler.log" &
    spid=$!
    wait_for "the scheduler answers" cli jobs || exit 1
}
start_scheduler
"$bin/cairn-worker" --scheduler "ipc://$dir/state/workers.sock" --state-dir "$dir/w1" \
    --name w1 --topology "$tests/topologies/cpu-only-1s.xml" --log-file "$dir/w1.log" &
wpid=$!
wait_for "w1 up" sh -c "'$cairn' --scheduler '$url' nodes | grep -q '^w1 .*up'" || exit 1

# the fair-share settings are checked like the other numbers
expect 2 "a GPU weight of 0 is refused" -- "$bin/cairn-scheduler" --fair-share-gpu-weight 0
grep -q "invalid GPU weight '0' (1..1000000)" "$dir/err" && ok "naming the range" ||
    bad "weight 0: $(cat "$dir/err")"
expect 2 "a half-life under a second is refused" -- "$bin/cairn-scheduler" \
    --fair-share-half-life 10ms

# --- set, list, usage ---------------------------------------------------------
expect 0 "set research" -- "$dir/c" account set research --share 2 --max-cpus 6 --groups @ml
expect 0 "set vision under research" -- "$dir/c" account set vision --parent research --users bob,carol
expect 0 "set lim" -- "$dir/c" account set lim --max-running 1
expect 2 "a bad limit is a usage error" -- "$dir/c" account set lim --max-gpus lots
expect 1 "an unknown parent is refused" -- "$dir/c" account set x --parent nowhere
grep -q "no account nowhere to be its parent" "$dir/err" && ok "naming the parent" ||
    bad "unknown parent: $(cat "$dir/err")"
expect 1 "a cycle is refused" -- "$dir/c" account set research --parent vision
grep -q "parent vision is research itself or under it" "$dir/err" && ok "naming the cycle" ||
    bad "cycle: $(cat "$dir/err")"
expect 0 "list" -- "$dir/c" account list
grep -q "^  vision " "$dir/out" && grep -q "^research .* 6 " "$dir/out" &&
    ok "list shows the tree (vision under research) and the limit" || bad "list: $(cat "$dir/out")"
expect 0 "list --json" -- "$dir/c" account list --json
json_check "list --json: default first, parents before children, members and limits" \
    '[a["name"] for a in j["accounts"]] == ["default", "lim", "research", "vision"] and j["accounts"][0]["builtin"] and j["accounts"][3]["parent"] == "research" and j["accounts"][3]["users"] == ["bob", "carol"] and j["accounts"][2]["groups"] == ["ml"] and j["accounts"][2]["max_cpus"] == 6 and j["accounts"][2]["max_gpus"] is None and j["accounts"][1]["max_running"] == 1'
expect 0 "usage --json" -- "$dir/c" account usage --json
json_check "usage --json: shares normalized, the scheduler's fair-share settings" \
    'j["gpu_weight"] == 4 and j["half_life_ms"] == 3600000 and [round(a["norm_share"], 3) for a in j["accounts"]] == [0.25, 0.25, 0.5, 0.5] and all(a["running"] == 0 for a in j["accounts"])'
expect 0 "set changes only what is named" -- "$dir/c" account set vision --share 3 --users bob,dave
expect 0 "list --json" -- "$dir/c" account list --json
json_check "vision changed, its parent kept" \
    'j["accounts"][3]["share"] == 3 and j["accounts"][3]["parent"] == "research" and j["accounts"][3]["users"] == ["bob", "dave"]'
cli audit >"$dir/audit" 2>&1
grep -q "account_set .*account vision .*share=1->3 users=+dave,-carol" "$dir/audit" &&
    grep -q "account_create .*account research .*share=2 .*max_cpus=6" "$dir/audit" &&
    ok "each change is audited with what changed" || bad "audit: $(cat "$dir/audit")"

# --- as nobody -------------------------------------------------------------------
cat >"$dir/job.yaml" <<'YAML'
name: plain
tasks:
  - name: t
    shell: 'true'
YAML
if [ "$(id -u)" = 0 ]; then
    mkdir -p "$dir/nb"
    cp "$cairn" "$dir/nb/cairn"
    chmod 755 "$dir/nb" "$dir/nb/cairn"
    chmod 711 "$dir" "$dir/state"
    chmod 644 "$dir/job.yaml"
    printf '#!/bin/sh\nexec setpriv --reuid=65534 --regid=65534 --clear-groups "%s" --scheduler "%s" "$@"\n' \
        "$dir/nb/cairn" "$url" >"$dir/nb/as-nobody"
    chmod 755 "$dir/nb/as-nobody"
    # the account a job was charged to: its submit's audit entry
    charged() { cli audit --user nobody | grep " submit .*job $1 " | grep -o 'account=[^ ]*'; }
    submitted() { grep -o '[0-9][0-9]*' "$dir/out" | head -1; }
    expect 0 "nobody may list accounts" -- "$dir/nb/as-nobody" account list
    expect 5 "nobody may not set an account" -- "$dir/nb/as-nobody" account set mine --share 5
    grep -q "may not change account mine: only administrators may" "$dir/err" &&
        ok "the refusal says why" || bad "set as nobody: $(cat "$dir/err")"
    expect 5 "nobody may not delete one" -- "$dir/nb/as-nobody" account delete lim
    expect 0 "nobody without accounts: the job goes to default" -- "$dir/nb/as-nobody" submit "$dir/job.yaml"
    [ "$(charged "$(submitted)")" = "account=default" ] && ok "charged to default" ||
        bad "charged: $(charged "$(submitted)")"
    cli account set nlp --users nobody >/dev/null
    cli account set speech --users nobody,bob >/dev/null
    printf 'account: vision\n' | cat - "$dir/job.yaml" >"$dir/vision.yaml"
    chmod 644 "$dir/vision.yaml"
    expect 5 "nobody may not charge vision" -- "$dir/nb/as-nobody" submit "$dir/vision.yaml"
    grep -q "nobody may not charge account vision: not a member (nobody's accounts: nlp, speech)" \
        "$dir/err" && ok "the refusal names nobody's accounts" || bad "refusal: $(cat "$dir/err")"
    expect 2 "two accounts and no default: the spec must name one" -- "$dir/nb/as-nobody" submit "$dir/job.yaml"
    grep -q "name one with account:" "$dir/err" && ok "asking for account:" ||
        bad "two accounts: $(cat "$dir/err")"
    printf 'account: default\n' | cat - "$dir/job.yaml" >"$dir/default.yaml"
    chmod 644 "$dir/default.yaml"
    expect 5 "a user with accounts may not escape to default" -- "$dir/nb/as-nobody" submit "$dir/default.yaml"
    cli account set speech --default >/dev/null
    expect 0 "the default one of theirs" -- "$dir/nb/as-nobody" submit "$dir/job.yaml"
    [ "$(charged "$(submitted)")" = "account=speech" ] && ok "charged to speech" ||
        bad "charged: $(charged "$(submitted)")"
    cli account set speech --users bob >/dev/null
    expect 0 "the only one of theirs" -- "$dir/nb/as-nobody" submit "$dir/job.yaml"
    [ "$(charged "$(submitted)")" = "account=nlp" ] && ok "charged to nlp" ||
        bad "charged: $(charged "$(submitted)")"
    # through a group: nobody's primary group (65534)
    grp=$(getent group 65534 | cut -d: -f1)
    cli account set vision --groups "$grp" >/dev/null
    expect 0 "a member through a group may charge it" -- "$dir/nb/as-nobody" submit "$dir/vision.yaml"
    vj=$(submitted)
    [ "$(charged "$vj")" = "account=vision" ] && ok "charged to vision" ||
        bad "charged: $(charged "$vj")"
    # a rerun is charged by the same rules: refused once nobody is no member
    expect 0 "nobody reruns the vision job" -- "$dir/nb/as-nobody" rerun "$vj"
    rj=$(submitted)
    [ "$rj" != "$vj" ] && [ "$(charged "$rj")" = "account=vision" ] &&
        ok "the rerun (job $rj) charged to vision" || bad "rerun $rj charged: $(charged "$rj")"
    cli account set vision --groups '' >/dev/null
    expect 5 "a rerun to an account nobody left is refused" -- "$dir/nb/as-nobody" rerun "$vj"
    grep -q "nobody may not charge account vision: not a member" "$dir/err" &&
        ok "naming it" || bad "rerun refusal: $(cat "$dir/err")"
fi
expect 0 "an administrator may name any account" -- "$dir/c" submit "$dir/vision.yaml" --wait
printf 'account: "bad name"\n' | cat - "$dir/job.yaml" >"$dir/badname.yaml"
expect 2 "a bad account name is a spec error" -- "$dir/c" submit "$dir/badname.yaml"
grep -q "is not an account name" "$dir/err" && ok "naming it" || bad "bad name: $(cat "$dir/err")"

# --- the priority cap ---------------------------------------------------------------
cli account set vision --max-priority 5 >/dev/null
cat >"$dir/prio.yaml" <<'YAML'
account: vision
name: urgent
tasks:
  - name: t
    priority: 10
    shell: 'true'
YAML
expect 2 "a priority above the cap is refused" -- "$dir/c" submit "$dir/prio.yaml"
grep -q "priority 10 is above the cap of account vision: 5" "$dir/err" && ok "naming the cap" ||
    bad "priority cap: $(cat "$dir/err")"

# --- a limit, explained; delete waits for the work ------------------------------
touch "$dir/hold"
cat >"$dir/lim.yaml" <<YAML
account: lim
name: limited
tasks:
  - name: a
    shell: 'while [ -e $dir/hold ]; do sleep 0.05; done'
  - name: b
    shell: 'true'
YAML
expect 0 "submit two tasks to lim" -- "$dir/c" submit "$dir/lim.yaml"
lj=$(grep -o '[0-9][0-9]*' "$dir/out" | head -1)
wait_for "one of them runs" sh -c "'$cairn' --scheduler '$url' status $lj | grep -q ' running'"
run=$(cli status "$lj" | awk '$2 == "running" {print $1}' | head -1)
other=a
[ "$run" = a ] && other=b
wait_for "explain names the limit" sh -c \
    "'$cairn' --scheduler '$url' explain $lj $other | grep -q 'account lim is at its running-attempt limit: 1 of 1 in use'"
cli explain "$lj" "$other" >"$dir/explain" 2>&1
grep -q "account lim is at its running-attempt limit: 1 of 1 in use" "$dir/explain" &&
    ok "explain: the task waits on lim's limit" || bad "explain: $(cat "$dir/explain")"
expect 0 "usage shows what lim holds" -- "$dir/c" account usage
grep -q "^lim .* 1/1 *\$" "$dir/out" && ok "running 1/1" || bad "usage: $(cat "$dir/out")"
expect 1 "delete refused while the account has work" -- "$dir/c" account delete lim
grep -q "account lim: 1 job is not finished (the first: job $lj)" "$dir/err" &&
    ok "naming the job" || bad "delete: $(cat "$dir/err")"
rm -f "$dir/hold"
expect 0 "the held task starts when the other ends: the job succeeds" -- "$dir/c" wait "$lj"
expect 0 "delete once its work is done" -- "$dir/c" account delete lim
cli audit | grep -q "account_delete .*account lim" && ok "the delete is audited" ||
    bad "no audit entry of the delete"

# --- kill -9 and restart; the journal replays ---------------------------------------
cli account list --json >"$dir/before.json"
kill -9 "$spid"
wait "$spid" 2>/dev/null
spid=""
start_scheduler
cli account list --json >"$dir/after.json"
if cmp -s "$dir/before.json" "$dir/after.json"; then ok "accounts and members survive kill -9"
else bad "after restart: $(cat "$dir/after.json") (before: $(cat "$dir/before.json"))"; fi
kill "$spid"
wait "$spid" 2>/dev/null
spid=""
# shellcheck disable=SC2086
expect 0 "--verify-journal replays the account events" -- "$bin/cairn-scheduler" \
    --state-dir "$dir/state" $fs --verify-journal
grep -q "replays identically" "$dir/err" && ok "identically" || bad "verify: $(cat "$dir/err")"
exit $fail
