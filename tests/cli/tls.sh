#!/bin/sh
# TLS on tcp:// endpoints (tls+tcp://) with certificates this test makes:
# a worker with a certificate signed by the cluster's CA joins and runs a
# job submitted over TLS; a worker without a certificate is refused by the
# handshake; a client without one cannot talk to the scheduler. Clients are
# who their certificate says (its CN, proven by signing each request): the
# job of the client "nobody" (a user every Debian host has) is nobody's and
# runs as nobody on the root worker; bob may not cancel it; the
# administrator ops may, and may rerun it only with --as-me (a warning).
# A certificate for servers only cannot be a client's. Workers are their
# certificate's CN (each registration signed with its key over the
# connection's challenge): one is refused under another certificate's
# name; the name of a node that is away stays its certificate's, even for
# a second valid certificate that names it, from the same address; the
# node comes back with its own.
#   sh tls.sh BIN_DIR TESTS_DIR
set -u
. "$(dirname "$0")/lib/common.sh"
command -v openssl >/dev/null 2>&1 || { echo "skip: no openssl to make certificates"; exit 0; }
cli_init tls

# --- certificates: a CA, the scheduler (127.0.0.1), a worker, a client
cd "$dir" || exit 1
. "$tests/cli/lib/certs.sh"
certs_ca
# nng's TLS (mbedtls 2.28 on Debian 12) matches the host against the CN and
# DNS names only, not IP addresses in subjectAltName
cert server /CN=127.0.0.1
cert worker /CN=w1
cert client /CN=nobody
cert bob /CN=bob
cert ops /CN=ops
cert srvonly /CN=root extendedKeyUsage=serverAuth
cert node1 /CN=node1 extendedKeyUsage=clientAuth
cert node2 /CN=node2 extendedKeyUsage=clientAuth
cert spare /CN=spare subjectAltName=DNS:node1

