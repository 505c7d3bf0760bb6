package eval

import (
	"fmt"
	"math"
)

// SketchConfig configures an AUCSketch: Bins fixed-width bins over [Lo, Hi],
// either of the score itself or, when Logit is set, of the log-odds
// ln(p/(1−p)) of a probability score. Scores beyond the range fall into the
// end bins; the error bound stays valid for them, only looser.
type SketchConfig struct {
	Bins   int
	Lo, Hi float64
	// Logit bins log-odds instead of raw scores, which spends the
	// resolution evenly across orders of magnitude of small probabilities
	// (a 1% click rate and a 50% one alike). Scores must then lie in [0, 1].
	Logit bool
}

// DefaultSketchConfig returns the configuration for probability scores:
// 65,536 bins of log-odds over [−20, 20] (probabilities 2·10⁻⁹ … 1−2·10⁻⁹),
// a bin width of 6.1·10⁻⁴ in log-odds, so 1.5·10⁻⁴ in probability near 0.5
// and 6·10⁻⁶ near 0.01. The sketch takes 1 MiB.
func DefaultSketchConfig() SketchConfig {
	return SketchConfig{Bins: 1 << 16, Lo: -20, Hi: 20, Logit: true}
}

// Validate reports whether the configuration is usable.
func (c SketchConfig) Validate() error {
	switch {
	case c.Bins < 1 || c.Bins > 1<<26:
		return fmt.Errorf("sketch bins %d not in [1, 2^26]: %w", c.Bins, ErrInvalidConfig)
	case !(c.Lo < c.Hi) || math.IsInf(c.Lo, 0) || math.IsInf(c.Hi, 0):
		return fmt.Errorf("sketch range [%v, %v] is not a finite interval: %w", c.Lo, c.Hi, ErrInvalidConfig)
	}
	return nil
}

// Bytes returns the memory the bins of a sketch with this configuration
// take: two float64 weights (positives, negatives) per bin.
func (c SketchConfig) Bytes() int { return 16 * c.Bins }

// AUCSketch estimates ROC AUC in bounded memory, with a guaranteed error
// bound. It keeps, per class, the total weight in each of a fixed set of
// score bins. Pairs of a positive and a negative in different bins are
// ordered exactly; only pairs sharing a bin are unresolved and are counted
// one half, as ties are. Hence, with P_b and N_b the class weights of bin b,
//
//	|Estimate − exact AUC| ≤ ½ Σ_b P_b N_b / (P N)   (the Bound),
//
// computed from the sketch itself, so each estimate carries its own
// guarantee: it is tight when scores spread over many bins and grows when
// they pile into few (e.g. a model emitting a handful of distinct scores —
// then it is still exact up to ties inside those bins).
//
// Updates cost O(1) and do not allocate. Merge adds bins, so per-worker
// sketches merge into exactly the sketch of all the data (up to float
// rounding of non-integer weights). Not safe for concurrent use.
type AUCSketch struct {
	cfg      SketchConfig
	scale    float64
	pos, neg []float64
}

// NewAUCSketch returns an empty sketch.
func NewAUCSketch(cfg SketchConfig) (*AUCSketch, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &AUCSketch{
		cfg:   cfg,
		scale: float64(cfg.Bins) / (cfg.Hi - cfg.Lo),
		pos:   make([]float64, cfg.Bins),
		neg:   make([]float64, cfg.Bins),
	}, nil
}

// Config returns the sketch's configuration.
func (s *AUCSketch) Config() SketchConfig { return s.cfg }

// bin maps a validated score to its bin.
func (s *AUCSketch) bin(score float64) int { return sketchBin(s.cfg, s.scale, score) }

// sketchBin maps a validated score to its bin; scale is Bins/(Hi−Lo).
func sketchBin(cfg SketchConfig, scale, score float64) int {
	x := score
	if cfg.Logit {
		x = math.Log(score / (1 - score)) // ±Inf at 0 and 1, clamped below
	}
	f := (x - cfg.Lo) * scale
	switch {
	case f < 0:
		return 0
	case f >= float64(cfg.Bins):
		return cfg.Bins - 1
	}
	return int(f)
}

