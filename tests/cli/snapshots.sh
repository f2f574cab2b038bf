#!/bin/sh
# Snapshots (--snapshot-every): a scheduler that snapshots every few journal
# entries keeps two snapshots and only the entries after the older one;
# after kill -9 it starts from the newest snapshot, answers for jobs that
# ended before it, and runs a new job; --verify-journal checks from the
# oldest kept snapshot and reloads each one. A corrupt newest snapshot is
# reported by its entry and the older one is used; with both corrupt the
# scheduler refuses to start and says why.
set -u
. "$(dirname "$0")/lib/common.sh"
cli_init snapshots
state="$dir/state"
mkdir -m 700 "$state"
CAIRN_STATE_DIR=$state
export CAIRN_STATE_DIR
db="$state/journal.db"
topo="$tests/topologies/cpu-only-1s.xml"
sched=""

# alive PID: running (not gone, not a zombie)
alive() { ps -o stat= -p "$1" 2>/dev/null | grep -q '^[^Z]'; }
start_scheduler() { # LOG: start it, wait until it answers (or died)
    "$bin/cairn-scheduler" --state-dir "$state" --log-file "$dir/$1" --log-level debug \
        --snapshot-every 5 --restart-grace 2s &
    sched=$!
    wait_for "the scheduler answers ($1)" sh -c "'$cairn' jobs || ! ps -o stat= -p $sched | grep -q '^[^Z]'"
    alive "$sched" || bad "the scheduler exited at its start: $(cat "$dir/$1")"
}
kill9_scheduler() {
    kill -9 "$sched"
    wait "$sched" 2>/dev/null
    sched=""
}
cleanup_more() { [ -n "$sched" ] && kill -9 "$sched" 2>/dev/null; }
q() { sqlite3 "$db" "$1"; }

start_scheduler s1.log
"$bin/cairn-worker" --scheduler "ipc://$state/workers.sock" --state-dir "$dir/w1" --name w1 \
    --topology "$topo" --log-file "$dir/w1.log" &
pids="$pids $!"
wait_for "the worker up" sh -c "'$cairn' nodes --json | grep -q '\"state\": \"up\"'"

cat >"$dir/dag.yaml" <<'YAML'
name: before
tasks:
  - name: a
    run: ["true"]
  - name: b
    needs: [a]
    shell: echo done-b
  - name: c
    needs: [a]
    run: ["true"]
  - name: d
    needs: [b, c]
    run: ["true"]
YAML
jobs=""
for i in 1 2 3 4; do
    expect 0 "submit $i" -- "$cairn" submit --wait "$dir/dag.yaml"
    jobs="$jobs $(head -n 1 "$dir/out" | grep -o '[0-9][0-9]*' | head -n 1)"
done
first=$(echo $jobs | cut -d' ' -f1)

[ "$(q 'SELECT count(*) FROM snapshots')" = 2 ] && ok "two snapshots kept" ||
    bad "snapshots kept: $(q 'SELECT seq FROM snapshots')"
oldest=$(q 'SELECT min(seq) FROM snapshots')
newest=$(q 'SELECT max(seq) FROM snapshots')
[ "$(q 'SELECT min(seq) FROM events')" -gt 1 ] &&
    [ "$(q "SELECT count(*) FROM events WHERE seq <= $oldest")" = 0 ] &&
    ok "entries up to the older snapshot ($oldest) pruned" ||
    bad "events not pruned: min $(q 'SELECT min(seq) FROM events'), oldest snapshot $oldest"
total=$(q 'SELECT max(seq) FROM events')
hot=$(q 'SELECT count(*) FROM events')
[ "$hot" -lt "$total" ] && ok "the events table holds $hot of $total entries" ||
    bad "events table: $hot of $total"

# kill -9, start: from the newest snapshot; old jobs answered; a new job runs
kill9_scheduler
start_scheduler s2.log
grep -q "state from the snapshot of journal entry $newest " "$dir/s2.log" &&
    ok "start from the snapshot of entry $newest" || bad "start: $(grep -i snapshot "$dir/s2.log")"
expect 0 "status of job $first, ended before the snapshots" -- "$cairn" status "$first" --json
json_check "job $first succeeded with its 4 tasks" \
    "j['job']['state'] == 'succeeded' and len(j['tasks']) == 4"
