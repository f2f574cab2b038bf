#!/bin/sh
# The scheduler's JSON API (docs/api.md) over HTTP and HTTPS: every
# endpoint, and every access rule: anonymous, the job's owner, another
# user, an administrator (the client API's rules, applied through the
# loop). Also what a bad or hostile HTTP client gets: a clear error, and
# nothing else is affected.
#   sh web_api.sh BIN_DIR TESTS_DIR
set -u
. "$(dirname "$0")/lib/common.sh"
cli_init web_api
http() { timeout 60 python3 "$tests/cli/lib/web_client.py" "$@" >"$dir/resp" 2>&1; }
# get URL [options] WANT DESCRIPTION: the status must be WANT; the body
# goes to $dir/out for json_check
get() {
    want=$1 what=$2
    shift 2
    http "$@"
    tail -n +2 "$dir/resp" >"$dir/out"
    got=$(head -1 "$dir/resp")
    if [ "$got" = "$want" ]; then ok "$what ($want)"; else
        bad "$what: status $got, expected $want"
        sed 's/^/  resp: /' "$dir/resp" | head -5
    fi
}

# --- plain HTTP on a local cluster: anonymous ---------------------------------
cli_local_cluster
expect 0 "cairn up: one simulated 8-GPU node, the dashboard on" -- "$cairn" up \
    --state-dir "$CAIRN_STATE_DIR" --topology "$tests/topologies/hgx-h100-8gpu.xml"
base=$(sed -n 's|^dashboard: \(http://[^/]*\)/$|\1|p' "$dir/out")
[ -n "$base" ] || { bad "cairn up printed no dashboard line"; cat "$dir/out"; exit 1; }
ok "cairn up printed the dashboard at $base"
api=$base/api/v1
cat >"$dir/dag.yaml" <<'X'
name: web-api
tasks:
  - name: prep
    shell: echo prepared; echo careful >&2
  - name: train
    needs: [prep]
    matrix: {C: [1, 2, 3]}
    shell: echo train ${{ matrix.C }}
    resources: {cpus: 1, gpus: 1}
  - name: eval
    needs: [train]
    shell: "true"
X
expect 0 "submit a DAG over ipc:// (as this user)" -- "$cairn" submit "$dir/dag.yaml" --wait
me=$(id -un)

get 200 "whoami: anonymous" "$api/whoami"
json_check "anonymous over plain HTTP" "j == {'user': 'anonymous', 'anonymous': True, 'tls': False}"
get 200 "jobs" "$api/jobs"
json_check "the job listed, with .proto names and short enum names" \
    "j['jobs'][0]['job_id'] == 1 and j['jobs'][0]['state'] == 'succeeded' and j['jobs'][0]['submitter'] == '$me'"
get 200 "jobs filtered by state" "$api/jobs?state=running,pending"
json_check "no running or pending job" "j['jobs'] == []"
get 200 "jobs filtered by user" "$api/jobs?user=nobody-else"
json_check "no job of another user" "j['jobs'] == []"
get 200 "job status" "$api/jobs/1"
json_check "five tasks, each with its attempt" \
    "len(j['tasks']) == 5 and all(t['state'] == 'succeeded' and len(t['attempts']) == 1 for t in j['tasks'])"
get 200 "job summary only" "$api/jobs/1?summary=1"
json_check "no tasks in a summary" "j['tasks'] == [] and j['job']['tasks_succeeded'] == 5"
get 200 "job graph" "$api/jobs/1/graph"
json_check "prep -> train (3 folded) -> eval" \
    "[(n['id'], n['group'], n['tasks'], n['state']) for n in j['nodes']] == [('prep', False, 1, 'succeeded'), ('train', True, 3, 'succeeded'), ('eval', False, 1, 'succeeded')] and [(e['from'], e['to'], e['count']) for e in j['edges']] == [(0, 1, 3), (1, 2, 3)]"
get 200 "job graph, train expanded" "$api/jobs/1/graph?expand=train"
json_check "each member its own node, edges per task" \
    "[n['id'] for n in j['nodes']] == ['prep', 'train[C=1]', 'train[C=2]', 'train[C=3]', 'eval'] and all(n['parent'] == 'train' for n in j['nodes'][1:4]) and len(j['edges']) == 6"
