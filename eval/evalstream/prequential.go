package evalstream

import (
	"fmt"
	"sync"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/lakestream/lakestream/datastream"
	"github.com/lakestream/lakestream/eval"
)

// Prequential is a datastream.Aggregator of binary-classification metrics
// per key and window, reading scores written upstream (see ScoreColumn).
// Use NewPrequential; the fields may be changed before the job starts.
type Prequential struct {
	// Score, Label and Weight (optional) name the input columns.
	Score, Label, Weight string
	// Config configures the metrics; KeepScores must be false. Each window
	// holds Config.Sketch.Bytes() plus 24 bytes per calibration bin.
	Config eval.BinaryConfig
	pool   *sync.Pool // of *scratch
}

type scratch struct{ s, y, w []float64 }

// NewPrequential returns an aggregator over the score and label columns
// with a 1,024-bin log-odds sketch (16 KiB per key and window; its error
// bound is emitted with each AUC).
func NewPrequential(score, label string) *Prequential {
	cfg := eval.DefaultBinaryConfig()
	cfg.Sketch.Bins = 1 << 10
	return &Prequential{Score: score, Label: label, Config: cfg, pool: &sync.Pool{New: func() any { return new(scratch) }}}
}

var _ datastream.Aggregator[eval.BinaryState] = (*Prequential)(nil)

// Add observes rows of rec into their windows' states. Invalid values
// (NaN, labels other than 0/1, scores outside [0, 1]) fail the job with an
// error naming the column and row.
func (p *Prequential) Add(rec arrow.Record, rows []int32, accs []*eval.BinaryState) error {
	if p.Config.KeepScores {
		return fmt.Errorf("prequential aggregator: KeepScores is not allowed on a stream: %w", eval.ErrInvalidConfig)
	}
	sc := p.pool.Get().(*scratch)
	defer p.pool.Put(sc)
	var err error
	if sc.s, err = eval.ReadFloats(sc.s[:0], rec, p.Score); err != nil {
		return err
	}
	if sc.y, err = eval.ReadFloats(sc.y[:0], rec, p.Label); err != nil {
		return err
	}
	if p.Weight != "" {
		if sc.w, err = eval.ReadFloats(sc.w[:0], rec, p.Weight); err != nil {
			return err
		}
	}
	for i, r := range rows {
		w := 1.0
		if p.Weight != "" {
			w = sc.w[r]
		}
		if err := p.Config.Observe(accs[i], sc.s[r], sc.y[r], w); err != nil {
			return fmt.Errorf("row %d (columns %q, %q): %w", r, p.Score, p.Label, err)
		}
	}
	return nil
}

// Merge folds src into dst (session windows merging).
func (p *Prequential) Merge(dst, src *eval.BinaryState) {
	if err := dst.Merge(src); err != nil {
		panic(err) // states of one aggregator always have the same bins
	}
}

// Fields are the output columns.
func (p *Prequential) Fields() []arrow.Field {
	f := func(name string, t arrow.DataType) arrow.Field {
		return arrow.Field{Name: name, Type: t, Nullable: true}
	}
	return []arrow.Field{
		f("examples", arrow.PrimitiveTypes.Int64),
		f("weight", arrow.PrimitiveTypes.Float64),
		f("auc", arrow.PrimitiveTypes.Float64),
		f("auc_error_bound", arrow.PrimitiveTypes.Float64),
		f("log_loss", arrow.PrimitiveTypes.Float64),
		f("accuracy", arrow.PrimitiveTypes.Float64),
		f("ece", arrow.PrimitiveTypes.Float64),
	}
}

// Append appends one row of results for acc. AUC and its bound are null
// when the window holds one class only; log loss and ECE when scores are not
// probabilities.
func (p *Prequential) Append(bs []array.Builder, acc *eval.BinaryState) {
	m, err := p.Config.Result(acc)
	bs[0].(*array.Int64Builder).Append(m.Examples)
	bs[1].(*array.Float64Builder).Append(m.Weight)
	if err == nil {
		bs[2].(*array.Float64Builder).Append(m.AUC)
		bs[3].(*array.Float64Builder).Append(m.AUCBound)
	} else {
		bs[2].AppendNull()
		bs[3].AppendNull()
	}
	if m.Calibration != nil {
		bs[4].(*array.Float64Builder).Append(m.LogLoss)
	} else {
		bs[4].AppendNull()
	}
	bs[5].(*array.Float64Builder).Append(m.Confusion.Accuracy())
	if m.Calibration != nil {
		bs[6].(*array.Float64Builder).Append(m.Calibration.ECE)
	} else {
		bs[6].AppendNull()
	}
}

// ScoreColumn returns a datastream Map function that appends a Float64
// column named column holding s's score of every row. Place it before the
// training operator: the rows are then scored by a model that has not yet
// learned from them (test-then-train). mem allocates the new column (nil
// means memory.DefaultAllocator).
func ScoreColumn(s eval.Scorer, column string, mem memory.Allocator) func(arrow.Record) (arrow.Record, error) {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	return func(in arrow.Record) (arrow.Record, error) {
		n := int(in.NumRows())
		b := array.NewFloat64Builder(mem)
		defer b.Release()
		b.Resize(n)
		scores := make([]float64, n)
		if err := s.Score(in, scores); err != nil {
			return nil, fmt.Errorf("score %d rows: %w", n, err)
		}
		b.AppendValues(scores, nil)
		col := b.NewArray()
		defer col.Release()
		fields := append(in.Schema().Fields(), arrow.Field{Name: column, Type: arrow.PrimitiveTypes.Float64})
		cols := append(append([]arrow.Array{}, in.Columns()...), col)
		md := in.Schema().Metadata()
		return array.NewRecord(arrow.NewSchema(fields, &md), cols, int64(n)), nil
	}
}
