#!/bin/sh
# Every binary answers --help and --version, and refuses an unknown option.
set -eu
bin="$1"
fail=0
for b in cairn cairn-scheduler cairn-worker; do
    out=$("$bin/$b" --help) || { echo "FAIL: $b --help exited non-zero"; fail=1; }
    case "$out" in *"Usage: $b"*) ;; *) echo "FAIL: $b --help lacks usage"; fail=1 ;; esac
    v=$("$bin/$b" --version) || { echo "FAIL: $b --version exited non-zero"; fail=1; }
    case "$v" in "$b "[0-9]*) ;; *) echo "FAIL: $b --version printed '$v'"; fail=1 ;; esac
    if "$bin/$b" --no-such-option >/dev/null 2>&1; then
        echo "FAIL: $b accepted an unknown option"; fail=1
    fi
done
[ $fail -eq 0 ] && echo "binaries: ok"
exit $fail
