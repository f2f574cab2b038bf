#!/bin/sh
# What the cairn command checks before it talks to a scheduler (there is
# none here: a call that gets past its checks exits 3): every numeric
# option refuses what is not a whole number in range (exit 2), a spec's
# problems that need no cluster are found by 'cairn submit' and each is
# printed at its file:line:column, and the help says what the options do.
#   sh input.sh BIN_DIR TESTS_DIR
set -u
. "$(dirname "$0")/lib/common.sh"
cli_init input
CAIRN_STATE_DIR=$dir/nothing # no cluster: a request that is sent finds none
export CAIRN_STATE_DIR
unset CAIRN_SCHEDULER

# refused: COMMAND... -- the message's start
refused() {
    msg=$1
    shift
    expect 2 "$*" -- "$cairn" "$@"
    grep -q -- "$msg" "$dir/err" || bad "$*: message '$(cat "$dir/err")' lacks '$msg'"
}
# accepted: the arguments pass, the request finds no scheduler (exit 3)
accepted() {
    expect 3 "$* (accepted, then no scheduler)" -- "$cairn" "$@"
}

for v in abc 2x -1 0 ' 2' +2 2.0 4294967296 ''; do
    refused "--attempt '$v' is not a number from 1 to 4294967295" logs 1 t --attempt "$v"
done
accepted logs 1 t --attempt 2
for v in abc -1 1x 4096; do
    refused "--replica '$v' is not a number from 0 to 4095" logs 1 t --replica "$v"
    refused "--replica '$v' is not a number from 0 to 4095" explain 1 t --replica "$v"
done
accepted logs 1 t --replica 3
accepted explain 1 t --replica 0
for v in abc 0 -5 5k; do
    refused "--limit '$v' is not a number from 1 to 4294967295" audit --limit "$v"
done
accepted audit --limit 5
for v in abc 0 64 -1 3x; do
    refused "--workers '$v' is not a number from 1 to 63" up --workers "$v" --state-dir "$dir/up"
done
[ -e "$dir/up" ] && bad "a refused 'cairn up' created its state directory"
for v in 2y -1x x 0x 100001x; do
    refused "bad --add '$v'" plan --trace last:1d --add "$v" "$tests/topologies/cpu-only-1s.xml"
done
for v in last:abc last:-1d last:+1d last:1.5h last:0d; do
    refused "bad --trace '$v'" plan --trace "$v"
done
accepted plan --trace last:2h
for v in +5d ' 5d' 5x -5d 5.5h; do
    refused "since '$v'" audit --since "$v"
    refused "since '$v'" report --since "$v"
done
accepted audit --since 5d
for v in 2x +1 ' 1' 0 4294967296; do
    refused "'$v' is not a job id" status "$v"
done
accepted wait 1 --json

expect 0 "logs --help" -- "$cairn" logs --help
grep -q -- "--replica N  replica N of a gang" "$dir/out" || bad "logs --help: $(cat "$dir/out")"
expect 0 "wait --help" -- "$cairn" wait --help
grep -q -- "--json" "$dir/out" || bad "wait --help lacks --json"
expect 0 "up --help" -- "$cairn" up --help
grep -q "starts, instead, one" "$dir/out" && grep -q "and no \"local\" one" "$dir/out" ||
    bad "up --help on --topology: $(cat "$dir/out")"

# spec problems that need no cluster, each at its place
cat >"$dir/bad.yaml" <<'YAML'
name: bad
defaults:
  retry: {attempts: 500}
tasks:
  - name: a
    needs: [b]
    run: [x]
  - name: b
    needs: [a]
    run: [x]
  - name: self
    needs: [self]
    run: [x]
  - name: huge
    run: [x]
    resources: {memory: 2P, gpus: 1, gpu: {model: "~(", min_memory: 80G}}
YAML
expect 2 "a spec with a cycle, a self-need and absurd values" -- "$cairn" submit "$dir/bad.yaml"
cat >"$dir/want" <<EOF
$dir/bad.yaml:3:21: task a: retry attempts 500 is absurd (at most 100)
$dir/bad.yaml:3:21: task b: retry attempts 500 is absurd (at most 100)
$dir/bad.yaml:3:21: task self: retry attempts 500 is absurd (at most 100)
$dir/bad.yaml:3:21: task huge: retry attempts 500 is absurd (at most 100)
$dir/bad.yaml:6:13: dependency cycle: a -> b -> a
$dir/bad.yaml:12:13: task self: needs itself
$dir/bad.yaml:16:25: task huge: memory 2 PiB is absurd (at most 1 PiB)
$dir/bad.yaml:16:51: task huge: GPU model '~(' is not a valid pattern (Unmatched ( or \()
EOF
diff "$dir/want" "$dir/err" >"$dir/diff" && ok "each problem at its file:line:column" ||
    bad "spec problems: $(cat "$dir/diff")"
printf 'name: e\ntasks:\n  - name: a\n    shell: ""\n    env: {"": x, "X=Y": z}\n' >"$dir/empty.yaml"
expect 2 "empty script and env names" -- "$cairn" submit "$dir/empty.yaml"
cat >"$dir/want" <<EOF
$dir/empty.yaml:4:12: shell: is an empty script
$dir/empty.yaml:5:11: env name is empty
$dir/empty.yaml:5:18: env name 'X=Y' contains '='
EOF
diff "$dir/want" "$dir/err" >"$dir/diff" && ok "empty script and env names at their place" ||
    bad "empty script and env names: $(cat "$dir/diff")"
printf 'name: ok\ntasks:\n  - name: a\n    run: [x]\n' >"$dir/ok.yaml"
accepted submit "$dir/ok.yaml"

# one of a thing is one: a plan of one job on one node with one GPU
cat >"$dir/one.csv" <<'CSV'
job,task,submit_ms,needs,cpus,gpus,gpu_model,memory_bytes,duration_ms,priority
j,t,0,,1,1,A10,1G,1000,0
CSV
cat >"$dir/one.json" <<'JSON'
{"nodes": [{"name": "n", "cores": 4, "memory": "16G",
            "gpus": [{"model": "NVIDIA A10", "memory": "24G", "count": 1}]}]}
JSON
expect 0 "plan of one on one" -- "$cairn" plan --trace "$dir/one.csv" --cluster "$dir/one.json"
grep -q "^trace: .*one.csv: 1 job, 1 task, 1 record (CSV" "$dir/out" &&
    grep -q "^cluster: .*one.json: 1 node, 1 GPU$" "$dir/out" &&
    grep -q "GPU utilisation  NVIDIA A10 (1 GPU)" "$dir/out" || bad "plan counts: $(cat "$dir/out")"

[ $fail -eq 0 ] && echo "input: ok"
exit $fail
