"""Reference for quality_test.go: scikit-learn LogisticRegression on the
hashed features Lakestream's featurizer produced (read from raw arrays), and
the test-day ROC AUC of each regularization strength.

usage: sklearn_lr.py DIR  (DIR holds {train,test}.{indptr,indices,labels} and
meta.json with the column count); prints one JSON object.
"""
import json
import sys
import time

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score, log_loss


def load(d, name, cols):
    indptr = np.fromfile(f"{d}/{name}.indptr", dtype="<i8")
    indices = np.fromfile(f"{d}/{name}.indices", dtype="<i4")
    labels = np.fromfile(f"{d}/{name}.labels", dtype="<f4")
    data = np.ones(len(indices), dtype=np.float64)
    return sp.csr_matrix((data, indices, indptr), shape=(len(labels), cols)), labels


def main():
    d = sys.argv[1]
    meta = json.load(open(f"{d}/meta.json"))
    xtr, ytr = load(d, "train", meta["cols"])
    xte, yte = load(d, "test", meta["cols"])
    out = {"rows_train": int(xtr.shape[0]), "rows_test": int(xte.shape[0]), "cols": meta["cols"], "by_C": {}}
    for c in meta["C"]:
        t0 = time.perf_counter()
        m = LogisticRegression(C=c, solver=meta.get("solver", "lbfgs"), max_iter=1000)
        m.fit(xtr, ytr)
        p = m.predict_proba(xte)[:, 1]
        out["by_C"][str(c)] = {
            "auc": float(roc_auc_score(yte, p)),
            "logloss": float(log_loss(yte, p)),
            "seconds": time.perf_counter() - t0,
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
