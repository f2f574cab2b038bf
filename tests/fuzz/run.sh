#!/bin/sh
# Build the fuzz targets with clang and run each for a few seconds.
#   run.sh WORKDIR [SECONDS]   (from anywhere; ctest's fuzz_short runs it)
# Builds in WORKDIR/build (kept between runs), fuzzes each target from a
# copy of tests/fuzz/corpus/<target>/ for SECONDS (default 5) with ASan and
# UBSan, first replaying tests/fuzz/regressions/<target>/ (inputs that once
# crashed). Exit 77 (skipped) when clang or libFuzzer is not installed.
# Crash inputs are left in WORKDIR/artifacts/<target>/.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=${1:?usage: run.sh WORKDIR [SECONDS]}
secs=${2:-5}
cc=${CC_FUZZ:-clang}

if ! command -v "$cc" >/dev/null 2>&1; then
    echo "fuzz: $cc not found: skipped"
    exit 77
fi
mkdir -p "$work"
work=$(cd "$work" && pwd)
probe="$work/probe.c"
echo 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return 0; }' >"$probe"
if ! "$cc" -fsanitize=fuzzer,address,undefined "$probe" -o "$work/probe" 2>/dev/null; then
    echo "fuzz: $cc cannot link libFuzzer: skipped"
    exit 77
fi

start=$(date +%s)
if [ ! -f "$work/build/CMakeCache.txt" ]; then
    CC=$cc cmake -S "$here" -B "$work/build" -DCMAKE_BUILD_TYPE=None >"$work/configure.log" 2>&1 ||
        { cat "$work/configure.log"; exit 1; }
fi
cmake --build "$work/build" -j"${FUZZ_JOBS:-2}" >"$work/build.log" 2>&1 ||
    { tail -50 "$work/build.log"; exit 1; }
echo "fuzz: built in $(( $(date +%s) - start ))s"

fail=0
for t in envelope convert journal spec assign snapshot http; do
    bin="$work/build/fuzz_$t"
    reg="$here/regressions/$t"
    if [ -d "$reg" ] && [ -n "$(ls -A "$reg")" ]; then
        # Replays each file once; a crash fails the test.
        # -timeout: some inputs once took seconds (quadratic behaviour).
        if ! "$bin" -runs=0 -timeout=2 "$reg"/* >"$work/$t.regress.log" 2>&1; then
            echo "fuzz_$t: a regression input fails again:"
            tail -40 "$work/$t.regress.log"
            fail=1
            continue
        fi
        echo "fuzz_$t: $(ls "$reg" | wc -l) regression inputs pass"
    fi
    corpus="$work/corpus/$t"
    mkdir -p "$corpus" "$work/artifacts/$t"
    [ -d "$here/corpus/$t" ] && cp -f "$here/corpus/$t"/* "$corpus"/ 2>/dev/null || true
    dict=""
    [ -f "$here/$t.dict" ] && dict="-dict=$here/$t.dict"
    if "$bin" $dict -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$work/artifacts/$t/" "$corpus" \
        >"$work/$t.log" 2>&1; then
        echo "fuzz_$t: $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$t.log" |
            grep -o '[0-9]*$') runs in ${secs}s, no finding"
    else
        echo "fuzz_$t: FOUND a problem (input in $work/artifacts/$t/):"
        grep -A30 'ERROR\|runtime error\|==ERROR\|deadly signal' "$work/$t.log" | head -60
        fail=1
    fi
done
echo "fuzz: total $(( $(date +%s) - start ))s"
exit $fail