ports=$(python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1",0)) for x in s]
print(" ".join(str(x.getsockname()[1]) for x in s))')
wport=${ports% *}
cport=${ports#* }
wurl="tls+tcp://127.0.0.1:$wport"
curl_="tls+tcp://127.0.0.1:$cport"

"$bin/cairn-scheduler" --state-dir "$dir/state" --workers "$wurl" --clients "$curl_" \
    --tls-cert server.pem --tls-ca ca.pem --admins ops --heartbeat-timeout 60s \
    --log-file "$dir/scheduler.log" &
pids="$pids $!"
"$bin/cairn-worker" --scheduler "$wurl" --tls-cert worker.pem --tls-ca ca.pem \
    --state-dir "$dir/w1" --name w1 --topology "$tests/topologies/cpu-only-1s.xml" \
    --log-file "$dir/w1.log" &
pids="$pids $!"
"$bin/cairn-worker" --scheduler "$wurl" --tls-ca ca.pem \
    --state-dir "$dir/w2" --name nocert --topology "$tests/topologies/cpu-only-1s.xml" \
    --log-file "$dir/w2.log" &
pids="$pids $!"

cli() { timeout 60 "$cairn" --scheduler "$curl_" --tls-cert client.pem --tls-ca ca.pem "$@"; }
as() { who=$1; shift; timeout 60 "$cairn" --scheduler "$curl_" --tls-cert "$who.pem" --tls-ca ca.pem "$@"; }

# wait (with a deadline) for w1 to be up
i=0
until cli nodes 2>/dev/null | grep -q '^w1 .*up'; do
    i=$((i + 1))
    if [ $i -gt 150 ]; then
        bad "the worker with a certificate never came up"
        sed 's/^/  scheduler: /' "$dir/scheduler.log" | tail -5
        sed 's/^/  w1: /' "$dir/w1.log" | tail -5
        exit 1
    fi
    sleep 0.1 # polling a condition with a deadline
done
ok "a worker with a certificate signed by the CA joins over TLS"

cat >job.yaml <<'YAML'
name: tls-job
tasks:
  - name: hello
    shell: echo hello over tls as $(id -un)
YAML
if cli submit --wait job.yaml >out.txt 2>err.txt; then ok "a job submitted over TLS ran"
else bad "submit over TLS failed: $(cat out.txt err.txt)"; fi

if cli jobs --json | grep -q '"submitter": "nobody"'; then ok "the job is nobody's, from the certificate"
else bad "the job's submitter is not nobody: $(cli jobs --json)"; fi
if cli logs 1 hello 2>&1 | grep -q "hello over tls as nobody"; then ok "it ran as nobody"
else bad "the task did not run as nobody: $(cli logs 1 hello 2>&1)"; fi

cat >long.yaml <<'YAML'
name: long
tasks:
  - name: wait
    shell: sleep 600
YAML
id=$(cli submit long.yaml 2>err.txt | grep -o '[0-9][0-9]*' | head -1)
if [ -z "$id" ]; then bad "nobody could not submit: $(cat err.txt)"; fi
as bob cancel "$id" >out.txt 2>err.txt
rc=$?
if [ $rc -eq 5 ] && grep -q "user bob may not cancel job $id of nobody" err.txt; then
    ok "bob may not cancel nobody's job (exit 5: $(cat err.txt))"
else bad "bob cancelling nobody's job: exit $rc, $(cat err.txt)"; fi
if as ops cancel "$id" >out.txt 2>err.txt; then ok "the administrator ops may"
else bad "ops could not cancel: $(cat err.txt)"; fi

# rerunning another user's job runs their commands as oneself: the
# administrator ops is warned and needs --as-me; nobody reruns its own
njobs=$(cli jobs --json | grep -c '"job_id"')
as ops rerun 1 >out.txt 2>err.txt
rc=$?
if [ $rc -eq 5 ] && grep -q "job 1 is nobody's: a rerun would run nobody's commands as you (ops)" err.txt &&
    grep -q -- "--as-me" err.txt && [ "$(cli jobs --json | grep -c '"job_id"')" = "$njobs" ]; then
    ok "ops rerunning nobody's job is stopped (exit 5: $(head -1 err.txt))"
else bad "ops rerun 1 without --as-me: exit $rc, $(cat out.txt err.txt)"; fi
if as ops rerun 1 --as-me --json >out.txt 2>err.txt &&
    grep -q "warning: job 1 is nobody's: its commands run as you (ops)" err.txt; then
    rid=$(grep -o '[0-9][0-9]*' out.txt | head -1)
    if cli status "$rid" --json | grep -q '"submitter": "ops"'; then ok "--as-me reruns it as ops, warned"
    else bad "the rerun is not ops's: $(cli status "$rid" --json)"; fi
else bad "ops rerun 1 --as-me: $(cat out.txt err.txt)"; fi
if cli rerun 1 >out.txt 2>err.txt && [ ! -s err.txt ]; then ok "nobody reruns its own job without a warning"
else bad "nobody's own rerun: $(cat out.txt err.txt)"; fi

# a signed request is worth nothing without TLS: the plain-tcp client is
# anonymous (and the scheduler here takes no plain tcp), tested in
# test_net_sign; a request without a certificate is refused by TLS itself

if cli nodes | grep -q nocert; then bad "the worker without a certificate joined"
else ok "a worker without a certificate is refused by the handshake"; fi

if timeout 60 "$cairn" --scheduler "$curl_" --tls-ca ca.pem jobs >out.txt 2>err.txt; then
    bad "a client without a certificate was served"
else ok "a client without a certificate is refused"; fi

# a certificate for servers only (extended key usage serverAuth) is no
# client's, whatever its CN (tests/unit/test_scheduler_signed.c: nor when it
# only signs requests on another client's connection)
as srvonly jobs >out.txt 2>err.txt
rc=$?
if [ $rc -ne 0 ] && ! grep -q "job_id\|tls-job" out.txt; then
    ok "a certificate for servers only is refused (exit $rc: $(head -1 err.txt))"
else bad "the server-only certificate was served: exit $rc, $(cat out.txt err.txt)"; fi

# --- workers' names and certificates
worker() { # NAME CERT: a worker named NAME with CERT.pem; its pid in wpid
    "$bin/cairn-worker" --scheduler "$wurl" --tls-cert "$2.pem" --tls-ca ca.pem \
        --state-dir "$dir/$1-$2" --name "$1" --topology "$tests/topologies/cpu-only-1s.xml" \
        --log-file "$dir/$1-$2.log" &
    wpid=$!
    pids="$pids $wpid"
}
stop() { kill -"$1" "$2"; wait "$2" 2>/dev/null; }
logged() { grep -qF -- "$2" "$1"; }
count() { grep -cF -- "$2" "$1"; }
node_up() { cli nodes 2>/dev/null | grep -q "^$1 .*up"; }
registered() { [ "$(count scheduler.log "node $1 registered")" -ge "$2" ]; }

worker node1 node2
if wait_for "the refusal of node2's certificate as node1" logged scheduler.log \
    "worker node1 (127.0.0.1) refused: node name node1 is not its certificate's (CN=node2)" &&
    wait_for "the worker told why" logged node1-node2.log \
        "the scheduler refused the registration: node name node1 is not its certificate's (CN=node2)" &&
    ! cli nodes | grep -q '^node1 '; then
    ok "a worker whose certificate is node2's is refused as node1"
fi
stop TERM "$wpid"

worker node1 node1
if wait_for "node1 with its certificate up" node_up node1; then
    ok "node1 joins with its own certificate"
fi
stop KILL "$wpid" # away, not down (--heartbeat-timeout 60s)
wait_for "node1's disconnection" logged scheduler.log "node node1 disconnected"
worker node1 spare
if wait_for "the refusal of another certificate for node1" logged scheduler.log \
    "registration of node1 refused: node node1 is the worker at certificate CN=node1, not down yet: one at certificate CN=spare"; then
    ok "another valid certificate naming node1 cannot take it while node1 is away"
fi
stop TERM "$wpid"
worker node1 node1
if wait_for "node1 back" registered node1 2; then
    ok "node1 comes back with its certificate ($(count scheduler.log 'node node1 registered') registrations)"
fi
stop TERM "$wpid"

exit $fail
