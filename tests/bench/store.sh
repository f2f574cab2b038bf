#!/bin/sh
# The store's cost (issue 23): W1, W3, submit-to-start latency and the
# 100,000-task job's acknowledgement on the default `cairn up` cluster with
# SQLite, then with a PostgreSQL server on this machine (Unix socket,
# fsync on, synchronous_commit on: as durable as SQLite's FULL sync).
#   sh tests/bench/store.sh [BUILD_DIR] [bench_e2e options, e.g. --quick]
# Needs PostgreSQL's server programs (as root they run as `postgres`).
set -eu
build=${1:-build}
[ $# -gt 0 ] && shift
here=$(cd "$(dirname "$0")" && pwd)
. "$here/pg_server.sh"
echo "== SQLite (the default store)"
"$build/tests/bench/bench_e2e" --bin "$build/bin" --only ${STORE_ONLY:-user,latency,big} "$@"
echo "== PostgreSQL $($pgbin/postgres --version | awk '{print $3}') on a Unix socket"
"$build/tests/bench/bench_e2e" --bin "$build/bin" --only ${STORE_ONLY:-user,latency,big} \
    --store-cmd "sh $here/pg_fresh.sh $d" "$@"
