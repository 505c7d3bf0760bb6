package job

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/lakestream/lakestream/eval"
	"github.com/lakestream/lakestream/train"
	"github.com/lakestream/lakestream/train/feature"
	"github.com/lakestream/lakestream/train/publish"
)

// Prequential asks a bounded job for test-then-train evaluation
// (--prequential): every training row is scored by the model as it stands
// before learning from it, in event-time order, with the evaluator
// "trainer stream" uses (eval.Prequential).
type Prequential struct {
	// Recent is how many of the latest examples the recent metrics cover
	// (--recent); 0 turns them off.
	Recent int
	// Window is the size of the tumbling event-time windows (--window); 0
	// evaluates no windows.
	Window time.Duration
}

// DefaultPrequential returns the recent 100,000 examples and one-day
// event-time windows: a lake's dt partitions are days.
func DefaultPrequential() Prequential {
	return Prequential{Recent: 100_000, Window: 24 * time.Hour}
}

// PrequentialReport is the outcome of a prequential run: the metrics over
// every training example, over the last Recent ones, and per event-time
// window (each window complete: the bounded input ended after it).
type PrequentialReport struct {
	// EventTime is the spec's event-time column.
	EventTime string
	// Regression says the figures are RMSE and MAE, not AUC and log loss.
	Regression    bool
	Total, Recent publish.WindowStatus
	Windows       []publish.WindowStatus
}

// checkPrequential reports why c cannot run test-then-train, naming flags.
func (c *Config) checkPrequential() error {
	p := c.Prequential
	if p == nil {
		return nil
	}
	switch {
	case c.Spec.EventTime == "":
		return fmt.Errorf("--prequential needs event_time in --spec %s: the rows are judged in event-time order; "+
			"name a timestamp or int64-milliseconds column (event_time: ts), or derive one, e.g. "+
			"derived: [{name: event_ms, expr: 'epoch_ms(hour, \"YYMMDDHH\")'}] with event_time: event_ms", c.SpecPath)
	case c.Train.Epochs > 1:
		return fmt.Errorf("--prequential with --epochs %d: a later epoch would score rows the model has already learned; use --epochs 1", c.Train.Epochs)
	case c.Parallel > 1:
		return fmt.Errorf("--prequential with --parallel %d: parallel workers interleave their rows, so event-time order is lost; use --parallel 1", c.Parallel)
	case c.ShuffleBuffer > 0:
		return errors.New("--prequential with --shuffle-buffer: shuffled rows are not in event-time order; drop --shuffle-buffer")
	case c.CheckpointEvery > 0:
		return errors.New("--prequential with --checkpoint-every is not supported yet: the evaluator's state is not in the checkpoints; drop one")
	case c.Model.Negatives > 0:
		return errors.New("--prequential with --negatives: sampled negatives are not rows of the data to score; drop --negatives")
	case p.Recent < 0:
		return fmt.Errorf("--recent %d: want ≥ 0", p.Recent)
	case p.Window < 0 || p.Window > 0 && p.Window < time.Millisecond:
		return fmt.Errorf("--window %v: want 0 (no event-time windows) or at least 1ms", p.Window)
	}
	if m, err := train.NewModel(c.modelConfig()); err == nil && train.DefaultMetric(m) == train.MetricAccuracy {
		return fmt.Errorf("--prequential: --model %s is multiclass; prequential evaluation reports AUC and log loss of binary models (RMSE of regression ones)", c.Model.Kind)
	}
	return nil
}

// prequential is the test half of a bounded job's test-then-train: the
// train operator's Observe hook. It checks that event times never go back,
// feeds the evaluator and logs its figures.
type prequential struct {
	ev         *eval.Prequential
	column     string   // the event-time column
	partitions []string // the table's partition columns, to name where order broke
	regression bool
	log        *slog.Logger
	now        func() time.Time
	every      time.Duration
	lastLog    time.Time

	last     int64 // the latest event time seen
	examples int64
	y, w     []float64
	windows  []publish.WindowStatus
}

// newPrequential returns the observer of c's run; regression says the
// model predicts real values.
func newPrequential(c *Config, regression bool, partitions []string, cfg train.Config) (*prequential, error) {
	ec := eval.DefaultPrequentialConfig(eval.Windows{}, c.Spec.Label.Column, "")
	ec.Recent, ec.Regression = c.Prequential.Recent, regression
	if w := c.Prequential.Window; w > 0 {
		ec.Windows, ec.EventTime = eval.Tumbling(w.Milliseconds()), c.Spec.EventTime
	}
	ev, err := eval.NewPrequential(ec)
	if err != nil {
		return nil, fmt.Errorf("--window/--recent: %w", err)
	}
	p := &prequential{ev: ev, column: c.Spec.EventTime, partitions: partitions, regression: regression,
		log: c.Logger, now: cfg.Now, every: cfg.LogEvery, last: math.MinInt64}
	if p.now == nil {
		p.now = time.Now
	}
	if p.every <= 0 {
		p.every = 10 * time.Second
	}
	p.lastLog = p.now()
	return p, nil
}