get 200 "job graph, at most 2 members" "$api/jobs/1/graph?expand=train&max_members=2"
json_check "truncated: 2 members and the rest folded" \
    "j['truncated'] and [n['id'] for n in j['nodes']] == ['prep', 'train[C=1]', 'train[C=2]', 'train', 'eval']"
get 200 "one task (its attempts)" "$api/jobs/1/tasks/train%5BC%3D2%5D"
json_check "that task only" "[t['name'] for t in j['tasks']] == ['train[C=2]'] and j['tasks'][0]['attempts'][0]['gpus']"
get 200 "explain" "$api/jobs/1/tasks/prep/explain"
"$cairn" explain 1 prep --json >"$dir/cli_explain" 2>&1
json_check "the same explanation as cairn explain --json" \
    "j['text'] == json.load(open('$dir/cli_explain'))['text']"
get 403 "logs of this user's job: anonymous may not" "$api/jobs/1/tasks/prep/logs"
json_check "the client API's refusal" \
    "j['error']['code'] == 'permission_denied' and 'anonymous' in j['error']['message']"
get 403 "provenance: anonymous may not" "$api/jobs/1/provenance"
get 200 "nodes" "$api/nodes"
json_check "the node and its 8 GPUs" \
    "[n['name'] for n in j['nodes']] == ['sim1'] and len(j['nodes'][0]['gpus']) == 8 and j['nodes'][0]['state'] == 'up'"
get 200 "report (last 24 h)" "$api/report"
json_check "cairn report's document: the H100 model" \
    "[m['name'] for m in j['gpu_models']] == ['NVIDIA H100 80GB HBM3'] and j['gpu_models'][0]['gpus'] == 8"
get 200 "report by node over a window" "$api/report?by=node&from_ms=1&to_ms=9999999999999"
get 200 "accounts" "$api/accounts"
json_check "the default account" "j['accounts'][0]['name'] == 'default'"
get 403 "audit: anonymous may not" "$api/audit"
get 200 "schedulers" "$api/schedulers"
json_check "one, leading" "j['instances'][0]['state'] == 'leading'"

