package evaltable

import (
	"bytes"
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/parquet-go/parquet-go"

	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/train/feature"
)

type rating struct {
	User   string  `parquet:"user"`
	Item   string  `parquet:"item"`
	Rating float64 `parquet:"rating"`
}

// ratingsLake writes a small ratings table — training day 2026-11-01, held-out
// day 2026-11-02 — and saves an mf model "rec" whose scores are known:
// item biases A 4, B 3, C 2, D 1, and u2·D adds 10 (p_u2 = 1, q_D = 10).
func ratingsLake(t *testing.T) lake.Store {
	t.Helper()
	ctx := context.Background()
	store, err := lake.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	days := map[string][]rating{
		"2026-11-01": {{"u1", "B", 5}, {"u2", "D", 3}},
		// u1: C and D relevant (≥ 4), A not; u2: B relevant; u3: nothing
		// relevant, so not a query.
		"2026-11-02": {{"u1", "A", 2}, {"u1", "C", 5}, {"u1", "D", 4}, {"u2", "B", 5}, {"u3", "A", 1}},
	}
	for day, rows := range days {
		var buf bytes.Buffer
		w := parquet.NewGenericWriter[rating](&buf)
		if _, err := w.Write(rows); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		folder := "ratings/dt=" + day
		if err := lake.PutBytes(ctx, store, folder+"/part-0.parquet", buf.Bytes()); err != nil {
			t.Fatal(err)
		}
		if err := lake.Commit(ctx, store, folder); err != nil {
			t.Fatal(err)
		}
	}
	spec := &feature.Spec{Version: 1, Label: feature.Label{Column: "rating", Type: feature.Real},
		Categorical: []feature.Categorical{{Column: "user"}, {Column: "item"}}}
	// Each value's key, from the featurizer.
	schema := arrow.NewSchema([]arrow.Field{{Name: "user", Type: arrow.BinaryTypes.String}, {Name: "item", Type: arrow.BinaryTypes.String}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).AppendValues([]string{"u1", "u2", "u3", "u1"}, nil)
	b.Field(1).(*array.StringBuilder).AppendValues([]string{"A", "B", "C", "D"}, nil)
	rec := b.NewRecord()
	defer rec.Release()
	fz, err := feature.NewFeaturizer(spec, feature.WithoutLabels())
	if err != nil {
		t.Fatal(err)
	}
	var batch feature.Batch
	if err := fz.Featurize(rec, &batch); err != nil {
		t.Fatal(err)
	}
	// "w" rows are [b, p]; users u1, u2, u3 then items A, B, C, D.
	w := model.Table{Name: model.TableWeights, Width: 2}
	add := func(key uint64, bias, factor float32) {
		w.Keys = append(w.Keys, key)
		w.Values = append(w.Values, bias, factor)
	}
	for r, p := range []float32{0, 1, 0} { // u1, u2, u3
		keys, _, _ := batch.Row(r)
		add(keys[0], 0, p)
	}
	for r, bq := range [][2]float32{{4, 0}, {3, 0}, {2, 0}, {1, 10}} { // A, B, C, D
		keys, _, _ := batch.Row(r)
		add(keys[1], bq[0], bq[1])
	}
	bias := model.Table{Name: model.TableBias, Width: 1, Dense: true, Values: []float32{0}}
	inputs, err := model.InputsOf(schema, spec)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(model.Metadata{Kind: model.KindMF, Inputs: inputs,
		Arch: model.Arch{Factors: 1, Loss: model.LossSquared, UserField: 0, ItemField: 1}}, spec, []model.Table{w, bias})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Save(ctx, store, "rec"); err != nil {
		t.Fatal(err)
	}
	return store
}

// TestRankingByHand checks every metric against values computed by hand
// (in the comments) on the ratings of ratingsLake at K = 2.
func TestRankingByHand(t *testing.T) {
	ctx := context.Background()
	store := ratingsLake(t)
	cfg := DefaultRankingConfig()
	cfg.Data, cfg.DT, cfg.Model, cfg.K, cfg.RelevantMin = "ratings", "2026-11-02", "rec", 2, 4

	// Candidates: the held-out items A, B, C, D less what the training day
	// shows each user had (u1: B; u2: D).
	//   u1 ranks A(4) C(2) D(1); relevant C, D; top 2 = A, C: 1 hit.
	//     P 1/2, R 1/2, AP (1/2)/2 = 1/4, RR 1/2, NDCG (1/log₂3)/(1+1/log₂3)
	//   u2 ranks A(4) B(3) C(2) (D, 11, excluded); relevant B; top 2 = A, B.
	//     P 1/2, R 1, AP (1/2)/1 = 1/2, RR 1/2, NDCG (1/log₂3)/1
	//   u3 has no relevant item: not a query.
	d := 1 / math.Log2(3)
	cfg.ExcludeDT = "2026-11-01"
	rep, err := EvaluateRanking(ctx, store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := *rep.Ranking
	want := map[string][2]float64{
		"precision": {got.PrecisionAtK, 0.5},
		"recall":    {got.RecallAtK, 0.75},
		"map":       {got.MAPAtK, 0.375},
		"mrr":       {got.MRRAtK, 0.5},
		"hit rate":  {got.HitRateAtK, 1},
		"ndcg":      {got.NDCGAtK, (d/(1+d) + d) / 2},
	}
	for name, gw := range want {
		// Sums of two or three terms: float rounding only.
		if math.Abs(gw[0]-gw[1]) > 1e-12 {
			t.Errorf("%s@2 = %v, want %v", name, gw[0], gw[1])
		}
	}
	if got.Queries != 2 || got.K != 2 || rep.Model.Name != "rec" || rep.Model.Version != "1" {
		t.Errorf("report %+v of %+v, want 2 queries at K=2 of rec@1", got, rep.Model)
	}

	// Without the exclusion u1 ranks A B C D and u2 D A B C: no relevant
	// item in either top 2, so every metric is 0.
	cfg.ExcludeDT = ""
	rep, err = EvaluateRanking(ctx, store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r := *rep.Ranking; r.PrecisionAtK != 0 || r.RecallAtK != 0 || r.NDCGAtK != 0 || r.HitRateAtK != 0 || r.Queries != 2 {
		t.Errorf("without exclusion: %+v, want zeros over 2 queries", r)
	}

	// Every rating relevant (RelevantMin 0): u3's A counts; at K = 1 u3
	// ranks A first (its only relevant item): hit. u1 (A first, A
	// relevant now) hits; u2 (D first, not relevant) misses.
	cfg.K, cfg.RelevantMin = 1, 0
	rep, err = EvaluateRanking(ctx, store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r := *rep.Ranking; r.Queries != 3 || math.Abs(r.HitRateAtK-2.0/3) > 1e-12 {
		t.Errorf("every rating relevant, K=1: %+v, want hit rate 2/3 over 3 queries", r)
	}
}

func TestRankingRefusals(t *testing.T) {
	ctx := context.Background()
	store := ratingsLake(t)
	if _, err := store.Stat(ctx, "ratings/dt=2026-11-02/part-0.parquet"); err != nil {
		t.Fatal(err)
	}
	lr, err := model.New(model.Metadata{Kind: model.KindLinear},
		&feature.Spec{Version: 1, Label: feature.Label{Column: "rating", Type: feature.Real}, Categorical: []feature.Categorical{{Column: "item"}}},
		[]model.Table{{Name: model.TableWeights, Width: 1}, {Name: model.TableBias, Width: 1, Dense: true, Values: []float32{0}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lr.Save(ctx, store, "lin"); err != nil {
		t.Fatal(err)
	}
	base := DefaultRankingConfig()
	base.Data, base.Model = "ratings", "rec"
	tests := []struct {
		name string
		edit func(*RankingConfig)
		want error
		msg  string
	}{
		{"k", func(c *RankingConfig) { c.K = 0 }, ErrInvalidConfig, "cut-off K = 0"},
		{"relevant-min", func(c *RankingConfig) { c.RelevantMin = -1 }, ErrInvalidConfig, "relevant-min -1"},
		{"exclude-dt", func(c *RankingConfig) { c.ExcludeDT = "yesterday" }, ErrInvalidConfig, "yesterday"},
		{"not mf", func(c *RankingConfig) { c.Model = "lin" }, ErrNotRecommender, "lin is linear"},
		{"no relevant rows", func(c *RankingConfig) { c.RelevantMin = 6 }, ErrNoRows, "no relevant rows"},
		{"no rows", func(c *RankingConfig) { c.DT = "2027-01-01" }, ErrNoRows, "held-out table"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			tc.edit(&cfg)
			_, err := EvaluateRanking(ctx, store, cfg)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("EvaluateRanking = %v, want %v containing %q", err, tc.want, tc.msg)
			}
		})
	}
}
