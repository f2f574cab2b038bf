#!/bin/sh
# `cairn up --store URL --schedulers 2`: a local HA pair to try. Two
# schedulers on the PostgreSQL store, the worker given both; the client,
# with the CAIRN_SCHEDULER printed, runs a job, the leader is killed, and
# the next job runs under the other. --schedulers without a PostgreSQL
# store is refused.
#   sh ha_up.sh BIN_DIR TESTS_DIR
set -u
. "$(dirname "$0")/lib/common.sh"
cli_init ha_up
. "$(dirname "$0")/lib/pg.sh"
pg_skip_unless_available
cli_local_cluster
pg_start

expect 2 "--schedulers 2 without --store is refused" -- "$cairn" up --schedulers 2
grep -q "needs --store postgresql" "$dir/err" && ok "it says why" || bad "$(cat "$dir/err")"

timeout 60 "$cairn" up --store "$PG_URL" --schedulers 2 \
    --topology "$tests/topologies/cpu-only-1s.xml" >"$dir/up" 2>&1 || { cat "$dir/up"; bad "cairn up"; exit 1; }
grep -q "cluster up: 2 schedulers, 1 worker" "$dir/up" && ok "two schedulers and a worker" || bad "$(cat "$dir/up")"
CAIRN_SCHEDULER=$(sed -n 's/.*export CAIRN_SCHEDULER=\([^;]*\);.*/\1/p' "$dir/up")
export CAIRN_SCHEDULER
[ -n "$CAIRN_SCHEDULER" ] && ok "it printed both client endpoints" || bad "no CAIRN_SCHEDULER in: $(cat "$dir/up")"

two_listed() {
    timeout 20 "$cairn" schedulers --json >"$dir/out" 2>/dev/null &&
        python3 -c "import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if [(i['holder'], i['state']) for i in j['instances']] == [('scheduler', 'leading'), ('scheduler2', 'standby')] else 1)" "$dir/out"
}
wait_for "scheduler leads, scheduler2 stands by" two_listed && ok "cairn schedulers: scheduler leads, scheduler2 stands by"

cat >"$dir/job.yaml" <<YAML
name: pair
tasks:
  - name: a
    shell: 'echo one'
YAML
expect 0 "a job runs" -- "$cairn" submit "$dir/job.yaml" --wait
kill -9 "$(awk '/^scheduler /{print $2}' "$CAIRN_STATE_DIR/cluster.pids")"
second_leads() {
    timeout 20 "$cairn" schedulers --json >"$dir/out" 2>/dev/null &&
        python3 -c "import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if j['instances'][0]['holder'] == 'scheduler2' and j['instances'][0]['state'] == 'leading' else 1)" "$dir/out"
}
wait_for "scheduler2 leads" second_leads && ok "the leader killed: scheduler2 leads"
expect 0 "the next job runs under scheduler2" -- "$cairn" submit "$dir/job.yaml" --wait
expect 0 "both jobs are there" -- "$cairn" jobs
[ "$(grep -c ' pair ' "$dir/out")" -eq 2 ] && ok "jobs lists both" || bad "$(cat "$dir/out")"
exit $fail
