#!/bin/sh
# Run the digits sweep on a local Cairn cluster and show its results.
#   cluster/examples/run-digits.sh [--gpu]
# --gpu runs the GPU variant on a simulated 8-GPU node (tests/topologies).
# Uses the local cluster in $CAIRN_STATE_DIR (started if it is not up);
# results land in $CAIRN_EXAMPLE_OUT (default /tmp/cairn-digits).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${CAIRN_BIN:-$root/build/bin}
out=${CAIRN_EXAMPLE_OUT:-/tmp/cairn-digits}
spec_in=$here/digits/digits.yaml
up_args=""
if [ "${1:-}" = "--gpu" ]; then
    spec_in=$here/digits/digits-gpu.yaml
    out=$out-gpu
    # a cluster of its own: one simulated 8-GPU node
    CAIRN_STATE_DIR=$out-cluster
    export CAIRN_STATE_DIR
    up_args="--state-dir $CAIRN_STATE_DIR --topology $root/tests/topologies/hgx-h100-8gpu.xml"
fi
rm -rf "$out"
mkdir -p "$out"
spec=$out/$(basename "$spec_in")
sed -e "s|@EXAMPLE@|$here/digits|g" -e "s|@OUT@|$out|g" "$spec_in" >"$spec"
# shellcheck disable=SC2086
"$bin/cairn" up $up_args
"$bin/cairn" submit "$spec" --wait
echo
echo "best model ($out/best.json):"
cat "$out/best.json"
echo
