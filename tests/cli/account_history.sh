#!/bin/sh
# The account a job is charged to shows wherever the job does, and stays:
# a job with no account of its own (the built-in "default") is run, and
# status (header and JSON), jobs (ACCOUNT column, JSON, --account),
# inspect, provenance, the accounting records (plan's exported trace) and
# report --by account / --account name it; the same after the job is
# retired (--keep-finished 0) and after a restart. Then the journal is
# taken back to the previous release's (the retired table without its
# account column, the census without its limit columns, the records
# without the account field, as that release wrote them) and a scheduler
# started on it migrates it: every read still names "default" (the jobs
# of before accounts were all its) and the report reads the census.
#   sh account_history.sh BIN_DIR TESTS_DIR
set -u
. "$(dirname "$0")/lib/common.sh"
cli_init account-history
cli_scheduler
port=$(free_port)
start_sched() { sched_start --heartbeat-interval 100ms --sample-interval 100ms --http "127.0.0.1:$port" "$@"; }
retired() { # N: /status says N jobs were retired
    python3 -c 'import sys, json, urllib.request; sys.exit(0 if json.load(urllib.request.urlopen(sys.argv[1], timeout=5))["jobs_retired"] == int(sys.argv[2]) else 1)' \
        "http://127.0.0.1:$port/status" "$1"
}

start_sched --keep-finished 10m
"$bin/cairn-worker" --scheduler "ipc://$dir/state/workers.sock" --state-dir "$dir/w1" \
    --name w1 --topology "$tests/topologies/hgx-h100-8gpu.xml" --log-file "$dir/w1.log" \
    --allow-root-tasks &
pids="$pids $!"
wait_for "the node is up" sh -c "'$cairn' --scheduler '$url' nodes | grep -q ' up '" || exit 1
cat >"$dir/job.yaml" <<EOF
name: acct-test
tasks:
  - name: train
    resources: {cpus: 2, gpus: 1}
    shell: 'true'
EOF
cli submit --wait "$dir/job.yaml" >"$dir/out" 2>&1 || { bad "job 1 failed: $(cat "$dir/out")"; exit 1; }
t0=$(date -u -d "@$(($(date +%s) - 3600))" +%Y-%m-%dT%H:%M:%S)

# shows WHEN: every read names the account "default"
shows() {
    cli status 1 >"$dir/out" 2>&1
    grep -q '^job 1 (acct-test): succeeded, 1/1 tasks succeeded; account default$' "$dir/out" &&
        ok "$1: status's header names the account" || bad "$1: status: $(cat "$dir/out")"
    cli status 1 --json >"$dir/out"
    json_check "$1: status --json" 'j["job"]["account"] == "default"'
    cli jobs >"$dir/out" 2>&1
    python3 - "$dir/out" <<'PY' && ok "$1: jobs has an ACCOUNT column" || bad "$1: jobs: $(cat "$dir/out")"
import sys
lines = open(sys.argv[1]).read().split("\n")
hdr = lines[0].split()
assert hdr[5] == "ACCOUNT", hdr
assert lines[1].split()[5] == "default", lines[1]
PY
    cli jobs --json >"$dir/out"
    json_check "$1: jobs --json" '[(x["job_id"], x["account"]) for x in j["jobs"]] == [(1, "default")]'
    cli jobs --account default --json >"$dir/out"
    json_check "$1: jobs --account default" '[x["job_id"] for x in j["jobs"]] == [1]'
    cli jobs --account vision --json >"$dir/out"
    json_check "$1: jobs --account vision: none" 'j["jobs"] == []'
    cli inspect 1 >"$dir/out" 2>&1
    grep -q '^job 1 (acct-test): succeeded, submitted by .*, account default$' "$dir/out" &&
        ok "$1: inspect names the account" || bad "$1: inspect: $(cat "$dir/out")"
    cli provenance 1 >"$dir/out"
    json_check "$1: provenance" 'j["account"] == "default"'
    cli plan --trace last:1d --export-trace >"$dir/out"
    json_check "$1: the accounting records" '[x["account"] for x in j] == ["default"]'
    cli report --since "$t0" --by account --json >"$dir/out"
    json_check "$1: report --by account" '[(g["key"], g["attempts"]) for g in j["groups"]] == [("default", 1)] and j["by"] == "account"'
    cli report --since "$t0" --account vision --json >"$dir/out"
    json_check "$1: report --account vision: nothing" 'j["groups"] == [] and j["waits"] == []'
    cli report --since "$t0" --account default --by user --json >"$dir/out"
    json_check "$1: report --account default" 'sum(g["attempts"] for g in j["groups"]) == 1'
}
shows "live"

