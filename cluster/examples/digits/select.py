"""Select the best model of the sweep by held-out accuracy (ties: smaller
C) and write its metrics to best.json."""
import argparse
import glob
import json
import os


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--metrics", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    rows = []
    for path in sorted(glob.glob(os.path.join(args.metrics, "*.json"))):
        with open(path) as f:
            rows.append(json.load(f))
    if not rows:
        raise SystemExit("select: no metrics found")
    best = max(rows, key=lambda r: (r["accuracy"], -r["C"]))
    with open(args.out, "w") as f:
        json.dump({"best": best, "candidates": len(rows)}, f, sort_keys=True)
    for r in sorted(rows, key=lambda r: r["C"]):
        mark = "  <- best" if r is best else ""
        print(f"C={r['C']:<6} accuracy {r['accuracy']:.4f}  macro-F1 {r['macro_f1']:.4f}{mark}")
    print(f"select: wrote {args.out}")


if __name__ == "__main__":
    main()
