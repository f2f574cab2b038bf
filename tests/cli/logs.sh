#!/bin/sh
# Task logs as `cairn logs` shows them, however the worker keeps them: a
# task with no output, stderr only, a line of 3 MiB, output that starts
# only after `--follow` began, each attempt of a retried task, the log of
# a task whose worker was killed (kill -9) while it ran, and the files on
# disk private (directories 0700, files 0600, no empty file left behind).
#   sh logs.sh BIN_DIR TESTS_DIR
set -u
. "$(dirname "$0")/lib/common.sh"
cli_init logs
cli_local_cluster

expect 0 "cairn up" -- "$cairn" up --state-dir "$CAIRN_STATE_DIR"

cat >"$dir/quiet.yaml" <<'YAML'
name: quiet
tasks:
  - name: quiet
    shell: "true"
  - name: erronly
    shell: echo to-stderr >&2
  - name: big
    shell: head -c 3145728 /dev/zero | tr '\0' x
  - name: flaky
    retry: {attempts: 2, backoff: 10ms, on: [any-exit]}
    shell: echo "attempt $CAIRN_ATTEMPT"; [ "$CAIRN_ATTEMPT" -ge 2 ]
YAML
cat >"$dir/late.yaml" <<YAML
name: late
tasks:
  - name: late
    shell: while [ ! -e "$dir/gate" ]; do sleep 0.05; done; echo late output; echo late error >&2
YAML
cat >"$dir/killed.yaml" <<YAML
name: killed
tasks:
  - name: writer
    shell: echo before the kill; echo its stderr >&2; while [ ! -e "$dir/never" ]; do sleep 0.05; done
YAML

expect 0 "submit --wait" -- "$cairn" submit "$dir/quiet.yaml" --wait
job=$(head -n 1 "$dir/out")

expect 0 "logs of a task with no output" -- "$cairn" logs "$job" quiet
[ -s "$dir/out" ] && bad "logs of a quiet task printed: $(cat "$dir/out")"
expect 0 "logs --stderr of a task with no output" -- "$cairn" logs "$job" quiet --stderr
[ -s "$dir/out" ] && bad "logs --stderr of a quiet task printed: $(cat "$dir/out")"
expect 0 "logs --follow of an ended task with no output" -- "$cairn" logs "$job" quiet --follow
[ -s "$dir/out" ] && bad "logs --follow of a quiet task printed: $(cat "$dir/out")"

expect 0 "stdout of a task that wrote only stderr" -- "$cairn" logs "$job" erronly
[ -s "$dir/out" ] && bad "stdout of erronly: $(cat "$dir/out")"
expect 0 "stderr of a task that wrote only stderr" -- "$cairn" logs "$job" erronly --stderr
[ "$(cat "$dir/out")" = "to-stderr" ] || bad "stderr of erronly: $(cat "$dir/out")"

expect 0 "logs of a 3 MiB line" -- "$cairn" logs "$job" big
[ "$(wc -c <"$dir/out")" -eq 3145728 ] && [ "$(tr -d x <"$dir/out" | wc -c)" -eq 0 ] ||
    bad "the 3 MiB line came back as $(wc -c <"$dir/out") bytes"

expect 0 "logs of a retried task's first attempt" -- "$cairn" logs "$job" flaky --attempt 1
[ "$(cat "$dir/out")" = "attempt 1" ] || bad "flaky attempt 1: $(cat "$dir/out")"
expect 0 "logs of a retried task's latest attempt" -- "$cairn" logs "$job" flaky
[ "$(cat "$dir/out")" = "attempt 2" ] || bad "flaky latest attempt: $(cat "$dir/out")"

# output that starts after --follow began: the follower sees it, then ends
expect 0 "submit a task that writes late" -- "$cairn" submit "$dir/late.yaml"
ljob=$(cat "$dir/out")
running() { "$cairn" status "$ljob" --json | grep -q '"state": *"running"'; }
wait_for "the late task running" running
timeout 60 "$cairn" logs "$ljob" late --follow >"$dir/follow.out" 2>"$dir/follow.err" &
follower=$!
timeout 60 "$cairn" logs "$ljob" late --stderr --follow >"$dir/follow2.out" 2>&1 &
follower2=$!
pids="$pids $follower $follower2"
# the followers read the empty log before the output starts
expect 0 "logs of a running task, no output yet" -- "$cairn" logs "$ljob" late
[ -s "$dir/out" ] && bad "the late task's log before it wrote: $(cat "$dir/out")"
touch "$dir/gate"
wait "$follower"
rc=$?
[ "$rc" -eq 0 ] && [ "$(cat "$dir/follow.out")" = "late output" ] &&
    ok "logs --follow of output that starts late" ||
    bad "logs --follow of late output: exit $rc: $(cat "$dir/follow.out" "$dir/follow.err")"
wait "$follower2"
rc=$?
[ "$rc" -eq 0 ] && [ "$(cat "$dir/follow2.out")" = "late error" ] &&
    ok "logs --stderr --follow of output that starts late" ||
    bad "logs --stderr --follow of late output: exit $rc: $(cat "$dir/follow2.out")"
expect 0 "logs of the late task after it ended" -- "$cairn" logs "$ljob" late
[ "$(cat "$dir/out")" = "late output" ] || bad "the late task's log: $(cat "$dir/out")"

# a worker killed while its task wrote: its successor still serves the log
expect 0 "submit a task whose worker dies" -- "$cairn" submit "$dir/killed.yaml"
kjob=$(cat "$dir/out")
wrote() { "$cairn" logs "$kjob" writer | grep -q "before the kill"; }
wait_for "the writer's output" wrote
pid=$(awk '$1 == "worker" {print $3}' "$CAIRN_STATE_DIR/cluster.pids")
kill -9 "$pid"
expect 0 "cairn up after the worker died" -- "$cairn" up
node_up() { "$cairn" nodes --json | grep -q '"state": *"up"'; }
wait_for "the worker registered again" node_up
expect 0 "cancel the killed task's job" -- "$cairn" cancel "$kjob"
expect 0 "logs of the attempt the worker's death ended" -- "$cairn" logs "$kjob" writer --attempt 1
[ "$(cat "$dir/out")" = "before the kill" ] || bad "the killed writer's log: $(cat "$dir/out")"
expect 0 "its stderr" -- "$cairn" logs "$kjob" writer --attempt 1 --stderr
[ "$(cat "$dir/out")" = "its stderr" ] || bad "the killed writer's stderr: $(cat "$dir/out")"

# on disk: private, and no empty log file for the quiet streams
logs=$(find "$CAIRN_STATE_DIR" -type d -name logs | head -n 1)
if [ -z "$logs" ]; then bad "no logs directory under $CAIRN_STATE_DIR"; else
    loose=$(find "$logs" -mindepth 1 \( -type d ! -perm 0700 \) -o \( -type f ! -perm 0600 \))
    [ -z "$loose" ] && ok "log directories 0700, files 0600" || bad "not private: $loose"
    [ "$(stat -c %a "$logs")" = 700 ] || bad "logs/ is $(stat -c %a "$logs")"
    ls "$logs/$job" | grep -q "^quiet\." && bad "a quiet task left files: $(ls "$logs/$job")"
    [ -s "$logs/$job/erronly.$(ls "$logs/$job" | sed -n 's/^erronly\.\([0-9]*\)\..*/\1/p' | head -n 1).0.err" ] ||
        bad "erronly's stderr is not under its name: $(ls "$logs/$job")"
fi

expect 0 "cairn down" -- "$cairn" down --state-dir "$CAIRN_STATE_DIR"
[ $fail -eq 0 ] && echo "logs: ok"
