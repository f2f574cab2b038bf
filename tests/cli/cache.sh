#!/bin/sh
# Cached results on a local cluster: a `cache: true` task whose key is
# unchanged is not run again (status names the job it came from) and its
# dependents proceed; a changed input file, argument, seed or env, a
# changed upstream output, outputs edited since, and --no-cache each make
# it run; a run with the same outputs does not take over the name of the
# result reused; another user's job reuses only its own results. A rerun
# of a cached job names, with --wait and in inspect, the job whose results
# it reused; a rerun of a job whose input file changed since is refused
# (exit 5), naming the file, and diff shows the change. Every run appends
# to runs.log, so what ran is counted, not guessed.
#   sh cache.sh BIN_DIR TESTS_DIR
set -u
. "$(dirname "$0")/lib/common.sh"
cli_init cache
cli_local_cluster

w=$dir/w
mkdir -p "$w"
echo "1 2 3" >"$w/in.txt"
timeout 60 "$cairn" up --topology "$tests/topologies/cpu-only-1s.xml" >/dev/null ||
    { echo "FAIL: cairn up"; exit 1; }

# spec ARG SEED ENV: a job of prep (cached, reads in.txt) -> use (cached,
# reads prep's output) -> report (not cached)
spec() {
    cat >"$dir/job.yaml" <<EOF
name: cache-test
seed: $2
tasks:
  - name: prep
    workdir: $w
    cache: true
    inputs: [in.txt]
    outputs: [mid.txt]
    env: {MODE: "$3"}
    shell: 'echo prep >> runs.log; tr " " "$1" < in.txt > mid.txt'
  - name: use
    needs: [prep]
    workdir: $w
    cache: true
    outputs: [out.txt]
    shell: 'echo use >> runs.log; rev mid.txt > out.txt'
  - name: report
    needs: [use]
    shell: 'cat $w/out.txt'
EOF
}
# submit [OPTIONS]: submit job.yaml, wait; prints the job id
submit() {
    timeout 120 "$cairn" submit "$@" "$dir/job.yaml" --wait >"$dir/submit.out" 2>&1 ||
        bad "submit failed: $(cat "$dir/submit.out")"
    head -1 "$dir/submit.out"
}
runs() { grep -c "^$1\$" "$w/runs.log" 2>/dev/null || echo 0; }
# expect_runs WHAT PREP USE: the total runs of prep and use so far
expect_runs() {
    p=$(runs prep)
    u=$(runs use)
    if [ "$p" = "$2" ] && [ "$u" = "$3" ]; then ok "$1 (prep ran $p, use $u times in all)"
    else bad "$1: prep ran $p times (want $2), use $u (want $3)"; fi
}

spec + 7 a
j1=$(submit)
expect_runs "the first run runs both" 1 1
j2=$(submit)
expect_runs "the same job again: nothing cached runs" 1 1
"$cairn" status "$j2" >"$dir/st" 2>&1
if grep -q "^prep .*cached: the outputs of job $j1's prep" "$dir/st" &&
    grep -q "^use .*cached: the outputs of job $j1's use" "$dir/st" &&
    grep -q "^report .*succeeded" "$dir/st"; then
    ok "status names job $j1 as the source, and the dependent ran"
else bad "status of the cached job: $(cat "$dir/st")"; fi
"$cairn" status "$j2" --json >"$dir/st.json"
python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
t = {x['name']: x for x in d['tasks']}
assert t['prep']['attempts'][-1]['cached_from_job'] == int(sys.argv[2])
assert 'cached_from_job' not in t['report']['attempts'][-1]
" "$dir/st.json" "$j1" && ok "status --json: cached_from_job" || bad "status --json: $(cat "$dir/st.json")"
"$cairn" logs "$j2" report >"$dir/log" 2>&1
grep -q "3+2+1" "$dir/log" && ok "the dependent read the reused output" || bad "report: $(cat "$dir/log")"

