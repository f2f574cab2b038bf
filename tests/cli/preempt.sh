#!/bin/sh
# Preemption with a checkpoint grace on a real cluster (a scheduler and a
# CPU worker of 8 cores; each low task takes half of it, the high one all
# of it, as two tasks and a job needing both cores would on a 2-core node):
#  - a preemptible priority-0 job of two tasks that trap USR1, write a
#    checkpoint into $CAIRN_CHECKPOINT_DIR and exit; a priority-100 job
#    needing the whole node starts once they are gone (the time from the
#    preemption to its start is printed, not asserted); both victims got
#    USR1 and wrote their checkpoint, were requeued without using a retry
#    (attempts: 1), resumed and succeeded with the same CAIRN_SEED;
#    provenance says each resumed from the checkpoint digest computed here
#    with sha256sum; status, inspect and explain show the preemption;
#  - a victim that ignores the signal is killed at the end of its grace;
#    meanwhile explain on the preemptor says it waits for it, until when;
#  - signal_before_limit arrives, then the time limit ends the attempt as
#    timed_out;
#  - fair-share preemption: without --preempt-for-fair-share an account
#    below its share waits; with it, it preempts the account above its
#    share at the same priority;
#  - --max-preemptions-per-task 1: a task preempted once is not again;
#  - --verify-journal replays each run, preemptions included, identically.
#   sh preempt.sh BIN_DIR TESTS_DIR
set -u
. "$(dirname "$0")/lib/common.sh"
cli_init preempt
wpid=""
cleanup_more() {
    [ -n "$wpid" ] && kill "$wpid" 2>/dev/null
    wait 2>/dev/null
}
work="$dir/work"
mkdir -p "$work"
chmod 755 "$dir" "$work" # the tasks run as the submitter; root here in CI

# start_cluster STATE OPTIONS...: a scheduler on STATE and the worker w1
start_cluster() {
    cli_scheduler "$1"
    shift
    sched_start --heartbeat-interval 100ms --restart-grace 0s "$@"
    "$bin/cairn-worker" --scheduler "ipc://$sched_state/workers.sock" --state-dir "$dir/w1" \
        --name w1 --topology "$tests/topologies/cpu-only-1s.xml" --log-file "$dir/w1.log" \
        --allow-root-tasks &
    wpid=$!
    wait_for "w1 up" sh -c "'$cairn' --scheduler '$url' nodes | grep -q '^w1 .*up'" || exit 1
}
# stop_cluster OPTIONS...: stop both, then replay the journal with OPTIONS
stop_cluster() {
    kill "$wpid" 2>/dev/null
    wait "$wpid" 2>/dev/null
    wpid=""
    sched_stop
    if "$bin/cairn-scheduler" --verify-journal --state-dir "$sched_state" "$@" \
        >"$dir/verify.out" 2>"$dir/verify.err"; then
        grep -q "replays identically" "$dir/verify.err" &&
            ok "--verify-journal $*: the run with its preemptions replays identically" ||
            bad "verify: $(cat "$dir/verify.err")"
    else
        bad "verify failed: $(cat "$dir/verify.err")"
    fi
}
# submit FILE: prints the job id
submit() {
    cli submit "$1" >"$dir/submit.out" 2>&1 || {
        bad "submit $1: $(cat "$dir/submit.out")"
        return 1
    }
    grep -o '[0-9][0-9]*' "$dir/submit.out" | head -1
}
state_is() { "$cairn" --scheduler "$url" status "$1" --json | grep -q "\"state\": *\"$2\""; }
# the job's status JSON into $dir/out
status_json() { cli status "$1" --json >"$dir/out" 2>"$dir/err"; }

# The preemptor's shape differs from its victims': a task of the same shape
# would be queued on the node behind a running attempt (prefetch) instead.
# A victim: traps USR1, writes its checkpoint (its seed) and exits; with a
# checkpoint there already, it says it resumed and succeeds.
victim_script='
trap '"'"'echo "$CAIRN_SEED" >"$CAIRN_CHECKPOINT_DIR/ckpt"; echo "$CAIRN_ATTEMPT" >"'"$work"'/$CAIRN_TASK.usr1"; exit 0'"'"' USR1
if [ -e "$CAIRN_CHECKPOINT_DIR/ckpt" ]; then
    echo "$CAIRN_ATTEMPT $(cat "$CAIRN_CHECKPOINT_DIR/ckpt") $CAIRN_SEED" >"'"$work"'/$CAIRN_TASK.resumed"
    exit 0
fi
echo "$CAIRN_SEED" >"'"$work"'/$CAIRN_TASK.seed"
touch "'"$work"'/$CAIRN_TASK.running"
while :; do sleep 0.05; done'

