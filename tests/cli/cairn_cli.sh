#!/bin/sh
# The cairn command against a local cluster started with 'cairn up': two
# simulated nodes (8 H100s, CPU only), a small DAG with a GPU task and a
# matrix, logs, explain, cancel, drain, errors and exit codes, tasks queued
# on a node (prefetch) and a gang as status, nodes, explain and inspect
# show them, 'cairn down'.
#   sh cairn_cli.sh BIN_DIR TESTS_DIR
set -u
. "$(dirname "$0")/lib/common.sh"
cli_init cli
cli_local_cluster
unset NO_COLOR

expect 0 "cairn up" -- "$cairn" up --state-dir "$CAIRN_STATE_DIR" \
    --topology "$tests/topologies/hgx-h100-8gpu.xml" --topology "$tests/topologies/cpu-only-1s.xml"
grep -q "cluster up: 1 scheduler, 2 workers (8 GPUs)" "$dir/out" || bad "up message: $(cat "$dir/out")"
expect 0 "cairn up again" -- "$cairn" up --state-dir "$CAIRN_STATE_DIR"
grep -q "already up" "$dir/out" || bad "second up does not say already up: $(cat "$dir/out")"
expect 0 "cairn up again, with the same topologies" -- "$cairn" up \
    --topology "$tests/topologies/hgx-h100-8gpu.xml" --topology "$tests/topologies/cpu-only-1s.xml"
expect 2 "cairn up --workers 3 on a cluster of 2" -- "$cairn" up --workers 3
grep -q "already set up in .* with 2 workers (sim1, sim2); --workers and --topology choose" \
    "$dir/err" || bad "up --workers on a running cluster: $(cat "$dir/err")"
expect 2 "cairn up --topology on a cluster of others" -- "$cairn" up \
    --topology "$tests/topologies/cpu-only-1s.xml"
expect 0 "nodes after the refused ups" -- "$cairn" nodes --json
json_check "still two nodes" "len(j['nodes']) == 2"

# a user the socket is not open to is told so, not to start a cluster
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1; then
    mkdir "$dir/nb" && cp "$cairn" "$dir/nb/cairn" && chmod 755 "$dir/nb" && chmod 711 "$dir"
    expect 5 "a socket not open to nobody" -- setpriv --reuid=nobody --regid=nogroup \
        --clear-groups env CAIRN_STATE_DIR="$CAIRN_STATE_DIR" "$dir/nb/cairn" jobs
    grep -q "permission denied: cannot use the scheduler's socket $CAIRN_STATE_DIR/clients.sock" \
        "$dir/err" && ! grep -q "cairn up" "$dir/err" ||
        bad "a socket not open to nobody: $(cat "$dir/err")"
    chmod 700 "$dir"
fi

expect 0 "nodes --json" -- "$cairn" nodes --json
json_check "two nodes, 8 GPUs" \
    "len(j['nodes']) == 2 and sum(len(n['gpus']) for n in j['nodes']) == 8 and all(n['state'] == 'up' for n in j['nodes'])"
expect 0 "nodes" -- "$cairn" nodes
grep -q "^sim1 " "$dir/out" || bad "nodes table lacks sim1"
grep -q "H100" "$dir/out" || bad "nodes table lacks the GPU model"

expect 0 "drain" -- "$cairn" drain sim2 --reason "maintenance"
expect 0 "nodes after drain" -- "$cairn" nodes --json
json_check "sim2 draining" \
    "[n['state'] for n in j['nodes'] if n['name'] == 'sim2'][0] in ('draining', 'drained')"
expect 0 "undrain" -- "$cairn" undrain sim2
expect 0 "nodes after undrain" -- "$cairn" nodes --json
json_check "sim2 up again" "[n['state'] for n in j['nodes'] if n['name'] == 'sim2'][0] == 'up'"
expect 4 "drain of an unknown node" -- "$cairn" drain nosuchnode

