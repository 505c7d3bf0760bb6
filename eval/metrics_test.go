package eval_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/lakestream/lakestream/eval"
)

// bruteAUC is the O(n²) definition of weighted AUC: the weighted share of
// (positive, negative) pairs ordered correctly, ties counting one half.
func bruteAUC(s, y, w []float64) float64 {
	var num, den float64
	for i := range s {
		if y[i] != 1 {
			continue
		}
		for j := range s {
			if y[j] != 0 {
				continue
			}
			pw := w[i] * w[j]
			den += pw
			switch {
			case s[i] > s[j]:
				num += pw
			case s[i] == s[j]:
				num += pw / 2
			}
		}
	}
	return num / den
}

// randomBinary returns n examples with ties (scores rounded to `levels`
// values) and weights in [0, 3) including some zeros.
func randomBinary(r *rand.Rand, n, levels int) (s, y, w []float64) {
	for range n {
		x := r.NormFloat64()
		label := 0.0
		if r.Float64() < 1/(1+math.Exp(-2*x)) {
			label = 1
		}
		p := 1 / (1 + math.Exp(-(x + r.NormFloat64())))
		if levels > 0 {
			p = math.Round(p*float64(levels)) / float64(levels)
		}
		wt := 3 * r.Float64()
		if r.IntN(20) == 0 {
			wt = 0
		}
		s, y, w = append(s, p), append(y, label), append(w, wt)
	}
	return s, y, w
}

func TestROCAUCMatchesPairwiseDefinition(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name   string
		n      int
		levels int
	}{
		{"heavy ties", 300, 5},
		{"some ties", 500, 100},
		{"continuous", 400, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, y, w := randomBinary(r, tc.n, tc.levels)
			ones := make([]float64, len(s))
			for i := range ones {
				ones[i] = 1
			}
			// 1e-12: both sum O(n²) pair weights, in different orders.
			for _, weights := range [][]float64{nil, w} {
				bw := weights
				if bw == nil {
					bw = ones
				}
				got, err := eval.ROCAUC(s, y, weights)
				if err != nil {
					t.Fatal(err)
				}
				if want := bruteAUC(s, y, bw); math.Abs(got-want) > 1e-12 {
					t.Errorf("weighted=%v: ROCAUC = %.15f, pairwise %.15f", weights != nil, got, want)
				}
			}
		})
	}
}

func TestROCAUCKnownValues(t *testing.T) {
	for _, tc := range []struct {
		name    string
		s, y, w []float64
		want    float64
	}{
		// scikit-learn's roc_auc_score docstring example.
		{"sklearn example", []float64{0.1, 0.4, 0.35, 0.8}, []float64{0, 0, 1, 1}, nil, 0.75},
		{"all tied", []float64{1, 1, 1, 1}, []float64{0, 1, 0, 1}, nil, 0.5},
		{"perfect", []float64{-math.Inf(1), 0, 1, math.Inf(1)}, []float64{0, 0, 1, 1}, nil, 1},
		{"reversed", []float64{3, 2, 1}, []float64{0, 1, 1}, nil, 0},
		// Weight 3 on the misordered positive: pairs (p1>n)·1 + (p2<n)·3 → 1/4.
		{"weights", []float64{0.9, 0.1, 0.5}, []float64{1, 1, 0}, []float64{1, 3, 1}, 0.25},
		{"zero weight drops example", []float64{0.9, 0.1, 0.5}, []float64{1, 1, 0}, []float64{1, 0, 1}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := eval.ROCAUC(tc.s, tc.y, tc.w)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("ROCAUC = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestInvalidInputs(t *testing.T) {
	nan := math.NaN()
	type fn func(s, y, w []float64) error
	metrics := map[string]fn{
		"ROCAUC":           func(s, y, w []float64) error { _, err := eval.ROCAUC(s, y, w); return err },
		"AveragePrecision": func(s, y, w []float64) error { _, err := eval.AveragePrecision(s, y, w); return err },
		"LogLoss":          func(s, y, w []float64) error { _, err := eval.LogLoss(s, y, w); return err },
		"KS":               func(s, y, w []float64) error { _, err := eval.KS(s, y, w); return err },
		"Lift":             func(s, y, w []float64) error { _, err := eval.Lift(s, y, w, 0.5); return err },
		"ConfusionAt":      func(s, y, w []float64) error { _, err := eval.ConfusionAt(s, y, w, 0.5); return err },
		"Calibrate":        func(s, y, w []float64) error { _, err := eval.Calibrate(s, y, w, 10); return err },
		"Binary.Add": func(s, y, w []float64) error {
			b, err := eval.NewBinary(eval.DefaultBinaryConfig())
			if err != nil {
				return err
			}
			return b.Add(s, y, w)
		},
	}
	for _, tc := range []struct {
		name    string
		s, y, w []float64
		want    error
		index   int
	}{
		{"NaN score", []float64{0.1, nan}, []float64{0, 1}, nil, eval.ErrNaN, 1},
		{"NaN label", []float64{0.1, 0.2}, []float64{nan, 1}, nil, eval.ErrNaN, 0},
		{"NaN weight", []float64{0.1, 0.2}, []float64{0, 1}, []float64{1, nan}, eval.ErrNaN, 1},
		{"label 2", []float64{0.1, 0.2}, []float64{0, 2}, nil, eval.ErrInvalidLabel, 1},
		{"negative weight", []float64{0.1, 0.2}, []float64{0, 1}, []float64{-1, 1}, eval.ErrInvalidWeight, 0},
		{"infinite weight", []float64{0.1, 0.2}, []float64{0, 1}, []float64{1, math.Inf(1)}, eval.ErrInvalidWeight, 1},
	} {
		for name, f := range metrics {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				s, y := slices.Clone(tc.s), slices.Clone(tc.y)
				err := f(s, y, tc.w)
				if !errors.Is(err, tc.want) {
					t.Fatalf("err = %v, want %v", err, tc.want)
				}
				var ve *eval.ValueError
				if !errors.As(err, &ve) || ve.Index != tc.index {
					t.Errorf("err = %#v, want a *ValueError at index %d", err, tc.index)
				}
			})
		}
	}
	t.Run("empty", func(t *testing.T) {
		for name, f := range metrics {
			if name == "Binary.Add" {
				continue // adding nothing is fine; Result reports ErrNoData
			}
			if err := f(nil, nil, nil); !eval.IsUndefined(err) {
				t.Errorf("%s(empty) = %v, want ErrNoData", name, err)
			}
		}
	})
	t.Run("one class", func(t *testing.T) {
		s, y := []float64{0.2, 0.7}, []float64{1, 1}
		for _, f := range []fn{metrics["ROCAUC"], metrics["KS"]} {
			if err := f(s, y, nil); !errors.Is(err, eval.ErrOneClass) {
				t.Errorf("err = %v, want ErrOneClass", err)
			}
		}
		if err := metrics["AveragePrecision"](s, []float64{0, 0}, nil); !errors.Is(err, eval.ErrOneClass) {
			t.Errorf("AP without positives: err = %v, want ErrOneClass", err)
		}
	})
	t.Run("probability out of range", func(t *testing.T) {
		_, err := eval.LogLoss([]float64{0.5, 1.5}, []float64{0, 1}, nil)
		if !errors.Is(err, eval.ErrInvalidScore) {
			t.Errorf("err = %v, want ErrInvalidScore", err)
		}
	})
	t.Run("length mismatch panics", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Error("no panic")
			}
		}()
		_, _ = eval.ROCAUC([]float64{1, 2}, []float64{1}, nil)
	})
}

