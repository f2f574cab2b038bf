# A throwaway PostgreSQL server for the store benchmarks (store.sh,
# takeover.sh), as durable as a real one (fsync on): sourced after `set -eu`;
# sets pgbin and d (its data and socket directory), stops and removes it on
# exit. Needs PostgreSQL's server programs (as root they run as `postgres`).
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$pgbin/initdb" ] || { echo "$0: no PostgreSQL server programs"; exit 1; }
d=$(mktemp -d /tmp/cairn-bench-pg-XXXXXX)
as=""
if [ "$(id -u)" = 0 ]; then chown postgres: "$d"; as="runuser -u postgres --"; fi
$as "$pgbin/initdb" -D "$d/data" -A trust -U cairn -E UTF8 >/dev/null
$as "$pgbin/pg_ctl" -D "$d/data" -l "$d/pg.log" -w -t 60 \
    -o "-c listen_addresses='' -k $d" start >/dev/null
trap '$as "$pgbin/pg_ctl" -D "$d/data" -m immediate -w stop >/dev/null; rm -rf "$d"' EXIT
