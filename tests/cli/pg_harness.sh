#!/bin/sh
# The PostgreSQL test servers of lib/pg.sh: one starts (from the template),
# answers on its URL, keeps committed data across a fast restart (the
# postmaster is a new process on the same socket), refuses connections while
# down, and pg_stop ends it and removes its directory. A second server runs
# beside the first with data of its own.
set -u
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/pg.sh"
cli_init pg_harness
pg_skip_unless_available

pg_start || exit 1
first_dir=$PG_DIR first_pid=$PG_PID first_url=$PG_URL
[ "$(pg_psql 'SELECT current_user || current_database()')" = cairncairn ] &&
    ok "the server answers on $PG_URL as cairn, database cairn" ||
    bad "no answer on $PG_URL: $(pg_psql 'SELECT 1' 2>&1)"
[ "$(pg_psql 'SHOW listen_addresses')" = "" ] && ok "no TCP listener" || bad "it listens on TCP"
# libpq's other forms: key/value conninfo and the socket directory escaped in the host part
esc=$(printf '%s' "$PG_DIR" | sed 's|/|%2F|g')
[ "$(pg_psql_url "$PG_CONNINFO" 'SELECT 2')" = 2 ] && ok "conninfo $PG_CONNINFO" || bad "conninfo"
[ "$(pg_psql_url "postgresql://cairn@$esc/cairn" 'SELECT 3')" = 3 ] &&
    ok "URL with the socket directory as the host" || bad "escaped host URL"

pg_psql 'CREATE TABLE t (k int PRIMARY KEY, v text); INSERT INTO t VALUES (1, $$one$$), (2, $$two$$)'
[ "$(pg_psql 'SELECT string_agg(v, $$,$$ ORDER BY k) FROM t')" = "one,two" ] &&
    ok "rows written and read" || bad "rows not read back"

# a second server at the same time: its own directory, database and data
saved_dir=$PG_DIR saved_pid=$PG_PID saved_url=$PG_URL
pg_start || exit 1
[ "$PG_DIR" != "$saved_dir" ] && [ "$(pg_psql 'SELECT count(*) FROM pg_tables WHERE tablename = $$t$$')" = 0 ] &&
    ok "a second server beside the first, empty" || bad "the second server is not separate"
second_dir=$PG_DIR
pg_stop
[ ! -e "$second_dir" ] && ok "the second stopped, its directory removed" || bad "$second_dir left"
PG_DIR=$saved_dir PG_PID=$saved_pid PG_URL=$saved_url
[ "$(pg_psql 'SELECT count(*) FROM t')" = 2 ] && ok "the first one still answers" ||
    bad "the first server is gone with the second"

pg_restart || exit 1
[ "$PG_PID" != "$first_pid" ] && ok "restarted: a new postmaster ($first_pid, now $PG_PID)" ||
    bad "the postmaster is the same process"
[ "$PG_URL" = "$first_url" ] && [ "$(pg_psql 'SELECT v FROM t WHERE k = 2')" = two ] &&
    ok "after the restart, the data is there on the same URL" || bad "data lost by the restart"

pg_halt QUIT
if pg_psql 'SELECT 1' >/dev/null 2>&1; then bad "a stopped server answered"; else
    ok "a stopped server refuses connections"
fi
pg_run || exit 1
[ "$(pg_psql 'SELECT count(*) FROM t')" = 2 ] && ok "after an immediate shutdown, the data is there" ||
    bad "data lost by an immediate shutdown"

pg_stop
[ -e "$first_dir" ] && bad "pg_stop left $first_dir" || ok "pg_stop removed the directory"
ps -o stat= -p "$first_pid" >/dev/null 2>&1 && bad "the first postmaster still runs" ||
    ok "no postmaster left"
exit $fail