# errors and exit codes
expect 4 "status of an unknown job" -- "$cairn" status 999
[ -s "$dir/err" ] || bad "status 999 printed no message"
expect 2 "unknown command" -- "$cairn" bogus
grep -q "unknown command 'bogus'" "$dir/err" || bad "unknown command message"
expect 2 "bad job id" -- "$cairn" status abc
expect 0 "submit --help" -- "$cairn" submit --help
grep -q "Usage: cairn submit" "$dir/out" || bad "submit --help"
expect 3 "unreachable scheduler" -- "$cairn" --scheduler "ipc://$dir/nothing.sock" jobs
grep -q "cannot reach the scheduler at ipc://$dir/nothing.sock" "$dir/err" || bad "unreachable message"
expect 3 "unreachable through CAIRN_SCHEDULER" -- env CAIRN_SCHEDULER="ipc://$dir/x.sock" "$cairn" nodes

cat >"$dir/dag.yaml" <<'YAML'
name: clitest
tasks:
  - name: prep
    shell: echo "hello from prep"; echo "to stderr" >&2
  - name: train
    needs: [prep]
    resources:
      gpus: 2
      # an H100 80GB has 81,559 MiB: 80G is the vendor's (decimal) 80 GB
      gpu: {model: h100, min_memory: 80G}
    shell: echo "gpus=$CUDA_VISIBLE_DEVICES"
  - name: sweep
    needs: [prep]
    matrix:
      C: [1, 2]
    shell: echo "C=${{ matrix.C }}"
YAML
cat >"$dir/long.yaml" <<'YAML'
name: long
tasks:
  - name: sleeper
    shell: sleep 300
YAML
cat >"$dir/follow.yaml" <<'YAML'
name: follow
tasks:
  - name: first
    shell: sleep 0.5
  - name: talk
    needs: [first]
    shell: for i in 1 2 3; do echo "line $i"; sleep 0.2; done
YAML
printf 'name: broken\ntasks:\n  - name: a\n    shel: echo\n' >"$dir/broken.yaml"

expect 0 "submit --wait" -- "$cairn" submit "$dir/dag.yaml" --wait
job=$(head -n 1 "$dir/out")
case "$job" in [1-9]*) ;; *) bad "submit printed '$job', not a job id" ;; esac
expect 0 "status --json" -- "$cairn" status "$job" --json
json_check "all tasks succeeded" \
    "j['job']['state'] == 'succeeded' and len(j['tasks']) == 4 and all(t['state'] == 'succeeded' for t in j['tasks']) and all(len(t['attempts']) == 1 for t in j['tasks'])"
# the summary is filled, under the name provenance uses: spec_sha256 (the
# hash of the file as submitted), when the job's first attempt started and
# its last ended
sha=$(sha256sum "$dir/dag.yaml" | cut -d' ' -f1)
summary_ok="s['spec_sha256'] == '$sha' and 'spec_hash' not in s and 0 < s['submit_time_ms'] <= s['start_time_ms'] <= s['end_time_ms'] and s['start_time_ms'] == min(a['start_time_ms'] for t in j['tasks'] for a in t['attempts']) and s['end_time_ms'] == max(a['end_time_ms'] for t in j['tasks'] for a in t['attempts'])"
json_check "status --json: spec_sha256, start and end times" "(lambda s: $summary_ok)(j['job'])"
"$cairn" status "$job" --json >"$dir/status.json"
expect 0 "jobs --json with the summary" -- "$cairn" jobs --json
json_check "jobs --json: the same summary" \
    "[x for x in j['jobs'] if x['job_id'] == $job] == [json.load(open('$dir/status.json'))['job']]"
