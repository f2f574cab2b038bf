#!/bin/sh
# The whole test suite: install missing packages, configure with sanitizers
# and -Werror, build, run every test. This is what CI runs.
set -eu
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-test}
sh cluster/scripts/setup.sh
cmake -S . -B "$BUILD_DIR" -DCAIRN_SANITIZE=ON -DCAIRN_WERROR=ON -DCMAKE_BUILD_TYPE=Debug
cmake --build "$BUILD_DIR" -j"$(nproc)"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j"$(nproc)"
