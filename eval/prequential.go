package eval

import (
	"bytes"
	"context"
	"encoding/gob"
	"fmt"
	"maps"
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
	// Regression says scores are predictions of real-valued targets: windows
	// report RMSE and MAE. Otherwise scores are binary-classification scores
	// of label 1 and windows report AUC, log loss and the rest of
	// BinaryMetrics.
	Regression bool
	// Windows are the event-time windows; the zero value has none (only the
	// totals and the Recent examples are evaluated, and event times are not
	// needed).
	Windows Windows
	// Recent is how many of the latest examples the recent metrics cover
	// (a count window sliding by one example); 0 disables it. It costs 24
	// bytes per example plus one accumulator.
	Recent int
	// Label, Weight (optional) and EventTime name the columns ObserveRecord
	// reads. EventTime is a timestamp column or int64 milliseconds; it is
	// needed only with Windows.
	Label, Weight, EventTime string
	// Binary configures each binary accumulator. KeepScores is not
	// allowed: a stream is unbounded. DefaultPrequentialConfig uses a
	// 4,096-bin sketch, 64 KiB per open window, whose bound is still
	// reported with each window's AUC.
	Binary BinaryConfig
}

// DefaultPrequentialConfig returns a configuration for binary scores over
// the given windows and columns, with Recent 100,000 examples.
func DefaultPrequentialConfig(w Windows, label, eventTime string) PrequentialConfig {
	b := DefaultBinaryConfig()
	b.Sketch.Bins = 1 << 12
	return PrequentialConfig{Windows: w, Recent: 100_000, Label: label, EventTime: eventTime, Binary: b}
}

// Validate reports the first invalid field.
func (c PrequentialConfig) Validate() error {
	if c.Windows != (Windows{}) {
		if err := c.Windows.Validate(); err != nil {
			return err
		}
	}
	if c.Recent < 0 {
		return fmt.Errorf("recent window of %d examples: want ≥ 0: %w", c.Recent, ErrInvalidConfig)
	}
	if c.Binary.KeepScores {
		return fmt.Errorf("prequential windows cannot keep scores (unbounded memory): %w", ErrInvalidConfig)
	}
	if c.Regression {
		return nil
	}
	return c.Binary.Validate()
}

// WindowResult is the evaluation of one window.
type WindowResult struct {
	Start, End int64 // event time, ms; the window is [Start, End)
	// Metrics holds the binary metrics (zero under Regression).
	Metrics BinaryMetrics
	// Regression holds the regression metrics (zero unless Regression).
	Regression Regression
	// Examples is the number of examples in the window.
	Examples int64
	// Err is set when a metric is undefined in the window (IsUndefined: no
	// data, or a single class); Metrics holds the others.
	Err error
	// Partial marks a window closed by Flush before the watermark passed
	// its end: rows may still have been on their way.
	Partial bool
}

// PrequentialSummary is the state of a prequential evaluation at a point of
// the stream.
type PrequentialSummary struct {
	// Examples and Weight count every example observed once.
	Examples int64
	Weight   float64
	// Late counts rows dropped from the event-time windows because all
	// their windows had fired (they still count in Total and Recent).
	Late int64
	// Watermark is the last watermark passed to Advance (math.MinInt64
	// before the first).
	Watermark int64
	// Total covers every example; Recent the last Config.Recent examples
	// (Start and End are 0 in both).
	Total, Recent WindowResult
}

// Prequential evaluates a stream "test then train" (Dawid 1984; Gama et
// al. 2013): each example is scored by the model as it is before learning
// from it, and the scores are aggregated three ways: over every example
// (Total), over the last Recent examples (a count window that slides by
// one example: evicted examples are subtracted, and the window is rebuilt
// from its ring every Recent evictions so float sums do not drift), and per
// event-time window. An event-time window's result is final once the
// watermark reaches its end; rows arriving for a window that already fired
// are late: they are counted (Late) and dropped from the windows.
//
// Its whole state encodes with MarshalBinary for checkpoints; a restored
// evaluator continues exactly where the saved one stood.
//
// Memory: one accumulator (sketch bytes + calibration bins, or four sums
// under Regression) for the total, one for the recent examples with 24
// bytes per recent example, and one per open window; with sliding windows
// Size/Slide are open at a time, plus those waiting for the watermark.
// Observe does not allocate once the windows it needs exist. Not safe for
// concurrent use.
type Prequential struct {
	cfg     PrequentialConfig
	total   windowAcc
	recent  windowAcc
	ring    []example // the last cfg.Recent examples, oldest at head once full
	head    int
	evicted int                  // since the recent accumulator was last rebuilt
	open    map[int64]*windowAcc // by window start
	wm      int64
	late    int64
	free    []*windowAcc
	ts      []int64
	labels  []float64
	weights []float64
}