wait_for "the worker back" sh -c "'$cairn' nodes --json | grep -q '\"state\": \"up\"'"
expect 0 "logs of a task of job $first" -- "$cairn" logs "$first" b
grep -q "done-b" "$dir/out" || bad "logs after the restart: $(cat "$dir/out")"
expect 0 "a new job after the restart" -- "$cairn" submit --wait "$dir/dag.yaml"
kill9_scheduler

expect 0 "verify-journal" -- "$bin/cairn-scheduler" --verify-journal --state-dir "$state"
grep -q "replays identically" "$dir/err" && grep -q "2 snapshots checked (from the snapshot of entry" \
    "$dir/err" && ok "verify: from a snapshot, both checked" || bad "verify: $(cat "$dir/err")"

# corrupt DB [rehash]: one letter of a job's name in the newest snapshot
# (it would load, wrong); with rehash, its checksum recomputed to match
corrupt() {
    python3 - "$db" "$(q 'SELECT max(seq) FROM snapshots')" "${1:-}" <<'PY' ||
import hashlib, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
seq = int(sys.argv[2])
data = bytearray(db.execute("SELECT data FROM snapshots WHERE seq = ?", (seq,)).fetchone()[0])
at = data.index(b"before\0")
data[at + 2] = ord("x")
db.execute("UPDATE snapshots SET data = ? WHERE seq = ?", (bytes(data), seq))
if sys.argv[3] == "rehash":
    db.execute("UPDATE snapshots SET sha256 = ? WHERE seq = ?", (hashlib.sha256(data).digest(), seq))
db.commit()
PY
        bad "corrupting the snapshot"
}
newest=$(q 'SELECT max(seq) FROM snapshots')
older=$(q 'SELECT min(seq) FROM snapshots')

# a snapshot whose checksum matches but whose state is not the journal's:
# --verify-journal finds it
cp "$db" "$dir/good.db"
corrupt rehash
expect 1 "verify-journal finds a snapshot that is not the replayed state" -- \
    "$bin/cairn-scheduler" --verify-journal --state-dir "$state"
grep -q "the snapshot of entry $newest does not load to the state replayed to it" "$dir/err" ||
    bad "verify of a wrong snapshot: $(cat "$dir/err")"
cp "$dir/good.db" "$db"

# the newest snapshot corrupt: reported, the older one and its entries used
corrupt
expect 1 "verify-journal names the corrupt snapshot" -- "$bin/cairn-scheduler" --verify-journal \
    --state-dir "$state"
grep -q "snapshot of entry $newest is unusable: its SHA-256 checksum does not match" "$dir/err" ||
    bad "verify of a corrupt snapshot: $(cat "$dir/err")"
start_scheduler s3.log
grep -q "snapshot of journal entry $newest is corrupt or unreadable (its SHA-256 checksum does not match its [0-9]* bytes): falling back to the snapshot before it" \
    "$dir/s3.log" && ok "the corrupt snapshot is reported" || bad "no report: $(cat "$dir/s3.log")"
grep -q "state from the snapshot of journal entry $older " "$dir/s3.log" &&
    ok "fell back to the snapshot of entry $older" || bad "fallback: $(grep snapshot "$dir/s3.log")"
expect 0 "status after the fallback" -- "$cairn" jobs --json
json_check "all 5 jobs there, succeeded, their names as submitted" \
    "len(j['jobs']) == 5 and all(x['state'] == 'succeeded' and x['name'] == 'before' for x in j['jobs'])"
expect 0 "a job after the fallback" -- "$cairn" submit --wait "$dir/dag.yaml"
kill9_scheduler

# both corrupt: the scheduler refuses to start, and says why
q "UPDATE snapshots SET data = x'00'"
rc=0
timeout 30 "$bin/cairn-scheduler" --state-dir "$state" --snapshot-every 5 \
    >"$dir/refuse.out" 2>"$dir/refuse.err" || rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && ok "refuses to start (exit $rc)" || bad "exit $rc"
grep -q "journal: no usable snapshot (2 kept; .*) and the entries up to [0-9]* were pruned: the state cannot be rebuilt" \
    "$dir/refuse.err" && ok "says why" || bad "refusal: $(cat "$dir/refuse.err")"

[ $fail -eq 0 ] && echo "snapshots: ok"
exit $fail
