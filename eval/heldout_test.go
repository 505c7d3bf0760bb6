package eval_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/lakestream/lakestream/eval"
)

// table is columnar test data turned into arrow records.
type table struct {
	score, label, weight []float64
	user                 []string
	ts                   []int64
}

func randomTable(r *rand.Rand, n int) table {
	s, y, w := randomBinary(r, n, 50)
	t := table{score: s, label: y, weight: w}
	for i := range n {
		t.user = append(t.user, fmt.Sprintf("user-%d", r.IntN(40)))
		t.ts = append(t.ts, int64(i)*100) // 10 rows per second of event time
	}
	return t
}

var testSchema = arrow.NewSchema([]arrow.Field{
	{Name: "p", Type: arrow.PrimitiveTypes.Float64},
	{Name: "clicked", Type: arrow.FixedWidthTypes.Boolean},
	{Name: "w", Type: arrow.PrimitiveTypes.Float32},
	{Name: "user", Type: arrow.BinaryTypes.String},
	{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}},
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
}, nil)

// records cuts rows [lo, hi) into records of at most size rows. The weights
// go through float32, so the returned table holds them rounded the same way.
func (t table) records(lo, hi, size int) []arrow.Record {
	var out []arrow.Record
	for start := lo; start < hi; start += size {
		end := min(start+size, hi)
		b := array.NewRecordBuilder(memory.DefaultAllocator, testSchema)
		for i := start; i < end; i++ {
			b.Field(0).(*array.Float64Builder).Append(t.score[i])
			b.Field(1).(*array.BooleanBuilder).Append(t.label[i] == 1)
			b.Field(2).(*array.Float32Builder).Append(float32(t.weight[i]))
			b.Field(3).(*array.StringBuilder).Append(t.user[i])
			b.Field(4).(*array.TimestampBuilder).Append(arrow.Timestamp(t.ts[i]))
			b.Field(5).(*array.Int64Builder).Append(int64(i))
		}
		out = append(out, b.NewRecord())
		b.Release()
	}
	return out
}

func (t table) float32Weights() []float64 {
	w := make([]float64, len(t.weight))
	for i, v := range t.weight {
		w[i] = float64(float32(v))
	}
	return w
}

func TestHeldOutMatchesPureFunctions(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	tb := randomTable(r, 3000)
	w := tb.float32Weights()
	groups := make([]int64, len(tb.user))
	ids := map[string]int64{}
	for i, u := range tb.user {
		if _, ok := ids[u]; !ok {
			ids[u] = int64(len(ids))
		}
		groups[i] = ids[u]
	}

	cfg := eval.DefaultHeldOutConfig("clicked")
	cfg.Weight, cfg.Group = "w", "user"
	// Two workers over two halves, merged; records of 256 rows.
	var workers []*eval.HeldOut
	for _, half := range [][2]int{{0, 1700}, {1700, 3000}} {
		h, err := eval.NewHeldOut(eval.ColumnScorer("p"), cfg)
		if err != nil {
			t.Fatal(err)
		}
		recs := tb.records(half[0], half[1], 256)
		rr, err := array.NewRecordReader(testSchema, recs)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Run(context.Background(), rr); err != nil {
			t.Fatal(err)
		}
		rr.Release()
		for _, rec := range recs {
			// Scribble over the user strings, as a pooled allocator reusing
			// the buffers would: the evaluator must have copied what it keeps.
			clear(rec.Column(3).Data().Buffers()[2].Bytes())
			rec.Release()
		}
		workers = append(workers, h)
	}
	if err := workers[0].Merge(workers[1]); err != nil {
		t.Fatal(err)
	}
	res, err := workers[0].Result()
	if err != nil {
		t.Fatal(err)
	}
	auc, _ := eval.ROCAUC(tb.score, tb.label, w)
	ll, _ := eval.LogLoss(tb.score, tb.label, w)
	ap, _ := eval.AveragePrecision(tb.score, tb.label, w)
	g, _ := eval.GroupedAUC(groups, tb.score, tb.label, w)
	close12(t, "AUC", res.Binary.AUC, auc)
	close12(t, "LogLoss", res.Binary.LogLoss, ll)
	close12(t, "AveragePrecision", res.Binary.AveragePrecision, ap)
	if res.Grouped == nil {
		t.Fatal("no grouped AUC")
	}
	// Group ids differ between workers (strings are numbered per worker);
	// Merge re-keys them, so the result must equal the one-pass value.
	close12(t, "GroupedAUC", res.Grouped.AUC, g.AUC)
	if !res.Binary.Exact || res.Binary.Examples != 3000 {
		t.Errorf("exact=%v examples=%d", res.Binary.Exact, res.Binary.Examples)
	}
}

