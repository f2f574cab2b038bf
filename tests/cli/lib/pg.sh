# PostgreSQL servers of a test's own (the scheduler's shared store, issue 23).
# A shell test sources this after lib/common.sh:
#   . "$(dirname "$0")/lib/pg.sh"
#   pg_skip_unless_available  # exit 77 (ctest: skipped) without PostgreSQL
#   pg_start                  # PG_URL, PG_CONNINFO, PG_DIR, PG_PID
#   pg_psql SQL               # psql -XAtq on the test's database
#   pg_restart                # fast shutdown, start again (same socket, data)
#   pg_stop                   # immediate shutdown, PG_DIR removed
# pg_start registers pg_stop with the test's clean-up (cli_on_exit).
#
# A server listens only on a Unix socket in its own directory PG_DIR (a new
# TMP/cairn-pg-XXXXXX: the checkout may sit in a home the postgres user
# cannot enter), trusts local connections, runs as the postgres user when we
# are root (PostgreSQL refuses root) and dies with the test (a parent-death
# signal, SIGQUIT: immediate shutdown). Its data directory is a copy of a
# template made once per PostgreSQL version and server user, under flock:
# TMP/cairn-pg-template-VERSION-UID (remove it to make it again). The
# template has the role cairn (superuser) and the database cairn, and runs
# with fsync off (fast, and still durable across a server crash: only a
# machine crash loses data). TMP is $CAIRN_PG_TMPDIR, else /dev/shm when it
# has 1 GiB free (the template's 1,200 files, 46 MB, copy in 0.1-0.4 s
# there, in 2-3 s onto an ext4 /tmp of a loaded machine), else /tmp.
#
# URL: postgresql://cairn@/cairn?host=PG_DIR (libpq takes a socket
# directory as the host parameter; mkdtemp's names need no escaping).
#
# Without common.sh only pg_available, pg_newdir and pg_exec_server are for
# use: tests/unit/pg_harness.h runs them, so the two harnesses share the
# template and the server's command line.

# The directory of initdb, postgres and psql: $CAIRN_PG_BINDIR (CMake's
# choice, tests/CMakeLists.txt), else pg_config's, else the newest
# /usr/lib/postgresql/*/bin.
pg_bindir() {
    for d in ${CAIRN_PG_BINDIR:-} "$(pg_config --bindir 2>/dev/null)" \
        $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [ -x "$d/initdb" ] && [ -x "$d/postgres" ] && [ -x "$d/psql" ] && {
            echo "$d"
            return 0
        }
    done
    return 1
}
pg_bin=$(pg_bindir) || pg_bin=""
# as root, the server's programs run as postgres (setpriv: util-linux)
pg_user=$(id -un)
pg_setpriv=""
if [ "$(id -u)" -eq 0 ]; then
    pg_user=postgres
    pg_setpriv="--reuid=postgres --regid=postgres --init-groups"
fi

# where the template and the servers' directories go (see above)
pg_tmpdir() {
    if [ -n "${CAIRN_PG_TMPDIR:-}" ]; then
        echo "$CAIRN_PG_TMPDIR"
        return
    fi
    free=$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 { print $4 }')
    if [ -d /dev/shm ] && [ -w /dev/shm ] && [ "${free:-0}" -ge 1048576 ]; then
        echo /dev/shm
    else
        echo /tmp
    fi
}

# pg_available: 0 when a server can be started here, else 1 with the reason
# in $pg_why.
pg_available() {
    pg_why=""
    if [ -z "$pg_bin" ]; then
        pg_why="no PostgreSQL server programs (initdb, postgres, psql; set CAIRN_PG_BINDIR)"
    elif ! id -u "$pg_user" >/dev/null 2>&1; then
        pg_why="no user $pg_user to run PostgreSQL as"
    elif ! command -v setpriv >/dev/null 2>&1 || ! command -v flock >/dev/null 2>&1; then
        pg_why="no setpriv or flock (util-linux)"
    fi
    [ -z "$pg_why" ]
}

# pg_as CMD...: run as the server's user, from a directory it can read
pg_as() {
    # shellcheck disable=SC2086
    (cd / && setpriv $pg_setpriv -- "$@")
}

