package eval_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lakestream/lakestream/eval"
)

func TestCompareAUC(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	n := 3000
	champ, chall, y := make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range n {
		x := r.NormFloat64()
		if r.Float64() < 1/(1+math.Exp(-2*x)) {
			y[i] = 1
		}
		noise := r.NormFloat64()
		champ[i] = x + 1.2*noise                       // weaker model
		chall[i] = x + 0.6*noise + 0.2*r.NormFloat64() // stronger, correlated
	}
	cfg := eval.BootstrapConfig{Resamples: 300, Level: 0.95, Seed: 42}
	c, err := eval.CompareAUC(champ, chall, y, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", c)
	if c.Diff <= 0 || !(c.CILow <= c.Diff && c.Diff <= c.CIHigh) {
		t.Errorf("diff %v not inside its CI [%v, %v] or not positive", c.Diff, c.CILow, c.CIHigh)
	}
	if c.CILow <= 0 {
		t.Errorf("a clearly better challenger should have a CI above 0: [%v, %v]", c.CILow, c.CIHigh)
	}
	if c.Resamples != 300 {
		t.Errorf("resamples = %d", c.Resamples)
	}

	// Seeded: the same seed gives the same interval, another seed another.
	again, _ := eval.CompareAUC(champ, chall, y, nil, cfg)
	if again != c {
		t.Errorf("same seed, different result:\n%+v\n%+v", again, c)
	}
	cfg.Seed = 43
	other, _ := eval.CompareAUC(champ, chall, y, nil, cfg)
	if other.CILow == c.CILow && other.CIHigh == c.CIHigh {
		t.Error("a different seed gave the identical interval")
	}

	// A model compared with itself: difference 0, degenerate interval.
	self, err := eval.CompareAUC(champ, champ, y, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if self.Diff != 0 || self.CILow != 0 || self.CIHigh != 0 {
		t.Errorf("self comparison: %+v", self)
	}

	swapped, _ := eval.CompareAUC(chall, champ, y, nil, cfg)
	if swapped.Diff != -c.Diff || swapped.ChampionAUC != c.ChallengerAUC {
		t.Errorf("swapped comparison %+v is not the mirror of %+v", swapped, c)
	}

	if _, err := eval.CompareAUC(champ, chall, y, nil, eval.BootstrapConfig{}); !errors.Is(err, eval.ErrInvalidConfig) {
		t.Errorf("zero config: err = %v", err)
	}
}