expect 0 "inspect" -- "$cairn" inspect "$job"
grep -q "spec sha256 $sha," "$dir/out" && ok "inspect shows the same spec hash" || bad "inspect: $(cat "$dir/out")"
expect 0 "status table" -- "$cairn" status "$job"
grep -q "NAME  *STATE  *ATTEMPT  *NODE  *GPUS  *DURATION  *REASON" "$dir/out" || bad "status header"
expect 0 "logs" -- "$cairn" logs "$job" prep
grep -q "hello from prep" "$dir/out" || bad "logs lack the output"
expect 0 "logs --attempt 1" -- "$cairn" logs "$job" prep --attempt 1
grep -q "hello from prep" "$dir/out" || bad "logs --attempt 1 lack the output"
expect 2 "logs --attempt abc" -- "$cairn" logs "$job" prep --attempt abc
[ -s "$dir/out" ] && bad "logs --attempt abc printed a log: $(cat "$dir/out")"
expect 0 "logs --stderr" -- "$cairn" logs "$job" prep --stderr
grep -q "to stderr" "$dir/out" || bad "stderr log"
expect 0 "gpu task logs" -- "$cairn" logs "$job" train
grep -q "^gpus=..*" "$dir/out" || bad "the GPU task saw no CUDA_VISIBLE_DEVICES: $(cat "$dir/out")"
expect 0 "explain" -- "$cairn" explain "$job" train
[ -s "$dir/out" ] || bad "explain printed nothing"
expect 0 "jobs --json" -- "$cairn" jobs --json
json_check "jobs lists the job" "any(x['job_id'] == $job and x['name'] == 'clitest' for x in j['jobs'])"
expect 4 "logs of an unknown task" -- "$cairn" logs "$job" nosuchtask
expect 2 "a broken spec" -- "$cairn" submit "$dir/broken.yaml"
grep -q "broken.yaml:[0-9]*:[0-9]*: " "$dir/err" || bad "spec errors lack file:line:col"
# what only the scheduler knows (its nodes) is placed too
cat >"$dir/greedy.yaml" <<'YAML'
name: greedy
tasks:
  - name: ok
    run: ["true"]
  - name: greedy
    run: ["true"]
    resources: {gpus: 16, gpu: {model: H100}}
  - name: a10
    run: ["true"]
    resources: {gpus: 1, gpu: {model: A10}}
YAML
expect 2 "requests no node can satisfy" -- "$cairn" submit "$dir/greedy.yaml"
cat >"$dir/want" <<WANT
$dir/greedy.yaml:7:23: task greedy: needs 16 GPUs of model H100 on one node, the most any node has is 8
$dir/greedy.yaml:10:23: task a10: needs 1 GPU of model A10 on one node, the most any node has is 0
WANT
diff "$dir/want" "$dir/err" >"$dir/diff" && ok "the scheduler's refusals at their place" ||
    bad "the scheduler's refusals: $(cat "$dir/diff")"

# a task that backs off: status and explain say until when, in local time,
# and call the states by the same words
cat >"$dir/retry.yaml" <<'YAML'
name: retry
tasks:
  - name: flaky
    shell: exit 3
    retry: {attempts: 2, backoff: 1h, on: [any-exit]}
  - name: after
    needs: [flaky]
    run: ["true"]
YAML
expect 0 "submit a task that fails and backs off" -- "$cairn" submit "$dir/retry.yaml"
rjob=$(cat "$dir/out")
wait_for "flaky in retry_wait" sh -c "'$cairn' status $rjob --json | grep -q '\"retry_wait\"'"
expect 0 "status of a task in retry_wait" -- "$cairn" status "$rjob"
grep "^flaky " "$dir/out" | grep -q "retry_wait: attempt 1 ended (exit 3); attempt 2 waits out its backoff (.* left); next attempt at [0-9-]* *[0-9][0-9]:[0-9][0-9]:[0-9][0-9]" ||
    bad "status of a retry_wait task: $(cat "$dir/out")"
grep -q "t=[0-9]" "$dir/out" && bad "status shows a raw epoch: $(cat "$dir/out")"
grep "^after " "$dir/out" | grep -q "^after  *waiting .*waiting for dependencies: dependency flaky retry_wait" ||
    bad "status of a task waiting for flaky: $(cat "$dir/out")"
expect 0 "explain a task in retry_wait" -- "$cairn" explain "$rjob" flaky
grep -q "next attempt at [0-9-]* *[0-9][0-9]:[0-9][0-9]:[0-9][0-9]" "$dir/out" &&
    ! grep -q "t=[0-9]" "$dir/out" || bad "explain of a retry_wait task: $(cat "$dir/out")"
expect 0 "explain the task that waits for it" -- "$cairn" explain "$rjob" after
grep -q "^after: waiting" "$dir/out" && grep -q "dependency flaky retry_wait" "$dir/out" ||
    bad "explain of a waiting task: $(cat "$dir/out")"
expect 0 "cancel the backing-off job" -- "$cairn" cancel "$rjob"
expect 1 "wait --json on a cancelled job" -- "$cairn" wait "$rjob" --json
json_check "wait --json prints the ended job" "j['job_id'] == $rjob and j['state'] == 'cancelled'"