// checkScore validates one score for the sketch.
func (s *AUCSketch) checkScore(i int, score float64) error {
	if math.IsNaN(score) {
		return &ValueError{"scores", i, score, ErrNaN}
	}
	if s.cfg.Logit && (score < 0 || score > 1) {
		return &ValueError{"scores", i, score, ErrInvalidScore}
	}
	return nil
}

// Add adds one example. label must be 0 or 1 and weight finite and ≥ 0.
func (s *AUCSketch) Add(score, label, weight float64) error {
	if err := s.checkScore(0, score); err != nil {
		return err
	}
	if err := checkBinaryLabel(0, label); err != nil {
		return err
	}
	if err := checkWeight(0, weight); err != nil {
		return err
	}
	s.add(score, label, weight)
	return nil
}

func (s *AUCSketch) add(score, label, weight float64) {
	b := s.bin(score)
	if label == 1 {
		s.pos[b] += weight
	} else {
		s.neg[b] += weight
	}
}

// AddBatch adds a batch of examples (weights nil means 1) after checking all
// of them; on error nothing is added. It panics if the lengths differ.
func (s *AUCSketch) AddBatch(scores, labels, weights []float64) error {
	if err := checkBinary(scores, labels, weights); err != nil {
		return err
	}
	for i, v := range scores {
		if err := s.checkScore(i, v); err != nil {
			return err
		}
	}
	if weights == nil {
		for i, v := range scores {
			s.add(v, labels[i], 1)
		}
		return nil
	}
	for i, v := range scores {
		s.add(v, labels[i], weights[i])
	}
	return nil
}

// Merge adds o's bins into s. Both must have the same configuration.
func (s *AUCSketch) Merge(o *AUCSketch) error {
	if s.cfg != o.cfg {
		return fmt.Errorf("merge sketch %+v into %+v: %w", o.cfg, s.cfg, ErrIncompatible)
	}
	for i := range s.pos {
		s.pos[i] += o.pos[i]
		s.neg[i] += o.neg[i]
	}
	return nil
}

// Reset empties the sketch, keeping its memory.
func (s *AUCSketch) Reset() {
	clear(s.pos)
	clear(s.neg)
}

// Estimate returns the AUC estimate and its error bound (see AUCSketch). It
// returns ErrOneClass when a class has no weight.
func (s *AUCSketch) Estimate() (auc, bound float64, err error) {
	return estimateBins(s.pos, s.neg)
}

func estimateBins(pos, neg []float64) (auc, bound float64, err error) {
	var wp, wn, sum, within, below float64
	for b := range pos {
		p, n := pos[b], neg[b]
		sum += p * (below + 0.5*n)
		within += p * n
		below += n
		wp += p
		wn += n
	}
	if wp == 0 && wn == 0 {
		return 0, 0, ErrNoData
	}
	if wp == 0 || wn == 0 {
		return 0, 0, ErrOneClass
	}
	d := wp * wn
	return sum / d, 0.5 * within / d, nil
}

// binGroups returns the non-empty bins as score groups in descending order,
// each at its bin's centre (on the score scale), with the class totals. The
// threshold metrics of a Binary accumulator without kept scores use them.
func binGroups(cfg SketchConfig, pos, neg []float64) (gs []group, wp, wn float64) {
	width := (cfg.Hi - cfg.Lo) / float64(cfg.Bins)
	for b := len(pos) - 1; b >= 0; b-- {
		p, n := pos[b], neg[b]
		wp += p
		wn += n
		if p == 0 && n == 0 {
			continue
		}
		c := cfg.Lo + (float64(b)+0.5)*width
		if cfg.Logit {
			c = 1 / (1 + math.Exp(-c))
		}
		gs = append(gs, group{score: c, pos: p, neg: n})
	}
	return gs, wp, wn
}
