package eval

import (
	"context"
	"errors"
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
)

// Scorer scores every row of a record: it writes one score per row into dst,
// len(dst) == rec.NumRows(), and must not keep rec or dst. For binary models
// the score is the probability of the positive class. *model.Model
// implements it.
type Scorer interface {
	Score(rec arrow.Record, dst []float64) error
}

// HeldOutConfig configures held-out evaluation of a binary classifier.
type HeldOutConfig struct {
	// Label names the label column (numbers 0/1 or booleans). Required.
	Label string
	// Weight names an optional sample-weight column.
	Weight string
	// Group names an optional column (int64, int32 or string, e.g. the user
	// id) for the grouped AUC.
	Group string
	// Binary configures the metrics. DefaultHeldOutConfig keeps every score,
	// so every metric is exact; clear Binary.KeepScores to evaluate in
	// bounded memory with the AUC sketch (then Group is not allowed).
	Binary BinaryConfig
}

// DefaultHeldOutConfig returns a configuration with exact metrics for the
// given label column.
func DefaultHeldOutConfig(label string) HeldOutConfig {
	b := DefaultBinaryConfig()
	b.KeepScores = true
	return HeldOutConfig{Label: label, Binary: b}
}

// Validate reports the first invalid field.
func (c HeldOutConfig) Validate() error {
	if c.Label == "" {
		return fmt.Errorf("no label column: %w", ErrInvalidConfig)
	}
	if c.Group != "" && !c.Binary.KeepScores {
		return fmt.Errorf("grouped AUC over column %q needs Binary.KeepScores: %w", c.Group, ErrInvalidConfig)
	}
	return c.Binary.Validate()
}

// HeldOutResult is the outcome of a held-out evaluation.
type HeldOutResult struct {
	Binary BinaryMetrics
	// Grouped is set when HeldOutConfig.Group is; nil also when no group
	// holds both classes.
	Grouped *GroupAUC
}

// HeldOut evaluates a model on records it did not train on: it scores each
// record with the Scorer and accumulates the metrics. Workers evaluating
// splits of a table each use one HeldOut and Merge them. Not safe for
// concurrent use.
type HeldOut struct {
	cfg    HeldOutConfig
	scorer Scorer
	bin    *Binary
	ids    map[string]int64
	groups []int64
	// per-record scratch, reused
	scores, labels, weights []float64
}

// NewHeldOut returns an evaluator of s.
func NewHeldOut(s Scorer, cfg HeldOutConfig) (*HeldOut, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	bin, err := NewBinary(cfg.Binary)
	if err != nil {
		return nil, err
	}
	return &HeldOut{cfg: cfg, scorer: s, bin: bin, ids: map[string]int64{}}, nil
}

// Add scores rec and accumulates it. rec stays owned by the caller. Errors
// name the column and row at fault.
func (h *HeldOut) Add(rec arrow.Record) error {
	n := int(rec.NumRows())
	if n == 0 {
		return nil
	}
	var err error
	if h.labels, err = appendFloats(h.labels[:0], rec, h.cfg.Label); err != nil {
		return err
	}
	var weights []float64
	if h.cfg.Weight != "" {
		if h.weights, err = appendFloats(h.weights[:0], rec, h.cfg.Weight); err != nil {
			return err
		}
		weights = h.weights
	}
	if cap(h.scores) < n {
		h.scores = make([]float64, n)
	}
	h.scores = h.scores[:n]
	if err := h.scorer.Score(rec, h.scores); err != nil {
		return fmt.Errorf("score %d rows: %w", n, err)
	}
	if err := h.bin.Add(h.scores, h.labels, weights); err != nil {
		return columnError(err, h.cfg)
	}
	if h.cfg.Group != "" {
		if h.groups, err = appendGroups(h.groups, rec, h.cfg.Group, h.ids); err != nil {
			return err
		}
	}
	return nil
}

// columnError names the column behind a *ValueError from the metrics.
func columnError(err error, cfg HeldOutConfig) error {
	var ve *ValueError
	if !errors.As(err, &ve) {
		return err
	}
	switch ve.Arg {
	case "labels", "targets":
		return fmt.Errorf("label column %q: %w", cfg.Label, err)
	case "weights":
		return fmt.Errorf("weight column %q: %w", cfg.Weight, err)
	}
	return fmt.Errorf("model output: %w", err)
}

// Run adds every record of r until it is exhausted or ctx is done. The
// records stay owned by r (array.RecordReader semantics). Use it with any
// arrow record reader; a datastream.Source is adapted by the caller.
func (h *HeldOut) Run(ctx context.Context, r array.RecordReader) error {
	return eachRecord(ctx, r, h.Add)
}

func eachRecord(ctx context.Context, r array.RecordReader, f func(arrow.Record) error) error {
	for r.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := f(r.Record()); err != nil {
			return err
		}
	}
	if err := r.Err(); err != nil {
		return fmt.Errorf("read records: %w", err)
	}
	return nil
}

// Merge adds another worker's evaluator (same configuration) into h.
func (h *HeldOut) Merge(o *HeldOut) error {
	if err := h.bin.Merge(o.bin); err != nil {
		return err
	}
	if h.cfg.Group == "" {
		return nil
	}
	if len(o.ids) > 0 { // string groups: re-key o's ids into h's
		remap := make(map[int64]int64, len(o.ids))
		for s, id := range o.ids {
			hid, ok := h.ids[s]
			if !ok {
				hid = int64(len(h.ids))
				h.ids[s] = hid
			}
			remap[id] = hid
		}
		for _, g := range o.groups {
			h.groups = append(h.groups, remap[g])
		}
		return nil
	}
	h.groups = append(h.groups, o.groups...)
	return nil
}

