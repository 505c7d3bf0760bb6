package eval_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/lakestream/lakestream/eval"
)

func TestPrequentialWindows(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	tb := randomTable(r, 2000) // ts = 0, 100, …, 199,900 ms
	w := tb.float32Weights()
	for _, tc := range []struct {
		name string
		win  eval.Windows
	}{
		{"tumbling 30s", eval.Tumbling(30_000)},
		{"sliding 60s every 20s", eval.Sliding(60_000, 20_000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := eval.DefaultPrequentialConfig(tc.win, "clicked", "ts")
			cfg.Weight = "w"
			p, err := eval.NewPrequential(cfg)
			if err != nil {
				t.Fatal(err)
			}
			var got []eval.WindowResult
			for _, rec := range tb.records(0, 2000, 128) {
				scores := make([]float64, rec.NumRows())
				if err := eval.ColumnScorer("p").Score(rec, scores); err != nil {
					t.Fatal(err)
				}
				if err := p.ObserveRecord(rec, scores); err != nil {
					t.Fatal(err)
				}
				// The watermark trails the newest event by 5 s.
				last := rec.Column(4).(*array.Timestamp).Value(int(rec.NumRows()) - 1)
				got = append(got, p.Advance(int64(last)-5_000)...)
				rec.Release()
			}
			got = append(got, p.Flush()...)
			// Every window whose start lies within the data, in order.
			var want []int64
			for s := -tc.win.Size + tc.win.Slide; s < 200_000; s += tc.win.Slide {
				want = append(want, s)
			}
			if len(got) != len(want) {
				t.Fatalf("%d windows fired, want %d", len(got), len(want))
			}
			for i, res := range got {
				if res.Start != want[i] || res.End != want[i]+tc.win.Size {
					t.Fatalf("window %d = [%d, %d), want start %d", i, res.Start, res.End, want[i])
				}
				if res.Partial != (res.End > 199_900-5_000) {
					t.Errorf("window [%d, %d) partial = %v", res.Start, res.End, res.Partial)
				}
				// Reference: the rows inside the window, by brute force.
				var s, y, ww []float64
				for j, ts := range tb.ts {
					if ts >= res.Start && ts < res.End {
						s, y, ww = append(s, tb.score[j]), append(y, tb.label[j]), append(ww, w[j])
					}
				}
				if res.Metrics.Examples != int64(len(s)) {
					t.Fatalf("window [%d, %d): %d examples, want %d", res.Start, res.End, res.Metrics.Examples, len(s))
				}
				ll, _ := eval.LogLoss(s, y, ww)
				close12(t, "window log loss", res.Metrics.LogLoss, ll)
				auc, err := eval.ROCAUC(s, y, ww)
				if err != nil {
					if !eval.IsUndefined(res.Err) {
						t.Errorf("window with one class: Err = %v", res.Err)
					}
					continue
				}
				if math.Abs(res.Metrics.AUC-auc) > res.Metrics.AUCBound+1e-12 {
					t.Errorf("window [%d, %d): AUC %v ± %v, exact %v", res.Start, res.End, res.Metrics.AUC, res.Metrics.AUCBound, auc)
				}
			}
			if p.Late() != 0 {
				t.Errorf("late = %d, want 0", p.Late())
			}
		})
	}
}

