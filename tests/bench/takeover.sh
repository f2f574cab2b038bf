#!/bin/sh
# Takeover time of a standby scheduler (issue 23): bench_nodes' takeover
# workload (leader A killed with 500 simulated nodes, default) against a
# throwaway PostgreSQL server on this machine (Unix socket, fsync on).
#   sh tests/bench/takeover.sh [BUILD_DIR] [bench_nodes options, e.g. --nodes 50]
# Needs PostgreSQL's server programs (as root they run as `postgres`).
set -eu
build=${1:-build}
[ $# -gt 0 ] && shift
here=$(cd "$(dirname "$0")" && pwd)
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$pgbin/initdb" ] || { echo "takeover.sh: no PostgreSQL server programs"; exit 1; }
d=$(mktemp -d /tmp/cairn-bench-pg-XXXXXX)
as=""
if [ "$(id -u)" = 0 ]; then chown postgres: "$d"; as="runuser -u postgres --"; fi
$as "$pgbin/initdb" -D "$d/data" -A trust -U cairn -E UTF8 >/dev/null
$as "$pgbin/pg_ctl" -D "$d/data" -l "$d/pg.log" -w -t 60 \
    -o "-c listen_addresses='' -k $d" start >/dev/null
trap '$as "$pgbin/pg_ctl" -D "$d/data" -m immediate -w stop >/dev/null; rm -rf "$d"' EXIT
echo "== PostgreSQL $($pgbin/postgres --version | awk '{print $3}') on a Unix socket"
"$build/tests/bench/bench_nodes" --bin "$build/bin" --only takeover \
    --store-cmd "sh $here/pg_fresh.sh $d" "$@"
