#!/bin/sh
# Several scheduler endpoints (a leader's and its standbys'): the cairn
# client takes a comma-separated list from --scheduler and
# $CAIRN_SCHEDULER and skips one that is not there; when none can be
# reached it exits 3 naming each endpoint it tried. cairn-worker refuses a
# list with any plain tcp:// endpoint unless something authenticates it.
set -u
. "$(dirname "$0")/lib/common.sh"
cli_init scheduler-list
cli_scheduler
sched_start

expect 0 "--scheduler with a dead endpoint first" -- \
    "$cairn" --scheduler "ipc://$dir/gone.sock,$url" nodes
expect 0 "\$CAIRN_SCHEDULER with a dead endpoint first" -- \
    env CAIRN_SCHEDULER="ipc://$dir/gone.sock, $url" "$cairn" nodes
expect 3 "no endpoint can be reached" -- \
    "$cairn" --scheduler "ipc://$dir/a.sock,ipc://$dir/b.sock" nodes
if grep -q "$dir/a.sock" "$dir/err" && grep -q "$dir/b.sock" "$dir/err"; then
    ok "the error names each endpoint tried"
else
    bad "the error names each endpoint tried"; sed 's/^/  err: /' "$dir/err"
fi

expect 2 "a worker refuses an unauthenticated tcp:// endpoint in its list" -- \
    "$bin/cairn-worker" --scheduler "ipc://$dir/w.sock,tcp://127.0.0.1:1" \
    --state-dir "$dir/w" --name w
grep -q "tcp://127.0.0.1:1" "$dir/err" && ok "naming it" || bad "naming it"

expect 0 "cairn schedulers --help" -- "$cairn" schedulers --help
grep -q "CLIENT ENDPOINTS" "$dir/out" && ok "describes its table" || bad "describes its table"
exit $fail
