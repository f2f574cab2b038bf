"""Preprocess: split the handwritten-digits data set that scikit-learn ships
and standardise it. Seeded from CAIRN_SEED, so every run splits alike."""
import argparse
import os

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    seed = int(os.environ.get("CAIRN_SEED", "0"))
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, random_state=seed, stratify=y)
    scaler = StandardScaler().fit(x_train)
    os.makedirs(args.out, exist_ok=True)
    np.savez(os.path.join(args.out, "data.npz"),
             x_train=scaler.transform(x_train), y_train=y_train,
             x_test=scaler.transform(x_test), y_test=y_test)
    print(f"prep: {len(y_train)} train / {len(y_test)} test samples, seed {seed}")


if __name__ == "__main__":
    main()
