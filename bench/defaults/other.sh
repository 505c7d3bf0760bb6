#!/usr/bin/env bash
# The defaults table of bench/RESULTS.md ("Defaults") for the kinds that are
# not binary: linear and bayes-linear regression on diabetes and linear on
# the quickstart's click label (a linear probability model; bayes-linear
# refuses a binary label), judged by `trainer eval` on the held-out split
# beside the training mean; softmax on digits, scored on the held-out split
# given as its validation split (softmax has no early stopping by default,
# and `trainer eval` scores binary and regression models only) beside the
# training class prior. Default flags, 1 and 2 epochs. MovieLens rows come
# from `go test ./cmd/trainer -run TestRegressionDefaults -v`.
#
# Usage: bench/defaults/other.sh TRAINER
#   TRAINER is a trainer binary (go build -o /tmp/trainer ./cmd/trainer).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
trainer=$1
data=$("$here/../../deploy/local/datasets.sh")
py=$("$here/../../deploy/local/python.sh")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$trainer" quickstart --rows 400000 --lake "$work/qs" --epochs 1 >/dev/null 2>&1
mkdir -p "$work/sk" && cp -r "$data/lake/diabetes" "$data/lake/digits" "$work/sk/"

# The simple baselines: the training mean's RMSE, the training class
# prior's log loss and the majority class's accuracy on the held-out split.
"$py" - "$work" <<'PY'
import glob, sys
import numpy as np, pyarrow.parquet as pq
def col(table, column, days):
    return np.concatenate([np.asarray(pq.read_table(f)[column], dtype=float) for d in days for f in sorted(glob.glob(f"{sys.argv[1]}/{table}/dt={d}/*.parquet"))])
for name, table, column, train, test in (("quickstart", "qs/clicks", "click", ["2014-10-21", "2014-10-22"], ["2014-10-24"]),
                                          ("diabetes", "sk/diabetes", "progression", ["2026-01-01"], ["2026-01-03"])):
    y, t = col(table, column, train), col(table, column, test)
    print(f"baseline {name}: training mean {y.mean():.4f}, held-out RMSE {np.sqrt(np.mean((t - y.mean()) ** 2)):.4f}")
y, t = col("sk/digits", "digit", ["2026-01-01"]).astype(int), col("sk/digits", "digit", ["2026-01-03"]).astype(int)
p = np.bincount(y, minlength=10) / len(y)
print(f"baseline digits: class prior held-out log loss {-np.mean(np.log(p[t])):.4f}, majority class accuracy {np.mean(t == p.argmax()):.4f}")
PY

echo "| data | model | epochs | epochs kept | validation | held-out RMSE | held-out R² |"
echo "|---|---|---|---|---|---|---|"
for run in "quickstart|$work/qs|clicks|$work/qs/specs/clicks.yaml|2014-10-21..2014-10-22|2014-10-23|2014-10-24|linear" \
  "diabetes|$work/sk|diabetes|$here/diabetes.yaml|2026-01-01|2026-01-02|2026-01-03|linear" \
  "diabetes|$work/sk|diabetes|$here/diabetes.yaml|2026-01-01|2026-01-02|2026-01-03|bayes-linear"; do
  IFS='|' read -r name lake table spec train val test kind <<<"$run"
  for epochs in 1 2; do
    out=$work/$name-$kind-$epochs
    log=$("$trainer" train --lake "$lake" --data "$table" --spec "$spec" --dt "$train" --validation-dt "$val" \
      --model "$kind" --epochs "$epochs" --output "$(basename "$out")" 2>/dev/null)
    kept=$(sed -n 's/^validation (epoch \([0-9]*\)): \(.*\)  (.*/\1|\2/p' <<<"$log")
    "$trainer" eval --lake "$lake" --data "$table" --dt "$test" --model "$(basename "$out")" --task regression --out "$out" >/dev/null 2>&1
    "$py" - "$out/report.json" "$name" "$kind" "$epochs" "$kept" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["regression"]
kept, val = sys.argv[5].split("|")
print(f"| {sys.argv[2]} | {sys.argv[3]} | {sys.argv[4]} | {kept} | {val} | {r['rmse']:.4f} | {r['r2']:.4f} |")
PY
  done
done

echo
echo "| data | model | epochs | held-out accuracy | held-out log loss |"
echo "|---|---|---|---|---|"
for epochs in 1 2; do
  "$trainer" train --lake "$work/sk" --data digits --spec "$here/digits.yaml" --dt 2026-01-01 --validation-dt 2026-01-03 \
    --model softmax --epochs "$epochs" 2>/dev/null |
    sed -n "s/^validation (epoch [0-9]*): accuracy \([0-9.]*\)  logloss \([0-9.]*\).*/| digits | softmax | $epochs | \1 | \2 |/p"
done