# --- errors: clear, and no effect on anything else ----------------------------
get 404 "no such job" "$api/jobs/99"
json_check "says which" "j['error'] == {'code': 'not_found', 'message': 'no job 99'}"
get 404 "no such task" "$api/jobs/1/tasks/nope/explain"
get 404 "not a job id" "$api/jobs/abc"
get 404 "no such API path" "$api/nothing"
get 400 "a bad query value" "$api/jobs?state=bogus"
json_check "names the parameter" "'state' in j['error']['message']"
get 400 "a non-number" "$api/jobs/1?limit=ten"
get 400 "an empty report window" "$api/report?from_ms=10&to_ms=5"
get 405 "POST: read-only" "$api/jobs" --method POST
get 413 "a request body" "$api/jobs" --method GET --body '{"x": 1}'
get 404 "no file outside the assets" "$base/assets/../../etc/passwd"
get 404 "unknown page" "$base/etc/passwd"
host=${base#http://}
port=${host##*:}
host=${host%:*}
python3 "$tests/cli/lib/web_client.py" --raw "$host" "$port" 'GARBAGE\r\n\r\n' >"$dir/raw" 2>&1
grep -q "^HTTP/1.1 400" "$dir/raw" && ok "garbage: 400" || { bad "garbage"; cat "$dir/raw"; }
long=$(python3 -c 'print("X-Big: " + "a" * 20000)')
python3 "$tests/cli/lib/web_client.py" --raw "$host" "$port" "GET / HTTP/1.1\\r\\n$long\\r\\n\\r\\n" \
    >"$dir/raw" 2>&1
grep -q "^HTTP/1.1 431" "$dir/raw" && ok "headers over 16 KiB: 431" || { bad "431"; head -3 "$dir/raw"; }
python3 "$tests/cli/lib/web_client.py" --raw "$host" "$port" \
    'GET /api/v1/whoami HTTP/1.1\r\nHost: x\r\n\r\nGET /api/v1/schedulers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' \
    >"$dir/raw" 2>&1
[ "$(grep -c '^HTTP/1.1 200' "$dir/raw")" = 2 ] && ok "two pipelined requests, two answers" ||
    { bad "pipelining"; cat "$dir/raw"; }
python3 "$tests/cli/lib/web_client.py" --raw "$host" "$port" 'HEAD /api/v1/nodes HTTP/1.0\r\n\r\n' \
    >"$dir/raw" 2>&1
grep -q '^HTTP/1.1 200' "$dir/raw" && ! grep -q '"nodes"' "$dir/raw" &&
    ok "HEAD: headers, no body" || { bad "HEAD"; cat "$dir/raw"; }
# a client that sends half a request and stalls holds only its own
# connection: others are answered meanwhile
python3 - "$host" "$port" "$dir/stall" <<'X' &
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
s.sendall(b'GET /api/v1/nodes HTTP/1.1\r\nHost: x\r\n')
open(sys.argv[3], 'w').write('sent')
s.settimeout(30)
try:
    s.recv(1)  # the server gives up on it (10 s) or the test ends
except OSError:
    pass
X
stall=$!
pids="$pids $stall"
wait_for "the stalling client connected" test -s "$dir/stall"
get 200 "answered while another client stalls mid-request" "$api/nodes"
get 200 "the dashboard page" "$base/jobs/1" --headers
grep -qi "^Content-Security-Policy: default-src 'self'" "$dir/out" &&
    ok "the page forbids anything from elsewhere (CSP)" || bad "no CSP header"
etag=$(sed -n 's/^[Ee][Tt]ag: //p' "$dir/out" | tr -d '\r')
get 304 "the page again, unchanged" "$base/" --header "If-None-Match: $etag"
"$cairn" nodes >/dev/null 2>&1 && ok "the scheduler still answers its own clients" ||
    bad "the scheduler stopped answering"
"$cairn" down --state-dir "$CAIRN_STATE_DIR" >/dev/null 2>&1

# --- HTTPS: users by client certificate -----------------------------------------
cd "$dir" || exit 1
. "$tests/cli/lib/certs.sh"
certs_ca
cert server /CN=127.0.0.1
cert worker /CN=w1
cert nobody /CN=nobody
cert bob /CN=bob
cert ops /CN=ops
ssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout rogue.key \
    -out rogue.crt -days 2 -subj /CN=ops
cat rogue.crt rogue.key >rogue.pem
wport=$(free_port)
cport=$(free_port)
hport=$(free_port)
"$bin/cairn-scheduler" --state-dir "$dir/tstate" --workers "tls+tcp://127.0.0.1:$wport" \
    --clients "tls+tcp://127.0.0.1:$cport" --tls-cert server.pem --tls-ca ca.pem --admins ops \
    --http "127.0.0.1:$hport" --log-file "$dir/tsched.log" &
pids="$pids $!"
"$bin/cairn-worker" --scheduler "tls+tcp://127.0.0.1:$wport" --tls-cert worker.pem --tls-ca ca.pem \
    --state-dir "$dir/w1" --name w1 --topology "$tests/topologies/cpu-only-1s.xml" \
    --log-file "$dir/w1.log" &
pids="$pids $!"
as() { who=$1; shift; timeout 60 "$cairn" --scheduler "tls+tcp://127.0.0.1:$cport" \
    --tls-cert "$who.pem" --tls-ca ca.pem "$@"; }
wait_for "the worker over TLS" sh -c "'$cairn' --scheduler tls+tcp://127.0.0.1:$cport \
    --tls-cert nobody.pem --tls-ca ca.pem nodes | grep -q '^w1 .*up'"
cat >"$dir/nobody.yaml" <<'X'
name: nobodys
tasks:
  - name: hello
    shell: echo hello from nobody
X
as nobody submit "$dir/nobody.yaml" --wait >/dev/null 2>&1 && ok "nobody's job ran" || bad "nobody's job"
tapi=https://127.0.0.1:$hport/api/v1
get 200 "whoami over HTTPS as alice" "$tapi/whoami" --cert nobody.pem --ca ca.pem
json_check "nobody, by the certificate" "j == {'user': 'nobody', 'anonymous': False, 'tls': True}"
get 200 "the owner reads her logs" "$tapi/jobs/1/tasks/hello/logs" --cert nobody.pem --ca ca.pem
json_check "the log as text" "j['text'] == 'hello from nobody\\n' and j['eof']"
get 200 "... from an offset" "$tapi/jobs/1/tasks/hello/logs?offset=6" --cert nobody.pem --ca ca.pem
json_check "the rest" "j['text'] == 'from nobody\\n'"
get 200 "the owner reads her provenance" "$tapi/jobs/1/provenance" --cert nobody.pem --ca ca.pem
json_check "its seed and task" "j['jobs'][0]['tasks'][0]['name'] == 'hello' if 'jobs' in j else j['job']['tasks'][0]['name'] == 'hello'"
get 200 "the owner reads the audit log" "$tapi/audit" --cert nobody.pem --ca ca.pem
json_check "only her own entries: her submit" \
    "j['entries'] and all(e['user'] == 'nobody' for e in j['entries']) and any(e['action'] == 'submit' for e in j['entries'])"
get 403 "but not another user's" "$tapi/audit?user=ops" --cert nobody.pem --ca ca.pem
get 403 "another user may not read her logs" "$tapi/jobs/1/tasks/hello/logs" --cert bob.pem --ca ca.pem
json_check "named in the refusal" "'user bob may not read logs of job 1 of nobody' in j['error']['message']"
get 403 "... nor her provenance" "$tapi/jobs/1/provenance" --cert bob.pem --ca ca.pem
get 200 "... but sees the job's status" "$tapi/jobs/1" --cert bob.pem --ca ca.pem
get 200 "an administrator reads her logs" "$tapi/jobs/1/tasks/hello/logs" --cert ops.pem --ca ca.pem
get 200 "... and everyone's audit entries" "$tapi/audit" --cert ops.pem --ca ca.pem
json_check "nobody's among them" "any(e['user'] == 'nobody' for e in j['entries'])"
http "$tapi/whoami" --ca ca.pem
grep -q '^ERR' "$dir/resp" && ok "no client certificate: refused at the handshake" ||
    { bad "served without a certificate"; cat "$dir/resp"; }
http "$tapi/whoami" --cert rogue.pem --ca ca.pem
grep -q '^ERR' "$dir/resp" && ok "a certificate the CA did not sign (CN=ops): refused" ||
    { bad "a rogue certificate was served"; cat "$dir/resp"; }
http "http://127.0.0.1:$hport/api/v1/whoami"
grep -q '^200' "$dir/resp" && { bad "plain HTTP served on the HTTPS port"; cat "$dir/resp"; } ||
    ok "plain HTTP on the HTTPS port: no answer"
get 200 "the scheduler still serves after the refusals" "$tapi/whoami" --cert bob.pem --ca ca.pem
grep -q "dashboard: https://127.0.0.1:$hport/" "$dir/tsched.log" && ok "the log names the https URL" ||
    bad "no dashboard line in the log"

# --- cairn up --http ADDR, --no-http ---------------------------------------------
p=$(free_port)
expect 0 "cairn up --http 127.0.0.1:$p" -- "$cairn" up --state-dir "$dir/up2" --http "127.0.0.1:$p" \
    --topology "$tests/topologies/cpu-only-1s.xml"
grep -q "^dashboard: http://127.0.0.1:$p/\$" "$dir/out" && ok "the dashboard on the address given" ||
    bad "cairn up --http: $(cat "$dir/out")"
get 200 "served there" "http://127.0.0.1:$p/api/v1/whoami"
expect 0 "cairn up again: the cluster is up" -- "$cairn" up --state-dir "$dir/up2"
grep -q "^dashboard: http://127.0.0.1:$p/\$" "$dir/out" && ok "... and keeps its address" ||
    bad "cairn up again: $(cat "$dir/out")"
"$cairn" down --state-dir "$dir/up2" >/dev/null 2>&1
expect 0 "cairn up --no-http" -- "$cairn" up --state-dir "$dir/up3" --no-http \
    --topology "$tests/topologies/cpu-only-1s.xml"
grep -q "^dashboard:" "$dir/out" && bad "--no-http printed a dashboard" || ok "no dashboard line"
grep -q "^http " "$dir/up3/cluster.pids" && bad "--no-http kept an address" ||
    ok "the scheduler runs without --http"
"$cairn" down --state-dir "$dir/up3" >/dev/null 2>&1
expect 2 "--http and --no-http together are refused" -- "$cairn" up --state-dir "$dir/up4" \
    --http 127.0.0.1:1 --no-http

# --- a non-loopback address without TLS is warned about ---------------------------
cli_scheduler "$dir/wstate"
sched_start --http "0.0.0.0:$(free_port)"
grep -q "plain HTTP on a non-loopback address" "$dir/scheduler.log" &&
    ok "bound to 0.0.0.0 without TLS: warned" || bad "no warning for 0.0.0.0"
sched_stop
exit $fail