expect 0 "submit for logs --follow" -- "$cairn" submit "$dir/follow.yaml"
fjob=$(cat "$dir/out")
expect 0 "logs --follow from before the task starts" -- "$cairn" logs "$fjob" talk --follow
[ "$(cat "$dir/out")" = "$(printf 'line 1\nline 2\nline 3')" ] || bad "logs --follow: $(cat "$dir/out")"

expect 0 "submit a long job" -- "$cairn" submit "$dir/long.yaml" --json
json_check "submit --json" "j['job_id'] > 0"
long=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['job_id'])" "$dir/out")
expect 0 "status of a job not ended" -- "$cairn" status "$long" --json
json_check "a job not ended has no end time" "j['job']['end_time_ms'] == 0"
timeout 60 "$cairn" wait "$long" >"$dir/wait.out" 2>&1 &
waiter=$!
expect 0 "cancel" -- "$cairn" cancel "$long"
wait $waiter
rc=$?
[ $rc -eq 1 ] && ok "wait on a cancelled job exits 1" || bad "wait on a cancelled job: exit $rc"
expect 0 "status of the cancelled job" -- "$cairn" status "$long" --json
json_check "job cancelled" "j['job']['state'] == 'cancelled'"

# three tasks of all 8 GPUs on the one 8-GPU node: one runs, two wait on
# the node queued behind it (prefetch); they hold nothing and have not
# started, and every command says so in the same words
status_is() { # status_is JOB PYTHON-EXPRESSION (on j, the status JSON)
    "$cairn" status "$1" --json >"$dir/st.json" &&
        python3 -c "import json,sys; j=json.load(open(sys.argv[1])); t={x['name']: x for x in j['tasks']}; sys.exit(0 if ($2) else 1)" "$dir/st.json"
}
cat >"$dir/eight.yaml" <<'YAML'
name: eight
tasks:
  - {name: g1, shell: sleep 300, resources: {gpus: 8}}
  - {name: g2, shell: sleep 300, resources: {gpus: 8}}
  - {name: g3, shell: sleep 300, resources: {gpus: 8}}
YAML
expect 0 "submit three 8-GPU tasks" -- "$cairn" submit "$dir/eight.yaml"
ejob=$(cat "$dir/out")
wait_for "g1 started, g2 and g3 placed behind it" status_is "$ejob" \
    "t['g1']['state'] == 'running' and t['g1']['attempts'][0]['start_time_ms'] > 0 and t['g2']['attempts'] and t['g3']['attempts']"
# the attempt each one waits for: g2 for g1, g3 for g2 (one line)
attempt_of() { python3 -c "import json,sys; print([x for x in json.load(open(sys.argv[1]))['tasks'] if x['name'] == sys.argv[2]][0]['attempts'][0][sys.argv[3]])" "$dir/st.json" "$@"; }
g1a=$(attempt_of g1 attempt_id)
ahead_g2=$(attempt_of g2 queued_after)
ahead_g3=$(attempt_of g3 queued_after)
[ "$ahead_g2" = "$g1a" ] && [ "$ahead_g3" -gt 0 ] 2>/dev/null ||
    bad "g2 and g3 are not queued behind g1: $(cat "$dir/st.json")"
status_is "$ejob" "all(t[n]['state'] == 'pending' and t[n]['pending_reason'] == 'queued_on_node' and t[n]['attempts'][0]['start_time_ms'] == 0 and t[n]['attempts'][0]['gpus'] == [] and t[n]['attempts'][0]['replicas'][0]['gpus'] == [] and t[n]['attempts'][0]['node'] == 'sim1' for n in ('g2', 'g3')) and t['g1']['attempts'][0]['gpus'] == list(range(8)) and j['job']['tasks_running'] == 1 and j['job']['tasks_pending'] == 2" &&
    ok "status --json: queued tasks are pending, on sim1, with no GPUs and no start" ||
    bad "status --json of queued tasks: $(cat "$dir/st.json")"
expect 0 "nodes --json with queued tasks" -- "$cairn" nodes --json
json_check "sim1: 1 running, 2 queued, every GPU held by g1" \
    "[(n['running_attempts'], n['queued_attempts'], set(g['attempt_id'] for g in n['gpus']), set(g['task'] for g in n['gpus'])) for n in j['nodes'] if n['name'] == 'sim1'] == [(1, 2, {$g1a}, {'g1'})]"
