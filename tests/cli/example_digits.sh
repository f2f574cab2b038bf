#!/bin/sh
# The example pipeline end to end on real local clusters: the digits sweep
# succeeds, picks a best model among 3, gives identical metrics when run
# again (seeds from CAIRN_SEED), and in its GPU variant every training sees
# its own GPU.
set -eu
bin="$1"
src="$2"
root=$(cd "$src/.." && pwd)
work=$(mktemp -d /tmp/cairn-example-XXXXXX)
CAIRN_BIN="$bin"
CAIRN_STATE_DIR="$work/state"
CAIRN_EXAMPLE_OUT="$work/out"
export CAIRN_BIN CAIRN_STATE_DIR CAIRN_EXAMPLE_OUT
cleanup() {
    "$bin/cairn" down --state-dir "$work/state" >/dev/null 2>&1 || true
    "$bin/cairn" down --state-dir "$work/out-gpu-cluster" >/dev/null 2>&1 || true
    pkill -KILL -f -- "$work/" 2>/dev/null || true # whatever down could not stop
    rm -rf "$work"
}
trap cleanup EXIT INT TERM
fail() { echo "FAIL: $*"; exit 1; }

timeout 300 sh "$root/cluster/examples/run-digits.sh" >"$work/run1.txt" 2>&1 ||
    { cat "$work/run1.txt"; fail "the pipeline did not succeed"; }
python3 - "$work/out/best.json" <<'PY' || fail "best.json is wrong"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["candidates"] == 3, d
assert d["best"]["C"] in (0.1, 1.0, 10.0), d
assert 0.8 < d["best"]["accuracy"] <= 1.0, d
PY
cat "$work"/out/metrics/*.json >"$work/metrics1"
timeout 300 sh "$root/cluster/examples/run-digits.sh" >"$work/run2.txt" 2>&1 ||
    { cat "$work/run2.txt"; fail "the second run did not succeed"; }
cat "$work"/out/metrics/*.json >"$work/metrics2"
cmp -s "$work/metrics1" "$work/metrics2" || fail "a second run gave different metrics"

# provenance: every output hashed; an exact rerun of job 2 gives the same
# hashes, and diff says nothing about spec, seeds, commands or outputs
"$bin/cairn" provenance 2 >"$work/prov2.json" || fail "cairn provenance 2"
python3 - "$work/prov2.json" "$work/out" <<'PY' || fail "the provenance of job 2 is incomplete"
import hashlib, json, os, sys
p, out = json.load(open(sys.argv[1])), sys.argv[2]
assert p["format"] == "cairn-provenance/1" and p["seed"] == 42 and "digits-sweep" in p["spec_text"]
assert len(p["tasks"]) == 8, [t["name"] for t in p["tasks"]]
for t in p["tasks"]:
    a = t["attempts"][-1]
    assert a["end"] == "succeeded" and a["node"] and a["node_fingerprint"] and a["worker_version"], a
    assert a["cores"] and a["start_time_ms"] <= a["end_time_ms"] and a["seed"], a
    assert len(a["outputs"]) == len(t["outputs"]) == 1, t
    o = a["outputs"][0]
    if t["name"] != "preprocess":  # a file: the plain SHA-256 of its bytes
        want = hashlib.sha256(open(os.path.join(out, o["path"]), "rb").read()).hexdigest()
        assert o["sha256"] == want, (t["name"], o, want)
PY
"$bin/cairn" rerun 2 --wait >"$work/rerun.txt" || fail "cairn rerun 2 --wait failed"
rerun=$(head -1 "$work/rerun.txt")
[ "$rerun" = 3 ] || fail "cairn rerun 2 did not make job 3 ($rerun)"
"$bin/cairn" diff 2 3 --json >"$work/diff.json" || true # exit 1: nodes may differ
python3 - "$work/diff.json" <<'PY' || fail "the rerun differs: $(cat "$work/diff.json")"
import json, sys
d = json.load(open(sys.argv[1]))
bad = [x for x in d["differences"] if x["what"] not in ("node", "node topology")]
assert not bad, bad
PY
rc=0
"$bin/cairn" diff 1 2 >"$work/diff12.txt" 2>&1 || rc=$?
[ $rc -le 1 ] || fail "cairn diff 1 2 failed: $(cat "$work/diff12.txt")"
"$bin/cairn" status 2 --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
s = json.dumps(d)
assert "evaluate[C=0.1]" in s and "select" in s, s[:400]
' || fail "status --json does not list the expanded tasks"

CAIRN_STATE_DIR="$work/out-gpu-cluster"
export CAIRN_STATE_DIR
timeout 300 sh "$root/cluster/examples/run-digits.sh" --gpu >"$work/gpu.txt" 2>&1 ||
    { cat "$work/gpu.txt"; fail "the GPU variant did not succeed"; }
seen=""
for c in 0.1 1.0 10.0; do
    g=$("$bin/cairn" logs 1 "train[C=$c]" | sed -n 's/.*GPUs \[\(.*\)\].*/\1/p')
    case "$g" in GPU-*) ;; *) fail "train[C=$c] saw no GPU by UUID: '$g'" ;; esac
    case " $seen " in *" $g "*) fail "two trainings shared GPU $g" ;; esac
    seen="$seen $g"
done
cmp -s "$work/metrics1" /dev/null && fail "no metrics"
echo "example_digits: ok (metrics identical across runs; GPUs:$seen)"
