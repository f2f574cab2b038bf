#!/bin/sh
# State on disk is private: 'cairn up' and cairn-scheduler create the
# journal (every job's environment, secrets included) and its -wal/-shm,
# cluster.pids and the daemons' logs without permissions for other users,
# take those away from files an older version left readable, and refuse a
# state directory that others can write to or that is another user's.
#   sh private_state.sh BIN_DIR TESTS_DIR
set -u
. "$(dirname "$0")/lib/common.sh"
cli_init private
cli_local_cluster
topo="$tests/topologies/cpu-only-1s.xml"

# mode FILE: its permission bits in octal (e.g. 600)
mode() { stat -c %a "$1"; }
# private FILE [MASK]: no permission for other users (MASK 077: nor group)
private() {
    m=$(mode "$1") || { bad "$1 does not exist"; return; }
    if [ $((0$m & ${2:-077})) -eq 0 ]; then ok "$(basename "$1") is $m"
    else bad "$(basename "$1") is $m"; fi
}
state=$CAIRN_STATE_DIR

expect 0 "cairn up" -- "$cairn" up --state-dir "$state" --topology "$topo"
for f in journal.db journal.db-wal journal.db-shm cluster.pids scheduler.log worker-sim1.log; do
    private "$state/$f"
done
expect 0 "cairn down" -- "$cairn" down --state-dir "$state"

# An older version's files, readable by all: made private at the next start.
chmod 644 "$state/journal.db" "$state/scheduler.log" "$state/worker-sim1.log"
touch "$state/journal.db-wal" "$state/journal.db-shm"
chmod 644 "$state/journal.db-wal" "$state/journal.db-shm"
expect 0 "cairn up on old files" -- "$cairn" up --state-dir "$state" --topology "$topo"
for f in journal.db journal.db-wal journal.db-shm; do private "$state/$f"; done
for f in scheduler.log worker-sim1.log; do private "$state/$f" 007; done
expect 0 "cairn down again" -- "$cairn" down --state-dir "$state"

# A state directory others can write to is refused, by cairn up and by the
# scheduler itself, naming the problem.
chmod 777 "$state"
expect 1 "cairn up refuses a world-writable state directory" -- \
    "$cairn" up --state-dir "$state" --topology "$topo"
grep -q "state directory $state is writable by other users (mode 0777)" "$dir/err" ||
    bad "cairn up's message: $(cat "$dir/err")"
expect 1 "cairn down refuses it" -- "$cairn" down --state-dir "$state"
grep -q "state directory $state is writable by other users" "$dir/err" ||
    bad "cairn down's message: $(cat "$dir/err")"
expect 1 "cairn-scheduler refuses it too" -- "$bin/cairn-scheduler" --state-dir "$state"
grep -q "writable by other users (mode 0777): refusing to use it (chmod go-w $state)" "$dir/err" ||
    bad "the scheduler's message: $(cat "$dir/err")"
chmod 770 "$state"
expect 1 "and a group-writable one" -- "$bin/cairn-scheduler" --state-dir "$state"
grep -q "is writable by its group (mode 0770)" "$dir/err" ||
    bad "the scheduler's message: $(cat "$dir/err")"
chmod 700 "$state"

# Another user's state directory (root can make one for nobody).
if [ "$(id -u)" -eq 0 ]; then
    mkdir "$dir/theirs"
    chown 65534 "$dir/theirs"
    chmod 700 "$dir/theirs"
    expect 1 "cairn-scheduler refuses another user's state directory" -- \
        "$bin/cairn-scheduler" --state-dir "$dir/theirs"
    grep -q "state directory $dir/theirs belongs to uid 65534, not to this user (uid 0)" \
        "$dir/err" || bad "the scheduler's message: $(cat "$dir/err")"
fi

# The scheduler's own --log-file, and a new state directory: 0600 and 0700.
"$bin/cairn-scheduler" --state-dir "$dir/fresh/state" --log-file "$dir/fresh.log" \
    2>"$dir/fresh.err" &
sched=$!
pids="$pids $sched"
wait_for "the scheduler's socket" test -S "$dir/fresh/state/clients.sock"
private "$dir/fresh.log"
m=$(mode "$dir/fresh/state")
[ "$m" = 700 ] && ok "a new state directory is 700" || bad "a new state directory is $m"
kill -TERM "$sched"
wait "$sched"

[ $fail -eq 0 ] && echo "private_state: ok"
exit $fail
