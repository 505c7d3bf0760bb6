package eval_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lakestream/lakestream/eval"
)

// clickScores returns n labelled scores shaped like a click model's: 5%
// positives, probabilities spread over several orders of magnitude, and a
// share of scores rounded to 4 decimals, so there are ties.
func clickScores(seed uint64, n int) (s, y []float64) {
	r := rand.New(rand.NewPCG(seed, seed+1))
	s, y = make([]float64, n), make([]float64, n)
	for i := range n {
		x := r.NormFloat64()
		if r.Float64() < 1/(1+math.Exp(-(1.2*x-3.3))) {
			y[i] = 1
		}
		p := 1 / (1 + math.Exp(-(1.2*x - 3.3 + 0.9*r.NormFloat64())))
		if i%10 == 0 {
			p = math.Round(p*1e4) / 1e4
		}
		s[i] = p
	}
	return s, y
}

// TestSketchWithinBoundOn10M checks the acceptance criterion: on 10M scores
// the streaming estimate is within its stated bound of the exact AUC, in the
// 1 MiB of the default sketch, without allocating per update. Under -short
// it runs on 1M scores. It takes about 5 s on 2 cores (10M).
func TestSketchWithinBoundOn10M(t *testing.T) {
	n := 10_000_000
	if testing.Short() {
		n = 1_000_000
	}
	s, y := clickScores(7, n)
	exact, err := eval.ROCAUC(s, y, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := eval.DefaultSketchConfig()
	if cfg.Bytes() != 1<<20 {
		t.Errorf("default sketch takes %d bytes, documented 1 MiB", cfg.Bytes())
	}
	sk, err := eval.NewAUCSketch(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const chunk = 4096
	allocs := testing.AllocsPerRun(1, func() {
		for i := 0; i < n; i += chunk {
			end := min(i+chunk, n)
			if err := sk.AddBatch(s[i:end], y[i:end], nil); err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("AddBatch allocated %v times over %d scores", allocs, n)
	}
	sk.Reset() // AllocsPerRun ran the function twice (warm-up + measured)
	for i := 0; i < n; i += chunk {
		end := min(i+chunk, n)
		if err := sk.AddBatch(s[i:end], y[i:end], nil); err != nil {
			t.Fatal(err)
		}
	}
	est, bound, err := sk.Estimate()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("n=%d exact=%.9f estimate=%.9f |error|=%.3g bound=%.3g", n, exact, est, math.Abs(est-exact), bound)
	// 1e-15 absorbs the rounding of the two sums compared.
	if math.Abs(est-exact) > bound+1e-15 {
		t.Errorf("|estimate − exact| = %.3g exceeds the stated bound %.3g", math.Abs(est-exact), bound)
	}
	// The bound must also be useful: ties among the rounded scores put
	// some pairs in one bin, but far fewer than 1 in 10⁴.
	if bound > 1e-4 {
		t.Errorf("bound %.3g is too loose to be useful", bound)
	}
}

func TestSketchBoundIsTight(t *testing.T) {
	// Two scores in one bin, positive below negative: the exact AUC is 0,
	// the estimate ½, and the bound must be exactly ½.
	sk, err := eval.NewAUCSketch(eval.SketchConfig{Bins: 1, Lo: 0, Hi: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := sk.AddBatch([]float64{0.1, 0.2}, []float64{1, 0}, nil); err != nil {
		t.Fatal(err)
	}
	est, bound, err := sk.Estimate()
	if err != nil {
		t.Fatal(err)
	}
	if est != 0.5 || bound != 0.5 {
		t.Errorf("estimate, bound = %v, %v; want 0.5, 0.5", est, bound)
	}
}

func TestSketchErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  eval.SketchConfig
	}{
		{"no bins", eval.SketchConfig{Bins: 0, Lo: 0, Hi: 1}},
		{"empty range", eval.SketchConfig{Bins: 8, Lo: 1, Hi: 1}},
		{"infinite range", eval.SketchConfig{Bins: 8, Lo: math.Inf(-1), Hi: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := eval.NewAUCSketch(tc.cfg); !errors.Is(err, eval.ErrInvalidConfig) {
				t.Errorf("err = %v, want ErrInvalidConfig", err)
			}
		})
	}
	sk, _ := eval.NewAUCSketch(eval.DefaultSketchConfig())
	if err := sk.Add(1.5, 1, 1); !errors.Is(err, eval.ErrInvalidScore) {
		t.Errorf("probability 1.5 in a logit sketch: err = %v", err)
	}
	if err := sk.Add(math.NaN(), 1, 1); !errors.Is(err, eval.ErrNaN) {
		t.Errorf("NaN: err = %v", err)
	}
	if _, _, err := sk.Estimate(); !errors.Is(err, eval.ErrNoData) {
		t.Errorf("empty estimate: err = %v", err)
	}
	other, _ := eval.NewAUCSketch(eval.SketchConfig{Bins: 8, Lo: 0, Hi: 1})
	if err := sk.Merge(other); !errors.Is(err, eval.ErrIncompatible) {
		t.Errorf("merge of different configs: err = %v", err)
	}
}
