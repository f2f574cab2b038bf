#!/bin/sh
# What serving the dashboard costs the scheduler (issue 24): "50 browsers
# polling a running 10,000-task job every second may cost the scheduler at
# most 5% of one core".
#
# Starts a local cluster (`cairn up`, simulated 8xH100 nodes from
# tests/topologies/hgx-h100-8gpu.xml, 32 cores each), submits one job of
# 10,000 tasks that keeps running (100 prep -> 100 matrices of 98 train
# members each -> 100 eval; prep is /bin/true, the rest `sleep`, one core
# each: as many train tasks run as there are cores, the rest wait), waits
# until the nodes are full, and runs web_load (web_load.c): the scheduler's
# CPU over SECONDS with no HTTP load, then over SECONDS while BROWSERS
# simulated browsers poll the job page on keep-alive connections. Prints the
# figures; asserts nothing. Stops the cluster on every path.
#
#   sh tests/bench/web_load.sh [BUILD_DIR] [--browsers N] [--seconds S]
#                              [--seed N] [--nodes N] [--warmup S]
# defaults: build, 50 browsers, 30 s per phase, seed from the clock, 2 nodes.
set -eu
build=build
case ${1:-} in
-* | '') ;;
*) build=$1; shift ;;
esac
browsers=50 seconds=30 seed=$(date +%s) nodes=2 warmup=2
while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || { echo "web_load.sh: $1 needs a value" >&2; exit 2; }
    case $1 in
    --browsers) browsers=$2 ;;
    --seconds) seconds=$2 ;;
    --seed) seed=$2 ;;
    --nodes) nodes=$2 ;;
    --warmup) warmup=$2 ;;
    *) echo "usage: web_load.sh [BUILD_DIR] [--browsers N] [--seconds S] [--seed N] [--nodes N] [--warmup S]" >&2
       exit 2 ;;
    esac
    shift 2
done
here=$(cd "$(dirname "$0")" && pwd)
bin=$build/bin
load=$build/tests/bench/web_load
topo=$here/../topologies/hgx-h100-8gpu.xml
for f in "$bin/cairn" "$bin/cairn-scheduler" "$bin/cairn-worker" "$load"; do
    [ -x "$f" ] || { echo "web_load.sh: no $f (build first: cmake --build $build)" >&2; exit 1; }
done

dir=$(mktemp -d /tmp/cairn-bench-web-XXXXXX)
state=$dir/state
loadpid=
cleanup() {
    rc=$?
    set +e
    trap - EXIT INT TERM
    [ -n "$loadpid" ] && kill "$loadpid" 2>/dev/null && wait "$loadpid" 2>/dev/null
    if [ -f "$state/cluster.pids" ]; then
        "$bin/cairn" down --state-dir "$state" >/dev/null 2>&1 || true
        # whatever `cairn down` left (it should leave nothing)
        if [ -f "$state/cluster.pids" ]; then
            awk '$1 == "scheduler" || $1 == "worker" {print $($1 == "worker" ? 3 : 2)}' \
                "$state/cluster.pids" | while read -r p; do kill -9 "$p" 2>/dev/null || true; done
        fi
    fi
    rm -rf "$dir"
    exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM
cli() { timeout 120 "$bin/cairn" "$@"; }
export CAIRN_STATE_DIR="$state"

# the cluster
set --
i=0
while [ $i -lt "$nodes" ]; do set -- "$@" --topology "$topo"; i=$((i + 1)); done
cli up --state-dir "$state" "$@" >"$dir/up.out" 2>&1 || { cat "$dir/up.out" >&2; exit 1; }
url=$(sed -n 's|^dashboard: \(http://[^ ]*\)$|\1|p' "$dir/up.out")
hostport=$(echo "$url" | sed -n 's|^http://\([^/]*\)/.*$|\1|p')
sched=$(awk '$1 == "scheduler" {print $2}' "$state/cluster.pids")
[ -n "$hostport" ] && [ -n "$sched" ] || { echo "web_load.sh: no dashboard or scheduler pid in:" >&2; cat "$dir/up.out" "$state/cluster.pids" >&2; exit 1; }

# the job: 100 + 100 x 98 + 100 = 10,000 tasks; its sleeps outlast the run
sleep_s=$((2 * seconds + warmup + 600))
awk -v sleep_s="$sleep_s" 'BEGIN {
    S = 100; M = 98
    print "name: web-load\ndefaults:\n  resources: {cpus: 1, memory: 64M}\ntasks:"
    v = "0"; for (s = 1; s < S; s++) v = v ", " s
    print "  - name: prep\n    kind: preprocess\n    matrix: {shard: [" v "]}\n    run: [/bin/true]"
    m = "0"; for (i = 1; i < M; i++) m = m ", " i
    for (s = 0; s < S; s++)
        printf "  - name: train%02d\n    kind: train\n    needs: [\"prep[shard=%d]\"]\n    matrix: {m: [%s]}\n    run: [sleep, \"%d\"]\n", s, s, m, sleep_s
    for (s = 0; s < S; s++)
        printf "  - name: eval%02d\n    kind: evaluate\n    needs: [train%02d]\n    run: [sleep, \"%d\"]\n", s, s, sleep_s
}' >"$dir/job.yaml"
job=$(cli submit "$dir/job.yaml")
case $job in
'' | *[!0-9]*) echo "web_load.sh: submit said: $job" >&2; exit 1 ;;
esac

# until every prep succeeded and every core of every node runs a train task
# (at most 120 s): CORES is free/total, and each task takes one core
cores=0 free=1 nsucc=0
full() {
    nsucc=$(cli status "$job" | sed -n '1s|^.*, \([0-9]*\)/[0-9]* tasks succeeded.*$|\1|p')
    [ "${nsucc:-0}" -ge 100 ] || return 1
    set -- $(cli nodes | awk 'NR > 1 && $2 == "up" {split($3, c, "/"); f += c[1]; n += c[2]} END {print f + 0, n + 0}')
    free=$1 cores=$2
    [ "$cores" -gt 0 ] && [ "$free" -eq 0 ]
}
i=0
until full; do
    i=$((i + 1))
    [ $i -gt 600 ] && { echo "web_load.sh: the job's tasks did not start ($nsucc succeeded, $free of $cores cores free)" >&2; exit 1; }
    sleep 0.2 # polling a condition with a deadline
done
r=$cores
echo "cluster: $nodes simulated nodes, $cores cores; $url (scheduler pid $sched)"
echo "job $job $(cli status "$job" | sed -n '1s/^job [0-9]* //p'); $r tasks running, the rest wait"
echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"

# in the background, so that a signal to this script stops it and the cluster
# at once (a trap runs when `wait` is interrupted)
"$load" --http "$hostport" --job "$job" --pid "$sched" --browsers "$browsers" \
    --seconds "$seconds" --seed "$seed" --warmup "$warmup" &
loadpid=$!
wait $loadpid || { loadpid=; echo "web_load.sh: web_load failed" >&2; exit 1; }
loadpid=
kill -0 "$sched" 2>/dev/null || { echo "web_load.sh: the scheduler died" >&2; exit 1; }
echo "job $job after: $(cli status "$job" | sed -n '1s/^job [0-9]* //p')"
