#!/bin/sh
# Provenance of a run with a retry in it, on a local cluster with a
# simulated 8-GPU node: the record validates against
# cluster/provenance.schema.json; both attempts are there with the same
# seed, the second saying how the first ended; node, topology fingerprint,
# worker version, cores, GPU model/UUID/PCI bus id, Cairn's variables,
# times, exit, memory, CPU time and the outputs' SHA-256 (checked against
# the files); secret env values are masked everywhere, also in the spec
# (short ones where they are set);
# cairn inspect shows the same; reruns get the spec unmasked. The declared
# inputs (a file and a directory, of a task that is not cached) are
# recorded with their SHA-256 as cairn submit took them; cairn rerun hashes
# them again and refuses (exit 5) when one changed or is missing, listing
# them, unless --allow-changed-inputs; cairn diff shows the change.
#   sh provenance.sh BIN_DIR TESTS_DIR
set -u
. "$(dirname "$0")/lib/common.sh"
cli_init prov
cli_local_cluster
# a python with jsonschema (cluster/scripts/setup.sh installs Debian's)
py=""
for p in python3 /usr/bin/python3; do
    if "$p" -c "import jsonschema" 2>/dev/null; then py=$p; break; fi
done
[ -n "$py" ] || { echo "FAIL: no python3 with jsonschema (run cluster/scripts/setup.sh)"; exit 1; }

w=$dir/w
mkdir -p "$w/data"
echo "print('v1')" >"$w/train.py"
echo "1,2,3" >"$w/data/a.csv"
timeout 60 "$cairn" up --topology "$tests/topologies/hgx-h100-8gpu.xml" >/dev/null ||
    { echo "FAIL: cairn up"; exit 1; }
cat >"$dir/job.yaml" <<EOF
name: prov-test
seed: 1234
tasks:
  - name: train
    kind: train
    workdir: $w
    resources: {cpus: 2, gpus: 1}
    env: {API_TOKEN: hunter2-secret, LR: "0.5", DB_PASSWORD: "ab", X_KEY: z9}
    outputs: [model.txt, ckpt]
    inputs: [train.py, data]
    retry: {attempts: 3, backoff: 10ms, on: [any-exit]}
    shell: 'if [ ! -e tried ]; then touch tried; exit 3; fi; mkdir -p ckpt; echo \$CAIRN_SEED > ckpt/a; echo \$LR > model.txt'
  - name: eval
    needs: [train]
    workdir: $w
    shell: 'cat model.txt'
EOF
timeout 120 "$cairn" submit --wait "$dir/job.yaml" >"$dir/out" 2>&1 || bad "the job failed: $(cat "$dir/out")"
"$cairn" provenance 1 >"$dir/rec.json" || bad "cairn provenance 1"

"$py" - "$dir/rec.json" "$tests/../cluster/provenance.schema.json" "$w" <<'PY' && ok "the record is complete and validates against the schema" || bad "the provenance record"
import hashlib, json, os, sys, jsonschema
rec = json.load(open(sys.argv[1]))
jsonschema.validate(rec, json.load(open(sys.argv[2])))
w = sys.argv[3]
assert rec["seed"] == 1234 and rec["state"] == "succeeded" and rec["submitter"], rec
assert len(rec["spec_sha256"]) == 64 and "prov-test" in rec["spec_text"]
assert "hunter2-secret" not in json.dumps(rec), "a secret leaked"
t = {x["name"]: x for x in rec["tasks"]}["train"]
assert t["kind"] == "train" and t["argv"][:2] == ["/bin/sh", "-c"] and t["workdir"] == w
env = {e["key"]: e["value"] for e in t["env"]}
assert env == {"API_TOKEN": "****", "LR": "0.5", "DB_PASSWORD": "****", "X_KEY": "****"}, env
# secrets shorter than 4 characters too, where they are set
spec = rec["spec_text"]
assert 'DB_PASSWORD: "****"' in spec and "X_KEY: ****}" in spec, spec
assert 'DB_PASSWORD: "ab"' not in spec and "X_KEY: z9" not in spec, spec
a1, a2 = t["attempts"]
assert (a1["number"], a2["number"]) == (1, 2)
assert a1["end"] == "exit_nonzero" and a1["exit_code"] == 3 and a1["previous_end"] == ""
assert a2["end"] == "succeeded" and a2["previous_end"] == "exit_nonzero"
assert a1["seed"] == a2["seed"] != 0, "a retry gets the same seed"
for a in (a1, a2):
    assert a["node"] and a["node_fingerprint"] and a["worker_version"], a
    assert len(a["cores"]) == 2 and len(a["gpus"]) == 1, a
    g = a["gpus"][0]
    assert g["model"].startswith("NVIDIA H100") and g["uuid"].startswith("GPU-"), g
    assert g["pci_bus_id"].count(":") == 2, g
    ce = {e["key"]: e["value"] for e in a["cairn_env"]}
    assert ce["CAIRN_SEED"] == str(a["seed"]) and ce["CUDA_VISIBLE_DEVICES"] == g["uuid"], ce
    assert ce["CAIRN_ATTEMPT"] == str(a["number"]) and ce["CAIRN_TASK"] == "train", ce
    assert a["placed_time_ms"] <= a["start_time_ms"] <= a["end_time_ms"], a
    assert a["peak_rss_bytes"] > 0, a
