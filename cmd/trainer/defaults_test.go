package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lakestream/lakestream/eval"
	"github.com/lakestream/lakestream/internal/movielens"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/train"
	"github.com/lakestream/lakestream/train/feature"
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

// TestBinaryDefaults trains every binary model kind with default flags,
// one epoch and two, on the quickstart's click log (400k rows: two days to
// train, the third to validate) and on Adult (deploy/local/datasets.sh: 80%
// train, 10% validation), and reads the validation AUC trainer train
// prints: no kind does worse than logistic regression (the simple
// baseline), and none does worse with --epochs 2 than with 1. adpredictor
// with its former default prior (1) and no early stopping failed both on
// bench/defaults/run.sh's quickstart lake (validation AUC 0.8126 against
// logistic regression's 0.8177; 0.8071 with 2 epochs). The tolerance
// 0.001 is below every gap measured (bench/RESULTS.md, "Defaults") and
// above the float32 differences a change of summation order makes.
func TestBinaryDefaults(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the Adult table and trains 13 models per data set; run without -short (make test)")
	}
	data := os.Getenv("LAKESTREAM_DATASETS")
	if data == "" {
		home, _ := os.UserHomeDir()
		data = filepath.Join(home, ".cache", "lakestream", "data")
	}
	src := filepath.Join(data, "lake", "adult")
	if _, err := os.Stat(filepath.Join(src, "dt=2026-01-03", "_SUCCESS")); err != nil {
		t.Fatalf("no Adult table: %v (run deploy/local/datasets.sh, which deploy/local/up.sh runs)", err)
	}
	adultLake := t.TempDir()
	if err := os.CopyFS(filepath.Join(adultLake, "adult"), os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	adultSpec, err := filepath.Abs(filepath.Join("..", "..", "bench", "defaults", "adult.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	_, clickDir, clickSpec, sum := clickLake(t, 400_000, 1<<16)
	sets := []struct{ name, lake, table, spec, dt, val string }{
		{"quickstart", clickDir, "clicks", clickSpec, sum.Days[0].DT + ".." + sum.Days[1].DT, sum.Days[2].DT},
		{"adult", adultLake, "adult", adultSpec, "2026-01-01", "2026-01-02"},
	}
	for _, ds := range sets {
		t.Run(ds.name, func(t *testing.T) {
			auc := func(kind, epochs string) float64 {
				out, _, err := runCLI("train", "--lake", ds.lake, "--data", ds.table, "--spec", ds.spec, "--model", kind,
					"--dt", ds.dt, "--validation-dt", ds.val, "--epochs", epochs)
				if err != nil {
					t.Fatalf("trainer train --model %s --epochs %s: %v\n%s", kind, epochs, err, out)
				}
				var epoch int
				var v float64
				for _, line := range strings.Split(out, "\n") {
					if _, err := fmt.Sscanf(line, "validation (epoch %d): auc %f", &epoch, &v); err == nil {
						return v
					}
				}
				t.Fatalf("trainer train --model %s printed no validation AUC:\n%s", kind, out)
				return 0
			}
			const tol = 0.001
			lr := auc("logistic", "1")
			for _, kind := range []string{"logistic", "fm", "ffm", "mlp", "deepfm", "adpredictor"} {
				one := lr
				if kind != "logistic" {
					one = auc(kind, "1")
				}
				two := auc(kind, "2")
				t.Logf("%-11s validation AUC: 1 epoch %.4f, 2 epochs %.4f (logistic, 1 epoch: %.4f)", kind, one, two, lr)
				if one < lr-tol {
					t.Errorf("%s with default flags: AUC %.4f, below logistic regression's %.4f", kind, one, lr)
				}
				if two < one-tol {
					t.Errorf("%s with default flags: AUC %.4f with --epochs 2, worse than %.4f with 1", kind, two, one)
				}
			}
		})
	}
}

// TestKindDefaultsApply: every command that takes the job flags gets the
// kind's optimizer and penalties, but only "trainer train" its epochs,
// shuffle window and (validated) patience: a stream of mf is one pass,
// and checkpoints keep file order and no early stopping. A flag given wins.
func TestKindDefaultsApply(t *testing.T) {
	spec := filepath.Join(t.TempDir(), "spec.yaml")
	if err := os.WriteFile(spec, []byte(movielens.SpecYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	parse := func(args ...string) *trainJob {
		t.Helper()
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		finish := trainFlags(fs)
		if err := fs.Parse(append([]string{"--data", "ratings", "--spec", spec}, args...)); err != nil {
			t.Fatal(err)
		}
		j, err := finish()
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	type got struct {
		opt                       string
		epochs, shuffle, patience int
		factorL2                  float64
	}
	state := func(j *trainJob) got {
		return got{j.opt.Name, j.run.Epochs, j.shuffle, j.run.Patience, j.model.FactorL2}
	}
	mf := train.KindDefaults(train.KindMF)
	stream := parse("--model", "mf")
	if g, want := state(stream), (got{"adam", 1, 0, 0, train.MFFactorL2}); g != want {
		t.Errorf("mf before trainer train's defaults: %+v, want %+v", g, want)
	}
	for _, tc := range []struct {
		name  string
		args  []string
		every time.Duration
		want  got
	}{
		{"mf", []string{"--model", "mf"}, 0, got{"adam", mf.Epochs, mf.ShuffleBuffer, 0, train.MFFactorL2}},
		{"mf validated", []string{"--model", "mf", "--validation-dt", "2026-01-02"}, 0, got{"adam", mf.Epochs, mf.ShuffleBuffer, mf.Patience, train.MFFactorL2}},
		{"mf checkpointed", []string{"--model", "mf", "--validation-dt", "2026-01-02"}, time.Second, got{"adam", mf.Epochs, 0, 0, train.MFFactorL2}},
		{"mf flags win", []string{"--model", "mf", "--validation-dt", "2026-01-02", "--epochs", "2", "--shuffle-buffer", "10", "--patience", "0", "--optimizer", "ftrl", "--factor-l2", "0"}, 0, got{"ftrl", 2, 10, 0, 0}},
		{"fm", []string{"--model", "fm", "--validation-dt", "2026-01-02"}, 0, got{"ftrl", 1, 0, 0, 0}},
		{"adpredictor validated", []string{"--model", "adpredictor", "--validation-dt", "2026-01-02"}, 0, got{"ftrl", 1, 0, 1, 0}},
	} {
		j := parse(tc.args...)
		j.checkpointEvery = tc.every
		j.applyTrainDefaults()
		if g := state(j); g != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, g, tc.want)
		}
	}
	// Windows are computed over the rows in event-time order: a spec with
	// windows keeps file order (the job would refuse a shuffle it was never
	// asked for).
	windowed := parse("--model", "mf")
	windowed.spec.Windows = []feature.Window{{Name: "w"}}
	windowed.applyTrainDefaults()
	if windowed.shuffle != 0 || windowed.run.Epochs != mf.Epochs {
		t.Errorf("mf with windows: shuffle %d, epochs %d; want 0, %d", windowed.shuffle, windowed.run.Epochs, mf.Epochs)
	}
	if j := parse("--model", "adpredictor"); j.model.PriorVariance != train.AdPredictorPriorVariance {
		t.Errorf("adpredictor prior variance %v, want %v", j.model.PriorVariance, train.AdPredictorPriorVariance)
	}
	if j := parse("--model", "bayes-linear"); j.model.PriorVariance != 1 {
		t.Errorf("bayes-linear prior variance %v, want 1", j.model.PriorVariance)
	}
}
