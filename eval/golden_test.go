package eval_test

import (
	"bufio"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lakestream/lakestream/eval"
	"github.com/lakestream/lakestream/internal/pyref"
)

// readCSV reads a testdata CSV, skipping '#' comment lines and the header.
func readCSV(t *testing.T, name string) [][]string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows [][]string
	sc := bufio.NewScanner(f)
	header := true
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		if header {
			header = false
			continue
		}
		rows = append(rows, strings.Split(line, ","))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

func atof(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestGoldenAUC reproduces the AUCs that R's ROCR and pROC report for the
// example data they ship. The references print 7 significant digits, so the
// tolerance is half a unit in the 7th decimal.
func TestGoldenAUC(t *testing.T) {
	const tol = 5e-8
	t.Run("ROCR.simple", func(t *testing.T) {
		rows := readCSV(t, "rocr_simple.csv")
		if len(rows) != 200 {
			t.Fatalf("ROCR.simple has %d rows, want 200", len(rows))
		}
		var s, y []float64
		for _, r := range rows {
			s = append(s, atof(t, r[0]))
			y = append(y, atof(t, r[1]))
		}
		auc, err := eval.ROCAUC(s, y, nil)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(auc-0.8341875) > tol {
			t.Errorf("ROCR.simple AUC = %.10f, want 0.8341875 (ROCR)", auc)
		}
	})
	t.Run("pROC aSAH s100b", func(t *testing.T) {
		rows := readCSV(t, "asah.csv")
		if len(rows) != 113 {
			t.Fatalf("aSAH has %d rows, want 113", len(rows))
		}
		var s, y []float64
		for _, r := range rows {
			label := 0.0
			if r[0] == "Poor" {
				label = 1
			}
			y = append(y, label)
			s = append(s, atof(t, r[2]))
		}
		auc, err := eval.ROCAUC(s, y, nil)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(auc-0.7313686) > tol {
			t.Errorf("aSAH s100b AUC = %.10f, want 0.7313686 (pROC)", auc)
		}
		// The sketch must bracket the same value within its own bound.
		sk, err := eval.NewAUCSketch(eval.SketchConfig{Bins: 4096, Lo: 0, Hi: 2.5})
		if err != nil {
			t.Fatal(err)
		}
		if err := sk.AddBatch(s, y, nil); err != nil {
			t.Fatal(err)
		}
		est, bound, err := sk.Estimate()
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(est-auc) > bound+1e-15 {
			t.Errorf("sketch %.10f ± %.3g misses exact %.10f", est, bound, auc)
		}
	})
}

// fixtures mirrors the JSON written by testdata/sklearn_fixtures.py.
type fixtures struct {
	SklearnVersion string `json:"sklearn_version"`
	Binary         []struct {
		Name                    string    `json:"name"`
		Scores, Labels, Weights []float64 `json:"-"`
		RawScores               []float64 `json:"scores"`
		RawLabels               []float64 `json:"labels"`
		RawWeights              []float64 `json:"weights"`
		ROCAUC                  float64   `json:"roc_auc"`
		AP                      float64   `json:"average_precision"`
		LogLoss                 float64   `json:"log_loss"`
		Accuracy                float64   `json:"accuracy"`
		Precision               float64   `json:"precision"`
		Recall                  float64   `json:"recall"`
		F1                      float64   `json:"f1"`
		KS                      float64   `json:"ks"`
		Lift10                  float64   `json:"lift_10"`
		Lift30                  float64   `json:"lift_30"`
		FPR                     []float64 `json:"roc_fpr"`
		TPR                     []float64 `json:"roc_tpr"`
		Thresholds              []float64 `json:"roc_thresholds_after_first"`
		ProbTrue                []float64 `json:"calib_prob_true_unweighted"`
		ProbPred                []float64 `json:"calib_prob_pred_unweighted"`
		ECE                     float64   `json:"ece"`
		MCE                     float64   `json:"mce"`
	} `json:"binary"`
	Multiclass []struct {
		Name     string    `json:"name"`
		Classes  int       `json:"classes"`
		Probs    []float64 `json:"probs"`
		Labels   []int     `json:"labels"`
		Weights  []float64 `json:"weights"`
		Accuracy float64   `json:"accuracy"`
		MacroF1  float64   `json:"macro_f1"`
		MicroF1  float64   `json:"micro_f1"`
		LogLoss  float64   `json:"log_loss"`
	} `json:"multiclass"`
	Regression []struct {
		Name           string    `json:"name"`
		Preds, Targets []float64 `json:"-"`
		RawPreds       []float64 `json:"preds"`
		RawTargets     []float64 `json:"targets"`
		Weights        []float64 `json:"weights"`
		RMSE, MAE, R2  float64
	} `json:"regression"`
	Ranking []struct {
		Name    string       `json:"name"`
		Queries []eval.Query `json:"-"`
		Raw     []struct {
			Scores    []float64 `json:"scores"`
			Relevance []float64 `json:"relevance"`
		} `json:"queries"`
		Weights []float64 `json:"weights"`
		At      map[string]struct {
			Precision, Recall, MAP, MRR, NDCG, Hit float64
		} `json:"at"`
	} `json:"ranking"`
	Grouped []struct {
		Name    string    `json:"name"`
		Groups  []int64   `json:"groups"`
		Scores  []float64 `json:"scores"`
		Labels  []float64 `json:"labels"`
		Weights []float64 `json:"weights"`
		AUC     float64   `json:"auc"`
		Used    int       `json:"used"`
		Skipped int       `json:"skipped"`
	} `json:"grouped"`
}

// loadFixtures runs the scikit-learn script (see internal/pyref) and parses
// its output.
func loadFixtures(t *testing.T) *fixtures {
	t.Helper()
	out := filepath.Join(t.TempDir(), "fixtures.json")
	pyref.Run(t, filepath.Join("testdata", "sklearn_fixtures.py"), out)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var fx fixtures
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatal(err)
	}
	for i := range fx.Binary {
		c := &fx.Binary[i]
		c.Scores, c.Labels, c.Weights = c.RawScores, c.RawLabels, c.RawWeights
	}
	for i := range fx.Regression {
		c := &fx.Regression[i]
		c.Preds, c.Targets = c.RawPreds, c.RawTargets
	}
	for i := range fx.Ranking {
		c := &fx.Ranking[i]
		for _, q := range c.Raw {
			c.Queries = append(c.Queries, eval.Query{Scores: q.Scores, Relevance: q.Relevance})
		}
	}
	return &fx
}

