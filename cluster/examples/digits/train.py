"""Train one model of the sweep: an SGD-trained linear SVM with
regularisation C. Seeded from CAIRN_SEED (the same on every retry)."""
import argparse
import os
import pickle

import numpy as np
from sklearn.linear_model import SGDClassifier


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--C", type=float, required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    seed = int(os.environ.get("CAIRN_SEED", "0"))
    d = np.load(os.path.join(args.data, "data.npz"))
    alpha = 1.0 / (args.C * len(d["y_train"]))
    model = SGDClassifier(loss="hinge", alpha=alpha, max_iter=200, tol=1e-4,
                          random_state=seed).fit(d["x_train"], d["y_train"])
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "wb") as f:
        pickle.dump(model, f)
    gpus = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    print(f"train C={args.C}: seed {seed}, GPUs [{gpus}], "
          f"train accuracy {model.score(d['x_train'], d['y_train']):.4f}")


if __name__ == "__main__":
    main()