// Result returns the metrics. Undefined metrics (one class only) come back
// with an error for which IsUndefined is true, and the rest filled in.
func (h *HeldOut) Result() (HeldOutResult, error) {
	var r HeldOutResult
	var err error
	r.Binary, err = h.bin.Result()
	if err != nil {
		return r, err
	}
	if h.cfg.Group != "" {
		g, err := GroupedAUC(h.groups, h.bin.scores, h.bin.labels, h.bin.weights)
		if err != nil && !IsUndefined(err) {
			return r, err
		}
		if err == nil {
			r.Grouped = &g
		}
	}
	return r, nil
}

// kept returns the kept scores, labels and weights (KeepScores).
func (h *HeldOut) kept() (scores, labels, weights []float64) {
	return h.bin.scores, h.bin.labels, h.bin.weights
}

// Pair evaluates a champion and a challenger on the same records, reading
// them once, and compares their AUCs with a paired bootstrap.
type Pair struct {
	Champion, Challenger *HeldOut
	boot                 BootstrapConfig
}

// PairResult holds both evaluations and their comparison.
type PairResult struct {
	Champion, Challenger HeldOutResult
	Comparison           Comparison
}

// NewPair returns an evaluator of two models. cfg.Binary.KeepScores must be
// set: the bootstrap resamples examples.
func NewPair(champion, challenger Scorer, cfg HeldOutConfig, boot BootstrapConfig) (*Pair, error) {
	if !cfg.Binary.KeepScores {
		return nil, fmt.Errorf("champion/challenger comparison needs Binary.KeepScores: %w", ErrInvalidConfig)
	}
	if err := boot.Validate(); err != nil {
		return nil, err
	}
	a, err := NewHeldOut(champion, cfg)
	if err != nil {
		return nil, err
	}
	b, err := NewHeldOut(challenger, cfg)
	if err != nil {
		return nil, err
	}
	return &Pair{Champion: a, Challenger: b, boot: boot}, nil
}

// Add scores rec with both models.
func (p *Pair) Add(rec arrow.Record) error {
	if err := p.Champion.Add(rec); err != nil {
		return fmt.Errorf("champion: %w", err)
	}
	if err := p.Challenger.Add(rec); err != nil {
		return fmt.Errorf("challenger: %w", err)
	}
	return nil
}

// Run adds every record of r, like HeldOut.Run.
func (p *Pair) Run(ctx context.Context, r array.RecordReader) error {
	return eachRecord(ctx, r, p.Add)
}

// Result evaluates both models and compares them.
func (p *Pair) Result() (PairResult, error) {
	var r PairResult
	var err error
	if r.Champion, err = p.Champion.Result(); err != nil {
		return r, fmt.Errorf("champion: %w", err)
	}
	if r.Challenger, err = p.Challenger.Result(); err != nil {
		return r, fmt.Errorf("challenger: %w", err)
	}
	sa, labels, weights := p.Champion.kept()
	sb, _, _ := p.Challenger.kept()
	r.Comparison, err = CompareAUC(sa, sb, labels, weights, p.boot)
	return r, err
}

// HeldOutRegression evaluates a regression model on records it did not
// train on, in O(1) memory (see RegressionAccumulator). Not safe for
// concurrent use; workers Merge.
type HeldOutRegression struct {
	label, weight string
	scorer        Scorer
	acc           RegressionAccumulator
	preds, labels []float64
	weights       []float64
}

// NewHeldOutRegression returns an evaluator of s against the label column
// and the optional weight column.
func NewHeldOutRegression(s Scorer, label, weight string) (*HeldOutRegression, error) {
	if label == "" {
		return nil, fmt.Errorf("no label column: %w", ErrInvalidConfig)
	}
	return &HeldOutRegression{label: label, weight: weight, scorer: s}, nil
}

// Add scores rec and accumulates it; rec stays owned by the caller.
func (h *HeldOutRegression) Add(rec arrow.Record) error {
	n := int(rec.NumRows())
	if n == 0 {
		return nil
	}
	var err error
	if h.labels, err = appendFloats(h.labels[:0], rec, h.label); err != nil {
		return err
	}
	var weights []float64
	if h.weight != "" {
		if h.weights, err = appendFloats(h.weights[:0], rec, h.weight); err != nil {
			return err
		}
		weights = h.weights
	}
	if cap(h.preds) < n {
		h.preds = make([]float64, n)
	}
	h.preds = h.preds[:n]
	if err := h.scorer.Score(rec, h.preds); err != nil {
		return fmt.Errorf("score %d rows: %w", n, err)
	}
	if err := h.acc.Add(h.preds, h.labels, weights); err != nil {
		return columnError(err, HeldOutConfig{Label: h.label, Weight: h.weight})
	}
	return nil
}

// Run adds every record of r, like HeldOut.Run.
func (h *HeldOutRegression) Run(ctx context.Context, r array.RecordReader) error {
	return eachRecord(ctx, r, h.Add)
}

// Merge adds another worker's evaluator into h.
func (h *HeldOutRegression) Merge(o *HeldOutRegression) { h.acc.Merge(&o.acc) }

// Result returns RMSE, MAE and R², or ErrNoData.
func (h *HeldOutRegression) Result() (Regression, error) { return h.acc.Result() }
