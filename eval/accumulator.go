package eval

import (
	"errors"
	"fmt"
	"math"
)

// BinaryConfig configures a Binary accumulator.
type BinaryConfig struct {
	// Threshold is the score at or above which an example is called
	// positive for accuracy, precision, recall and F1. Default 0.5.
	Threshold float64
	// Probabilities says scores are probabilities in [0, 1]; log loss and
	// calibration are computed only then. Default true.
	Probabilities bool
	// CalibrationBins is the number of reliability bins. Default 10.
	CalibrationBins int
	// LiftFraction is the top fraction for Lift. Default 0.1.
	LiftFraction float64
	// Sketch configures the bounded-memory AUC sketch. Default
	// DefaultSketchConfig(); with raw (non-probability) scores use Logit false
	// and a range covering the scores.
	Sketch SketchConfig
	// KeepScores keeps every (score, label, weight), 24 bytes per example, so
	// Result reports exact AUC, average precision, KS and lift. Without it
	// they come from the sketch: AUC within its stated bound, the others as
	// if scores in one bin were tied. Default false.
	KeepScores bool
}

// DefaultBinaryConfig returns the defaults documented on BinaryConfig.
func DefaultBinaryConfig() BinaryConfig {
	return BinaryConfig{
		Threshold:       0.5,
		Probabilities:   true,
		CalibrationBins: 10,
		LiftFraction:    0.1,
		Sketch:          DefaultSketchConfig(),
	}
}

// Validate reports the first invalid field.
func (c BinaryConfig) Validate() error {
	if math.IsNaN(c.Threshold) {
		return fmt.Errorf("threshold is NaN: %w", ErrInvalidConfig)
	}
	if c.Probabilities && c.CalibrationBins < 1 {
		return fmt.Errorf("calibration bins %d < 1: %w", c.CalibrationBins, ErrInvalidConfig)
	}
	if !(c.LiftFraction > 0 && c.LiftFraction <= 1) {
		return fmt.Errorf("lift fraction %v not in (0, 1]: %w", c.LiftFraction, ErrInvalidConfig)
	}
	if !c.Probabilities && c.Sketch.Logit {
		return fmt.Errorf("a logit sketch needs probability scores: %w", ErrInvalidConfig)
	}
	return c.Sketch.Validate()
}

// BinaryMetrics is the result of a Binary accumulator.
type BinaryMetrics struct {
	Examples               int64
	Weight, PositiveWeight float64
	// AUC is the ROC AUC: exact when Exact, else the sketch estimate, within
	// AUCBound of the exact value.
	AUC, AUCBound float64
	// Exact says AUC, AveragePrecision, KS, Lift and the curves were computed
	// from every score (BinaryConfig.KeepScores).
	Exact bool
	// AveragePrecision is the PR AUC as AveragePrecision defines it.
	AveragePrecision float64
	KS               float64
	LiftFraction     float64
	Lift             float64
	// Confusion is at BinaryConfig.Threshold; it is always exact.
	Confusion Confusion
	// LogLoss and Calibration are set when scores are probabilities; they
	// are always exact.
	LogLoss     float64
	Calibration *Calibration
	// ROC and PR are the curves (from the sketch's bins when not Exact).
	ROC, PR Curve
}

// BinaryState is the mergeable content of a Binary accumulator without kept
// scores: counts, the sketch's bins and the calibration bins, all exported
// so it encodes with encoding/gob (checkpoints) and JSON. Its zero value is
// empty; the bins are allocated on the first example. A BinaryState is
// interpreted under one BinaryConfig: use the same for Observe, Merge and
// Result.
type BinaryState struct {
	N              int64
	W, WP, Loss    float64
	TP, FP, TN, FN float64
	Pos, Neg       []float64 // sketch bins
	CalW, CalP     []float64 // calibration bins: weight, Σ w·p
	CalY           []float64 // calibration bins: Σ w·y
}

// Observe adds one example to st under c after checking it (label 0 or 1,
// weight finite and ≥ 0, score a probability when c.Probabilities). It does
// not allocate after the first example.
func (c BinaryConfig) Observe(st *BinaryState, score, label, weight float64) error {
	if err := c.checkScore(0, score); err != nil {
		return err
	}
	if err := checkBinaryLabel(0, label); err != nil {
		return err
	}
	if err := checkWeight(0, weight); err != nil {
		return err
	}
	c.observe(st, score, label, weight)
	return nil
}