// example is one recent example (exported fields: gob encodes the ring).
type example struct{ Score, Label, Weight float64 }

// windowAcc accumulates one window: a BinaryState, or regression sums.
type windowAcc struct {
	Bin BinaryState
	Reg regressionSums
}

// regressionSums are the additive sums behind RMSE and MAE; unlike
// RegressionAccumulator they can subtract an example.
type regressionSums struct {
	N         int64
	W, SE, AE float64
}

func (r *regressionSums) add(p, y, w float64, n int64) {
	e := p - y
	r.N += n
	r.W += w
	r.SE += w * e * e
	r.AE += w * math.Abs(e)
}

func (r *regressionSums) result() (Regression, error) {
	if r.W <= 0 {
		return Regression{}, ErrNoData
	}
	return Regression{RMSE: math.Sqrt(max(r.SE, 0) / r.W), MAE: max(r.AE, 0) / r.W}, nil
}

// NewPrequential returns an evaluator with no windows open and the watermark
// at math.MinInt64.
func NewPrequential(cfg PrequentialConfig) (*Prequential, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Prequential{cfg: cfg, open: map[int64]*windowAcc{}, wm: math.MinInt64}
	if cfg.Recent > 0 {
		p.ring = make([]example, 0, cfg.Recent)
	}
	return p, nil
}

// Config returns the evaluator's configuration.
func (p *Prequential) Config() PrequentialConfig { return p.cfg }

// Late returns the number of rows dropped because all their windows had
// fired.
func (p *Prequential) Late() int64 { return p.late }

// Observe adds rows with event times ts (ms; nil when there are no
// Windows), scores computed before the model learned from them, labels and
// weights (nil means 1). It checks the batch first; on error nothing is
// added. It panics if lengths differ, or if ts is nil with Windows.
func (p *Prequential) Observe(ts []int64, scores, labels, weights []float64) error {
	windows := p.cfg.Windows != (Windows{})
	if windows || ts != nil {
		checkLen("ts", len(ts), len(scores))
	}
	if err := p.check(scores, labels, weights); err != nil {
		return err
	}
	for i, s := range scores {
		y, w := labels[i], weightAt(weights, i)
		p.add(&p.total, s, y, w, 1)
		if p.cfg.Recent > 0 {
			p.pushRecent(example{s, y, w})
		}
		if !windows {
			continue
		}
		first, last := p.cfg.Windows.starts(ts[i])
		counted := false
		for start := first; start <= last; start += p.cfg.Windows.Slide {
			if start+p.cfg.Windows.Size <= p.wm {
				continue // this window has fired
			}
			p.add(p.window(start), s, y, w, 1)
			counted = true
		}
		if !counted {
			p.late++
		}
	}
	return nil
}

func (p *Prequential) check(scores, labels, weights []float64) error {
	if p.cfg.Regression {
		checkLen("labels", len(labels), len(scores))
		if weights != nil {
			checkLen("weights", len(weights), len(scores))
		}
		for _, c := range []struct {
			name string
			v    []float64
		}{{"scores", scores}, {"labels", labels}} {
			for i, x := range c.v {
				if math.IsNaN(x) {
					return &ValueError{c.name, i, x, ErrNaN}
				}
				if math.IsInf(x, 0) {
					return &ValueError{c.name, i, x, ErrInvalidScore}
				}
			}
		}
		return checkWeights(weights)
	}
	if err := checkBinary(scores, labels, weights); err != nil {
		return err
	}
	if p.cfg.Binary.Probabilities {
		return checkProbs("scores", scores)
	}
	return nil
}

// add adds (n = 1) or removes (w negated, n = -1) one checked example.
func (p *Prequential) add(acc *windowAcc, s, y, w float64, n int64) {
	if p.cfg.Regression {
		acc.Reg.add(s, y, w, n)
		return
	}
	p.cfg.Binary.observe(&acc.Bin, s, y, w)
	acc.Bin.N += n - 1 // observe counted one
}

func (p *Prequential) pushRecent(e example) {
	if len(p.ring) < p.cfg.Recent {
		p.ring = append(p.ring, e)
		p.add(&p.recent, e.Score, e.Label, e.Weight, 1)
		return
	}
	old := p.ring[p.head]
	p.ring[p.head] = e
	p.head = (p.head + 1) % len(p.ring)
	p.evicted++
	if p.evicted >= len(p.ring) {
		p.rebuildRecent()
		return
	}
	p.add(&p.recent, old.Score, old.Label, -old.Weight, -1)
	p.add(&p.recent, e.Score, e.Label, e.Weight, 1)
}

// rebuildRecent recomputes the recent accumulator from the ring, so
// subtraction errors never accumulate past one window's worth.
func (p *Prequential) rebuildRecent() {
	p.recent.reset()
	for i := range p.ring {
		e := p.ring[(p.head+i)%len(p.ring)]
		p.add(&p.recent, e.Score, e.Label, e.Weight, 1)
	}
	p.evicted = 0
}