j3=$(submit --no-cache)
expect_runs "--no-cache runs both" 2 2
# that run left the same outputs: it takes nothing over, the result reused
# is still the first run's
j4=$(submit)
expect_runs "the same job after --no-cache: cached" 2 2
"$cairn" status "$j4" >"$dir/st" 2>&1
if grep -q "^prep .*cached: the outputs of job $j1's prep" "$dir/st" &&
    grep -q "^use .*cached: the outputs of job $j1's use" "$dir/st"; then
    ok "a later run with the same outputs does not replace the result others reused (job $j1's, not $j3's)"
else bad "after --no-cache: $(cat "$dir/st")"; fi

echo "1 2 4" >"$w/in.txt"
submit >/dev/null
expect_runs "a changed input runs prep, and use (its upstream output changed)" 3 3

spec - 7 a
submit >/dev/null
expect_runs "a changed argument runs both" 4 4

spec - 8 a
submit >/dev/null
expect_runs "a changed seed runs both" 5 5

spec - 8 b
submit >/dev/null
expect_runs "a changed env runs prep; use's upstream output is the same: cached" 6 5

echo tampered >"$w/out.txt"
submit >/dev/null
expect_runs "an output edited since its run: not reused" 6 6
rm -f "$w/out.txt"
submit >/dev/null
expect_runs "an output deleted since its run: not reused" 6 7
jl=$(submit)
expect_runs "and then the same job again: cached" 6 7

timeout 120 "$cairn" rerun "$jl" --wait >"$dir/rr.out" 2>"$dir/rr.err" || bad "rerun $jl: $(cat "$dir/rr.out" "$dir/rr.err")"
jr=$(head -1 "$dir/rr.out")
expect_runs "a rerun of that job: cached" 6 7
src=$("$cairn" status "$jr" --json | python3 -c "import json,sys; t={x['name']: x for x in json.load(sys.stdin)['tasks']}; print(t['prep']['attempts'][-1]['cached_from_job'])")
if [ -n "$src" ] && [ "$src" != "$jr" ] && grep -q "^prep: cached: the outputs of job $src's prep\$" "$dir/rr.out" &&
    grep -q "^use: cached: the outputs of job [0-9]*'s use\$" "$dir/rr.out" && ! grep -q "^report: cached" "$dir/rr.out"; then
    ok "rerun --wait names the job each cached result came from (prep: job $src)"
else bad "rerun --wait output (status says job $src): $(cat "$dir/rr.out")"; fi
"$cairn" inspect "$jr" prep >"$dir/insp" 2>&1
grep -q "^    cached: the outputs of job $src's prep (not run)\$" "$dir/insp" && ok "inspect names it too" ||
    bad "inspect of the cached rerun: $(cat "$dir/insp")"

# job j1 hashed in.txt as "1 2 3"; it is "1 2 4" now
expect 5 "a rerun of job $j1, whose input changed since, is refused (exit 5)" -- "$cairn" rerun "$j1" --wait
if grep -q "^  prep: in.txt: $(echo "1 2 3" | sha256sum | cut -c1-12) -> $(sha256sum "$w/in.txt" | cut -c1-12)\$" "$dir/err" &&
    ! grep -q "^  use:" "$dir/err"; then ok "the refusal names in.txt, old and new hash"
else bad "refused rerun: $(cat "$dir/err")"; fi
expect_runs "nothing ran" 6 7
"$cairn" diff "$j1" "$jl" >"$dir/diff" 2>&1
grep -q "^prep: input in.txt: $(echo "1 2 3" | sha256sum | cut -c1-64) -> $(sha256sum "$w/in.txt" | cut -c1-64)\$" "$dir/diff" &&
    ok "diff shows the input's change" || bad "diff $j1 $jl: $(cat "$dir/diff")"

