"""PyTorch CPU DeepFM on the rows Lakestream trained on, single-threaded.

BenchmarkDeepVersusPyTorch writes the featurized rows: for the training and
the test day, KEYS.bin holds rows x fields little-endian uint64 feature keys
(one per categorical field, value 1, field f in column f) and LABELS.bin the
rows' float32 click labels. The model is Lakestream's DeepFM
(train/deep.go) with the same sizes, initialization and optimizer:

    z = b + sum_j w_j + sum_{i<j} <v_i, v_j> + tower(concat_f v_f)

with embeddings and first-order weights N(0, std^2) (nn.Embedding with
sparse gradients: only the rows a batch touches are updated, as in
Lakestream's parameter server), a ReLU tower with He-normal weights and zero
biases, a zero global bias, the summed logistic loss of each mini-batch in
file order, one epoch. OPTIMIZER is adagrad (torch's Adagrad, the same
update as Lakestream's: n += g^2, w -= lr*g/(sqrt(n)+1e-8)) or adam
(SparseAdam for the embeddings, Adam for the rest; betas 0.9, 0.999, eps
1e-8; torch counts Adam's bias-correction steps per tensor, Lakestream per
row). Prints JSON: examples/s by wall clock and by CPU time of the training
loop, and the test AUC (scikit-learn).

usage: deepfm_torch.py DIR FIELDS K HIDDEN(64,32) STD OPTIMIZER LR BATCH
"""
import json
import os
import sys
import time

import numpy as np
import torch
from sklearn.metrics import roc_auc_score


def load(d, name, fields):
    keys = np.fromfile(os.path.join(d, name + "-keys.bin"), dtype="<u8").reshape(-1, fields)
    labels = np.fromfile(os.path.join(d, name + "-labels.bin"), dtype="<f4")
    if len(keys) != len(labels):
        raise SystemExit(f"{name}: {len(keys)} rows of keys, {len(labels)} labels")
    return keys, labels


class DeepFM(torch.nn.Module):
    def __init__(self, n, fields, k, hidden, std):
        super().__init__()
        self.fields, self.k = fields, k
        self.emb = torch.nn.Embedding(n, k, sparse=True)
        self.lin = torch.nn.Embedding(n, 1, sparse=True)
        torch.nn.init.normal_(self.emb.weight, std=std)
        torch.nn.init.normal_(self.lin.weight, std=std)
        self.bias = torch.nn.Parameter(torch.zeros(1))
        layers, width = [], fields * k
        for h in hidden + [1]:
            lin = torch.nn.Linear(width, h)
            torch.nn.init.normal_(lin.weight, std=(2 / width) ** 0.5)
            torch.nn.init.zeros_(lin.bias)
            layers += [lin, torch.nn.ReLU()]
            width = h
        self.tower = torch.nn.Sequential(*layers[:-1])

    def forward(self, ids):
        v = self.emb(ids)  # B x F x k
        s = v.sum(1)
        pair = 0.5 * (s * s - (v * v).sum(1)).sum(1)
        first = self.lin(ids).sum((1, 2))
        deep = self.tower(v.reshape(len(ids), self.fields * self.k)).squeeze(1)
        return self.bias + first + pair + deep


def main():
    d, fields, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    hidden = [int(h) for h in sys.argv[4].split(",") if h]
    std, opt, lr, batch = float(sys.argv[5]), sys.argv[6], float(sys.argv[7]), int(sys.argv[8])
    torch.set_num_threads(1)
    torch.manual_seed(1)
    train_keys, train_y = load(d, "train", fields)
    test_keys, test_y = load(d, "test", fields)
    # Dense ids for nn.Embedding: one per distinct key of either day (keys
    # only in the test day keep their initial values, as in Lakestream).
    uniq, inv = np.unique(np.concatenate([train_keys.ravel(), test_keys.ravel()]), return_inverse=True)
    ids = torch.from_numpy(inv.reshape(-1, fields).astype(np.int64))
    train_ids, test_ids = ids[: len(train_keys)], ids[len(train_keys):]
    y = torch.from_numpy(train_y)

    model = DeepFM(len(uniq), fields, k, hidden, std)
    sparse_params = list(model.emb.parameters()) + list(model.lin.parameters())
    dense_params = [model.bias] + list(model.tower.parameters())
    if opt == "adagrad":
        sparse = torch.optim.Adagrad(sparse_params, lr=lr, eps=1e-8)
        dense = torch.optim.Adagrad(dense_params, lr=lr, eps=1e-8)
    elif opt == "adam":
        sparse = torch.optim.SparseAdam(sparse_params, lr=lr, eps=1e-8)
        dense = torch.optim.Adam(dense_params, lr=lr, eps=1e-8)
    else:
        raise SystemExit(f"optimizer {opt!r}: want adagrad or adam")
    loss_fn = torch.nn.BCEWithLogitsLoss(reduction="sum")

    w0, c0 = time.perf_counter(), time.process_time()
    for lo in range(0, len(train_ids), batch):
        xb, yb = train_ids[lo:lo + batch], y[lo:lo + batch]
        sparse.zero_grad()
        dense.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        sparse.step()
        dense.step()
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0

    with torch.no_grad():
        scores = torch.cat([torch.sigmoid(model(test_ids[lo:lo + 8192])) for lo in range(0, len(test_ids), 8192)])
    n = len(train_ids)
    print(json.dumps({
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "optimizer": opt,
        "rows": n,
        "keys": len(uniq),
        "examples_per_s": n / wall,
        "examples_per_cpu_s": n / cpu,
        "test_auc": roc_auc_score(test_y, scores.numpy()),
    }))


if __name__ == "__main__":
    main()