out = {o["path"]: o for o in a2["outputs"]}
assert out["model.txt"]["sha256"] == hashlib.sha256(open(os.path.join(w, "model.txt"), "rb").read()).hexdigest()
assert out["model.txt"]["size"] == 4 and out["model.txt"]["error"] == ""
# the directory digest: the SHA-256 of "<sha256>  <relpath>\n" lines sorted by path
line = hashlib.sha256(open(os.path.join(w, "ckpt/a"), "rb").read()).hexdigest() + "  a\n"
assert out["ckpt"]["sha256"] == hashlib.sha256(line.encode()).hexdigest(), out["ckpt"]
assert {o["path"]: o["error"] for o in a1["outputs"]} == {"model.txt": "missing", "ckpt": "missing"}
# the declared inputs, as hashed at submit (a directory: the digest of its files)
py = open(os.path.join(w, "train.py"), "rb").read()
line = hashlib.sha256(open(os.path.join(w, "data/a.csv"), "rb").read()).hexdigest() + "  a.csv\n"
want = [{"path": "train.py", "sha256": hashlib.sha256(py).hexdigest(), "size": len(py), "error": "", "mtime_ms": 0},
        {"path": "data", "sha256": hashlib.sha256(line.encode()).hexdigest(), "size": 6, "error": "", "mtime_ms": 0}]
assert t["inputs"] == want, t["inputs"]
assert {x["name"]: x for x in rec["tasks"]}["eval"]["inputs"] == []
PY

"$cairn" inspect 1 train >"$dir/inspect" 2>&1 || bad "cairn inspect 1 train"
if grep -q "attempt 2 on .*(the one before: exit_nonzero)" "$dir/inspect" &&
    grep -q "NVIDIA H100" "$dir/inspect" && grep -q "API_TOKEN=\*\*\*\*" "$dir/inspect" &&
    grep -q "output model.txt: sha256 [0-9a-f]\{64\}" "$dir/inspect" &&
    grep -q "^  input train.py: sha256 $(sha256sum "$w/train.py" | cut -c1-64) (12 B)" "$dir/inspect" &&
    ! grep -q "eval" "$dir/inspect"; then
    ok "cairn inspect shows the task's attempts"
else bad "cairn inspect: $(cat "$dir/inspect")"; fi
"$cairn" inspect 1 --json | "$py" -c "import json,sys; d=json.load(sys.stdin); assert len(d['tasks']) == 2" &&
    ok "cairn inspect --json" || bad "cairn inspect --json"
timeout 60 "$cairn" inspect 1 nosuch >/dev/null 2>"$dir/err"
[ $? -eq 4 ] && grep -q "has no task 'nosuch'" "$dir/err" && ok "an unknown task is named" ||
    bad "inspect of an unknown task: $(cat "$dir/err")"
timeout 60 "$cairn" provenance 99 >/dev/null 2>"$dir/err"
[ $? -eq 4 ] && ok "an unknown job: exit 4" || bad "provenance 99: $(cat "$dir/err")"

# the rerun gets the real secret (its spec unmasked), runs with the same seed
rm -f "$w/tried"
timeout 120 "$cairn" rerun 1 --task train --wait >"$dir/out" 2>&1 || bad "rerun: $(cat "$dir/out")"
"$cairn" provenance 2 >"$dir/rec2.json"
"$py" - "$dir/rec.json" "$dir/rec2.json" <<'PY' && ok "rerun --task: same seed, the secret intact, identical outputs" || bad "rerun --task"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert [t["name"] for t in b["tasks"]] == ["train"]
ta, tb = a["tasks"][0], b["tasks"][0]
assert tb["attempts"][-1]["seed"] == ta["attempts"][-1]["seed"]
assert b["seed"] == a["seed"] == 1234
assert [o["sha256"] for o in tb["attempts"][-1]["outputs"]] == [o["sha256"] for o in ta["attempts"][-1]["outputs"]]
PY
"$cairn" logs 2 train >/dev/null 2>&1 || bad "logs of the rerun"

