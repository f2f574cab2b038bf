#!/bin/sh
# The structure the code promises (docs/architecture.md), checked on the
# tree and the built libraries:
#  - every include of a project header names its folder;
#  - proto/ includes nothing from scheduling/ (the wire does not know the core);
#  - the scheduling core calls nothing but the libc functions it is allowed
#    (no I/O, no clock, no randomness) and the pure part of common/;
#  - no circle of calls between the files of the scheduler daemon, nor
#    between those of the worker daemon;
#  - cluster/ builds only its own sources and links the rest as targets;
#  - no .c file outside tests/ is longer than 800 lines.
#   sh layout.sh BIN_DIR TESTS_DIR
set -u
bin="$1"
tests="$2"
root=$(cd "$tests/.." && pwd)
build=$(cd "$bin/.." && pwd)
fail=0
bad() { echo "FAIL: $*"; fail=1; }

cd "$root" || exit 1
dirs="common scheduling proto scheduler worker cluster"

# --- includes name their folder
bare=$(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[^/"]*"' $(find $dirs -name '*.[ch]'))
[ -z "$bare" ] || bad "includes that do not name their folder:
$bare"

# --- proto/ does not include the core
core=$(grep -ln '#[[:space:]]*include[[:space:]]*"scheduling/' $(find proto -name '*.[ch]'))
[ -z "$core" ] || bad "proto/ includes scheduling/ in: $core"

# --- what the core calls: its own functions, the pure part of common/, and
# these libc functions (and the compiler's runtime); nothing else
command -v nm >/dev/null 2>&1 || { echo "skip: no nm"; exit 0; }
allowed="malloc calloc realloc free memcmp memcpy memmove memset strlen strcmp strncmp strchr
strstr snprintf vsnprintf qsort qsort_r regcomp regexec regerror regfree
errcode cairn_error_clear cairn_grow cairn_lower_bound cairn_find_sorted cairn_buf_printf
cairn_buf_add cairn_buf_take cairn_buf_fini
__popcountdi2 __udivti3 __umodti3 __divti3 __udivmodti4 __stack_chk_fail"
lib=$build/scheduling/libcairn_sched.a
[ -f "$lib" ] || bad "no $lib"
if [ -f "$lib" ]; then
    defined=$(nm -g --defined-only "$lib" | awk 'NF == 3 {print $3}' | sort -u)
    calls=$(nm -u "$lib" | awk '$1 == "U" {print $2}' | grep -v '^__\(asan\|ubsan\|sanitizer\|lsan\)' |
        sort -u)
    for s in $calls; do
        case " $(echo $allowed) " in *" $s "*) continue ;; esac
        echo "$defined" | grep -qx "$s" || bad "the scheduling core calls $s"
    done
fi

# --- no circle of calls between the files of a daemon: an edge from each
# object to the object that defines what it calls, sorted topologically
circles() { # LIBRARY FOLDER
    [ -f "$1" ] || { bad "no $1"; return; }
    nm -A "$1" 2>/dev/null | awk '
        { n = split($1, p, ":"); obj = p[n - 1] }
        $(NF - 1) ~ /^[TDBR]$/ { def[$NF] = obj }
        $(NF - 1) == "U" { use[obj] = use[obj] " " $NF }
        END {
            for (o in use) {
                k = split(use[o], s, " ")
                for (i = 1; i <= k; i++)
                    if ((s[i] in def) && def[s[i]] != o)
                        print o, def[s[i]]
            }
        }' | sort -u >"$build/$2-calls.txt"
    [ -s "$build/$2-calls.txt" ] || bad "no calls read from $1"
    loop=$(tsort "$build/$2-calls.txt" 2>&1 >/dev/null)
    [ -z "$loop" ] || bad "a circle of calls between $2/ files:
$loop"
}
circles "$build/scheduler/libcairn_scheduler_lib.a" scheduler
circles "$build/worker/libcairn_worker_lib.a" worker

# --- cluster/ names only its own sources
other=$(grep -n 'SOURCE_DIR}/\(common\|scheduling\|proto\|scheduler\|worker\)\|\.\./' \
    cluster/CMakeLists.txt)
[ -z "$other" ] || bad "cluster/CMakeLists.txt builds other folders' sources:
$other"

# --- small files
for f in $(find $dirs -name '*.c'); do
    n=$(wc -l <"$f")
    [ "$n" -le 800 ] || bad "$f has $n lines (at most 800)"
done

[ $fail -eq 0 ] && echo "layout: ok"
exit $fail