func (c BinaryConfig) checkScore(i int, s float64) error {
	if math.IsNaN(s) {
		return &ValueError{"scores", i, s, ErrNaN}
	}
	if (c.Probabilities || c.Sketch.Logit) && (s < 0 || s > 1) {
		return &ValueError{"scores", i, s, ErrInvalidScore}
	}
	return nil
}

// observe adds a validated example.
func (c BinaryConfig) observe(st *BinaryState, s, y, w float64) {
	if st.Pos == nil {
		st.Pos = make([]float64, c.Sketch.Bins)
		st.Neg = make([]float64, c.Sketch.Bins)
		if c.Probabilities {
			st.CalW = make([]float64, c.CalibrationBins)
			st.CalP = make([]float64, c.CalibrationBins)
			st.CalY = make([]float64, c.CalibrationBins)
		}
	}
	st.N++
	st.W += w
	st.WP += w * y
	b := sketchBin(c.Sketch, float64(c.Sketch.Bins)/(c.Sketch.Hi-c.Sketch.Lo), s)
	pred := s >= c.Threshold
	if y == 1 {
		st.Pos[b] += w
		if pred {
			st.TP += w
		} else {
			st.FN += w
		}
	} else {
		st.Neg[b] += w
		if pred {
			st.FP += w
		} else {
			st.TN += w
		}
	}
	if c.Probabilities {
		st.Loss += w * binaryLogLoss(s, y)
		h := calibrationHist{st.CalW, st.CalP, st.CalY}
		h.add(s, y, w)
	}
}

// Merge adds src into st; both must come from the same configuration.
func (st *BinaryState) Merge(src *BinaryState) error {
	if src.Pos == nil {
		return nil
	}
	if st.Pos == nil {
		st.Pos = make([]float64, len(src.Pos))
		st.Neg = make([]float64, len(src.Neg))
		if src.CalW != nil {
			st.CalW = make([]float64, len(src.CalW))
			st.CalP = make([]float64, len(src.CalP))
			st.CalY = make([]float64, len(src.CalY))
		}
	}
	if len(st.Pos) != len(src.Pos) || len(st.CalW) != len(src.CalW) {
		return fmt.Errorf("merge state of %d sketch and %d calibration bins into %d and %d: %w",
			len(src.Pos), len(src.CalW), len(st.Pos), len(st.CalW), ErrIncompatible)
	}
	st.N += src.N
	st.W += src.W
	st.WP += src.WP
	st.Loss += src.Loss
	st.TP += src.TP
	st.FP += src.FP
	st.TN += src.TN
	st.FN += src.FN
	for _, p := range [][2][]float64{{st.Pos, src.Pos}, {st.Neg, src.Neg}, {st.CalW, src.CalW}, {st.CalP, src.CalP}, {st.CalY, src.CalY}} {
		for i, v := range p[1] {
			p[0][i] += v
		}
	}
	return nil
}

// Reset empties st, keeping its bins' memory.
func (st *BinaryState) Reset() {
	*st = BinaryState{Pos: st.Pos, Neg: st.Neg, CalW: st.CalW, CalP: st.CalP, CalY: st.CalY}
	for _, b := range [][]float64{st.Pos, st.Neg, st.CalW, st.CalP, st.CalY} {
		clear(b)
	}
}

// Result returns the metrics of st under c (AUC from the sketch, with its
// bound). Errors as Binary.Result.
func (c BinaryConfig) Result(st *BinaryState) (BinaryMetrics, error) {
	m := c.countMetrics(st)
	if st.W == 0 {
		return m, ErrNoData
	}
	if err := c.calibrationMetrics(st, &m); err != nil {
		return m, err
	}
	auc, bound, err := estimateBins(st.Pos, st.Neg)
	if err != nil {
		return m, err
	}
	m.AUC, m.AUCBound = auc, bound
	gs, wp, wn := binGroups(c.Sketch, st.Pos, st.Neg)
	c.curveMetrics(&m, gs, wp, wn)
	return m, nil
}

func (c BinaryConfig) countMetrics(st *BinaryState) BinaryMetrics {
	return BinaryMetrics{
		Examples:       st.N,
		Weight:         st.W,
		PositiveWeight: st.WP,
		Confusion:      Confusion{Threshold: c.Threshold, TP: st.TP, FP: st.FP, TN: st.TN, FN: st.FN},
		LiftFraction:   c.LiftFraction,
	}
}

func (c BinaryConfig) calibrationMetrics(st *BinaryState, m *BinaryMetrics) error {
	if !c.Probabilities {
		return nil
	}
	m.LogLoss = st.Loss / st.W
	cal, err := (&calibrationHist{st.CalW, st.CalP, st.CalY}).result()
	if err != nil {
		return err
	}
	m.Calibration = &cal
	return nil
}

