#!/bin/sh
# cairn-worker --print-resources: JSON shape on every fixture and on this
# machine, the exact JSON of the HGX fixture, the readable summary, and the
# exit status of bad invocations (1: topology can't be loaded, 2: bad usage).
set -eu
bin="$1"
src="$2"
w="$bin/cairn-worker"
topo="$src/topologies"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

# Check the keys and types of a --json output.
check_json() {
    python3 - "$1" <<'EOF'
import json, re, sys
d = json.load(open(sys.argv[1]))
def need(obj, key, types, where):
    if key not in obj:
        sys.exit("%s: missing key %r" % (where, key))
    v = obj[key]
    if not isinstance(v, types) or (isinstance(v, bool) and bool not in types):
        sys.exit("%s: %r is %r" % (where, key, v))
    return v
I, S, N = (int,), (str,), type(None)
need(d, "node", S, "top")
for k in ("packages", "cores", "pus", "memory_bytes"):
    if need(d, k, I, "top") <= 0:
        sys.exit("top: %s <= 0" % k)
if d["pus"] < d["cores"]:
    sys.exit("fewer PUs than cores")
if not re.fullmatch(r"[0-9a-f]{16}", need(d, "fingerprint", S, "top")):
    sys.exit("bad fingerprint")
labels = need(d, "labels", (dict,), "top")
if not all(isinstance(v, str) for v in labels.values()):
    sys.exit("bad labels")
numa = need(d, "numa", (list,), "top")
if not numa:
    sys.exit("no NUMA domain")
for n in numa:
    need(n, "id", I, "numa")
    need(n, "memory_bytes", I, "numa")
    for k in ("pus", "cores"):
        if not all(type(x) is int for x in need(n, k, (list,), "numa")):
            sys.exit("numa %s not ints" % k)
if sum(n["memory_bytes"] for n in numa) != d["memory_bytes"]:
    sys.exit("NUMA memory does not add up")
if sorted(p for n in numa for p in n["pus"]) != sorted(p for c in d["cores_list"] for p in c["pus"]):
    sys.exit("NUMA PUs and core PUs differ")
if len(need(d, "cores_list", (list,), "top")) != d["cores"]:
    sys.exit("cores_list length")
for c in d["cores_list"]:
    need(c, "index", I, "core"); need(c, "numa", I + (N,), "core"); need(c, "pus", (list,), "core")
for i, g in enumerate(need(d, "gpus", (list,), "top")):
    if need(g, "index", I, "gpu") != i:
        sys.exit("gpu index %d" % i)
    need(g, "vendor", S, "gpu")
    for k in ("model", "uuid", "driver", "driver_version", "cuda_version"):
        need(g, k, S + (N,), "gpu")
    need(g, "memory_bytes", I + (N,), "gpu")
    need(g, "numa", I + (N,), "gpu")
    need(g, "has_driver", (bool,), "gpu")
    need(g, "locality_group", I, "gpu")
    if not re.fullmatch(r"[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]", need(g, "pci_bus_id", S, "gpu")):
        sys.exit("bad bus id %r" % g["pci_bus_id"])
EOF
}

# run NAME EXPECTED_STATUS CMD... : stdout in $tmp/out, stderr in $tmp/err
# (sh has no locals: the variables are prefixed to keep the caller's.)
run() {
    run_name="$1"
    run_want="$2"
    shift 2
    run_st=0
    "$@" >"$tmp/out" 2>"$tmp/err" || run_st=$?
    if [ "$run_st" -ne "$run_want" ]; then
        echo "FAIL: $run_name: exit $run_st, wanted $run_want"
        cat "$tmp/err"
        fail=1
        return 1
    fi
    return 0
}

