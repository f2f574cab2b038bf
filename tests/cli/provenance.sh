#!/bin/sh
# Provenance of a run with a retry in it, on a local cluster with a
# simulated 8-GPU node: the record validates against
# cluster/provenance.schema.json; both attempts are there with the same
# seed, the second saying how the first ended; node, topology fingerprint,
# worker version, cores, GPU model/UUID/PCI bus id, Cairn's variables,
# times, exit, memory, CPU time and the outputs' SHA-256 (checked against
# the files); secret env values are masked everywhere, also in the spec
# (short ones where they are set);
# cairn inspect shows the same; reruns get the spec unmasked.
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
mkdir -p "$w"
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
PY

"$cairn" inspect 1 train >"$dir/inspect" 2>&1 || bad "cairn inspect 1 train"
if grep -q "attempt 2 on .*(the one before: exit_nonzero)" "$dir/inspect" &&
    grep -q "NVIDIA H100" "$dir/inspect" && grep -q "API_TOKEN=\*\*\*\*" "$dir/inspect" &&
    grep -q "output model.txt: sha256 [0-9a-f]\{64\}" "$dir/inspect" &&
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
exit $fail