func (c BinaryConfig) curveMetrics(m *BinaryMetrics, gs []group, wp, wn float64) {
	m.PR = prFromGroups(gs, wp)
	m.AveragePrecision = apFromCurve(m.PR)
	m.ROC = rocFromGroups(gs, wp, wn)
	m.KS = ksFromCurve(m.ROC)
	m.Lift = liftFromGroups(gs, wp, wn, c.LiftFraction)
}

// Binary accumulates every binary-classification metric of this package in
// one pass. Its memory is bounded — the sketch (BinaryConfig.Sketch.Bytes(),
// 1 MiB by default) plus 24 bytes per calibration bin — unless KeepScores is
// set. Merge combines the accumulators of data-parallel workers into the one
// that would have seen all their data. Not safe for concurrent use.
type Binary struct {
	cfg     BinaryConfig
	st      BinaryState
	scores  []float64 // kept when cfg.KeepScores
	labels  []float64
	weights []float64
}

// NewBinary returns an empty accumulator.
func NewBinary(cfg BinaryConfig) (*Binary, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Binary{cfg: cfg}, nil
}

// Config returns the accumulator's configuration.
func (b *Binary) Config() BinaryConfig { return b.cfg }

// Add accumulates a batch of scores with labels 0 or 1 and weights (nil
// means 1). It checks the whole batch first; on error nothing is added.
// It panics if the lengths differ. It does not allocate unless KeepScores.
func (b *Binary) Add(scores, labels, weights []float64) error {
	if err := checkBinary(scores, labels, weights); err != nil {
		return err
	}
	for i, s := range scores {
		if err := b.cfg.checkScore(i, s); err != nil {
			return err
		}
	}
	for i, s := range scores {
		b.cfg.observe(&b.st, s, labels[i], weightAt(weights, i))
	}
	if b.cfg.KeepScores {
		b.scores = append(b.scores, scores...)
		b.labels = append(b.labels, labels...)
		if weights == nil {
			for range scores {
				b.weights = append(b.weights, 1)
			}
		} else {
			b.weights = append(b.weights, weights...)
		}
	}
	return nil
}

// Merge adds o into b. Both must have the same configuration.
func (b *Binary) Merge(o *Binary) error {
	if b.cfg != o.cfg {
		return fmt.Errorf("merge binary accumulator %+v into %+v: %w", o.cfg, b.cfg, ErrIncompatible)
	}
	if err := b.st.Merge(&o.st); err != nil {
		return err
	}
	b.scores = append(b.scores, o.scores...)
	b.labels = append(b.labels, o.labels...)
	b.weights = append(b.weights, o.weights...)
	return nil
}

// State returns the accumulator's mergeable state (shared, not copied);
// kept scores are not part of it.
func (b *Binary) State() *BinaryState { return &b.st }

// Result returns the metrics so far. It returns ErrNoData when no weight has
// been added, and ErrOneClass when a class has none (the other metrics are
// then still filled in).
func (b *Binary) Result() (BinaryMetrics, error) {
	if !b.cfg.KeepScores {
		return b.cfg.Result(&b.st)
	}
	m := b.cfg.countMetrics(&b.st)
	m.Exact = true
	if b.st.W == 0 {
		return m, ErrNoData
	}
	if err := b.cfg.calibrationMetrics(&b.st, &m); err != nil {
		return m, err
	}
	auc, err := ROCAUC(b.scores, b.labels, b.weights)
	if err != nil {
		return m, err
	}
	m.AUC = auc
	gs, wp, wn := scoreGroups(b.scores, b.labels, b.weights)
	b.cfg.curveMetrics(&m, gs, wp, wn)
	return m, nil
}

func rocFromGroups(gs []group, wp, wn float64) Curve {
	c := Curve{X: []float64{0}, Y: []float64{0}, Thresholds: []float64{math.Inf(1)}}
	var tp, fp float64
	for _, g := range gs {
		tp += g.pos
		fp += g.neg
		c.X = append(c.X, fp/wn)
		c.Y = append(c.Y, tp/wp)
		c.Thresholds = append(c.Thresholds, g.score)
	}
	return c
}

// IsUndefined reports whether err only says a metric is undefined for the
// data seen (no data, or a single class), as opposed to invalid input.
func IsUndefined(err error) bool {
	return errors.Is(err, ErrNoData) || errors.Is(err, ErrOneClass)
}
