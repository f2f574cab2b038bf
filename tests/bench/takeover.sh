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
. "$here/pg_server.sh"
echo "== PostgreSQL $($pgbin/postgres --version | awk '{print $3}') on a Unix socket"
"$build/tests/bench/bench_nodes" --bin "$build/bin" --only takeover \
    --store-cmd "sh $here/pg_fresh.sh $d" "$@"
