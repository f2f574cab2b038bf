#!/bin/sh
# The same DAG on the SQLite store and on the PostgreSQL store gives the
# same placements and seeds: the core is the same, only the storage
# differs. Each run: a scheduler of its own, one worker n1 of the same
# topology; compared per task: seed, node, cores, exit.
#   sh ha_same_core.sh BIN_DIR TESTS_DIR
set -u
. "$(dirname "$0")/lib/common.sh"
cli_init ha_same_core
. "$(dirname "$0")/lib/pg.sh"
pg_skip_unless_available
pg_start

cat >"$dir/job.yaml" <<YAML
name: same-core
seed: 1234
tasks:
  - name: prep
    shell: 'echo \$CAIRN_SEED'
  - name: train
    needs: [prep]
    matrix:
      lr: ["0.1", "0.01", "0.001"]
    shell: 'echo lr=\${{ matrix.lr }} \$CAIRN_SEED'
  - name: eval
    needs: [train]
    shell: 'echo \$CAIRN_SEED'
YAML

# run STORE-OPTION NAME: the job on a fresh scheduler; its placements in
# $dir/NAME.txt
run() {
    s=$dir/$2
    mkdir -p "$s"
    "$bin/cairn-scheduler" --state-dir "$s" $1 --log-file "$dir/$2.log" &
    sp=$!
    "$bin/cairn-worker" --scheduler "ipc://$s/workers.sock" --state-dir "$s/w" --name n1 \
        --topology "$tests/topologies/cpu-only-1s.xml" >"$dir/$2-w.log" 2>&1 &
    wp=$!
    pids="$pids $sp $wp"
    c() { timeout 60 "$cairn" --scheduler "ipc://$s/clients.sock" "$@"; }
    up() { c nodes 2>/dev/null | grep -q ' up '; }
    wait_for "$2: the node is up" up || return 1
    j=$(c submit "$dir/job.yaml" --wait | head -1) || return 1
    c provenance "$j" >"$dir/$2.json" || return 1
    python3 - "$dir/$2.json" >"$dir/$2.txt" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
for t in p["tasks"]:
    for a in t.get("attempts", []):
        print(t["name"], a.get("seed"), a.get("node"), a.get("cores"), a.get("exit_code"), a.get("end"))
PY
    kill $wp $sp 2>/dev/null
    wait $wp $sp 2>/dev/null
}
run "" sqlite || { bad "the SQLite run"; exit 1; }
run "--store $PG_URL" pg || { bad "the PostgreSQL run"; exit 1; }
sed 's/^/  /' "$dir/pg.txt"
[ "$(wc -l <"$dir/pg.txt")" -eq 5 ] && ok "5 attempts recorded" || bad "$(wc -l <"$dir/pg.txt") attempts"
if cmp -s "$dir/sqlite.txt" "$dir/pg.txt"; then
    ok "the same placements and seeds on SQLite and PostgreSQL"
else
    bad "placements or seeds differ"
    diff "$dir/sqlite.txt" "$dir/pg.txt"
fi
exit $fail
