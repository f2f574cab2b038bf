"""Evaluate one trained model on the held-out split; writes its metrics."""
import argparse
import json
import os
import pickle

import numpy as np
from sklearn.metrics import accuracy_score, f1_score


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--C", type=float, required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    d = np.load(os.path.join(args.data, "data.npz"))
    with open(args.model, "rb") as f:
        model = pickle.load(f)
    pred = model.predict(d["x_test"])
    metrics = {"C": args.C,
               "accuracy": round(float(accuracy_score(d["y_test"], pred)), 6),
               "macro_f1": round(float(f1_score(d["y_test"], pred, average="macro")), 6)}
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(metrics, f, sort_keys=True)
    print(f"evaluate C={args.C}: {metrics}")


if __name__ == "__main__":
    main()
