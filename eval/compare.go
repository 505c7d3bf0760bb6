package eval

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// BootstrapConfig configures the paired bootstrap of CompareAUC.
type BootstrapConfig struct {
	// Resamples is the number of bootstrap resamples. Default 1000.
	Resamples int
	// Level is the confidence level of the interval, in (0, 1). Default 0.95.
	Level float64
	// Seed seeds the resampling (PCG), so a comparison is reproducible; record
	// it with the result.
	Seed uint64
}

// DefaultBootstrapConfig returns 1000 resamples at the 95% level with seed 1.
func DefaultBootstrapConfig() BootstrapConfig {
	return BootstrapConfig{Resamples: 1000, Level: 0.95, Seed: 1}
}

// Validate reports the first invalid field.
func (c BootstrapConfig) Validate() error {
	if c.Resamples < 1 {
		return fmt.Errorf("bootstrap resamples %d < 1: %w", c.Resamples, ErrInvalidConfig)
	}
	if !(c.Level > 0 && c.Level < 1) {
		return fmt.Errorf("confidence level %v not in (0, 1): %w", c.Level, ErrInvalidConfig)
	}
	return nil
}

// Comparison is the result of comparing a champion and a challenger on the
// same examples.
type Comparison struct {
	ChampionAUC   float64 `json:"champion_auc"`
	ChallengerAUC float64 `json:"challenger_auc"`
	// Diff is ChallengerAUC − ChampionAUC on the full data.
	Diff float64 `json:"auc_diff"`
	// CILow and CIHigh bound Diff at the configured level: percentiles of the
	// paired bootstrap distribution (linear interpolation, as numpy).
	CILow  float64 `json:"ci_low"`
	CIHigh float64 `json:"ci_high"`
	// ProbChallengerBetter is the fraction of resamples in which the
	// challenger's AUC exceeded the champion's.
	ProbChallengerBetter float64 `json:"prob_challenger_better"`
	// Resamples counts the resamples used; resamples holding one class only
	// are drawn again, up to Resamples more times, and counted in Redrawn.
	Resamples int     `json:"resamples"`
	Redrawn   int     `json:"redrawn"`
	Level     float64 `json:"level"`
	Seed      uint64  `json:"seed"`
}

// CompareAUC compares two models' scores on the same labelled examples with a
// paired bootstrap: each resample draws n examples with replacement and
// computes both AUCs on that same draw, so the correlation between the
// models (they score the same, mostly easy, examples) cancels out of the
// difference's interval. weights (nil means 1) stay attached to their
// examples. Each model's scores are sorted once; a resample then costs O(n),
// so the whole comparison is O(n log n + Resamples·n). The inputs are left
// untouched.
func CompareAUC(champion, challenger, labels, weights []float64, cfg BootstrapConfig) (Comparison, error) {
	if err := cfg.Validate(); err != nil {
		return Comparison{}, err
	}
	checkLen("challenger", len(challenger), len(champion))
	if err := checkBinary(champion, labels, weights); err != nil {
		return Comparison{}, fmt.Errorf("champion: %w", err)
	}
	if err := checkBinary(challenger, labels, weights); err != nil {
		return Comparison{}, fmt.Errorf("challenger: %w", err)
	}
	n := len(labels)
	if n == 0 {
		return Comparison{}, ErrNoData
	}
	c := Comparison{Level: cfg.Level, Seed: cfg.Seed}
	var err error
	if c.ChampionAUC, err = ROCAUC(champion, labels, weights); err != nil {
		return c, err
	}
	if c.ChallengerAUC, err = ROCAUC(challenger, labels, weights); err != nil {
		return c, err
	}
	c.Diff = c.ChallengerAUC - c.ChampionAUC

	a, b := newSortedScores(champion), newSortedScores(challenger)
	w := make([]float64, n) // per-resample weight: count × sample weight
	counts := make([]int32, n)
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15))
	diffs := make([]float64, 0, cfg.Resamples)
	better := 0
	for len(diffs) < cfg.Resamples {
		clear(counts)
		for range n {
			counts[rng.IntN(n)]++
		}
		for i := range w {
			w[i] = float64(counts[i]) * weightAt(weights, i)
		}
		aucA, okA := a.auc(labels, w)
		aucB, okB := b.auc(labels, w)
		if !okA || !okB {
			c.Redrawn++
			if c.Redrawn > cfg.Resamples {
				return c, fmt.Errorf("bootstrap: %d resamples held one class only: %w", c.Redrawn, ErrOneClass)
			}
			continue
		}
		if aucB > aucA {
			better++
		}
		diffs = append(diffs, aucB-aucA)
	}
	slices.Sort(diffs)
	alpha := 1 - cfg.Level
	c.CILow = quantile(diffs, alpha/2)
	c.CIHigh = quantile(diffs, 1-alpha/2)
	c.Resamples = len(diffs)
	c.ProbChallengerBetter = float64(better) / float64(len(diffs))
	return c, nil
}

// quantile interpolates linearly between order statistics of sorted x, as
// numpy.quantile's default method.
func quantile(x []float64, q float64) float64 {
	pos := q * float64(len(x)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(x)-1)
	return x[lo] + (pos-float64(lo))*(x[hi]-x[lo])
}

// sortedScores is a model's example order by ascending score, with the start
// of each run of tied scores marked.
type sortedScores struct {
	order    []int32
	newGroup []bool
}

func newSortedScores(s []float64) sortedScores {
	order := make([]int32, len(s))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return cmp.Compare(s[a], s[b]) })
	ng := make([]bool, len(s))
	for p := range order {
		ng[p] = p == 0 || s[order[p]] != s[order[p-1]]
	}
	return sortedScores{order, ng}
}

// auc computes the tie-aware AUC under per-example weights w in O(n); ok is
// false when a class has no weight.
func (ss sortedScores) auc(labels, w []float64) (auc float64, ok bool) {
	var sum, below, wp, wn float64
	n := len(ss.order)
	for p := 0; p < n; {
		q := p + 1
		for q < n && !ss.newGroup[q] {
			q++
		}
		var gp, gn float64
		for _, i := range ss.order[p:q] {
			if labels[i] == 1 {
				gp += w[i]
			} else {
				gn += w[i]
			}
		}
		p = q
		sum += gp * (below + 0.5*gn)
		below += gn
		wp += gp
		wn += gn
	}
	if wp == 0 || wn == 0 {
		return 0, false
	}
	return sum / (wp * wn), true
}

// Decision is a publishing gate's verdict (see model.Gate, which makes it)
// with a reason a person can read, as recorded in a Report.
type Decision struct {
	Publish bool   `json:"publish"`
	Reason  string `json:"reason"`
}