// observe implements train.Config.Observe.
func (p *prequential) observe(_ context.Context, rec arrow.Record, preds []float64, b *feature.Batch) error {
	n := int(rec.NumRows())
	if len(preds) != n || len(b.EventTimes) != n {
		return fmt.Errorf("prequential: %d predictions and %d event times for %d rows", len(preds), len(b.EventTimes), n)
	}
	for i, t := range b.EventTimes {
		if t < p.last {
			return p.orderError(rec, i, t)
		}
		p.last = t
	}
	p.y, p.w = p.y[:0], p.w[:0]
	for i := range n {
		p.y = append(p.y, float64(b.Labels[i]))
		p.w = append(p.w, float64(b.Weights[i]))
	}
	if err := p.ev.Observe(b.EventTimes, preds, p.y, p.w); err != nil {
		return fmt.Errorf("prequential evaluation: %w", err)
	}
	p.examples += int64(n)
	// Rows come in event-time order, so the watermark is the latest time.
	p.closed(p.ev.Advance(p.last))
	if now := p.now(); now.Sub(p.lastLog) >= p.every {
		p.lastLog = now
		p.logTotals("prequential")
	}
	return nil
}

// orderError says where the event time went back: the column, the times and
// the partition of the row.
func (p *prequential) orderError(rec arrow.Record, row int, t int64) error {
	var where []string
	for _, name := range p.partitions {
		idx := rec.Schema().FieldIndices(name)
		if len(idx) == 0 {
			continue
		}
		col := rec.Column(idx[0])
		v := "null"
		if !col.IsNull(row) {
			v = col.ValueStr(row)
			if s, ok := col.(*array.String); ok {
				v = s.Value(row)
			}
		}
		where = append(where, name+"="+v)
	}
	part := "the table"
	if len(where) > 0 {
		part = "partition " + strings.Join(where, "/")
	}
	return fmt.Errorf("--prequential: event_time column %q goes back in time in %s, after %d rows in order: %s follows %s; "+
		"prequential evaluation reads the rows in event-time order (partitions in key order, then each file's rows), "+
		"so write each partition sorted by %q", p.column, part, p.examples+int64(row),
		fmtMillis(t), fmtMillis(p.last), p.column)
}

func fmtMillis(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
}

// closed records and logs windows that closed.
func (p *prequential) closed(rs []eval.WindowResult) {
	for _, r := range rs {
		ws := publish.NewWindowStatus(r, p.regression)
		p.windows = append(p.windows, ws)
		attrs := []any{"start", ws.Start, "end", ws.End, "examples", ws.Examples}
		attrs = appendFigures(attrs, "", ws)
		p.log.Info("prequential window", attrs...)
	}
}

// logTotals logs the figures over every example and the recent ones.
func (p *prequential) logTotals(msg string) {
	sum := p.ev.Summary()
	attrs := []any{"examples", p.examples, "event_time", fmtMillis(max(p.last, 0))}
	attrs = appendFigures(attrs, "recent_", publish.NewWindowStatus(sum.Recent, p.regression))
	attrs = appendFigures(attrs, "total_", publish.NewWindowStatus(sum.Total, p.regression))
	p.log.Info(msg, attrs...)
}

// appendFigures appends the defined figures of ws as log attributes.
func appendFigures(attrs []any, prefix string, ws publish.WindowStatus) []any {
	for _, f := range []struct {
		name string
		v    *float64
	}{{"auc", ws.AUC}, {"logloss", ws.LogLoss}, {"rmse", ws.RMSE}} {
		if f.v != nil {
			attrs = append(attrs, prefix+f.name, *f.v)
		}
	}
	return attrs
}

// finish closes every window (the bounded input has ended, so none is
// partial), logs the final figures and returns the report.
func (p *prequential) finish() *PrequentialReport {
	p.closed(p.ev.Advance(math.MaxInt64))
	p.logTotals("prequential done")
	sum := p.ev.Summary()
	return &PrequentialReport{EventTime: p.column, Regression: p.regression,
		Total: publish.NewWindowStatus(sum.Total, p.regression), Recent: publish.NewWindowStatus(sum.Recent, p.regression),
		Windows: p.windows}
}

// metrics returns the report's figures under the names "trainer stream"
// gives them in a version's metadata.
func (r *PrequentialReport) metrics() map[string]float64 {
	out := map[string]float64{}
	for name, ws := range map[string]publish.WindowStatus{"prequential": r.Total, "prequential_recent": r.Recent} {
		for k, v := range map[string]*float64{"auc": ws.AUC, "logloss": ws.LogLoss, "rmse": ws.RMSE, "mae": ws.MAE} {
			if v != nil {
				out[name+"_"+k] = *v
			}
		}
	}
	return out
}
