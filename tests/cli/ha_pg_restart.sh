#!/bin/sh
# PostgreSQL restarted under a running leader (and its standby), while
# clients submit: the
# leader steps down when its connection breaks, starts again, takes its
# lease back once the server is there, and nothing acknowledged is lost:
# every job whose id a submit printed is there and succeeds.
#   sh ha_pg_restart.sh BIN_DIR TESTS_DIR
set -u
. "$(dirname "$0")/lib/common.sh"
cli_init ha_pg_restart
. "$(dirname "$0")/lib/pg.sh"
pg_skip_unless_available
. "$(dirname "$0")/lib/ha.sh"
pg_start

ha_pair 1
cat >"$dir/job.yaml" <<YAML
name: small
tasks:
  - name: a
    shell: 'true'
  - name: b
    needs: [a]
    shell: 'true'
YAML
# submit in a loop; each printed id was acknowledged
(
    i=0
    while [ $i -lt 40 ]; do
        hcli submit "$dir/job.yaml" >>"$dir/acked" 2>>"$dir/refused"
        i=$((i + 1))
    done
) &
submitter=$!
acked_at_least() { [ "$(wc -l <"$dir/acked" 2>/dev/null || echo 0)" -ge "$1" ]; }
wait_for "5 submits acknowledged" acked_at_least 5 || exit 1
pg_restart
ok "PostgreSQL restarted under the leader"
wait "$submitter"
ha_wait_log A "epoch 2" || exit 1
grep "stepping down" "$dir/A.log" | head -1
n=$(wc -l <"$dir/acked")
echo "$n submits acknowledged, $(grep -c . "$dir/refused" || true) refused during the restart"
dup=$(sort -n "$dir/acked" | uniq -d | tr '\n' ' ')
[ -z "$dup" ] && ok "no job id acknowledged twice" || bad "job ids acknowledged twice (one was lost): $dup"
missing=""
for j in $(cat "$dir/acked"); do
    wait_for "job $j succeeds" ha_job_is "$j" succeeded || missing="$missing $j"
done
[ -z "$missing" ] && ok "all $n acknowledged jobs are there and succeeded" || bad "lost:$missing"
exit $fail
