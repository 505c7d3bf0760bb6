"""Reference values for eval's golden tests, computed by scikit-learn.

Usage: python sklearn_fixtures.py OUT.json

Generates seeded inputs with ties (rounded scores) and sample weights
(including zero weights), computes every metric with scikit-learn where it
has one, and with plain NumPy where it has none (lift, KS, ECE, ranking
metrics other than NDCG, grouped AUC — definitions written out below, the
same as eval's documentation), and writes inputs and results as JSON.
Floats are written with repr, so they round-trip exactly.
"""
import json
import sys
import warnings

import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.metrics import (accuracy_score, average_precision_score,
                             f1_score, log_loss, mean_absolute_error,
                             mean_squared_error, ndcg_score, precision_score,
                             r2_score, recall_score, roc_auc_score, roc_curve)

warnings.simplefilter("ignore")  # y_pred rows that do not sum to one
rng = np.random.default_rng(20261122)


def lst(a):
    return [float(x) for x in a]


def lift(s, y, w, frac):
    order = np.argsort(-s, kind="stable")
    s, y, w = s[order], y[order], w[order]
    total, wp = w.sum(), (w * y).sum()
    tp = acc = 0.0
    i = 0
    while i < len(s):
        j = i
        while j < len(s) and s[j] == s[i]:
            tp += w[j] * y[j]
            acc += w[j]
            j += 1
        i = j
        if acc >= frac * total:
            break
    return (tp / acc) / (wp / total)


def binary_case(name, n, ties, weighted, zero_weights=False, int_weights=False):
    x = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-1.5 * x))).astype(float)
    s = 1 / (1 + np.exp(-(x + rng.normal(scale=0.8, size=n))))
    if ties:
        s = np.round(s, 2)
    s[:3] = [0.0, 1.0, 0.5]  # clipping in log loss; threshold tie
    w = np.ones(n)
    if weighted:
        w = rng.integers(1, 6, n).astype(float) if int_weights else rng.uniform(0.1, 3.0, n)
        if zero_weights:
            w[rng.random(n) < 0.05] = 0.0
    yp = (s >= 0.5).astype(int)
    fpr, tpr, thr = roc_curve(y, s, sample_weight=w, drop_intermediate=False)
    prob_true, prob_pred = calibration_curve(y, s, n_bins=10, strategy="uniform")
    # ECE over the same bins, weighted (calibration_curve has no weights).
    bins = np.linspace(0.0, 1.0, 11)
    ids = np.searchsorted(bins[1:-1], s)
    bw = np.bincount(ids, weights=w, minlength=10)
    bp = np.bincount(ids, weights=w * s, minlength=10)
    by = np.bincount(ids, weights=w * y, minlength=10)
    nz = bw > 0
    gaps = np.abs(bp[nz] / bw[nz] - by[nz] / bw[nz])
    return {
        "name": name,
        "scores": lst(s), "labels": lst(y), "weights": lst(w) if weighted else None,
        "roc_auc": roc_auc_score(y, s, sample_weight=w),
        "average_precision": average_precision_score(y, s, sample_weight=w),
        "log_loss": log_loss(y, s, sample_weight=w),
        "accuracy": accuracy_score(y, yp, sample_weight=w),
        "precision": precision_score(y, yp, sample_weight=w, zero_division=0),
        "recall": recall_score(y, yp, sample_weight=w, zero_division=0),
        "f1": f1_score(y, yp, sample_weight=w, zero_division=0),
        "ks": float(np.max(np.abs(tpr - fpr))),
        "lift_10": lift(s, y, w, 0.1),
        "lift_30": lift(s, y, w, 0.3),
        "roc_fpr": lst(fpr), "roc_tpr": lst(tpr),
        # thr[0] is +inf, which JSON cannot hold: eval checks it separately.
        "roc_thresholds_after_first": lst(thr[1:]),
        "calib_prob_true_unweighted": lst(prob_true),
        "calib_prob_pred_unweighted": lst(prob_pred),
        "ece": float(np.sum(bw[nz] / bw.sum() * gaps)),
        "mce": float(np.max(gaps)),
    }


def multiclass_case(name, n, k, weighted):
    p = rng.dirichlet(np.ones(k) * 0.7, size=n)
    p = np.round(p, 1)  # ties for the arg-max; rows need not sum to 1
    y = rng.integers(0, k, n)
    w = rng.uniform(0.2, 2.0, n) if weighted else np.ones(n)
    pred = np.argmax(p, axis=1)  # lowest index wins ties
    return {
        "name": name, "classes": k,
        "probs": lst(p.ravel()), "labels": [int(v) for v in y],
        "weights": lst(w) if weighted else None,
        "accuracy": accuracy_score(y, pred, sample_weight=w),
        "macro_f1": f1_score(y, pred, average="macro", sample_weight=w),
        "micro_f1": f1_score(y, pred, average="micro", sample_weight=w),
        "log_loss": log_loss(y, p, sample_weight=w, labels=list(range(k))),
    }