for f in "$topo"/*.xml; do
    name=$(basename "$f" .xml)
    if run "$name --json" 0 "$w" --print-resources --topology "$f" --json; then
        check_json "$tmp/out" || { echo "FAIL: $name: bad JSON"; fail=1; }
    fi
done

if run "live --json" 0 "$w" --print-resources --json; then
    check_json "$tmp/out" || { echo "FAIL: live: bad JSON"; fail=1; }
fi
run "live text" 0 "$w" --print-resources || true

# The exact output for the HGX fixture, compared as parsed JSON.
if run "hgx expected" 0 "$w" --print-resources --topology "$topo/hgx-h100-8gpu.xml" \
    --name hgx-h100-01 --label zone=a --label rack=r12 --json; then
    python3 -c 'import json, sys
def diff(path, got, want):
    if isinstance(got, dict) and isinstance(want, dict):
        for k in sorted(set(got) | set(want)):
            diff("%s.%s" % (path, k), got.get(k), want.get(k))
    elif isinstance(got, list) and isinstance(want, list) and len(got) == len(want):
        for i, (g, w) in enumerate(zip(got, want)):
            diff("%s[%d]" % (path, i), g, w)
    elif got != want:
        print("  %s: got %r, wanted %r" % (path, got, want))
got, want = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
diff("", got, want)
sys.exit(got != want)' "$tmp/out" "$topo/hgx-h100-8gpu.expected.json" ||
        { echo "FAIL: hgx-h100-8gpu differs from hgx-h100-8gpu.expected.json"; fail=1; }
fi

# Names and labels are escaped in JSON.
if run "escaping" 0 "$w" --print-resources --topology "$topo/cpu-only-1s.xml" \
    --name 'we"ird' --label 'note=a "b" \c' --json; then
    python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(d["node"] != "we\"ird" or d["labels"] != {"note": "a \"b\" \\c"})' "$tmp/out" ||
        { echo "FAIL: escaping"; fail=1; }
fi

# Node names follow the rules of task names (one path component, no control
# characters), and no space or ','.
for bad in 'a/b' 'we\ird' '..' 'a b' 'a,b'; do
    run "node name $bad" 2 "$w" --print-resources --topology "$topo/cpu-only-1s.xml" \
        --name "$bad" || true
    grep -q "invalid node name" "$tmp/err" || { echo "FAIL: node name $bad: no reason"; fail=1; }
done

# The readable summary has one line per GPU.
for spec in hgx-h100-8gpu:8 mi250x-4gcd:4 workstation-2gpu-nodriver:2 epyc-2s-nps4:0 \
    cpu-only-1s:0 corner-cases:4 h200-vm-opencl:1; do
    name=${spec%:*}
    want=${spec#*:}
    if run "$name text" 0 "$w" --print-resources --topology "$topo/$name.xml"; then
        got=$(grep -c '^  GPU [0-9]*: ' "$tmp/out" || true)
        [ "$got" -eq "$want" ] || { echo "FAIL: $name: $got GPU lines, wanted $want"; fail=1; }
        grep -q "^node " "$tmp/out" || { echo "FAIL: $name: no node line"; fail=1; }
    fi
done

# Errors: a topology that can't be loaded is 1, bad usage is 2, and both
# name the problem on stderr.
if run "missing topology" 1 "$w" --print-resources --topology "$tmp/nope.xml"; then
    grep -q "nope.xml" "$tmp/err" || { echo "FAIL: missing topology not named"; fail=1; }
fi
printf '<topology>garbage' >"$tmp/bad.xml"
if run "bad topology" 1 "$w" --print-resources --topology "$tmp/bad.xml"; then
    grep -q "bad.xml" "$tmp/err" || { echo "FAIL: bad topology not named"; fail=1; }
fi
if run "unknown option" 2 "$w" --print-resources --frobnicate; then
    grep -q "frobnicate" "$tmp/err" || { echo "FAIL: unknown option not named"; fail=1; }
fi
if run "bad label" 2 "$w" --print-resources --label nokey; then
    grep -q "nokey" "$tmp/err" || { echo "FAIL: bad label not named"; fail=1; }
fi
run "duplicate label" 2 "$w" --print-resources --topology "$topo/cpu-only-1s.xml" \
    --label a=1 --label a=2 || true
run "--json alone" 2 "$w" --json || true
run "extra argument" 2 "$w" --print-resources extra || true

[ $fail -eq 0 ] && echo "worker_print_resources: ok"
exit $fail
