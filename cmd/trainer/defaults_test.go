package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lakestream/lakestream/eval"
	"github.com/lakestream/lakestream/internal/movielens"
	"github.com/lakestream/lakestream/lake"
)

// TestMFDefaultsBeatBiasBaselineOnMovieLens trains mf with default flags on
// MovieLens 100k (80% train, 10% validation for early stopping) and judges
// it with "trainer eval" on the held-out 10%: its RMSE must beat the
// regularized user/item-bias baseline (Koren's, its shrinkage chosen on the
// same validation split), and eval --k prints its ranking metrics.
func TestMFDefaultsBeatBiasBaselineOnMovieLens(t *testing.T) {
	rs := movielens.Require(t)
	dir := t.TempDir()
	store, err := lake.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := movielens.WriteLake(context.Background(), store, "ratings", rs); err != nil {
		t.Fatal(err)
	}
	spec := filepath.Join(dir, "spec.yaml")
	if err := os.WriteFile(spec, []byte(movielens.SpecYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	var parts [3][]movielens.Rating
	for _, r := range rs {
		parts[movielens.Split(r)] = append(parts[movielens.Split(r)], r)
	}
	var base *movielens.BiasBaseline
	for _, l := range []float64{0, 2, 5, 10, 25} {
		b := movielens.FitBiasBaseline(parts[0], l, l)
		if base == nil || movielens.RMSE(parts[1], b.Predict) < movielens.RMSE(parts[1], base.Predict) {
			base = b
		}
	}
	baseRMSE := movielens.RMSE(parts[2], base.Predict)

	out, _, err := runCLI("train", "--lake", dir, "--data", "ratings", "--spec", spec, "--model", "mf",
		"--dt", movielens.TrainDT, "--validation-dt", movielens.ValidationDT, "--output", "ml")
	if err != nil {
		t.Fatalf("trainer train --model mf: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	report := filepath.Join(dir, "report")
	out, _, err = runCLI("eval", "--lake", dir, "--data", "ratings", "--dt", movielens.TestDT, "--model", "ml",
		"--k", "10", "--relevant-min", "4", "--exclude-dt", movielens.TrainDT+".."+movielens.ValidationDT, "--out", report)
	if err != nil {
		t.Fatalf("trainer eval --k 10: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	raw, err := os.ReadFile(filepath.Join(report, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep eval.Report
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Regression == nil || rep.Ranking == nil || !strings.Contains(out, "NDCG@10") {
		t.Fatalf("trainer eval printed no RMSE or no ranking metrics:\n%s", out)
	}
	t.Logf("held-out RMSE: mf defaults %.4f, bias baseline %.4f", rep.Regression.RMSE, baseRMSE)
	// With the defaults the margin on this split was 0.027 (bench/
	// RESULTS.md, "Defaults"); about a third of it is asked, so defaults
	// that only match the baseline (no useful factors) fail.
	if rep.Regression.RMSE > baseRMSE-0.01 {
		t.Errorf("mf with default flags: held-out RMSE %.4f, want < bias baseline %.4f − 0.01", rep.Regression.RMSE, baseRMSE)
	}
}
