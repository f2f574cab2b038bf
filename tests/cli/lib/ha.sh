# Two schedulers sharing a PostgreSQL store (issue 23), for the ha_*.sh
# tests. Source after lib/common.sh and lib/pg.sh, then pg_start:
#   ha_start NAME [OPTIONS...]  a scheduler in $dir/NAME (its endpoints
#                               ipc://$dir/NAME/{clients,workers}.sock,
#                               log $dir/NAME.log), pid in ha_pid_NAME
#   ha_wait_log NAME TEXT       until NAME's log holds TEXT (30 s)
#   ha_worker NAME              a worker given both schedulers' endpoints
#   hcli ARGS...                the client, given both client endpoints
#   ha_pair [N]                 A leading, B standing by, N workers (0-2)
#                               registered with the leader
# Each scheduler gets --lease 2s and --restart-grace 15s.
ha_start() {
    n=$1
    shift
    mkdir -p "$dir/$n"
    "$bin/cairn-scheduler" --state-dir "$dir/$n" --store "$PG_URL" --name "$n" \
        --lease 2s --restart-grace 15s --log-file "$dir/$n.log" "$@" &
    eval "ha_pid_$n=$!"
    pids="$pids $!"
}
ha_log_has() { grep -q -- "$2" "$dir/$1.log" 2>/dev/null; }
ha_wait_log() { wait_for "$1 logs '$2'" ha_log_has "$1" "$2"; }
ha_clients="ipc://$dir/A/clients.sock,ipc://$dir/B/clients.sock"
ha_workers="ipc://$dir/A/workers.sock,ipc://$dir/B/workers.sock"
ha_worker() {
    "$bin/cairn-worker" --scheduler "$ha_workers" --state-dir "$dir/w-$1" --name "$1" \
        --topology "$tests/topologies/cpu-only-1s.xml" >"$dir/w-$1.log" 2>&1 &
    pids="$pids $!"
}
hcli() { timeout 60 "$cairn" --scheduler "$ha_clients" "$@"; }
# ha_nodes_up N: N nodes up, as the leader sees them
ha_nodes_up() { [ "$(hcli nodes 2>/dev/null | grep -c ' up ')" -ge "$1" ]; }
# runs_at_least N: N tasks of ha_dag ran to their end
runs_at_least() { [ "$(wc -l <"$dir/runs.log" 2>/dev/null || echo 0)" -ge "$1" ]; }
# ha_now_ms: the wall clock in ms
ha_now_ms() { date +%s%3N; }
# ha_dag FILE N: a job of N tasks (N/10 roots, each with 9 children), each
# appending "TASK ATTEMPT_ID" to $dir/runs.log when it ends well
ha_dag() {
    python3 - "$1" "$2" "$dir/runs.log" <<'PY'
import sys
path, n, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(path, "w") as f:
    f.write("name: ha-dag\nseed: 7\ntasks:\n")
    roots = n // 10
    for r in range(roots):
        f.write(f"  - name: root{r}\n    shell: 'sleep 0.02; echo \"$CAIRN_TASK $CAIRN_ATTEMPT_ID\" >> {log}'\n")
        for c in range(9):
            f.write(f"  - name: leaf{r}_{c}\n    needs: [root{r}]\n"
                    f"    shell: 'sleep 0.02; echo \"$CAIRN_TASK $CAIRN_ATTEMPT_ID\" >> {log}'\n")
PY
}
# ha_exactly_once JOB N: every task of JOB succeeded once (one succeeded
# attempt, every attempt ended) and ran to its end once (runs.log)
ha_exactly_once() {
    hcli status "$1" --json >"$dir/out" 2>"$dir/err" || { bad "status $1: $(cat "$dir/err")"; return; }
    json_check "job $1: all $2 tasks succeeded, each with exactly one succeeded attempt, every attempt ended" \
        "j['job']['state'] == 'succeeded' and len(j['tasks']) == $2 and all(t['state'] == 'succeeded' and sum(1 for a in t['attempts'] if a.get('end_reason') == 'succeeded') == 1 and all(a.get('end_reason') for a in t['attempts']) for t in j['tasks'])"
    dups=$(cut -d' ' -f1 "$dir/runs.log" | sort | uniq -d | head -3)
    lines=$(wc -l <"$dir/runs.log")
    if [ "$lines" -eq "$2" ] && [ -z "$dups" ]; then
        ok "each of the $2 tasks ran to its end exactly once (runs.log)"
    else
        bad "runs.log: $lines lines for $2 tasks; twice: $dups"
    fi
}
# ha_job_is JOB STATE: the job's own state (not its tasks')
ha_job_is() {
    hcli status "$1" --json 2>/dev/null |
        python3 -c "import json,sys; sys.exit(0 if json.load(sys.stdin)['job']['state'] == sys.argv[1] else 1)" "$2"
}
ha_pair() {
    ha_start A
    ha_wait_log A "leading the schedulers as A" || exit 1
    ha_start B
    ha_wait_log B "standing by as B" || exit 1
    [ "${1:-2}" -ge 1 ] && ha_worker n1
    [ "${1:-2}" -ge 2 ] && ha_worker n2
    wait_for "${1:-2} nodes up" ha_nodes_up "${1:-2}" || exit 1
}