write_low() { # NAME FILE
    cat >"$2" <<YAML
name: $1
defaults:
  workdir: $work
  priority: 0
  preemptible: true
  checkpoint: {signal: USR1, grace: 5s}
  retry: {attempts: 1}
  resources: {cpus: 4}
tasks:
  - name: a
    shell: |$(printf '%s\n' "$victim_script" | sed 's/^/      /')
  - name: b
    shell: |$(printf '%s\n' "$victim_script" | sed 's/^/      /')
YAML
}
cat >"$dir/high.yaml" <<YAML
name: high
tasks:
  - name: eval
    priority: 100
    resources: {cpus: 8}
    shell: 'true'
YAML

# the options are checked like the other numbers
expect 2 "--max-preemptions-per-task 0 is refused" -- "$bin/cairn-scheduler" \
    --max-preemptions-per-task 0
grep -q "invalid preemption count '0' (1..1000000)" "$dir/err" && ok "naming the range" ||
    bad "count 0: $(cat "$dir/err")"
expect 2 "--max-checkpoint-grace under a second is refused" -- "$bin/cairn-scheduler" \
    --max-checkpoint-grace 10ms
grep -q "invalid checkpoint grace '10ms' (a duration of 1s or more)" "$dir/err" &&
    ok "naming what it takes" || bad "grace 10ms: $(cat "$dir/err")"

# --- a preempted job resumes from its checkpoint ------------------------------
start_cluster "$dir/state"
write_low low "$dir/low.yaml"
low=$(submit "$dir/low.yaml") || exit 1
wait_for "both low tasks run" sh -c "[ -e '$work/a.running' ] && [ -e '$work/b.running' ]" || { cli status "$low"; tail -5 "$dir/w1.log"; cat "$dir/low.yaml"; exit 1; }
high=$(submit "$dir/high.yaml") || exit 1
wait_for "the high job succeeds" state_is "$high" succeeded || exit 1
wait_for "the low job succeeds" state_is "$low" succeeded || exit 1
for t in a b; do
    [ "$(cat "$work/$t.usr1" 2>/dev/null)" = 1 ] && ok "$t: attempt 1 got USR1" ||
        bad "$t: no USR1 recorded"
    read -r n ck seed <"$work/$t.resumed" || bad "$t did not resume"
    [ "${n:-}" = 2 ] && [ "${ck:-}" = "$(cat "$work/$t.seed")" ] &&
        [ "${seed:-}" = "$(cat "$work/$t.seed")" ] &&
        ok "$t: attempt 2 resumed from its checkpoint with the same CAIRN_SEED" ||
        bad "$t resumed: $(cat "$work/$t.resumed")"
done
status_json "$low"
json_check "status: attempt 1 of each preempted by the high job (priority 100 > 0), attempt 2 succeeded" \
    "all(len(t['attempts']) == 2 and t['attempts'][0]['end_reason'] == 'preempted' and t['attempts'][0]['preempted']['by_job'] == $high and t['attempts'][0]['preempted']['by_task'] == 'eval' and t['attempts'][0]['preempted']['reason'] == 'priority 100 > 0' and t['attempts'][1]['end_reason'] == 'succeeded' and 'preempted' not in t['attempts'][1] for t in j['tasks'])"
