#!/bin/sh
# The web dashboard in a browser: `cairn up` on one simulated node of 8 H100
# GPUs serves it (it prints `dashboard: URL`); a job (prep, a matrix train
# of 3 one-GPU members that run until this test releases them, eval) runs
# while tests/browser/dashboard.test.js looks at it in Chromium headless
# (cluster, jobs, job, task panel, capacity; no console error, no request to
# another origin). The browser script prints `release: ...` when it has
# seen the job running; the test then lets train end, and the script checks
# the ended job. CAIRN_UPDATE_IMAGES=1: its screenshots become
# docs/images/dashboard-{cluster,job,capacity}.png. Skipped (77) without
# node or Chromium (cluster/scripts/setup.sh installs them).
#   sh dashboard.sh BIN_DIR TESTS_DIR
set -u
. "$(dirname "$0")/lib/common.sh"
cli_init dashboard
cli_local_cluster

node=$(command -v node || command -v nodejs) || { echo "skip: no node (cluster/scripts/setup.sh)"; exit 77; }
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || { echo "skip: no Chromium (cluster/scripts/setup.sh)"; exit 77; }
# Chromium's profile (tests/browser/cdp.js makes it under $TMPDIR) in $dir:
# whatever is left of a browser is killed and removed with the test's own
TMPDIR=$dir
export TMPDIR

expect 0 "cairn up: one node of 8 H100 GPUs, the dashboard on" -- "$cairn" up --state-dir "$CAIRN_STATE_DIR" \
    --topology "$tests/topologies/hgx-h100-8gpu.xml"
url=$(sed -n 's|^dashboard: \(https\{0,1\}://[^ ]*\)$|\1|p' "$dir/out" "$dir/err" | head -1)
if [ -z "$url" ]; then
    bad "cairn up printed no 'dashboard: http://127.0.0.1:PORT/' line (no HTTP server in cairn-scheduler yet?)"
    sed 's/^/  out: /' "$dir/out"
    sed 's/^/  err: /' "$dir/err"
    exit 1
fi
ok "the dashboard at $url"

release=$dir/release
cat >"$dir/job.yaml" <<X
name: dashboard
tasks:
  - name: prep
    run: ["true"]
  - name: train
    needs: [prep]
    matrix: {i: [0, 1, 2]}
    # runs until released (at most 240 s)
    run: [sh, -c, "n=0; while [ ! -e $release ] && [ \$n -lt 2400 ]; do sleep 0.1; n=\$((n + 1)); done; [ -e $release ]"]
    resources: {cpus: 1, gpus: 1}
  - name: eval
    needs: [train]
    run: ["true"]
X
expect 0 "submit the job" -- "$cairn" submit "$dir/job.yaml"
job=$(cat "$dir/out")
running3() {
    "$cairn" status "$job" --json | python3 -c 'import json, sys
j = json.load(sys.stdin)
sys.exit(0 if sum(t["state"] == "running" for t in j["tasks"]) == 3 else 1)'
}
wait_for "train's 3 members run" running3

"$node" "$tests/browser/dashboard.test.js" "$url" "$job" "$dir/shots" >"$dir/browser.log" 2>&1 &
browser=$!
pids="$pids $browser"
# until the browser script has looked at the running job (or has ended)
i=0
until grep -q '^release: ' "$dir/browser.log"; do
    kill -0 "$browser" 2>/dev/null || break
    i=$((i + 1))
    [ $i -gt 2400 ] && { bad "the browser script never said release (240 s)"; break; }
    sleep 0.1 # polling a condition with a deadline
done
touch "$release"
wait "$browser"
rc=$?
pids=""
cat "$dir/browser.log"
if [ $rc -eq 0 ]; then ok "the dashboard in Chromium"; else bad "the dashboard in Chromium: exit $rc"; fi
# the browser script killed its Chromium, whatever happened
if pgrep -f -- "--user-data-dir=$dir/" >/dev/null; then
    bad "a Chromium process outlived the browser script"
    pgrep -a -f -- "--user-data-dir=$dir/" | sed 's/^/  /'
else
    ok "no Chromium process left"
fi

expect 0 "the job ended" -- "$cairn" status "$job" --json
json_check "it succeeded" "j['job']['state'] == 'succeeded'"

for s in cluster job capacity; do
    if [ -s "$dir/shots/$s.png" ]; then
        if [ "${CAIRN_UPDATE_IMAGES:-0}" = 1 ]; then
            mkdir -p "$tests/../docs/images"
            cp "$dir/shots/$s.png" "$tests/../docs/images/dashboard-$s.png"
            ok "docs/images/dashboard-$s.png updated"
        fi
    else
        bad "no screenshot $s.png"
    fi
done
exit $fail
