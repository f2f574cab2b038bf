# The fake NVML (tests/fake_nvml) for the GPU tests. After
# `. lib/fake_nvml.sh`:
#   fake_nvml_config OUT TRIGGER [mig]   OUT: the 8 x H100 fixture's devices
#       (tests/fake_nvml/hgx-h100-mig.json), in MIG mode as the fixture has
#       them with `mig`, else none; events come from the file TRIGGER
#   fake_nvml_lib                        the library's path (exits if absent)
fake_nvml_config() {
    python3 -c 'import json,sys
c = json.load(open(sys.argv[1]))
if sys.argv[4] != "mig":
    for d in c["devices"]: d.pop("mig", None)
c["event_trigger"] = sys.argv[2]
json.dump(c, open(sys.argv[3], "w"))' "$tests/fake_nvml/hgx-h100-mig.json" "$2" "$1" "${3:-}" ||
        exit 1
}
fake_nvml_lib() {
    [ -f "$bin/../tests/libfake_nvml.so" ] || { echo "FAIL: no $bin/../tests/libfake_nvml.so"; exit 1; }
    echo "$bin/../tests/libfake_nvml.so"
}
