"""scikit-learn end to end on one click-log Parquet file, single-threaded:
read with pyarrow, featurize the 21 categorical columns with FeatureHasher
(2^20 buckets, "column=value" tokens, as Lakestream hashes each field), and
fit SGDClassifier(loss="log_loss") for one epoch. Prints JSON with the time
of each phase and examples/s over the whole.

usage: sgd_reference.py FILE
"""
import json
import sys
import time

import numpy as np
import pyarrow.parquet as pq
from sklearn.feature_extraction import FeatureHasher
from sklearn.linear_model import SGDClassifier

COLUMNS = ["C1", "banner_pos", "site_id", "site_domain", "site_category", "app_id",
           "app_domain", "app_category", "device_id", "device_ip", "device_model",
           "device_type", "device_conn_type", "C14", "C15", "C16", "C17", "C18",
           "C19", "C20", "C21"]


def main():
    path = sys.argv[1]
    t0 = time.perf_counter()
    table = pq.read_table(path, columns=["click"] + COLUMNS, use_threads=False)
    y = table.column("click").to_numpy()
    cols = [table.column(c).to_pylist() for c in COLUMNS]
    t1 = time.perf_counter()
    tokens = ([f"{c}={v}" for c, v in zip(COLUMNS, row)] for row in zip(*cols))
    x = FeatureHasher(n_features=1 << 20, input_type="string", alternate_sign=False).transform(tokens)
    t2 = time.perf_counter()
    model = SGDClassifier(loss="log_loss", max_iter=1, tol=None, random_state=1)
    model.fit(x, y)
    t3 = time.perf_counter()
    n = len(y)
    print(json.dumps({
        "rows": n,
        "read_s": t1 - t0, "featurize_s": t2 - t1, "fit_s": t3 - t2, "total_s": t3 - t0,
        "examples_per_s": n / (t3 - t0),
        "fit_examples_per_s": n / (t3 - t2),
    }))


if __name__ == "__main__":
    main()
