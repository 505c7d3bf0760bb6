package eval

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/apache/arrow/go/v17/arrow"
)

// Windows describes event-time windows: each covers [start, start+Size) in
// milliseconds, and a new one starts every Slide milliseconds, at multiples
// of Slide since the Unix epoch. Slide == Size gives tumbling windows, Slide
// < Size sliding (overlapping) ones, each row then counting in Size/Slide
// windows.
type Windows struct {
	Size, Slide int64
}

// Tumbling returns back-to-back windows of size ms.
func Tumbling(size int64) Windows { return Windows{Size: size, Slide: size} }

// Sliding returns windows of size ms starting every slide ms.
func Sliding(size, slide int64) Windows { return Windows{Size: size, Slide: slide} }

// Validate reports whether the windows are usable.
func (w Windows) Validate() error {
	if w.Size <= 0 || w.Slide <= 0 || w.Slide > w.Size {
		return fmt.Errorf("windows size %d ms, slide %d ms: want 0 < slide ≤ size: %w", w.Size, w.Slide, ErrInvalidConfig)
	}
	return nil
}

// starts returns the first and last start of the windows holding ts.
func (w Windows) starts(ts int64) (first, last int64) {
	last = floorDiv(ts, w.Slide) * w.Slide
	first = (floorDiv(ts-w.Size, w.Slide) + 1) * w.Slide
	return first, last
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// PrequentialConfig configures prequential evaluation.
type PrequentialConfig struct {
	Windows Windows
	// Label, Weight (optional) and EventTime name the columns ObserveRecord
	// reads. EventTime is a timestamp column or int64 milliseconds.
	Label, Weight, EventTime string
	// Binary configures each window's accumulator. KeepScores is not
	// allowed: a stream is unbounded. DefaultPrequentialConfig uses a
	// 4,096-bin sketch, 64 KiB per open window, whose bound is still
	// reported with each window's AUC.
	Binary BinaryConfig
}

// DefaultPrequentialConfig returns a configuration for the given windows and
// columns.
func DefaultPrequentialConfig(w Windows, label, eventTime string) PrequentialConfig {
	b := DefaultBinaryConfig()
	b.Sketch.Bins = 1 << 12
	return PrequentialConfig{Windows: w, Label: label, EventTime: eventTime, Binary: b}
}

// Validate reports the first invalid field.
func (c PrequentialConfig) Validate() error {
	if err := c.Windows.Validate(); err != nil {
		return err
	}
	if c.Binary.KeepScores {
		return fmt.Errorf("prequential windows cannot keep scores (unbounded memory): %w", ErrInvalidConfig)
	}
	return c.Binary.Validate()
}

// WindowResult is the evaluation of one window.
type WindowResult struct {
	Start, End int64 // event time, ms; the window is [Start, End)
	Metrics    BinaryMetrics
	// Err is set when a metric is undefined in the window (IsUndefined: a
	// single class); Metrics holds the others.
	Err error
	// Partial marks a window closed by Flush before the watermark passed
	// its end: rows may still have been on their way.
	Partial bool
}

// Prequential evaluates a stream "test then train" (Dawid 1984; Gama et
// al. 2013): each example is scored by the model as it is before learning
// from it, and the scores are aggregated per event-time window. A window's
// result is final once the watermark reaches its end; rows arriving for a
// window that already fired are late: they are counted (Late) and dropped.
//
// Memory: one Binary accumulator (sketch bytes + calibration bins) per open
// window; with sliding windows Size/Slide are open at a time, plus those
// waiting for the watermark. Not safe for concurrent use.
type Prequential struct {
	cfg     PrequentialConfig
	open    map[int64]*Binary // by window start
	wm      int64
	late    int64
	free    []*Binary
	ts      []int64
	labels  []float64
	weights []float64
}

// NewPrequential returns an evaluator with no windows open and the watermark
// at math.MinInt64.
func NewPrequential(cfg PrequentialConfig) (*Prequential, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Prequential{cfg: cfg, open: map[int64]*Binary{}, wm: math.MinInt64}, nil
}

// Late returns the number of rows dropped because all their windows had
// fired.
func (p *Prequential) Late() int64 { return p.late }

// Observe adds rows with event times ts (ms), scores computed before the
// model learned from them, labels and weights (nil means 1). It checks the
// batch first; on error nothing is added. It panics if lengths differ.
func (p *Prequential) Observe(ts []int64, scores, labels, weights []float64) error {
	checkLen("ts", len(ts), len(scores))
	if err := checkBinary(scores, labels, weights); err != nil {
		return err
	}
	if p.cfg.Binary.Probabilities {
		if err := checkProbs("scores", scores); err != nil {
			return err
		}
	}
	for i, t := range ts {
		first, last := p.cfg.Windows.starts(t)
		counted := false
		for start := first; start <= last; start += p.cfg.Windows.Slide {
			if start+p.cfg.Windows.Size <= p.wm {
				continue // this window has fired
			}
			acc, err := p.window(start)
			if err != nil {
				return err
			}
			p.cfg.Binary.observe(&acc.st, scores[i], labels[i], weightAt(weights, i))
			counted = true
		}
		if !counted {
			p.late++
		}
	}
	return nil
}

func (p *Prequential) window(start int64) (*Binary, error) {
	if acc, ok := p.open[start]; ok {
		return acc, nil
	}
	var acc *Binary
	if n := len(p.free); n > 0 {
		acc, p.free = p.free[n-1], p.free[:n-1]
	} else {
		var err error
		if acc, err = NewBinary(p.cfg.Binary); err != nil {
			return nil, err
		}
	}
	p.open[start] = acc
	return acc, nil
}

// ObserveRecord reads the event-time, label and weight columns of rec and
// observes its rows with scores (one per row).
func (p *Prequential) ObserveRecord(rec arrow.Record, scores []float64) error {
	var err error
	if p.ts, err = appendMillis(p.ts[:0], rec, p.cfg.EventTime); err != nil {
		return err
	}
	if p.labels, err = appendFloats(p.labels[:0], rec, p.cfg.Label); err != nil {
		return err
	}
	var weights []float64
	if p.cfg.Weight != "" {
		if p.weights, err = appendFloats(p.weights[:0], rec, p.cfg.Weight); err != nil {
			return err
		}
		weights = p.weights
	}
	return p.Observe(p.ts, scores, p.labels, weights)
}

// Advance moves the watermark to wm (it never goes back) and returns the
// windows that end at or before it, in order of start.
func (p *Prequential) Advance(wm int64) []WindowResult {
	if wm <= p.wm {
		return nil
	}
	p.wm = wm
	return p.fire(func(start int64) bool { return start+p.cfg.Windows.Size <= wm }, false)
}

// Flush fires every open window, marking those the watermark has not
// passed Partial; call it when the stream stops.
func (p *Prequential) Flush() []WindowResult {
	return p.fire(func(int64) bool { return true }, true)
}

func (p *Prequential) fire(due func(start int64) bool, partial bool) []WindowResult {
	var starts []int64
	for s := range p.open {
		if due(s) {
			starts = append(starts, s)
		}
	}
	slices.Sort(starts)
	out := make([]WindowResult, 0, len(starts))
	for _, s := range starts {
		acc := p.open[s]
		delete(p.open, s)
		m, err := acc.Result()
		end := s + p.cfg.Windows.Size
		m.ROC, m.PR = Curve{}, Curve{} // keep window results small
		out = append(out, WindowResult{Start: s, End: end, Metrics: m, Err: err, Partial: partial && end > p.wm})
		p.recycle(acc)
	}
	return out
}

// recycle empties acc for reuse by a later window.
func (p *Prequential) recycle(acc *Binary) {
	acc.st.Reset()
	p.free = append(p.free, acc)
}

// Learner learns from a record; it is the "train" half of test-then-train.
// The training operator of train/ implements it.
type Learner interface {
	Learn(ctx context.Context, rec arrow.Record) error
}

// TestThenTrain runs prequential evaluation in front of a learner: for each
// record it scores the rows with the current model, observes the scores,
// then lets the learner learn from the record, and finally advances the
// watermark. The Scorer must read the model the Learner updates (e.g. the
// same parameters), so each row is scored by a model that has not seen it.
type TestThenTrain struct {
	Scorer  Scorer
	Learner Learner
	Eval    *Prequential
	scores  []float64
}

// Process handles one record (nil for a watermark-only heartbeat) and the
// watermark that holds after it; it returns the windows that closed.
func (t *TestThenTrain) Process(ctx context.Context, rec arrow.Record, watermark int64) ([]WindowResult, error) {
	if rec != nil && rec.NumRows() > 0 {
		n := int(rec.NumRows())
		if cap(t.scores) < n {
			t.scores = make([]float64, n)
		}
		t.scores = t.scores[:n]
		if err := t.Scorer.Score(rec, t.scores); err != nil {
			return nil, fmt.Errorf("test: score %d rows: %w", n, err)
		}
		if err := t.Eval.ObserveRecord(rec, t.scores); err != nil {
			return nil, fmt.Errorf("test: %w", err)
		}
		if err := t.Learner.Learn(ctx, rec); err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
	}
	return t.Eval.Advance(watermark), nil
}