pre_ms=$(python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print(j['tasks'][0]['attempts'][0]['preempted']['time_ms'])" "$dir/out")
status_json "$high"
start_ms=$(python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print(j['tasks'][0]['attempts'][0]['start_time_ms'])" "$dir/out")
ok "the high job ran; it started $((start_ms - pre_ms)) ms after the preemption (grace 5 s)"
cli status "$low" >"$dir/status.txt" 2>&1
grep -q "preempted 1 time" "$dir/status.txt" && ok "status: each task says it was preempted" ||
    bad "status: $(cat "$dir/status.txt")"
cli provenance "$low" >"$dir/prov.json" 2>"$dir/err" || bad "provenance: $(cat "$dir/err")"
for t in a b; do
    i=0
    [ "$t" = b ] && i=1
    f=$(echo "$work"/.cairn-checkpoints/*/job-"$low"/"$i-$t"/ckpt)
    [ -f "$f" ] || bad "no checkpoint at $f"
    # checkpoint.h's digest, computed here: "path\tsize\tsha256\n" of each file
    digest=$(printf 'ckpt\t%s\t%s\n' "$(wc -c <"$f" | tr -d ' ')" \
        "$(sha256sum "$f" | cut -c1-64)" | sha256sum | cut -c1-64)
    python3 - "$dir/prov.json" "$t" "$digest" <<'PY' &&
import json, sys
j = json.load(open(sys.argv[1]))
t = [x for x in j["tasks"] if x["name"] == sys.argv[2]][0]
a1, a2 = t["attempts"]
assert a1["end"] == "preempted" and a1["preempted"]["reason"] == "priority 100 > 0", a1
assert a1["checkpoint_start_digest"] == "" and a1["resumed_from_attempt"] == 0, a1
assert a1["checkpoint_end_digest"] == sys.argv[3], (a1["checkpoint_end_digest"], sys.argv[3])
assert a2["checkpoint_start_digest"] == sys.argv[3] and a2["resumed_from_attempt"] == 1, a2
assert a2["checkpoint_dir"] == a1["checkpoint_dir"] != "", (a1["checkpoint_dir"], a2["checkpoint_dir"])
assert a1["seed"] == a2["seed"] and a2["end"] == "succeeded" and a2["preempted"] is None
PY
        ok "$t: provenance: attempt 2 resumed from checkpoint $(echo "$digest" | cut -c1-12) written by attempt 1" ||
        bad "$t: provenance"
done
cli inspect "$low" a >"$dir/inspect.txt" 2>&1
grep -q "preempted by job $high task eval (priority 100 > 0)" "$dir/inspect.txt" &&
    grep -q "started fresh; left checkpoint" "$dir/inspect.txt" &&
    grep -q "resumed from checkpoint [0-9a-f]\{12\} written by attempt 1" "$dir/inspect.txt" &&
    ok "inspect: the preemption and the chain of checkpoints" ||
    bad "inspect: $(cat "$dir/inspect.txt")"

# --- a victim that ignores the signal is killed at the end of its grace ------
cat >"$dir/deaf.yaml" <<YAML
name: deaf
tasks:
  - name: d
    preemptible: true
    checkpoint: {signal: USR1, grace: 5s}
    resources: {cpus: 7}
    shell: 'trap "" USR1; touch $work/d.running; while :; do sleep 0.05; done'
YAML
deaf=$(submit "$dir/deaf.yaml") || exit 1
wait_for "the deaf task runs" test -e "$work/d.running" || exit 1
high2=$(submit "$dir/high.yaml") || exit 1
# the preemptor waits out the grace; explain gives its end in local time
wait_for "explain on the preemptor" sh -c "'$cairn' --scheduler '$url' explain $high2 eval | grep -q 'waiting for 1 preempted attempt on w1 to end its grace (until [0-9][0-9]:[0-9][0-9]:[0-9][0-9]'" &&
    ok "explain on the preemptor: $(cli explain "$high2" eval | tail -1)" || cli explain "$high2" eval
wait_for "explain on the victim names the preemptor" sh -c \
    "'$cairn' --scheduler '$url' explain $deaf d | grep -q 'preempted by job $high2 task eval (priority 100 > 0)'" &&
    ok "explain on the victim: preempted by job $high2 task eval (priority 100 > 0)" ||
    cli explain "$deaf" d
wait_for "status on the victim in its grace" sh -c "'$cairn' --scheduler '$url' status $deaf | grep -q 'preempted by job $high2 task eval (priority 100 > 0); grace until [0-9][0-9]:'" &&
    ok "status on the victim in its grace: $(cli status "$deaf" | grep '^d ' | sed 's/  */ /g')" ||
    cli status "$deaf"
wait_for "the second high job succeeds" state_is "$high2" succeeded || {
    cli status "$deaf"; cli status "$high2"; cli explain "$high2" eval; tail -20 "$dir/w1.log"; grep -v DEBUG "$dir/scheduler.log" | tail; exit 1; }
status_json "$deaf"
json_check "the deaf attempt was killed (SIGKILL) at the end of its grace and ended preempted" \
    "j['tasks'][0]['attempts'][0]['end_reason'] == 'preempted' and j['tasks'][0]['attempts'][0]['signal'] == 9"
cli cancel "$deaf" >/dev/null 2>&1

# --- signal_before_limit, then the time limit -----------------------------------
cat >"$dir/limit.yaml" <<YAML
name: limit
tasks:
  - name: l
    time_limit: 3s
    signal_before_limit: 2s
    checkpoint: {signal: USR1}
    retry: {attempts: 1}
    shell: 'trap "date +%s%3N >$work/l.usr1" USR1; date +%s%3N >$work/l.start; while :; do sleep 0.05; done'
YAML
lim=$(submit "$dir/limit.yaml") || exit 1
wait_for "the limited task ends" state_is "$lim" failed || exit 1
[ -s "$work/l.usr1" ] && ok "USR1 arrived $(($(cat "$work/l.usr1") - $(cat "$work/l.start"))) ms after the start (limit 3 s, signal 2 s before)" ||
    bad "no USR1 before the time limit"
status_json "$lim"
json_check "then the time limit ended it: timed_out" \
    "len(j['tasks'][0]['attempts']) == 1 and j['tasks'][0]['attempts'][0]['end_reason'] == 'timed_out'"
stop_cluster

# --- fair share, off: an account below its share waits ------------------------
fairshare_jobs() { # writes $dir/fa.yaml (account big, preemptible) and $dir/fb.yaml (small)
    cat >"$dir/fa.yaml" <<YAML
name: fa
account: big
tasks:
  - name: x
    preemptible: true
    checkpoint: {grace: 1s}
    resources: {cpus: 7}
    shell: 'touch $work/fa.running; while :; do sleep 0.05; done'
YAML
    cat >"$dir/fb.yaml" <<YAML
name: fb
account: small
tasks:
  - name: y
    resources: {cpus: 8}
    shell: 'true'
YAML
}
fairshare_jobs
start_cluster "$dir/state2"
cli account set big --users "$(id -un)" >/dev/null 2>&1 || bad "account big"
cli account set small --users "$(id -un)" >/dev/null 2>&1 || bad "account small"
rm -f "$work/fa.running"
fa=$(submit "$dir/fa.yaml") || exit 1
wait_for "fa runs" test -e "$work/fa.running" || exit 1
wait_for "big is above its share" sh -c "'$cairn' --scheduler '$url' account usage --json | python3 -c 'import json,sys; j=json.load(sys.stdin); a={x[\"name\"]: x for x in j[\"accounts\"]}; sys.exit(0 if a[\"big\"][\"running\"] > 0 else 1)'"
fb=$(submit "$dir/fb.yaml") || exit 1
# once a pass has seen fb (it says what it waits for), fa was not preempted
wait_for "a pass saw fb" sh -c "'$cairn' --scheduler '$url' explain $fb y | grep -q 'waiting for resources'"
status_json "$fa"
json_check "flag off: the account below its share does not preempt (same priority)" \
    "'preempted' not in j['tasks'][0]['attempts'][0] and j['tasks'][0]['state'] == 'running'"
cli cancel "$fa" >/dev/null 2>&1
wait_for "fb runs once fa is cancelled" state_is "$fb" succeeded
stop_cluster

# --- fair share on, and --max-preemptions-per-task 1 ----------------------------
opts="--preempt-for-fair-share --max-preemptions-per-task 1"
# shellcheck disable=SC2086 # two options
start_cluster "$dir/state3" $opts
cli account set big --users "$(id -un)" >/dev/null 2>&1 || bad "account big"
cli account set small --users "$(id -un)" >/dev/null 2>&1 || bad "account small"
rm -f "$work/fa.running"
fa=$(submit "$dir/fa.yaml") || exit 1
wait_for "fa runs" test -e "$work/fa.running" || exit 1
# usage is counted as the attempt runs: big gets above its share
sleep_until_usage() {
    "$cairn" --scheduler "$url" account usage --json | python3 -c 'import json,sys; j=json.load(sys.stdin); a={x["name"]: x for x in j["accounts"]}; sys.exit(0 if a["big"].get("usage", 0) > 0 else 1)'
}
wait_for "big has used something" sleep_until_usage
fb=$(submit "$dir/fb.yaml") || exit 1
wait_for "flag on: fb preempts fa (account small below its share)" sh -c \
    "'$cairn' --scheduler '$url' status $fa --json | grep -q 'account small below its share'" &&
    ok "flag on: fb preempts fa at the same priority (account small below its share)"
wait_for "fb succeeds" state_is "$fb" succeeded
wait_for "fa runs again" sh -c "'$cairn' --scheduler '$url' status $fa --json | grep -q '\"number\": *2'" &&
    ok "fa runs again (attempt 2)"
fb2=$(submit "$dir/fb.yaml") || exit 1
wait_for "a pass saw fb2" sh -c "'$cairn' --scheduler '$url' explain $fb2 y | grep -q 'waiting for resources'"
status_json "$fa"
json_check "preempted once already (--max-preemptions-per-task 1): fa is not preempted again" \
    "len(j['tasks'][0]['attempts']) == 2 and 'preempted' not in j['tasks'][0]['attempts'][1]"
cli explain "$fb2" y >"$dir/explain.txt" 2>&1
grep -q "preempt" "$dir/explain.txt" && bad "fb2 explain: $(cat "$dir/explain.txt")" ||
    ok "fb2 waits without preempting: $(head -2 "$dir/explain.txt" | tail -1)"
cli cancel "$fa" >/dev/null 2>&1
wait_for "fb2 runs once fa is cancelled" state_is "$fb2" succeeded
# shellcheck disable=SC2086
stop_cluster $opts

exit $fail