func TestInputsUntouched(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	s, y, w := randomBinary(r, 200, 10)
	s0, y0, w0 := slices.Clone(s), slices.Clone(y), slices.Clone(w)
	g := make([]int64, len(s))
	for i := range g {
		g[i] = int64(i % 7)
	}
	_, _ = eval.ROCAUC(s, y, w)
	_, _ = eval.ROCAUC(s, y, nil)
	_, _ = eval.AveragePrecision(s, y, w)
	_, _ = eval.KS(s, y, w)
	_, _ = eval.Lift(s, y, w, 0.2)
	_, _ = eval.GroupedAUC(g, s, y, w)
	_, _ = eval.Calibrate(s, y, w, 10)
	_, _ = eval.CompareAUC(s, y, y, w, eval.BootstrapConfig{Resamples: 10, Level: 0.9, Seed: 1})
	if !slices.Equal(s, s0) || !slices.Equal(y, y0) || !slices.Equal(w, w0) {
		t.Fatal("a metric modified its inputs")
	}
}

func TestMulticlassAndRegressionErrors(t *testing.T) {
	if _, err := eval.MulticlassMetrics([]float64{0.5, 0.5}, []int{2}, nil, 2); !errors.Is(err, eval.ErrInvalidLabel) {
		t.Errorf("class out of range: err = %v", err)
	}
	if _, err := eval.MulticlassMetrics([]float64{math.NaN(), 0.5}, []int{1}, nil, 2); !errors.Is(err, eval.ErrNaN) {
		t.Errorf("NaN prob: err = %v", err)
	}
	if _, err := eval.RegressionMetrics([]float64{1, math.NaN()}, []float64{1, 2}, nil); !errors.Is(err, eval.ErrNaN) {
		t.Errorf("NaN prediction: err = %v", err)
	}
	if _, err := eval.RegressionMetrics(nil, nil, nil); !errors.Is(err, eval.ErrNoData) {
		t.Errorf("empty regression: err = %v", err)
	}
	if _, err := eval.RankingMetrics(0, nil, nil); !errors.Is(err, eval.ErrInvalidConfig) {
		t.Errorf("K=0: err = %v", err)
	}
	q := []eval.Query{{Scores: []float64{1, 2}, Relevance: []float64{0, -1}}}
	if _, err := eval.RankingMetrics(3, q, nil); !errors.Is(err, eval.ErrInvalidLabel) {
		t.Errorf("negative relevance: err = %v", err)
	}
}