func TestPrequentialLateRows(t *testing.T) {
	p, err := eval.NewPrequential(eval.DefaultPrequentialConfig(eval.Tumbling(1000), "y", "ts"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Observe([]int64{100, 900}, []float64{0.2, 0.8}, []float64{0, 1}, nil); err != nil {
		t.Fatal(err)
	}
	fired := p.Advance(1000)
	if len(fired) != 1 || fired[0].Metrics.Examples != 2 || fired[0].Metrics.AUC != 1 {
		t.Fatalf("fired %+v", fired)
	}
	// A row for [0, 1000) after it fired is late; one for [1000, 2000) is not.
	if err := p.Observe([]int64{500, 1500}, []float64{0.3, 0.4}, []float64{1, 0}, nil); err != nil {
		t.Fatal(err)
	}
	if p.Late() != 1 {
		t.Errorf("late = %d, want 1", p.Late())
	}
	rest := p.Flush()
	if len(rest) != 1 || rest[0].Start != 1000 || rest[0].Metrics.Examples != 1 || !rest[0].Partial {
		t.Errorf("flushed %+v", rest)
	}
}

// memorizer is a model that, once it has learned a row (by id), predicts
// its label exactly, and 0.5 for rows it has not seen. Test-then-train must
// therefore see only 0.5: a row scored after learning it would score 1.
type memorizer struct{ seen map[int64]float64 }

func (m *memorizer) Score(rec arrow.Record, dst []float64) error {
	ids := rec.Column(5).(*array.Int64)
	for i := range dst {
		if y, ok := m.seen[ids.Value(i)]; ok {
			dst[i] = y
		} else {
			dst[i] = 0.5
		}
	}
	return nil
}

func (m *memorizer) Learn(_ context.Context, rec arrow.Record) error {
	ids, labels := rec.Column(5).(*array.Int64), rec.Column(1).(*array.Boolean)
	for i := range ids.Len() {
		y := 0.0
		if labels.Value(i) {
			y = 1
		}
		m.seen[ids.Value(i)] = y
	}
	return nil
}

func TestTestThenTrainScoresBeforeLearning(t *testing.T) {
	r := rand.New(rand.NewPCG(43, 44))
	tb := randomTable(r, 1000)
	m := &memorizer{seen: map[int64]float64{}}
	p, err := eval.NewPrequential(eval.DefaultPrequentialConfig(eval.Tumbling(50_000), "clicked", "ts"))
	if err != nil {
		t.Fatal(err)
	}
	tt := &eval.TestThenTrain{Scorer: m, Learner: m, Eval: p}
	var windows []eval.WindowResult
	for _, rec := range tb.records(0, 1000, 100) {
		last := rec.Column(4).(*array.Timestamp).Value(int(rec.NumRows()) - 1)
		ws, err := tt.Process(context.Background(), rec, int64(last))
		if err != nil {
			t.Fatal(err)
		}
		windows = append(windows, ws...)
		rec.Release()
	}
	windows = append(windows, p.Flush()...)
	if len(windows) != 2 {
		t.Fatalf("%d windows, want 2", len(windows))
	}
	for _, w := range windows {
		if w.Metrics.AUC != 0.5 || math.Abs(w.Metrics.LogLoss-math.Ln2) > 1e-12 {
			t.Errorf("window [%d, %d): AUC %v, log loss %v: rows were scored after learning", w.Start, w.End, w.Metrics.AUC, w.Metrics.LogLoss)
		}
	}
	if len(m.seen) != 1000 {
		t.Errorf("learner saw %d rows, want 1000", len(m.seen))
	}
}

// TestPrequentialRecentAndTotal checks the count window over the last N
// examples and the totals against brute force at every batch, for binary
// and regression scores, with weights, across several ring rebuilds.
func TestPrequentialRecentAndTotal(t *testing.T) {
	const n, recent = 5000, 700
	r := rand.New(rand.NewPCG(45, 46))
	scores, labels, weights := make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range n {
		scores[i] = r.Float64()
		if r.Float64() < scores[i] {
			labels[i] = 1
		}
		weights[i] = 0.5 + r.Float64()
	}
	for _, regression := range []bool{false, true} {
		cfg := eval.DefaultPrequentialConfig(eval.Windows{}, "y", "")
		cfg.Recent, cfg.Regression = recent, regression
		p, err := eval.NewPrequential(cfg)
		if err != nil {
			t.Fatal(err)
		}
		for lo := 0; lo < n; lo += 97 {
			hi := min(lo+97, n)
			if err := p.Observe(nil, scores[lo:hi], labels[lo:hi], weights[lo:hi]); err != nil {
				t.Fatal(err)
			}
			s := p.Summary()
			from := max(0, hi-recent)
			if s.Examples != int64(hi) || s.Total.Examples != int64(hi) || s.Recent.Examples != int64(hi-from) {
				t.Fatalf("after %d: examples %d, total %d, recent %d", hi, s.Examples, s.Total.Examples, s.Recent.Examples)
			}
			for _, c := range []struct {
				what   string
				res    eval.WindowResult
				lo, hi int
			}{{"total", s.Total, 0, hi}, {"recent", s.Recent, from, hi}} {
				sc, y, w := scores[c.lo:c.hi], labels[c.lo:c.hi], weights[c.lo:c.hi]
				if regression {
					want, _ := eval.RegressionMetrics(sc, y, w)
					// Sums with subtraction: a few ulps per evicted example
					// between rebuilds.
					if math.Abs(c.res.Regression.RMSE-want.RMSE) > 1e-9 || math.Abs(c.res.Regression.MAE-want.MAE) > 1e-9 {
						t.Fatalf("after %d: %s RMSE %v MAE %v, want %v %v", hi, c.what, c.res.Regression.RMSE, c.res.Regression.MAE, want.RMSE, want.MAE)
					}
					continue
				}
				ll, _ := eval.LogLoss(sc, y, w)
				if math.Abs(c.res.Metrics.LogLoss-ll) > 1e-9 {
					t.Fatalf("after %d: %s log loss %v, want %v", hi, c.what, c.res.Metrics.LogLoss, ll)
				}
				auc, _ := eval.ROCAUC(sc, y, w)
				if math.Abs(c.res.Metrics.AUC-auc) > c.res.Metrics.AUCBound+1e-9 {
					t.Fatalf("after %d: %s AUC %v ± %v, exact %v", hi, c.what, c.res.Metrics.AUC, c.res.Metrics.AUCBound, auc)
				}
			}
		}
	}
}

// TestPrequentialStateRoundTrip stops an evaluator halfway, restores its
// encoded state into a new one, and checks that both continue identically.
func TestPrequentialStateRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(47, 48))
	const n = 3000
	ts, scores, labels := make([]int64, n), make([]float64, n), make([]float64, n)
	for i := range n {
		ts[i] = int64(i)*10 + r.Int64N(50) // slightly out of order
		scores[i] = r.Float64()
		if r.Float64() < scores[i] {
			labels[i] = 1
		}
	}
	cfg := eval.DefaultPrequentialConfig(eval.Sliding(4000, 1000), "y", "ts")
	cfg.Recent = 500
	run := func(p *eval.Prequential, lo, hi int) []eval.WindowResult {
		var out []eval.WindowResult
		for i := lo; i < hi; i += 100 {
			if err := p.Observe(ts[i:i+100], scores[i:i+100], labels[i:i+100], nil); err != nil {
				t.Fatal(err)
			}
			out = append(out, p.Advance(ts[i+99]-100)...)
		}
		return out
	}
	a, _ := eval.NewPrequential(cfg)
	run(a, 0, 1500)
	state, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := eval.NewPrequential(cfg)
	if err := b.UnmarshalBinary(state); err != nil {
		t.Fatal(err)
	}
	wa, wb := run(a, 1500, n), run(b, 1500, n)
	wa, wb = append(wa, a.Flush()...), append(wb, b.Flush()...)
	if len(wa) == 0 || len(wa) != len(wb) {
		t.Fatalf("windows: %d continuing, %d restored", len(wa), len(wb))
	}
	for i := range wa {
		if wa[i].Start != wb[i].Start || wa[i].Metrics.AUC != wb[i].Metrics.AUC || wa[i].Metrics.LogLoss != wb[i].Metrics.LogLoss || wa[i].Examples != wb[i].Examples {
			t.Errorf("window %d: continuing %+v, restored %+v", i, wa[i], wb[i])
		}
	}
	sa, sb := a.Summary(), b.Summary()
	if sa.Examples != n || sa.Examples != sb.Examples || sa.Late != sb.Late || sa.Recent.Metrics.AUC != sb.Recent.Metrics.AUC || sa.Total.Metrics.LogLoss != sb.Total.Metrics.LogLoss {
		t.Errorf("summaries differ: continuing %+v, restored %+v", sa, sb)
	}
	other := cfg
	other.Recent = 10
	c, _ := eval.NewPrequential(other)
	if err := c.UnmarshalBinary(state); !errors.Is(err, eval.ErrIncompatible) {
		t.Errorf("state into another configuration: %v, want ErrIncompatible", err)
	}
}