def regression_case(name, n, weighted, constant=False):
    t = np.full(n, 3.0) if constant else rng.normal(10, 3, n)
    p = t + rng.normal(0, 1.5, n)
    w = rng.uniform(0.1, 4.0, n) if weighted else np.ones(n)
    return {
        "name": name,
        "preds": lst(p), "targets": lst(t), "weights": lst(w) if weighted else None,
        "rmse": float(np.sqrt(mean_squared_error(t, p, sample_weight=w))),
        "mae": mean_absolute_error(t, p, sample_weight=w),
        "r2": r2_score(t, p, sample_weight=w),
    }


def ranking_ref(queries, weights, k):
    """P@K, R@K, MAP@K, MRR@K, hit rate in NumPy; NDCG by scikit-learn."""
    acc = dict(precision=0.0, recall=0.0, map=0.0, mrr=0.0, ndcg=0.0, hit=0.0)
    for (s, r), w in zip(queries, weights):
        s, r = np.asarray(s), np.asarray(r)
        nrel = int(np.sum(r > 0))
        if nrel == 0:
            continue
        top = np.argsort(-s, kind="stable")[:k]
        rel = r[top] > 0
        hits = np.cumsum(rel)
        acc["precision"] += w * hits[-1] / k
        acc["recall"] += w * hits[-1] / nrel
        ranks = np.arange(1, len(top) + 1)
        acc["map"] += w * np.sum((hits / ranks)[rel]) / min(k, nrel)
        acc["mrr"] += w * (1.0 / ranks[rel][0] if rel.any() else 0.0)
        acc["hit"] += w * float(rel.any())
        acc["ndcg"] += w * ndcg_score([r], [s], k=k)
    tw = float(np.sum(weights))
    return {key: float(v / tw) for key, v in acc.items()}


def ranking_case(name, nq, weighted):
    queries = []
    for _ in range(nq):
        m = int(rng.integers(2, 30))
        r = rng.choice([0, 0, 0, 1, 2, 3], size=m).astype(float)
        s = np.round(r * 0.3 + rng.normal(size=m), 1)  # ties
        queries.append((lst(s), lst(r)))
    w = rng.uniform(0.5, 2.0, nq) if weighted else np.ones(nq)
    return {
        "name": name,
        "queries": [{"scores": s, "relevance": r} for s, r in queries],
        "weights": lst(w) if weighted else None,
        "at": {str(k): ranking_ref(queries, w, k) for k in (1, 3, 5, 10)},
    }


def grouped_case(name, n, weighted):
    g = rng.integers(0, 150, n)  # small groups: some hold one class
    x = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-x))).astype(float)
    s = np.round(1 / (1 + np.exp(-(x + rng.normal(size=n)))), 2)
    w = rng.uniform(0.1, 3.0, n) if weighted else np.ones(n)
    num = den = 0.0
    used = skipped = 0
    for key in np.unique(g):
        m = g == key
        if (w[m] * y[m]).sum() == 0 or (w[m] * (1 - y[m])).sum() == 0:
            skipped += 1
            continue
        num += w[m].sum() * roc_auc_score(y[m], s[m], sample_weight=w[m])
        den += w[m].sum()
        used += 1
    return {
        "name": name, "groups": [int(v) for v in g],
        "scores": lst(s), "labels": lst(y), "weights": lst(w) if weighted else None,
        "auc": num / den, "used": used, "skipped": skipped,
    }


out = {
    "sklearn_version": __import__("sklearn").__version__,
    "binary": [
        binary_case("ties_unweighted", 600, ties=True, weighted=False),
        binary_case("ties_weighted", 600, ties=True, weighted=True, zero_weights=True),
        binary_case("continuous_weighted", 2000, ties=False, weighted=True),
        binary_case("ties_integer_weights", 800, ties=True, weighted=True, int_weights=True),
    ],
    "multiclass": [
        multiclass_case("k4_unweighted", 500, 4, False),
        multiclass_case("k5_weighted", 700, 5, True),
    ],
    "regression": [
        regression_case("unweighted", 400, False),
        regression_case("weighted", 400, True),
        # Unweighted: with weights, NumPy's weighted mean of a constant is off by
        # an ulp, SS_tot becomes ~1e-30 instead of 0 and r2_score returns -3e30;
        # eval's running mean stays exact and returns the defined value 0.
        regression_case("constant_targets", 50, False, constant=True),
    ],
    "ranking": [
        ranking_case("unweighted", 60, False),
        ranking_case("weighted", 80, True),
    ],
    "grouped": [
        grouped_case("unweighted", 1500, False),
        grouped_case("weighted", 1500, True),
    ],
}
with open(sys.argv[1], "w") as f:
    json.dump(out, f, allow_nan=False)
