#!/bin/sh
# --history-retention: history older than that is dropped, in bounded
# batches, by the running scheduler. A synthetic history of 2000 attempt
# records over the last 20 days (tests/bench/fill_history) on a scheduler
# with --history-retention 10d: the records that ended more than 10 days
# ago go, the others stay. A job retired at once (--keep-finished 0) on a
# scheduler with --history-retention 2s: its status answers from history,
# then, once dropped, says so; its provenance and spec went with it.
#   sh history_retention.sh BIN_DIR TESTS_DIR
set -u
. "$(dirname "$0")/lib/common.sh"
cli_init histret
cli_scheduler
start_sched() { sched_start --heartbeat-interval 100ms "$@"; }
fill="$bin/../tests/bench/fill_history"
# count WHERE: history rows matching (end_ms, now_ms)
count() {
    python3 - "$dir/state/journal.db" "$1" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
now = int(time.time() * 1000)
print(db.execute("SELECT count(*) FROM history WHERE " + sys.argv[2].replace("NOW", str(now))).fetchone()[0])
PY
}

start_sched
sched_stop
"$fill" --db "$dir/state/journal.db" --attempts 2000 --audit 0 --days 20 >/dev/null ||
    { bad "fill_history"; exit 1; }
old=$(count "end_ms < NOW - 10 * 86400000 + 600000")
new=$(count "end_ms >= NOW - 10 * 86400000 + 600000")
[ "$old" -gt 500 ] && [ "$new" -gt 500 ] || bad "the synthetic history: $old old, $new new"
start_sched --history-retention 10d
none_old() { [ "$(count "end_ms < NOW - 10 * 86400000")" = 0 ]; }
wait_for "the history older than 10 days dropped" none_old || exit 1
left=$(count "1")
[ "$left" -ge "$new" ] && [ "$left" -lt $((old + new)) ] &&
    ok "--history-retention 10d: $((old + new - left)) old records dropped, $left kept" ||
    bad "after retention: $left records left of $old old and $new new"
sched_stop

# a retired job's record goes with the history retention
start_sched --keep-finished 0 --history-retention 2s
"$bin/cairn-worker" --scheduler "ipc://$dir/state/workers.sock" --state-dir "$dir/w1" \
    --name w1 --log-file "$dir/w1.log" --allow-root-tasks &
pids="$pids $!"
wait_for "the node is up" sh -c "'$cairn' --scheduler '$url' nodes | grep -q ' up '" || exit 1
cat >"$dir/job.yaml" <<EOF
name: short-lived
tasks:
  - name: a
    shell: 'echo hi'
EOF
cli submit --wait "$dir/job.yaml" >/dev/null 2>&1 || bad "the job failed"
# right after it ended it answers (retired or not); then its record goes
cli status 1 >"$dir/out" 2>&1 && grep -q '^a .*succeeded' "$dir/out" || bad "status at first: $(cat "$dir/out")"
wait_for "job 1's record dropped" sh -c "! '$cairn' --scheduler '$url' status 1 >/dev/null 2>&1" || exit 1
cli status 1 >"$dir/out" 2>&1
grep -q "history-retention" "$dir/out" && ok "a dropped job says so" || bad "status of a dropped job: $(cat "$dir/out")"
python3 - "$dir/state/journal.db" <<'PY' && ok "its provenance and spec went with it" || bad "what is left of job 1"
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
left = [db.execute(q).fetchone()[0] for q in (
    "SELECT count(*) FROM retired WHERE job = 1",
    "SELECT count(*) FROM job_specs WHERE job = 1",
    "SELECT count(*) FROM prov_start WHERE attempt = 1",
    "SELECT count(*) FROM prov_end WHERE attempt = 1",
    "SELECT count(*) FROM history WHERE job = 1")]
print(left)
sys.exit(0 if left == [0, 0, 0, 0, 0] else 1)
PY
exit $fail
