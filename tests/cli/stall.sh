#!/bin/sh
# Heavy reads never hold the scheduler's loop. With a history of 1,000,000
# attempts (synthetic, written straight into the state database by
# tests/bench/fill_history through the scheduler's own stores), `cairn
# report` and `cairn audit verify` run while a two-node cluster heartbeats
# with a short timeout: no node goes down, a submit sent meanwhile is
# answered (the time it took is printed, not judged), and the figures are
# right. CAIRN_STALL_ATTEMPTS sets the history's size.
set -u
. "$(dirname "$0")/lib/common.sh"
cli_init stall
fill="$bin/../tests/bench/fill_history"
n=${CAIRN_STALL_ATTEMPTS:-1000000}
state="$dir/state"
mkdir -m 700 "$state"

# a first start makes the database and its tables; then the history
"$bin/cairn-scheduler" --state-dir "$state" --log-file "$dir/first.log" &
first=$!
wait_for "the scheduler's first start" test -S "$state/clients.sock"
kill "$first"
wait "$first"
if "$fill" --db "$state/journal.db" --attempts "$n" --audit $((n / 10)); then
    ok "history of $n attempts and $((n / 10)) audit entries written"
else
    bad "fill_history"
    exit 1
fi

"$bin/cairn-scheduler" --state-dir "$state" --log-file "$dir/scheduler.log" --log-level debug \
    --heartbeat-interval 100ms --heartbeat-timeout 1s &
pids="$pids $!"
topo="$tests/topologies/cpu-only-1s.xml"
for w in w1 w2; do
    "$bin/cairn-worker" --scheduler "ipc://$state/workers.sock" --state-dir "$dir/$w" \
        --name "$w" --topology "$topo" --log-file "$dir/$w.log" &
    pids="$pids $!"
done
CAIRN_STATE_DIR=$state
export CAIRN_STATE_DIR
up_count() { "$cairn" nodes --json | python3 -c 'import json,sys
print(sum(n["state"] == "up" for n in json.load(sys.stdin)["nodes"]))'; }
wait_for "both nodes up" sh -c "[ \$('$cairn' nodes --json | grep -o '\"state\": \"up\"' | wc -l) -eq 2 ]"
[ "$(up_count)" -eq 2 ] && ok "two nodes up" || bad "two nodes up: $(up_count)"

# the heavy reads, in the background
"$cairn" report --since 1d --json >"$dir/report.json" 2>"$dir/report.err" &
report=$!
"$cairn" audit verify >"$dir/verify.out" 2>&1 &
verify=$!
wait_for "the report's first page on the reader" grep -q "to the reader" "$dir/scheduler.log"

cat >"$dir/quick.yaml" <<'YAML'
name: meanwhile
tasks:
  - name: t
    run: ["true"]
YAML
t0=$(date +%s%N)
"$cairn" submit "$dir/quick.yaml" >"$dir/submit.out" 2>&1
rc=$?
t1=$(date +%s%N)
[ "$rc" -eq 0 ] && ok "a submit during the reads is accepted" || bad "submit: exit $rc"
if kill -0 "$report" 2>/dev/null; then
    echo "submit answered in $(((t1 - t0) / 1000000)) ms while the report of $n attempts ran"
else
    echo "submit answered in $(((t1 - t0) / 1000000)) ms (the report had ended already)"
fi

wait "$report"
rc=$?
[ "$rc" -eq 0 ] && ok "report" || { bad "report: exit $rc"; cat "$dir/report.err"; }
wait "$verify"
rc=$?
[ "$rc" -eq 0 ] && ok "audit verify" || { bad "audit verify: exit $rc"; cat "$dir/verify.out"; }
# the synthetic entries, the two starts' configurations, the two joins (and
# the submit, if it was in before the check read the trail)
got=$(sed -n 's/^audit trail intact: \([0-9]*\) entries.*/\1/p' "$dir/verify.out")
if [ -n "$got" ] && [ "$got" -ge $((n / 10 + 4)) ] && [ "$got" -le $((n / 10 + 5)) ]; then
    ok "the trail of $got entries verifies"
else
    bad "audit verify output"
    cat "$dir/verify.out"
fi
# one day of a week's history: a seventh of the attempts (spread evenly)
if python3 - "$dir/report.json" "$n" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); n = int(sys.argv[2])
synth = [g for g in r["groups"] if g["key"] == "synth"]
got = synth[0]["attempts"] if synth else 0
want = n / 7
sys.exit(0 if abs(got - want) <= want * 0.01 + 2 else print(f"{got} attempts, want about {want:.0f}") or 1)
PY
then ok "the report counts the last day's attempts"; else bad "the report's count"; fi

# the scheduler's own measure of its loop: ticks more than two heartbeat
# intervals late (printed: a loaded test machine can delay a tick too)
echo "loop stalls the scheduler logged meanwhile: $(grep -c 'could not run for' "$dir/scheduler.log")"
grep 'could not run for' "$dir/scheduler.log" | sed 's/^/  /'
# no node was condemned by the reads, and both are still up
grep -q "silent for" "$dir/scheduler.log" && bad "a node went down during the reads"
[ "$(up_count)" -eq 2 ] && ok "both nodes still up" || bad "nodes up after the reads: $(up_count)"
exit $fail
