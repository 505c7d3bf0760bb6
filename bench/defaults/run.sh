#!/usr/bin/env bash
# The defaults table of bench/RESULTS.md ("Defaults"): every binary model
# kind with default flags, 1 and 2 epochs, on the quickstart's click log and
# on Adult (deploy/local/datasets.sh), judged by `trainer eval` on a
# held-out day that neither training nor validation read. Prints one
# Markdown row per run.
#
# Usage: bench/defaults/run.sh TRAINER [KIND...]
#   TRAINER is a trainer binary (go build -o /tmp/trainer ./cmd/trainer).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
trainer=$1; shift
kinds=("$@")
[ ${#kinds[@]} -gt 0 ] || kinds=(logistic fm ffm mlp deepfm adpredictor)
data=$("$here/../../deploy/local/datasets.sh")
py=$("$here/../../deploy/local/python.sh")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The quickstart's click log: 400k rows over 4 days (2014-10-21..24).
"$trainer" quickstart --rows 400000 --lake "$work/qs" --epochs 1 >/dev/null 2>&1
mkdir -p "$work/adult" && cp -r "$data/lake/adult" "$work/adult/"
sets=(
  "quickstart|$work/qs|clicks|$work/qs/specs/clicks.yaml|2014-10-21..2014-10-22|2014-10-23|2014-10-24"
  "adult|$work/adult|adult|$here/adult.yaml|2026-01-01|2026-01-02|2026-01-03"
)
echo "| data | model | epochs | epochs kept | validation AUC | held-out AUC | held-out log loss |"
echo "|---|---|---|---|---|---|---|"
for set in "${sets[@]}"; do
  IFS='|' read -r name lake table spec train val test <<<"$set"
  for kind in "${kinds[@]}"; do
    for epochs in 1 2; do
      out=$work/$name-$kind-$epochs
      log=$("$trainer" train --lake "$lake" --data "$table" --spec "$spec" --dt "$train" --validation-dt "$val" \
        --model "$kind" --epochs "$epochs" --output "$(basename "$out")" 2>/dev/null)
      kept=$(sed -n 's/^validation (epoch \([0-9]*\)).*auc \([0-9.]*\).*/\1 \2/p' <<<"$log")
      "$trainer" eval --lake "$lake" --data "$table" --dt "$test" --model "$(basename "$out")" --out "$out" >/dev/null 2>&1
      "$py" - "$out/report.json" "$name" "$kind" "$epochs" $kept <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["binary"]
print(f"| {sys.argv[2]} | {sys.argv[3]} | {sys.argv[4]} | {sys.argv[5]} | {float(sys.argv[6]):.4f} | {r['auc']:.4f} | {r['log_loss']:.4f} |")
PY
    done
  done
done