func TestHeldOutErrorsNameTheColumn(t *testing.T) {
	r := rand.New(rand.NewPCG(33, 34))
	tb := randomTable(r, 10)
	rec := tb.records(0, 10, 10)[0]
	defer rec.Release()
	for _, tc := range []struct {
		name   string
		cfg    eval.HeldOutConfig
		scorer eval.Scorer
		want   error
		text   string
	}{
		{"missing label", eval.DefaultHeldOutConfig("label"), eval.ColumnScorer("p"), eval.ErrColumn, `"label"`},
		{"string label", eval.DefaultHeldOutConfig("user"), eval.ColumnScorer("p"), eval.ErrColumn, `"user"`},
		{"label not 0/1", eval.DefaultHeldOutConfig("id"), eval.ColumnScorer("p"), eval.ErrInvalidLabel, `label column "id"`},
		{"scores not probabilities", eval.DefaultHeldOutConfig("clicked"), eval.ColumnScorer("id"), eval.ErrInvalidScore, "model output"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := eval.NewHeldOut(tc.scorer, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			err = h.Add(rec)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("err = %v, want %v mentioning %s", err, tc.want, tc.text)
			}
		})
	}
	if _, err := eval.NewHeldOut(eval.ColumnScorer("p"), eval.HeldOutConfig{}); !errors.Is(err, eval.ErrInvalidConfig) {
		t.Errorf("empty config: err = %v", err)
	}
}

func TestPairComparesOnTheSameRows(t *testing.T) {
	r := rand.New(rand.NewPCG(35, 36))
	tb := randomTable(r, 2000)
	recs := tb.records(0, 2000, 500)
	defer func() {
		for _, rec := range recs {
			rec.Release()
		}
	}()
	// The challenger is the champion with its scores blurred: worse.
	blur := scorerFunc(func(rec arrow.Record, dst []float64) error {
		if err := eval.ColumnScorer("p").Score(rec, dst); err != nil {
			return err
		}
		for i := range dst {
			dst[i] = math.Round(dst[i]*3) / 3
		}
		return nil
	})
	cfg := eval.DefaultHeldOutConfig("clicked")
	cfg.Weight = "w"
	p, err := eval.NewPair(eval.ColumnScorer("p"), blur, cfg, eval.BootstrapConfig{Resamples: 200, Level: 0.9, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if err := p.Add(rec); err != nil {
			t.Fatal(err)
		}
	}
	res, err := p.Result()
	if err != nil {
		t.Fatal(err)
	}
	c := res.Comparison
	if c.ChampionAUC != res.Champion.Binary.AUC || c.ChallengerAUC != res.Challenger.Binary.AUC {
		t.Errorf("comparison AUCs %v/%v differ from the evaluations %v/%v", c.ChampionAUC, c.ChallengerAUC, res.Champion.Binary.AUC, res.Challenger.Binary.AUC)
	}
	if c.Diff >= 0 || c.CIHigh >= 0 {
		t.Errorf("blurred challenger not worse: %+v", c)
	}
}

type scorerFunc func(rec arrow.Record, dst []float64) error

func (f scorerFunc) Score(rec arrow.Record, dst []float64) error { return f(rec, dst) }
