package evalstream_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/lakestream/lakestream/datastream"
	"github.com/lakestream/lakestream/datastream/datastreamtest"
	"github.com/lakestream/lakestream/eval"
	"github.com/lakestream/lakestream/eval/evalstream"
)

type row struct {
	ts   int64
	user string
	p, y float64
	w    float64
}

var schema = arrow.NewSchema([]arrow.Field{
	{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}},
	{Name: "user", Type: arrow.BinaryTypes.String},
	{Name: "p", Type: arrow.PrimitiveTypes.Float64},
	{Name: "clicked", Type: arrow.FixedWidthTypes.Boolean},
	{Name: "w", Type: arrow.PrimitiveTypes.Float64},
}, nil)

func record(rows []row) arrow.Record {
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for _, r := range rows {
		b.Field(0).(*array.TimestampBuilder).Append(arrow.Timestamp(r.ts))
		b.Field(1).(*array.StringBuilder).Append(r.user)
		b.Field(2).(*array.Float64Builder).Append(r.p)
		b.Field(3).(*array.BooleanBuilder).Append(r.y == 1)
		b.Field(4).(*array.Float64Builder).Append(r.w)
	}
	return b.NewRecord()
}

// collector is a sink keeping the result rows by "user@window_start".
type collector struct {
	mu   sync.Mutex
	rows map[string][4]float64 // examples, auc (NaN if null), bound, log loss
}

func (c *collector) WriteBatch(_ context.Context, b datastream.Batch) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	rec := b.Record
	idx := func(name string) arrow.Array { return rec.Column(rec.Schema().FieldIndices(name)[0]) }
	users, starts := idx("user").(*array.String), idx("window_start").(*array.Timestamp)
	ex, auc, bound, ll := idx("examples").(*array.Int64), idx("auc").(*array.Float64), idx("auc_error_bound").(*array.Float64), idx("log_loss").(*array.Float64)
	for i := range int(rec.NumRows()) {
		a := math.NaN()
		if auc.IsValid(i) {
			a = auc.Value(i)
		}
		c.rows[fmt.Sprintf("%s@%d", users.Value(i), starts.Value(i))] = [4]float64{float64(ex.Value(i)), a, bound.Value(i), ll.Value(i)}
	}
	return nil
}

func (c *collector) Close(context.Context) error { return nil }

func TestPrequentialAggregatorInAJob(t *testing.T) {
	r := rand.New(rand.NewPCG(71, 72))
	var rows []row
	for i := range 3000 {
		x := r.NormFloat64()
		y := 0.0
		if r.Float64() < 1/(1+math.Exp(-2*x)) {
			y = 1
		}
		rows = append(rows, row{
			ts:   int64(i) * 200, // 5 rows/s over 10 minutes
			user: []string{"fr", "de", "us"}[r.IntN(3)],
			p:    1 / (1 + math.Exp(-(x + r.NormFloat64()))),
			y:    y,
			w:    0.5 + r.Float64(),
		})
	}
	var steps []datastreamtest.Step
	for i := 0; i < len(rows); i += 250 {
		rec := record(rows[i:min(i+250, len(rows))])
		defer rec.Release()
		steps = append(steps, datastreamtest.Step{Batch: datastream.Batch{Record: rec}})
	}

	for _, tc := range []struct {
		name        string
		assigner    datastream.WindowAssigner
		size, slide int64
	}{
		{"tumbling 1m", datastream.Tumbling(time.Minute), 60_000, 60_000},
		{"sliding 2m every 1m", datastream.Sliding(2*time.Minute, time.Minute), 120_000, 60_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkJob(t, rows, steps, tc.assigner, tc.size, tc.slide)
		})
	}
}

// checkJob runs score → key by user → window → prequential aggregate and
// compares every window with a brute-force evaluation of its rows.
func checkJob(t *testing.T, rows []row, steps []datastreamtest.Step, assigner datastream.WindowAssigner, size, slide int64) {
	agg := evalstream.NewPrequential("score", "clicked")
	agg.Weight = "w"
	out := &collector{rows: map[string][4]float64{}}
	job := datastream.NewJob("prequential")
	src := job.Source("events", datastreamtest.NewSource(nil, steps...),
		datastream.Watermarks(datastream.WatermarkStrategy{TimestampColumn: "ts", OutOfOrderness: time.Second}))
	scored := src.Map("score", evalstream.ScoreColumn(eval.ColumnScorer("p"), "score", nil))
	w := datastream.Aggregate(scored.KeyBy("user").Window(assigner), "prequential", agg)
	w.To("metrics", out)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := job.Run(ctx); err != nil {
		t.Fatal(err)
	}

	// Reference: brute force per user and window.
	checked := 0
	for _, user := range []string{"fr", "de", "us"} {
		for start := -size + slide; start < 600_000; start += slide {
			var s, y, wt []float64
			for _, rw := range rows {
				if rw.user == user && rw.ts >= start && rw.ts < start+size {
					s, y, wt = append(s, rw.p), append(y, rw.y), append(wt, rw.w)
				}
			}
			if len(s) == 0 {
				continue
			}
			got, ok := out.rows[fmt.Sprintf("%s@%d", user, start)]
			if !ok {
				t.Errorf("no result for %s@%d", user, start)
				continue
			}
			if int(got[0]) != len(s) {
				t.Errorf("%s@%d: %v examples, want %d", user, start, got[0], len(s))
			}
			ll, _ := eval.LogLoss(s, y, wt)
			if math.Abs(got[3]-ll) > 1e-12 {
				t.Errorf("%s@%d: log loss %v, want %v", user, start, got[3], ll)
			}
			auc, err := eval.ROCAUC(s, y, wt)
			if err == nil && math.Abs(got[1]-auc) > got[2]+1e-12 {
				t.Errorf("%s@%d: AUC %v ± %v, exact %v", user, start, got[1], got[2], auc)
			}
			checked++
		}
	}
	if checked != len(out.rows) || checked < 30 {
		t.Errorf("checked %d windows, job emitted %d", checked, len(out.rows))
	}
}