func (a *windowAcc) reset() {
	a.Bin.Reset()
	a.Reg = regressionSums{}
}

func (p *Prequential) window(start int64) *windowAcc {
	if acc, ok := p.open[start]; ok {
		return acc
	}
	var acc *windowAcc
	if n := len(p.free); n > 0 {
		acc, p.free = p.free[n-1], p.free[:n-1]
	} else {
		acc = new(windowAcc)
	}
	p.open[start] = acc
	return acc
}

// ObserveRecord reads the event-time (with Windows), label and weight
// columns of rec and observes its rows with scores (one per row).
func (p *Prequential) ObserveRecord(rec arrow.Record, scores []float64) error {
	var err error
	var ts []int64
	if p.cfg.Windows != (Windows{}) {
		if p.ts, err = AppendMillis(p.ts[:0], rec, p.cfg.EventTime); err != nil {
			return err
		}
		ts = p.ts
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
	return p.Observe(ts, scores, p.labels, weights)
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

// Summary returns the totals and the recent metrics. It does not change
// the evaluator.
func (p *Prequential) Summary() PrequentialSummary {
	s := PrequentialSummary{Late: p.late, Watermark: p.wm, Total: p.result(&p.total), Recent: p.result(&p.recent)}
	s.Examples = s.Total.Examples
	if p.cfg.Regression {
		s.Weight = p.total.Reg.W
	} else {
		s.Weight = p.total.Bin.W
	}
	return s
}

func (p *Prequential) result(acc *windowAcc) WindowResult {
	var r WindowResult
	if p.cfg.Regression {
		r.Examples = acc.Reg.N
		r.Regression, r.Err = acc.Reg.result()
		return r
	}
	r.Metrics, r.Err = p.cfg.Binary.Result(&acc.Bin)
	r.Examples = acc.Bin.N
	r.Metrics.ROC, r.Metrics.PR = Curve{}, Curve{} // keep results small
	return r
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
		r := p.result(acc)
		r.Start, r.End = s, s+p.cfg.Windows.Size
		r.Partial = partial && r.End > p.wm
		out = append(out, r)
		acc.reset()
		p.free = append(p.free, acc)
	}
	return out
}

// prequentialState is what MarshalBinary encodes.
type prequentialState struct {
	Config    PrequentialConfig
	Total     windowAcc
	Recent    windowAcc
	Ring      []example
	Head      int
	Evicted   int
	Starts    []int64
	Windows   []windowAcc
	Watermark int64
	Late      int64
}

// MarshalBinary encodes the evaluator's state (gob): the totals, the
// recent examples, every open window, the watermark and the late count. It
// is what a checkpoint stores.
func (p *Prequential) MarshalBinary() ([]byte, error) {
	st := prequentialState{Config: p.cfg, Total: p.total, Recent: p.recent, Ring: p.ring, Head: p.head,
		Evicted: p.evicted, Watermark: p.wm, Late: p.late}
	st.Starts = slices.Sorted(maps.Keys(p.open))
	for _, s := range st.Starts {
		st.Windows = append(st.Windows, *p.open[s])
	}
	var b bytes.Buffer
	if err := gob.NewEncoder(&b).Encode(&st); err != nil {
		return nil, fmt.Errorf("encode prequential state: %w", err)
	}
	return b.Bytes(), nil
}

// UnmarshalBinary replaces the evaluator's state with one MarshalBinary
// wrote. The configuration must equal the evaluator's (a checkpoint taken
// with other windows or another recent size cannot continue here): it
// returns an error wrapping ErrIncompatible otherwise, and then changes
// nothing.
func (p *Prequential) UnmarshalBinary(data []byte) error {
	var st prequentialState
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&st); err != nil {
		return fmt.Errorf("decode prequential state: %w", err)
	}
	if st.Config != p.cfg {
		return fmt.Errorf("prequential state of %+v into an evaluator of %+v: %w", st.Config, p.cfg, ErrIncompatible)
	}
	if len(st.Starts) != len(st.Windows) || len(st.Ring) > p.cfg.Recent || (len(st.Ring) > 0 && (st.Head < 0 || st.Head >= len(st.Ring))) {
		return fmt.Errorf("prequential state: %d windows for %d starts, %d recent examples (head %d) for %d: %w",
			len(st.Windows), len(st.Starts), len(st.Ring), st.Head, p.cfg.Recent, ErrIncompatible)
	}
	p.total, p.recent, p.head, p.evicted, p.wm, p.late = st.Total, st.Recent, st.Head, st.Evicted, st.Watermark, st.Late
	p.ring = append(p.ring[:0], st.Ring...)
	clear(p.open)
	for i, s := range st.Starts {
		acc := st.Windows[i]
		p.open[s] = &acc
	}
	return nil
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
