"""Writes a scikit-learn LogisticRegression served by MLServer for the
side-by-side serving benchmark: NFEATURES inputs, fitted on random data.

Usage: mlserver_model.py DIR NFEATURES GRPC_PORT HTTP_PORT
"""
import json
import os
import sys

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression


def main(out, nfeatures, grpc_port, http_port):
    nfeatures = int(nfeatures)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2000, nfeatures))
    y = (x @ rng.normal(size=nfeatures) > 0).astype(int)
    clf = LogisticRegression().fit(x, y)
    model_dir = os.path.join(out, "sk")
    os.makedirs(model_dir, exist_ok=True)
    joblib.dump(clf, os.path.join(model_dir, "model.joblib"))
    with open(os.path.join(model_dir, "model-settings.json"), "w") as f:
        json.dump({"name": "sk", "implementation": "mlserver_sklearn.SKLearnModel",
                   "parameters": {"uri": "./model.joblib", "version": "1"}}, f)
    with open(os.path.join(out, "settings.json"), "w") as f:
        json.dump({"grpc_port": int(grpc_port), "http_port": int(http_port), "host": "127.0.0.1",
                   "metrics_port": int(http_port) + 1, "parallel_workers": 0, "debug": False}, f)


if __name__ == "__main__":
    main(*sys.argv[1:])