# another user (nobody: the CLI copied where it can run it, the cluster's
# socket and the workdir opened to it) submits the same job: root's results
# are not reused for it; its own are, and root's stay root's
if [ "$(id -u)" = 0 ]; then
    mkdir -p "$dir/nb"
    cp "$cairn" "$dir/nb/cairn"
    chmod 755 "$dir/nb" "$dir/nb/cairn"
    chmod 711 "$dir" "$CAIRN_STATE_DIR"
    chmod 777 "$w"
    chmod 666 "$w"/*.txt "$w/runs.log"
    chmod 644 "$dir/job.yaml"
    as_nobody() {
        timeout 120 setpriv --reuid=65534 --regid=65534 --clear-groups \
            env CAIRN_STATE_DIR="$CAIRN_STATE_DIR" "$dir/nb/cairn" "$@"
    }
    p0=$(runs prep)
    u0=$(runs use)
    as_nobody submit "$dir/job.yaml" --wait >"$dir/nb.out" 2>&1 || bad "nobody's submit: $(cat "$dir/nb.out")"
    jn=$(head -1 "$dir/nb.out")
    expect_runs "the same job of another user runs: no one else's results" $((p0 + 1)) $((u0 + 1))
    "$cairn" status "$jn" >"$dir/st" 2>&1
    grep -q "cached" "$dir/st" && bad "nobody's job reused results: $(cat "$dir/st")"
    as_nobody submit "$dir/job.yaml" --wait >"$dir/nb.out" 2>&1 || bad "nobody's submit: $(cat "$dir/nb.out")"
    jn2=$(head -1 "$dir/nb.out")
    expect_runs "and again: its own results are" $((p0 + 1)) $((u0 + 1))
    "$cairn" status "$jn2" >"$dir/st" 2>&1
    if grep -q "^prep .*cached: the outputs of job $jn's prep" "$dir/st"; then
        ok "nobody's second job names nobody's first"
    else bad "nobody's second job: $(cat "$dir/st")"; fi
    jr=$(submit)
    expect_runs "root's job is still cached" $((p0 + 1)) $((u0 + 1))
    "$cairn" status "$jr" >"$dir/st" 2>&1
    if grep -q "^prep .*cached: the outputs of job" "$dir/st" &&
        ! grep -q "cached: the outputs of job \($jn\|$jn2\)'s" "$dir/st"; then
        ok "root's job reuses root's results, not nobody's"
    else bad "root's job after nobody's: $(cat "$dir/st")"; fi
else echo "skip: another user's job needs root"; fi

if timeout 60 "$cairn" submit "$dir/nosuch.yaml" >/dev/null 2>&1; then bad "submit of a missing file"; fi
cat >"$dir/bad.yaml" <<EOF
name: bad
tasks:
  - name: t
    workdir: $w
    cache: true
    inputs: [nosuch.txt]
    outputs: [x]
    shell: 'true'
EOF
timeout 60 "$cairn" submit "$dir/bad.yaml" >/dev/null 2>"$dir/err"
rc=$?
if [ $rc -eq 2 ] && grep -q "input nosuch.txt (in $w): missing" "$dir/err"; then
    ok "a missing input is refused at submit: $(cat "$dir/err")"
else bad "missing input: exit $rc, $(cat "$dir/err")"; fi
sed -i 's/^    workdir:.*$//' "$dir/bad.yaml"
sed -i 's/inputs: \[nosuch.txt\]//' "$dir/bad.yaml"
timeout 60 "$cairn" submit "$dir/bad.yaml" >/dev/null 2>"$dir/err"
rc=$?
if [ $rc -eq 2 ] && grep -q "cache needs a workdir" "$dir/err"; then ok "cache without a workdir is refused"
else bad "cache without workdir: exit $rc, $(cat "$dir/err")"; fi
cat >"$dir/bad.yaml" <<EOF
name: bad
tasks:
  - name: t
    inputs: [in.txt]
    shell: 'true'
EOF
timeout 60 "$cairn" submit "$dir/bad.yaml" >/dev/null 2>"$dir/err"
rc=$?
if [ $rc -eq 2 ] && grep -q "task t: inputs need a workdir (they are relative to it)" "$dir/err"; then
    ok "inputs without a workdir are refused"
else bad "inputs without workdir: exit $rc, $(cat "$dir/err")"; fi

exit $fail