// exactTol is the agreement required with scikit-learn where both compute
// the same formula: the sums differ only in floating-point order, which for
// these sizes (≤ 2,000 terms of magnitude ≤ 40) stays far below 1e-9.
const exactTol = 1e-9

func near(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > exactTol*math.Max(1, math.Abs(want)) {
		t.Errorf("%s = %.15g, scikit-learn %.15g (diff %.3g)", what, got, want, got-want)
	}
}

func nearSlice(t *testing.T, what string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d points, scikit-learn %d", what, len(got), len(want))
		return
	}
	for i := range got {
		if math.IsInf(want[i], 0) && got[i] == want[i] {
			continue
		}
		if math.Abs(got[i]-want[i]) > exactTol {
			t.Errorf("%s[%d] = %.15g, scikit-learn %.15g", what, i, got[i], want[i])
			return
		}
	}
}

func TestSklearnFixtures(t *testing.T) {
	fx := loadFixtures(t)
	t.Logf("scikit-learn %s", fx.SklearnVersion)
	for _, c := range fx.Binary {
		t.Run("binary/"+c.Name, func(t *testing.T) {
			s, y, w := c.Scores, c.Labels, c.Weights
			must := func(v float64, err error) float64 {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
			near(t, "ROCAUC", must(eval.ROCAUC(s, y, w)), c.ROCAUC)
			near(t, "AveragePrecision", must(eval.AveragePrecision(s, y, w)), c.AP)
			near(t, "LogLoss", must(eval.LogLoss(s, y, w)), c.LogLoss)
			near(t, "KS", must(eval.KS(s, y, w)), c.KS)
			near(t, "Lift(0.1)", must(eval.Lift(s, y, w, 0.1)), c.Lift10)
			near(t, "Lift(0.3)", must(eval.Lift(s, y, w, 0.3)), c.Lift30)
			cm, err := eval.ConfusionAt(s, y, w, 0.5)
			if err != nil {
				t.Fatal(err)
			}
			near(t, "Accuracy", cm.Accuracy(), c.Accuracy)
			near(t, "Precision", cm.Precision(), c.Precision)
			near(t, "Recall", cm.Recall(), c.Recall)
			near(t, "F1", cm.F1(), c.F1)
			roc, err := eval.ROCCurve(s, y, w)
			if err != nil {
				t.Fatal(err)
			}
			nearSlice(t, "ROC FPR", roc.X, c.FPR)
			nearSlice(t, "ROC TPR", roc.Y, c.TPR)
			if !math.IsInf(roc.Thresholds[0], 1) {
				t.Errorf("first ROC threshold = %v, want +Inf", roc.Thresholds[0])
			}
			nearSlice(t, "ROC thresholds", roc.Thresholds[1:], c.Thresholds)

			cal, err := eval.Calibrate(s, y, w, 10)
			if err != nil {
				t.Fatal(err)
			}
			near(t, "ECE", cal.ECE, c.ECE)
			near(t, "MCE", cal.MCE, c.MCE)
			unweighted, err := eval.Calibrate(s, y, nil, 10)
			if err != nil {
				t.Fatal(err)
			}
			var pt, pp []float64
			for _, b := range unweighted.Bins {
				if b.Weight > 0 {
					pt = append(pt, b.FractionPositive)
					pp = append(pp, b.MeanPredicted)
				}
			}
			nearSlice(t, "calibration prob_true", pt, c.ProbTrue)
			nearSlice(t, "calibration prob_pred", pp, c.ProbPred)

			// The one-pass accumulator with kept scores reports the same.
			cfg := eval.DefaultBinaryConfig()
			cfg.KeepScores = true
			acc, err := eval.NewBinary(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := acc.Add(s, y, w); err != nil {
				t.Fatal(err)
			}
			m, err := acc.Result()
			if err != nil {
				t.Fatal(err)
			}
			near(t, "Binary.AUC", m.AUC, c.ROCAUC)
			near(t, "Binary.AveragePrecision", m.AveragePrecision, c.AP)
			near(t, "Binary.LogLoss", m.LogLoss, c.LogLoss)
			near(t, "Binary.KS", m.KS, c.KS)
			near(t, "Binary.Lift", m.Lift, c.Lift10)
			near(t, "Binary.F1", m.Confusion.F1(), c.F1)
			near(t, "Binary.ECE", m.Calibration.ECE, c.ECE)
		})
	}
	for _, c := range fx.Multiclass {
		t.Run("multiclass/"+c.Name, func(t *testing.T) {
			m, err := eval.MulticlassMetrics(c.Probs, c.Labels, c.Weights, c.Classes)
			if err != nil {
				t.Fatal(err)
			}
			near(t, "Accuracy", m.Accuracy, c.Accuracy)
			near(t, "MacroF1", m.MacroF1, c.MacroF1)
			near(t, "MicroF1", m.MicroF1, c.MicroF1)
			near(t, "LogLoss", m.LogLoss, c.LogLoss)
		})
	}
	for _, c := range fx.Regression {
		t.Run("regression/"+c.Name, func(t *testing.T) {
			r, err := eval.RegressionMetrics(c.Preds, c.Targets, c.Weights)
			if err != nil {
				t.Fatal(err)
			}
			near(t, "RMSE", r.RMSE, c.RMSE)
			near(t, "MAE", r.MAE, c.MAE)
			near(t, "R2", r.R2, c.R2)
		})
	}
	for _, c := range fx.Ranking {
		for ks, want := range c.At {
			t.Run("ranking/"+c.Name+"@"+ks, func(t *testing.T) {
				k, _ := strconv.Atoi(ks)
				r, err := eval.RankingMetrics(k, c.Queries, c.Weights)
				if err != nil {
					t.Fatal(err)
				}
				near(t, "PrecisionAtK", r.PrecisionAtK, want.Precision)
				near(t, "RecallAtK", r.RecallAtK, want.Recall)
				near(t, "MAPAtK", r.MAPAtK, want.MAP)
				near(t, "MRRAtK", r.MRRAtK, want.MRR)
				near(t, "NDCGAtK", r.NDCGAtK, want.NDCG)
				near(t, "HitRateAtK", r.HitRateAtK, want.Hit)
			})
		}
	}
	for _, c := range fx.Grouped {
		t.Run("grouped/"+c.Name, func(t *testing.T) {
			g, err := eval.GroupedAUC(c.Groups, c.Scores, c.Labels, c.Weights)
			if err != nil {
				t.Fatal(err)
			}
			near(t, "GroupedAUC", g.AUC, c.AUC)
			if g.Groups != c.Used || g.Skipped != c.Skipped {
				t.Errorf("groups used/skipped = %d/%d, reference %d/%d", g.Groups, g.Skipped, c.Used, c.Skipped)
			}
		})
	}
}

// TestBootstrapAgreesWithDeLong compares CompareAUC's paired-bootstrap
// interval with pROC's paired DeLong interval for the same AUC differences
// on aSAH (roc.test(roc(outcome, wfns), roc(outcome, s100b)) and likewise
// for ndka; values as published by pROC). The two methods differ (resampling
// versus an asymptotic variance) and the bootstrap has Monte-Carlo error of
// about 0.004 at 4,000 resamples, so the endpoints must agree to 0.02.
func TestBootstrapAgreesWithDeLong(t *testing.T) {
	rows := readCSV(t, "asah.csv")
	col := map[string][]float64{}
	var y []float64
	for _, r := range rows {
		label := 0.0
		if r[0] == "Poor" {
			label = 1
		}
		y = append(y, label)
		col["wfns"] = append(col["wfns"], atof(t, r[1]))
		col["s100b"] = append(col["s100b"], atof(t, r[2]))
		col["ndka"] = append(col["ndka"], atof(t, r[3]))
	}
	for _, tc := range []struct {
		a, b   string  // difference AUC(a) − AUC(b)
		lo, hi float64 // pROC's paired DeLong 95% CI
	}{
		{"wfns", "s100b", 0.0104061769564846, 0.174214419249478},
		{"wfns", "ndka", 0.0634011709339876, 0.3600405634833566},
	} {
		t.Run(tc.a+"-"+tc.b, func(t *testing.T) {
			c, err := eval.CompareAUC(col[tc.b], col[tc.a], y, nil, eval.BootstrapConfig{Resamples: 4000, Level: 0.95, Seed: 2026})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("bootstrap diff %.4f CI [%.4f, %.4f]; DeLong [%.4f, %.4f]", c.Diff, c.CILow, c.CIHigh, tc.lo, tc.hi)
			if math.Abs(c.CILow-tc.lo) > 0.02 || math.Abs(c.CIHigh-tc.hi) > 0.02 {
				t.Errorf("bootstrap CI [%.4f, %.4f] vs DeLong [%.4f, %.4f]", c.CILow, c.CIHigh, tc.lo, tc.hi)
			}
			// The point difference is exact: the DeLong interval is
			// symmetric around it.
			if want := (tc.lo + tc.hi) / 2; math.Abs(c.Diff-want) > 1e-12 {
				t.Errorf("AUC difference %.15f, pROC %.15f", c.Diff, want)
			}
		})
	}
}