# pg_template: make the template data directory once (flock against
# parallel tests); sets pg_tmpl.
pg_template() {
    pg_available || {
        echo "pg: $pg_why" >&2
        return 1
    }
    pg_ver=$("$pg_bin/postgres" --version | sed -n "s/^[^0-9]*\([0-9][0-9.]*\).*/\1/p")
    pg_uid=$(id -u "$pg_user")
    pg_tmpl=$(pg_tmpdir)/cairn-pg-template-$pg_ver-$pg_uid
    (
        flock -w 300 9 || {
            echo "pg: $pg_tmpl.lock: not ours in 300 s" >&2
            exit 1
        }
        if [ ! -e "$pg_tmpl" ]; then
            mkdir -m 700 "$pg_tmpl" && chown "$pg_user:" "$pg_tmpl" || exit 1
        fi
        # someone else's directory (or a link) is never used
        if [ -L "$pg_tmpl" ] || [ ! -d "$pg_tmpl" ] ||
            [ "$(stat -c %u:%a "$pg_tmpl")" != "$pg_uid:700" ]; then
            echo "pg: $pg_tmpl is not a private directory of $pg_user" >&2
            exit 1
        fi
        [ -f "$pg_tmpl/ready" ] && exit 0
        log=$pg_tmpl/template.log
        rm -rf "$pg_tmpl/data"
        : >"$log"
        pg_as "$pg_bin/initdb" -D "$pg_tmpl/data" -A trust -U cairn --no-sync -E UTF8 \
            --locale=C >>"$log" 2>&1 &&
            printf '%s\n' "listen_addresses = ''" "fsync = off" "full_page_writes = off" \
                "shared_buffers = 16MB" "max_connections = 50" >>"$pg_tmpl/data/postgresql.conf" &&
            echo 'CREATE DATABASE cairn;' |
            pg_as "$pg_bin/postgres" --single -D "$pg_tmpl/data" -F -c exit_on_error=true \
                postgres >>"$log" 2>&1 &&
            touch "$pg_tmpl/ready" || {
            echo "pg: making the template $pg_tmpl failed:" >&2
            tail -20 "$log" >&2
            exit 1
        }
    ) 9>>"$pg_tmpl.lock"
}

# pg_newdir: a new server directory (printed) with a copy of the template
# in data/, its socket in the directory itself.
pg_newdir() {
    pg_template || return 1
    d=$(mktemp -d "$(dirname "$pg_tmpl")/cairn-pg-XXXXXX") || return 1
    if chown "$pg_user:" "$d" && cp -a "$pg_tmpl/data" "$d/data" &&
        echo "unix_socket_directories = '$d'" >>"$d/data/postgresql.conf"; then
        echo "$d"
    else
        rm -rf "$d"
        return 1
    fi
}

# pg_exec_server DIR: become the server of DIR (the caller's child: it dies
# with the caller; the pid is the postmaster's).
pg_exec_server() {
    cd / || exit 1
    # shellcheck disable=SC2086
    exec setpriv $pg_setpriv --pdeathsig QUIT -- "$pg_bin/postgres" -D "$1/data"
}

# pg_psql_url URL SQL: run SQL (psql -XAtq, stops at the first error);
# notices are not printed.
pg_psql_url() {
    PGOPTIONS="-c client_min_messages=warning" PGCONNECT_TIMEOUT=10 \
        timeout 60 "$pg_bin/psql" -X -A -t -q -v ON_ERROR_STOP=1 -d "$1" -c "$2"
}

# --- for shell tests (need lib/common.sh) ----------------------------------

PG_DIR=""
PG_PID=""
pg_skip_unless_available() {
    pg_available || {
        echo "skip: $pg_why"
        exit 77
    }
}

# the server of PG_DIR answers: its postmaster.pid is PG_PID's and says ready
pg_ready() {
    [ "$(sed -n 1p "$PG_DIR/data/postmaster.pid" 2>/dev/null)" = "$PG_PID" ] &&
        sed -n 8p "$PG_DIR/data/postmaster.pid" | grep -q '^ready'
}
pg_gone() { ! ps -o stat= -p "$PG_PID" 2>/dev/null | grep -q '^[^Z]'; }

# start the server of PG_DIR and wait until it is ready (or gone)
pg_run() {
    pg_exec_server "$PG_DIR" </dev/null >>"$PG_DIR/pg.log" 2>&1 &
    PG_PID=$!
    wait_for "PostgreSQL is ready" pg_ready_or_gone
    pg_ready || {
        bad "PostgreSQL did not start: $(tail -5 "$PG_DIR/pg.log")"
        return 1
    }
}
pg_ready_or_gone() { pg_ready || pg_gone; }

# pg_halt SIGNAL: stop the server with SIGNAL (INT: fast, QUIT: immediate,
# KILL: a crash) and reap it, with a deadline
pg_halt() {
    [ -n "$PG_PID" ] || return 0
    kill -"$1" "$PG_PID" 2>/dev/null
    wait_for "PostgreSQL stops" pg_gone || kill -KILL "$PG_PID" 2>/dev/null
    wait "$PG_PID" 2>/dev/null
    PG_PID=""
}

pg_start() {
    PG_DIR=$(pg_newdir) || {
        bad "no PostgreSQL server directory"
        return 1
    }
    PG_URL="postgresql://cairn@/cairn?host=$PG_DIR"
    PG_CONNINFO="host=$PG_DIR user=cairn dbname=cairn"
    cli_on_exit pg_stop
    pg_run
}
pg_restart() {
    pg_halt INT
    pg_run
}
pg_stop() {
    pg_halt QUIT
    [ -n "$PG_DIR" ] && rm -rf "$PG_DIR"
    PG_DIR=""
}
pg_psql() { pg_psql_url "$PG_URL" "$1"; }
