package eval_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lakestream/lakestream/eval"
)

// splits cuts [0, n) into `workers` contiguous ranges of random sizes (some
// possibly empty), as data-parallel workers would see them.
func splits(r *rand.Rand, n, workers int) [][2]int {
	cuts := []int{0}
	for range workers - 1 {
		cuts = append(cuts, r.IntN(n+1))
	}
	cuts = append(cuts, n)
	for i := 1; i < len(cuts); i++ { // insertion sort: few cuts
		for j := i; j > 0 && cuts[j] < cuts[j-1]; j-- {
			cuts[j], cuts[j-1] = cuts[j-1], cuts[j]
		}
	}
	var out [][2]int
	for i := 1; i < len(cuts); i++ {
		out = append(out, [2]int{cuts[i-1], cuts[i]})
	}
	return out
}

// close12 compares floats that are sums of the same terms in a different
// order: 1e-12 relative is far above the rounding of a few thousand terms.
func close12(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-12*math.Max(1, math.Abs(want)) {
		t.Errorf("%s: merged %.17g, single %.17g", what, got, want)
	}
}

func TestMergeEqualsSinglePass(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	s, y, w := randomBinary(r, 5000, 50)
	for _, tc := range []struct {
		name    string
		weights []float64
		keep    bool
	}{
		{"unit weights", nil, false},
		{"weights", w, false},
		{"weights, kept scores", w, true},
	} {
		t.Run("Binary/"+tc.name, func(t *testing.T) {
			cfg := eval.DefaultBinaryConfig()
			cfg.KeepScores = tc.keep
			single, _ := eval.NewBinary(cfg)
			if err := single.Add(s, y, tc.weights); err != nil {
				t.Fatal(err)
			}
			merged, _ := eval.NewBinary(cfg)
			for _, sp := range splits(r, len(s), 4) {
				part, _ := eval.NewBinary(cfg)
				var pw []float64
				if tc.weights != nil {
					pw = tc.weights[sp[0]:sp[1]]
				}
				if err := part.Add(s[sp[0]:sp[1]], y[sp[0]:sp[1]], pw); err != nil {
					t.Fatal(err)
				}
				if err := merged.Merge(part); err != nil {
					t.Fatal(err)
				}
			}
			a, err := single.Result()
			if err != nil {
				t.Fatal(err)
			}
			b, err := merged.Result()
			if err != nil {
				t.Fatal(err)
			}
			if tc.weights == nil {
				// Unit weights: every sum is an integer, so merging is exact.
				if a.AUC != b.AUC || a.AUCBound != b.AUCBound || a.Confusion != b.Confusion {
					t.Errorf("unit weights: merged AUC %v±%v %+v, single %v±%v %+v", b.AUC, b.AUCBound, b.Confusion, a.AUC, a.AUCBound, a.Confusion)
				}
			}
			if a.Examples != b.Examples {
				t.Errorf("examples: merged %d, single %d", b.Examples, a.Examples)
			}
			close12(t, "AUC", b.AUC, a.AUC)
			close12(t, "AUCBound", b.AUCBound, a.AUCBound)
			close12(t, "AveragePrecision", b.AveragePrecision, a.AveragePrecision)
			close12(t, "LogLoss", b.LogLoss, a.LogLoss)
			close12(t, "KS", b.KS, a.KS)
			close12(t, "Lift", b.Lift, a.Lift)
			close12(t, "F1", b.Confusion.F1(), a.Confusion.F1())
			close12(t, "ECE", b.Calibration.ECE, a.Calibration.ECE)
			if tc.keep {
				exact, _ := eval.ROCAUC(s, y, tc.weights)
				close12(t, "exact AUC", b.AUC, exact)
			}
		})
	}

	t.Run("Multiclass", func(t *testing.T) {
		const k, n = 4, 3000
		probs := make([]float64, n*k)
		labels := make([]int, n)
		for i := range labels {
			labels[i] = r.IntN(k)
			var sum float64
			for c := range k {
				probs[i*k+c] = r.Float64()
				sum += probs[i*k+c]
			}
			for c := range k {
				probs[i*k+c] /= sum
			}
		}
		single, _ := eval.NewMulticlassAccumulator(k)
		if err := single.Add(probs, labels, w[:n]); err != nil {
			t.Fatal(err)
		}
		merged, _ := eval.NewMulticlassAccumulator(k)
		for _, sp := range splits(r, n, 3) {
			part, _ := eval.NewMulticlassAccumulator(k)
			if err := part.Add(probs[sp[0]*k:sp[1]*k], labels[sp[0]:sp[1]], w[sp[0]:sp[1]]); err != nil {
				t.Fatal(err)
			}
			if err := merged.Merge(part); err != nil {
				t.Fatal(err)
			}
		}
		a, _ := single.Result()
		b, _ := merged.Result()
		close12(t, "Accuracy", b.Accuracy, a.Accuracy)
		close12(t, "MacroF1", b.MacroF1, a.MacroF1)
		close12(t, "LogLoss", b.LogLoss, a.LogLoss)
	})

	t.Run("Regression", func(t *testing.T) {
		preds, targets := make([]float64, 4000), make([]float64, 4000)
		for i := range preds {
			targets[i] = 1e6 + r.NormFloat64() // large offset: tests the stable update
			preds[i] = targets[i] + 0.3*r.NormFloat64()
		}
		var single, merged eval.RegressionAccumulator
		if err := single.Add(preds, targets, w[:4000]); err != nil {
			t.Fatal(err)
		}
		for _, sp := range splits(r, len(preds), 5) {
			var part eval.RegressionAccumulator
			if err := part.Add(preds[sp[0]:sp[1]], targets[sp[0]:sp[1]], w[sp[0]:sp[1]]); err != nil {
				t.Fatal(err)
			}
			merged.Merge(&part)
		}
		a, _ := single.Result()
		b, _ := merged.Result()
		close12(t, "RMSE", b.RMSE, a.RMSE)
		close12(t, "MAE", b.MAE, a.MAE)
		// R² = 1 − SS_res/SS_tot with SS_tot ≈ 4000: 1e-10 covers the
		// different summation orders of the deviations.
		if math.Abs(b.R2-a.R2) > 1e-10 {
			t.Errorf("R2: merged %.17g, single %.17g", b.R2, a.R2)
		}
	})

	t.Run("Ranking", func(t *testing.T) {
		var queries []eval.Query
		for range 200 {
			m := 2 + r.IntN(20)
			q := eval.Query{}
			for range m {
				rel := float64(r.IntN(4))
				q.Relevance = append(q.Relevance, rel)
				q.Scores = append(q.Scores, math.Round(rel+2*r.NormFloat64()))
			}
			queries = append(queries, q)
		}
		single, _ := eval.NewRankingAccumulator(5)
		merged, _ := eval.NewRankingAccumulator(5)
		for _, sp := range splits(r, len(queries), 3) {
			part, _ := eval.NewRankingAccumulator(5)
			for i := sp[0]; i < sp[1]; i++ {
				if err := single.AddQuery(queries[i].Scores, queries[i].Relevance, w[i]); err != nil {
					t.Fatal(err)
				}
				if err := part.AddQuery(queries[i].Scores, queries[i].Relevance, w[i]); err != nil {
					t.Fatal(err)
				}
			}
			if err := merged.Merge(part); err != nil {
				t.Fatal(err)
			}
		}
		a, _ := single.Result()
		b, _ := merged.Result()
		close12(t, "NDCG", b.NDCGAtK, a.NDCGAtK)
		close12(t, "MAP", b.MAPAtK, a.MAPAtK)
		close12(t, "MRR", b.MRRAtK, a.MRRAtK)
		if a.Queries != b.Queries {
			t.Errorf("queries: merged %d, single %d", b.Queries, a.Queries)
		}
	})
}
