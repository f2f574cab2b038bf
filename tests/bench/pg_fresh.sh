#!/bin/sh
# Print the URL of a new, empty database on the PostgreSQL server whose
# socket is in DIR (bench_e2e --store-cmd 'sh tests/bench/pg_fresh.sh DIR').
#   sh pg_fresh.sh DIR [USER]
set -eu
db="bench_$(date +%s%N)_$$"
psql -XAtq -h "$1" -U "${2:-cairn}" -d postgres -c "CREATE DATABASE $db" >/dev/null
echo "postgresql://${2:-cairn}@/$db?host=$1"
