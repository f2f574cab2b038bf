"""The shape of a JSON document: every path with the types found there.

    python3 json_paths.py FILE [EXPECTED]

prints one line per path and type, in the order they first appear:

    . object
    .jobs array
    .jobs[] object
    .jobs[].job_id integer
    .jobs[].seed integer

Types are object, array, string, integer, real, bool and null; a number
written with a fraction or an exponent is real. A path holding both
integers and reals (a double that happened to be whole) says number.
Element paths ([]) merge every element of an array. Keys that are not
plain words are quoted. Anything but strict JSON (NaN, trailing data) is
an error.

With EXPECTED (such lines, from an earlier run), it prints nothing and
exits 0 when FILE has exactly those lines in that order, else prints both
and exits 1. Where EXPECTED says number, integer or real alone matches.
"""
import difflib
import json
import re
import sys


def type_of(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "real"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def walk(path, v, seen):
    seen.setdefault(path, [])
    t = type_of(v)
    if t not in seen[path]:
        seen[path].append(t)
    if isinstance(v, dict):
        for k, x in v.items():
            key = k if re.fullmatch(r"[A-Za-z0-9_]+", k) else json.dumps(k)
            walk(("" if path == "." else path) + "." + key, x, seen)
    elif isinstance(v, list):
        for x in v:
            walk(path + "[]", x, seen)


def strict_constant(name):
    raise ValueError("not JSON: " + name)


def paths(file):
    with open(file, encoding="utf-8") as f:
        doc = json.loads(f.read(), parse_constant=strict_constant)
    seen = {}
    walk(".", doc, seen)
    lines = []
    for path, types in seen.items():
        if "integer" in types and "real" in types:
            types = [t for t in types if t != "real"]
            types[types.index("integer")] = "number"
        lines += [path + " " + t for t in types]
    return lines


def main():
    got = paths(sys.argv[1])
    if len(sys.argv) < 3:
        print("\n".join(got))
        return
    with open(sys.argv[2], encoding="utf-8") as f:
        want = f.read().splitlines()
    numbers = {w[: -len(" number")] for w in want if w.endswith(" number")}
    norm = []
    for g in got:
        path, t = g.rsplit(" ", 1)
        norm.append(path + " number" if path in numbers and t in ("integer", "real") else g)
    # a path with both in one file and one in another: keep one line
    norm = [g for i, g in enumerate(norm) if g not in norm[:i]]
    if norm != want:
        print("--- expected %s\n+++ got %s" % (sys.argv[2], sys.argv[1]))
        for line in difflib.unified_diff(want, norm, lineterm="", n=2):
            print(line)
        sys.exit(1)


main()
