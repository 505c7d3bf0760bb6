package eval

import (
	"fmt"
	"math"
	"slices"
)

// BootstrapConfig configures the paired bootstrap of CompareAUC.
type BootstrapConfig struct {
	// Resamples is the number of bootstrap resamples. Default 1000.
	Resamples int
	// Level is the confidence level of the interval, in (0, 1). Default 0.95.
	Level float64
	// Seed seeds the resampling (the hash of the Poisson counts), so a
	// comparison is reproducible; record
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
// paired bootstrap: each resample reweights the n examples and computes both
// AUCs under those same weights, so the correlation between the models (they
// score the same, mostly easy, examples) cancels out of the difference's
// interval. weights (nil means 1) stay attached to their examples.
//
// The resamples are Poisson bootstraps (Hanley & MacGibbon 2006; Chamandy
// et al. 2012): every example's count is an independent Poisson(1) draw
// instead of a multinomial share of exactly n, which gives the same
// intervals as n grows. The count of example i in resample r is a hash of
// (seed, r, i), so each model's sweep computes the counts it needs in its own
// score order and no resample touches memory out of order: 1000 resamples
// of 600k examples take seconds, where gathering multinomial counts took
// minutes. Each model's scores are sorted once; a resample then costs O(n),
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

	a := newSortedScores(champion, labels, weights)
	b := newSortedScores(challenger, labels, weights)
	diffs := make([]float64, 0, cfg.Resamples)
	better := 0
	for batch := uint64(0); len(diffs) < cfg.Resamples; batch++ {
		key := splitmix64(cfg.Seed ^ splitmix64(batch+0x9e3779b97f4a7c15))
		aucA, okA := a.auc(key)
		aucB, okB := b.auc(key)
		for l := 0; l < lanes && len(diffs) < cfg.Resamples; l++ {
			if !okA[l] || !okB[l] {
				c.Redrawn++
				if c.Redrawn > cfg.Resamples {
					return c, fmt.Errorf("bootstrap: %d resamples held one class only: %w", c.Redrawn, ErrOneClass)
				}
				continue
			}
			if aucB[l] > aucA[l] {
				better++
			}
			diffs = append(diffs, aucB[l]-aucA[l])
		}
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

// sortedScores is a model's examples by ascending score: their indexes, the
// start of each run of tied scores, and their labels and sample weights in
// that order, so a resample's sweep reads memory in order.
type sortedScores struct {
	order    []int32
	newGroup []bool
	label    []float64 // 0 or 1
	weight   []float64 // sample weights; nil means 1
}

func newSortedScores(s, labels, weights []float64) sortedScores {
	n := len(s)
	keys, idx := make([]uint64, n), make([]float64, n)
	for i, x := range s {
		keys[i], idx[i] = sortKey(x), float64(i)
	}
	keys, idx = radixSort(keys, make([]uint64, n), idx, make([]float64, n))
	ss := sortedScores{order: make([]int32, n), newGroup: make([]bool, n), label: make([]float64, n)}
	if weights != nil {
		ss.weight = make([]float64, n)
	}
	for p, x := range idx {
		i := int(x)
		ss.order[p] = int32(i)
		ss.newGroup[p] = p == 0 || keys[p] != keys[p-1]
		ss.label[p] = labels[i]
		if weights != nil {
			ss.weight[p] = weights[i]
		}
	}
	return ss
}

// lanes is the number of resamples one sweep computes: their sums are
// independent, so the processor overlaps them, and the rows' order, labels
// and weights are read once for all of them.
const lanes = 4

// auc computes the tie-aware AUCs of the lanes resamples of key, in one
// O(n) sweep; ok[l] is false when a class of resample l has no weight.
// Example i's counts are the lanes 16-bit parts of one hash of (key, i),
// each mapped to a Poisson(1) count by poisson16.
func (ss sortedScores) auc(key uint64) (auc [lanes]float64, ok [lanes]bool) {
	var sum0, sum1, sum2, sum3 float64
	var below0, below1, below2, below3 float64
	var gp0, gp1, gp2, gp3 float64
	var gn0, gn1, gn2, gn3 float64
	var wp, wn [lanes]float64
	label := ss.label[:len(ss.order)]
	group := ss.newGroup[:len(ss.order)]
	weight := ss.weight
	flush := func() {
		sum0 += gp0 * (below0 + 0.5*gn0)
		sum1 += gp1 * (below1 + 0.5*gn1)
		sum2 += gp2 * (below2 + 0.5*gn2)
		sum3 += gp3 * (below3 + 0.5*gn3)
		below0 += gn0
		below1 += gn1
		below2 += gn2
		below3 += gn3
		wp[0], wp[1], wp[2], wp[3] = wp[0]+gp0, wp[1]+gp1, wp[2]+gp2, wp[3]+gp3
		wn[0], wn[1], wn[2], wn[3] = wn[0]+gn0, wn[1]+gn1, wn[2]+gn2, wn[3]+gn3
		gp0, gp1, gp2, gp3 = 0, 0, 0, 0
		gn0, gn1, gn2, gn3 = 0, 0, 0, 0
	}
	for p, i := range ss.order {
		if group[p] {
			flush()
		}
		h := splitmix64(key ^ uint64(i)*0xbf58476d1ce4e5b9)
		y, sw := label[p], 1.0
		if weight != nil {
			sw = weight[p]
		}
		pos, neg := sw*y, sw-sw*y
		c0 := float64(poisson16[uint16(h)])
		c1 := float64(poisson16[uint16(h>>16)])
		c2 := float64(poisson16[uint16(h>>32)])
		c3 := float64(poisson16[uint16(h>>48)])
		gp0, gn0 = gp0+c0*pos, gn0+c0*neg
		gp1, gn1 = gp1+c1*pos, gn1+c1*neg
		gp2, gn2 = gp2+c2*pos, gn2+c2*neg
		gp3, gn3 = gp3+c3*pos, gn3+c3*neg
	}
	flush()
	sums := [lanes]float64{sum0, sum1, sum2, sum3}
	for l := range lanes {
		if wp[l] > 0 && wn[l] > 0 {
			auc[l], ok[l] = sums[l]/(wp[l]*wn[l]), true
		}
	}
	return auc, ok
}

// poisson16[u] is the Poisson(1) count of a uniform 16-bit u: the inverse
// CDF at (u + ½)/65536. The quantization moves each count's probability by
// under 2·10⁻⁵ (and caps counts at 7, whose tail weighs 1·10⁻⁵), far below
// the bootstrap's own sampling error.
var poisson16 = func() (t [1 << 16]uint8) {
	p, cum, k := math.Exp(-1), math.Exp(-1), 0
	for u := range t {
		x := (float64(u) + 0.5) / (1 << 16)
		for x >= cum && k < 7 {
			k++
			p /= float64(k)
			cum += p
		}
		t[u] = uint8(k)
	}
	return t
}()

// splitmix64 is the SplitMix64 finalizer: a bijective 64-bit mixer.
func splitmix64(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Decision is a publishing gate's verdict (see model.Gate, which makes it)
// with a reason a person can read, as recorded in a Report.
type Decision struct {
	Publish bool   `json:"publish"`
	Reason  string `json:"reason"`
}