expect 0 "nodes with queued tasks" -- "$cairn" nodes
grep -q "^sim1  *up  .*  1 (+2 queued)" "$dir/out" || bad "nodes: RUNNING of sim1: $(cat "$dir/out")"
[ "$(grep -c "^sim1  *[0-7]  .*  job $ejob task g1\$" "$dir/out")" = 8 ] ||
    bad "nodes: the GPUs of sim1 are not all g1's: $(cat "$dir/out")"
expect 0 "status table with queued tasks" -- "$cairn" status "$ejob"
grep -q "^g1  *running  *1  *sim1  *0,1,2,3,4,5,6,7  *[0-9]" "$dir/out" || bad "status: g1: $(cat "$dir/out")"
grep -q "^g2  *pending  *1  *sim1  *-  *-  *queued on node sim1: starts when attempt $ahead_g2 ends\$" "$dir/out" &&
    grep -q "^g3  *pending  *1  *sim1  *-  *-  *queued on node sim1: starts when attempt $ahead_g3 ends\$" "$dir/out" ||
    bad "status: the queued tasks: $(cat "$dir/out")"
expect 0 "explain a queued task" -- "$cairn" explain "$ejob" g2
[ "$(cat "$dir/out")" = "$(printf 'g2: pending\njob %s task g2: queued on node sim1: starts when attempt %s ends' "$ejob" "$ahead_g2")" ] ||
    bad "explain of a queued task: $(cat "$dir/out")"
expect 0 "inspect a queued task" -- "$cairn" inspect "$ejob" g2
grep -q "^task g2: pending" "$dir/out" && grep -q "not started yet" "$dir/out" &&
    ! grep -q "worker ?" "$dir/out" || bad "inspect of a queued task: $(cat "$dir/out")"
# cancelled before it started: never ran, so no start, duration, GPUs or signal
expect 0 "cancel a queued task" -- "$cairn" cancel "$ejob" g3
wait_for "g3 cancelled" status_is "$ejob" "t['g3']['state'] == 'cancelled'"
status_is "$ejob" "(lambda a: a['start_time_ms'] == 0 and a['end_time_ms'] > 0 and a['signal'] == 0 and a['gpus'] == [] and a['cores'] == 0 and a['end_reason'] == 'cancelled')(t['g3']['attempts'][0])" &&
    ok "status --json: cancelled before it started" || bad "status --json of g3: $(cat "$dir/st.json")"
expect 0 "status with a task cancelled before it started" -- "$cairn" status "$ejob"
grep -q "^g3  *cancelled  *1  *sim1  *-  *-  *cancelled before it started\$" "$dir/out" ||
    bad "status: g3: $(cat "$dir/out")"
expect 0 "explain a task cancelled before it started" -- "$cairn" explain "$ejob" g3
grep -q "^job $ejob task g3: cancelled: attempt 1 on sim1 ended (cancelled before it started)\$" "$dir/out" ||
    bad "explain of g3: $(cat "$dir/out")"
expect 0 "inspect a task cancelled before it started" -- "$cairn" inspect "$ejob" g3
grep -q "never started" "$dir/out" && grep -q "cancelled before it started" "$dir/out" &&
    ! grep -q "worker ?\|signal\|GPU" "$dir/out" || bad "inspect of g3: $(cat "$dir/out")"
expect 0 "cancel the 8-GPU job" -- "$cairn" cancel "$ejob"
wait_for "the 8-GPU job ended" status_is "$ejob" "j['job']['state'] == 'cancelled'"

# a gang: every rank on its own row, with its own node and cores
cat >"$dir/gang.yaml" <<'YAML'
name: gang
tasks:
  - {name: ddp, replicas: 2, resources: {cpus: 2}, run: ["true"]}
YAML
expect 0 "submit a gang" -- "$cairn" submit "$dir/gang.yaml" --wait
gjob=$(head -n 1 "$dir/out")
status_is "$gjob" "(lambda a: [r['rank'] for r in a['replicas']] == [0, 1] and sorted(r['node'] for r in a['replicas']) == ['sim1', 'sim2'] and a['node'] == ','.join(r['node'] for r in a['replicas']) and all(len(r['cores']) == 2 for r in a['replicas']))(t['ddp']['attempts'][0])" &&
    ok "status --json: each rank's node and cores" || bad "status --json of a gang: $(cat "$dir/st.json")"