sched_stop
start_sched --keep-finished 0
wait_for "the job retired" retired 1 || exit 1
shows "retired"
sched_stop
start_sched --keep-finished 0
shows "restarted"
sched_stop

# the previous release's journal: no account column nor field anywhere
python3 - "$dir/state/journal.db" <<'PY' || { bad "taking the journal back: $?"; exit 1; }
import sqlite3, sys

def varint(b, i):
    v = s = 0
    while True:
        c = b[i]; i += 1
        v |= (c & 0x7F) << s; s += 7
        if c < 0x80:
            return v, i

def strip(b, field, inner=None):
    """b without its top-level field `field`; inner=(f, g): g stripped inside f"""
    out, i = bytearray(), 0
    while i < len(b):
        start = i
        key, i = varint(b, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            _, i = varint(b, i)
        elif wt == 1:
            i += 8
        elif wt == 5:
            i += 4
        elif wt == 2:
            n, j = varint(b, i)
            i = j + n
            if inner and f == inner[0]:
                sub = strip(b[j:i], inner[1])
                out += enc(key) + enc(len(sub)) + sub
                continue
        else:
            raise SystemExit("wire type %d" % wt)
        if f != field:
            out += b[start:i]
    return bytes(out)

def enc(v):
    o = bytearray()
    while True:
        c = v & 0x7F; v >>= 7
        if v:
            o.append(c | 0x80)
        else:
            o.append(c)
            return bytes(o)

db = sqlite3.connect(sys.argv[1])
rows = db.execute("SELECT job, summary, status, prov FROM retired").fetchall()
assert len(rows) == 1, rows
for job, summary, status, prov in rows:
    # JobSummary.account = 16; JobStatusReply.job = 1; JobProvenance.account = 13
    db.execute("UPDATE retired SET summary = ?, status = ?, prov = ? WHERE job = ?",
               (strip(summary, 16), strip(status, 0, (1, 16)), strip(prov, 13), job))
    assert b"default" not in strip(summary, 16) and b"default" not in strip(prov, 13)
n = 0
for a, r, rec in db.execute("SELECT attempt, rank, record FROM history").fetchall():
    db.execute("UPDATE history SET record = ? WHERE attempt = ? AND rank = ?",
               (strip(rec, 33), a, r))  # AccountingRecord.account = 33
    n += 1
assert n == 1, n
db.execute("ALTER TABLE retired DROP COLUMN account")
db.execute("ALTER TABLE usage_census DROP COLUMN limited")
db.execute("ALTER TABLE usage_census DROP COLUMN idle_limit")
db.commit()
PY
start_sched --keep-finished 0
shows "migrated from the previous release"
python3 - "$dir/state/journal.db" <<'PY' && ok "the migration added the columns" || bad "columns after the migration"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
cols = lambda t: [r[1] for r in db.execute("PRAGMA table_info(%s)" % t)]
assert "account" in cols("retired") and cols("usage_census")[-2:] == ["limited", "idle_limit"]
assert db.execute("SELECT account FROM retired").fetchall() == [("default",)]
PY
cli report --since "$t0" --json >"$dir/out"
json_check "report reads the migrated census" '"waiting_on_limit_s" in j["fragmentation"]'
sched_stop
exit $fail