# train.py edited, data gone: the rerun is refused, naming both
old_py=$(sha256sum "$w/train.py" | cut -c1-12)
old_data=$("$cairn" provenance 1 | python3 -c "import json,sys; print([i for t in json.load(sys.stdin)['tasks'] for i in t['inputs'] if i['path'] == 'data'][0]['sha256'][:12])")
echo "print('v2')" >"$w/train.py"
new_py=$(sha256sum "$w/train.py" | cut -c1-12)
mv "$w/data" "$w/data.away"
rm -f "$w/tried"
expect 5 "a rerun with changed inputs is refused (exit 5)" -- "$cairn" rerun 1 --task train --wait
if grep -q "^  train: train.py: $old_py -> $new_py\$" "$dir/err" &&
    grep -q "^  train: data: $old_data -> missing\$" "$dir/err" &&
    grep -q "allow-changed-inputs" "$dir/err" && ! [ -s "$dir/out" ]; then
    ok "the refusal lists the changed and the missing input, and submits nothing"
else bad "changed inputs: $(cat "$dir/out" "$dir/err")"; fi
timeout 60 "$cairn" provenance 3 >/dev/null 2>&1
[ $? -eq 4 ] && ok "no job 3 was made" || bad "a refused rerun made job 3"
expect 1 "allowed, a missing input still cannot be hashed (exit 1)" -- "$cairn" rerun 1 --task train --allow-changed-inputs
grep -q "input data (in $w): missing" "$dir/err" && ok "the missing input is named" || bad "missing input: $(cat "$dir/err")"
mv "$w/data.away" "$w/data"
expect 0 "--allow-changed-inputs reruns with the edited train.py" -- "$cairn" rerun 1 --task train --allow-changed-inputs --wait
if grep -q "warning: job 1's inputs" "$dir/err" && grep -q "^  train: train.py: $old_py -> $new_py\$" "$dir/err" &&
    ! grep -q "data:" "$dir/err"; then ok "it warns, listing train.py only"
else bad "allowed rerun: $(cat "$dir/err")"; fi
"$cairn" provenance 3 >"$dir/rec3.json" || bad "provenance 3"
"$py" - "$dir/rec3.json" "$tests/../cluster/provenance.schema.json" "$(sha256sum "$w/train.py" | cut -c1-64)" <<'PY' && ok "the rerun's record holds the new hash and validates" || bad "the rerun's record"
import json, sys, jsonschema
rec = json.load(open(sys.argv[1]))
jsonschema.validate(rec, json.load(open(sys.argv[2])))
assert {i["path"]: i["sha256"] for i in rec["tasks"][0]["inputs"]}["train.py"] == sys.argv[3], rec["tasks"][0]
PY
"$cairn" diff 2 3 >"$dir/diff" 2>&1
rc=$?
if [ $rc -eq 1 ] && grep -q "^train: input train.py: [0-9a-f]\{64\} -> $(sha256sum "$w/train.py" | cut -c1-64)\$" "$dir/diff" &&
    ! grep -q "input data" "$dir/diff"; then ok "cairn diff shows the changed input"
else bad "diff 2 3: exit $rc, $(cat "$dir/diff")"; fi

# the inputs are durable: the same after the scheduler restarts
"$cairn" provenance 1 >"$dir/before.json"
timeout 60 "$cairn" down >/dev/null || bad "cairn down"
timeout 60 "$cairn" up --topology "$tests/topologies/hgx-h100-8gpu.xml" >/dev/null || bad "cairn up again"
"$cairn" provenance 1 >"$dir/after.json" || bad "provenance 1 after the restart"
python3 - "$dir/before.json" "$dir/after.json" <<'PY' && ok "the recorded inputs survive a restart" || bad "inputs after the restart: $(cat "$dir/after.json")"
import json, sys
a, b = ({t["name"]: t["inputs"] for t in json.load(open(p))["tasks"]} for p in sys.argv[1:3])
assert a == b and len(a["train"]) == 2, (a, b)
PY
exit $fail