r0=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['tasks'][0]['attempts'][0]['replicas'][0]['node'])" "$dir/st.json")
r1=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['tasks'][0]['attempts'][0]['replicas'][1]['node'])" "$dir/st.json")
expect 0 "status table of a gang" -- "$cairn" status "$gjob"
grep -q "^ddp#0  *succeeded  *1  *$r0  " "$dir/out" && grep -q "^ddp#1  *succeeded  *1  *$r1  " "$dir/out" ||
    bad "status: a row per rank: $(cat "$dir/out")"
expect 0 "inspect a gang" -- "$cairn" inspect "$gjob"
grep -q "^  attempt 1 on $r0\$" "$dir/out" && grep -q "^  attempt 1 rank 1 on $r1\$" "$dir/out" ||
    bad "inspect: a record per rank: $(cat "$dir/out")"

# cancelling one task is not a failure: its dependent ends cancelled with
# it, the job ends cancelled, and the message counts what was done
cat >"$dir/cancel-one.yaml" <<'YAML'
name: cancel-one
tasks:
  - name: a
    run: [/bin/sleep, "30"]
  - name: b
    needs: [a]
    run: ["true"]
  - name: c
    run: [/bin/sleep, "2"]
YAML
expect 0 "submit a, b needs a, c" -- "$cairn" submit "$dir/cancel-one.yaml"
cjob=$(cat "$dir/out")
wait_for "a and c running" sh -c "'$cairn' status $cjob --json | python3 -c \"import json,sys; t={x['name']: x['state'] for x in json.load(sys.stdin)['tasks']}; sys.exit(0 if t['a'] == t['c'] == 'running' else 1)\""
expect 0 "cancel task a" -- "$cairn" cancel "$cjob" a
[ "$(cat "$dir/out")" = "cancelled 1 task (a, running: signalled) and, once it stops, 1 dependent (b); job $cjob is running" ] ||
    bad "cancel message: $(cat "$dir/out")"
expect 1 "wait on a job with a cancelled task exits 1" -- "$cairn" wait "$cjob"
expect 0 "status of the job" -- "$cairn" status "$cjob" --json
json_check "the job ended cancelled, b cancelled, c succeeded, nothing failed" \
    "j['job']['state'] == 'cancelled' and j['job']['tasks_failed'] == 0 and {t['name']: t['state'] for t in j['tasks']} == {'a': 'cancelled', 'b': 'cancelled', 'c': 'succeeded'}"
expect 0 "explain the dependent" -- "$cairn" explain "$cjob" b
grep -q "cancelled: upstream cancelled: dependency a cancelled" "$dir/out" ||
    bad "explain of an upstream-cancelled task: $(cat "$dir/out")"
expect 0 "cancel the ended job" -- "$cairn" cancel "$cjob"
[ "$(cat "$dir/out")" = "nothing to cancel: job $cjob has ended (cancelled)" ] ||
    bad "cancel of an ended job: $(cat "$dir/out")"

# a daemon that died is started again, on the existing state
pid=$(awk '$1 == "worker" && $2 == "sim2" {print $3}' "$CAIRN_STATE_DIR/cluster.pids")
kill -9 "$pid"
expect 0 "cairn up after a worker died" -- "$cairn" up
grep -q "cluster up again" "$dir/out" || bad "up did not restart the worker: $(cat "$dir/out")"
grep -q "sim2 $pid " "$CAIRN_STATE_DIR/cluster.pids" && bad "cluster.pids still has the dead worker"
expect 0 "nodes after the restart" -- "$cairn" nodes --json
json_check "both nodes up" "sorted(n['name'] for n in j['nodes'] if n['state'] == 'up') == ['sim1', 'sim2']"

expect 0 "cairn down" -- "$cairn" down --state-dir "$CAIRN_STATE_DIR"
[ -e "$CAIRN_STATE_DIR/cluster.pids" ] && bad "cluster.pids left behind"
expect 3 "scheduler gone after down" -- "$cairn" jobs
[ $fail -eq 0 ] && echo "cairn_cli: ok"
exit $fail
