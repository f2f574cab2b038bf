#!/bin/sh
# From a fresh Debian 12 checkout to a finished ML pipeline: install what is
# missing, build, start a local cluster, run the digits sweep example with
# live progress, and show its results.
set -eu
cd "$(dirname "$0")/../.."
sh cluster/scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$(nproc)"
CAIRN_BIN=$PWD/build/bin sh cluster/examples/run-digits.sh
echo "The cluster is still up: try 'build/bin/cairn jobs', 'build/bin/cairn nodes';"
echo "'build/bin/cairn down' stops it."
