package predict_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/lake/laketest"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/model/modeltest"
	"github.com/lakestream/lakestream/predict"
	"github.com/lakestream/lakestream/train/feature"
)

// interactions returns a (user, item) record; the caller releases it.
func interactions(users, items []string) arrow.Record {
	schema := arrow.NewSchema([]arrow.Field{{Name: "user", Type: arrow.BinaryTypes.String}, {Name: "item", Type: arrow.BinaryTypes.String}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).AppendValues(users, nil)
	b.Field(1).(*array.StringBuilder).AppendValues(items, nil)
	return b.NewRecord()
}

// recLake writes the interactions u1: B, u2: D and A, u3: C (committed, dt
// 2026-11-01) and saves an mf model "rec" whose scores are known: item
// biases A 4, B 3, C 2, D 1, and u2·D adds 10 (u3 is unknown to the model:
// item biases only).
func recLake(t *testing.T) lake.Store {
	t.Helper()
	ctx := context.Background()
	store := laketest.NewMemory()
	rec := interactions([]string{"u1", "u2", "u2", "u3"}, []string{"B", "D", "A", "C"})
	defer rec.Release()
	if err := dataset.WriteFile(ctx, store, "events/dt=2026-11-01/part-0.parquet", rec.Schema(), []arrow.Record{rec}, dataset.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := lake.Commit(ctx, store, "events/dt=2026-11-01"); err != nil {
		t.Fatal(err)
	}
	spec := &feature.Spec{Version: 1, Label: feature.Label{Column: "clicked", Type: feature.Binary},
		Categorical: []feature.Categorical{{Column: "user"}, {Column: "item"}}}
	keysOf := interactions([]string{"u1", "u2", "u1", "u1"}, []string{"A", "B", "C", "D"})
	defer keysOf.Release()
	fz, err := feature.NewFeaturizer(spec, feature.WithoutLabels())
	if err != nil {
		t.Fatal(err)
	}
	var b feature.Batch
	if err := fz.Featurize(keysOf, &b); err != nil {
		t.Fatal(err)
	}
	w := model.Table{Name: model.TableWeights, Width: 2}
	add := func(row, entry int, bias, factor float32) {
		keys, _, _ := b.Row(row)
		w.Keys = append(w.Keys, keys[entry])
		w.Values = append(w.Values, bias, factor)
	}
	add(0, 0, 0, 0) // u1
	add(1, 0, 0, 1) // u2
	for r, bq := range [][2]float32{{4, 0}, {3, 0}, {2, 0}, {1, 10}} {
		add(r, 1, bq[0], bq[1])
	}
	inputs, err := model.InputsOf(rec.Schema(), spec)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(model.Metadata{Kind: model.KindMF, Inputs: inputs,
		Arch: model.Arch{Factors: 1, Loss: model.LossSquared, UserField: 0, ItemField: 1}},
		spec, []model.Table{w, {Name: model.TableBias, Width: 1, Dense: true, Values: []float32{0}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Save(ctx, store, "rec"); err != nil {
		t.Fatal(err)
	}
	return store
}

// TestTopNUnseen checks each user's top items by hand: u1 saw B, so A (4)
// and C (2); u2 saw D (which it would score 11) and A, so B (3) and C (2);
// u3 saw C, so A (4) and B (3).
func TestTopNUnseen(t *testing.T) {
	ctx := context.Background()
	store := recLake(t)
	cfg := predict.DefaultTopNConfig()
	cfg.Data, cfg.Model, cfg.Output, cfg.N = "events", "rec", "recs", 2
	res, err := predict.TopN(ctx, store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Users != 3 || res.Items != 4 || res.Rows != 6 {
		t.Errorf("result %+v, want 3 users, 4 items, 6 rows", res)
	}
	want := "u1 A 4 1; u1 C 2 2; u2 B 3 1; u2 C 2 2; u3 A 4 1; u3 B 3 2; "
	if got := readTopN(t, store, "recs"); got != want {
		t.Errorf("top 2 = %q, want %q", got, want)
	}
	if ok, err := lake.IsCommitted(ctx, store, "recs"); err != nil || !ok {
		t.Errorf("recs has no _SUCCESS marker (%v)", err)
	}

	// An existing output needs Overwrite; N larger than a user's unseen
	// items gives what there is (u2 has two).
	cfg.N = 3
	var exists *predict.OutputExistsError
	if _, err := predict.TopN(ctx, store, cfg); !errors.As(err, &exists) {
		t.Fatalf("TopN over an existing output = %v, want *OutputExistsError", err)
	}
	cfg.Overwrite = true
	if _, err := predict.TopN(ctx, store, cfg); err != nil {
		t.Fatal(err)
	}
	if got, want := readTopN(t, store, "recs"), "u1 A 4 1; u1 C 2 2; u1 D 1 3; u2 B 3 1; u2 C 2 2; u3 A 4 1; u3 B 3 2; u3 D 1 3; "; got != want {
		t.Errorf("top 3 = %q, want %q", got, want)
	}
}

// readTopN returns the rows of the output at folder as "user item score
// rank; " in file order.
func readTopN(t *testing.T, store lake.Store, folder string) string {
	t.Helper()
	ctx := context.Background()
	ds, err := dataset.Open(ctx, store, folder)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ds.Plan(ctx, dataset.Query{Columns: []string{"user", "item", "score", "rank"}})
	if err != nil {
		t.Fatal(err)
	}
	sc := p.Scan(ctx, p.Splits(), dataset.ScanOptions{})
	defer sc.Close()
	var b strings.Builder
	for sc.Next() {
		rec := sc.At()
		u, i := rec.Column(0).(*array.String), rec.Column(1).(*array.String)
		s, r := rec.Column(2).(*array.Float64), rec.Column(3).(*array.Int32)
		for row := range int(rec.NumRows()) {
			fmt.Fprintf(&b, "%s %s %g %d; ", u.Value(row), i.Value(row), s.Value(row), r.Value(row))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestTopNRefusals(t *testing.T) {
	ctx := context.Background()
	store := recLake(t)
	lin, err := model.New(model.Metadata{Kind: model.KindLogistic},
		&feature.Spec{Version: 1, Label: feature.Label{Column: "clicked", Type: feature.Binary}, Categorical: []feature.Categorical{{Column: "item"}}},
		[]model.Table{{Name: model.TableWeights, Width: 1}, {Name: model.TableBias, Width: 1, Dense: true, Values: []float32{0}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lin.Save(ctx, store, "ctr"); err != nil {
		t.Fatal(err)
	}
	base := predict.DefaultTopNConfig()
	base.Data, base.Model, base.Output = "events", "rec", "recs"
	for _, tc := range []struct {
		name string
		edit func(*predict.TopNConfig)
		want string
	}{
		{"n 0", func(c *predict.TopNConfig) { c.N = 0 }, "top N = 0"},
		{"n too large", func(c *predict.TopNConfig) { c.N = 1001 }, "want 1 to 1000"},
		{"not mf", func(c *predict.TopNConfig) { c.Model = "ctr" }, "ctr is logistic"},
		{"overlap", func(c *predict.TopNConfig) { c.Output = "events/recs" }, "overlap"},
		{"no rows", func(c *predict.TopNConfig) { c.DT = "2027-01-01" }, "no rows"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			tc.edit(&cfg)
			if _, err := predict.TopN(ctx, store, cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("TopN = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if objs, _ := lake.ListAll(ctx, store, "recs/"); len(objs) > 0 {
		t.Errorf("a refused run wrote %s", objs[0].Key)
	}
}

// TestTopNEqualsOnline checks the batch top N against the online one (what
// the predictor answers: model.TopN over the catalogue saved with the
// version, collected from the same table as the trainer collects it): for
// every user the same items, ranks and scores.
func TestTopNEqualsOnline(t *testing.T) {
	for _, ints := range []bool{false, true} {
		t.Run(fmt.Sprintf("int ids %v", ints), func(t *testing.T) {
			ctx := context.Background()
			store := laketest.NewMemory()
			m, rec := modeltest.RandomMF(t, modeltest.MFConfig{Users: 40, Items: 300, PerUser: 20, Factors: 8, IntIDs: ints, Loss: model.LossSquared, Unmodelled: 3, Seed: 9})
			defer rec.Release()
			if err := dataset.WriteFile(ctx, store, "events/dt=2026-11-01/part-0.parquet", rec.Schema(), []arrow.Record{rec}, dataset.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := lake.Commit(ctx, store, "events/dt=2026-11-01"); err != nil {
				t.Fatal(err)
			}
			ds, err := dataset.Open(ctx, store, "events")
			if err != nil {
				t.Fatal(err)
			}
			plan, err := ds.Plan(ctx, dataset.Query{Columns: []string{"user", "item"}})
			if err != nil {
				t.Fatal(err)
			}
			cat, err := predict.CollectCatalogue(ctx, plan, 100)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.SetCatalogue(cat); err != nil {
				t.Fatal(err)
			}
			if _, err := m.Save(ctx, store, "rec"); err != nil {
				t.Fatal(err)
			}
			online, err := model.Load(ctx, store, "rec", 0)
			if err != nil {
				t.Fatal(err)
			}
			const n = 25
			cfg := predict.DefaultTopNConfig()
			cfg.Data, cfg.Model, cfg.Output, cfg.N = "events", "rec", "recs", n
			if _, err := predict.TopN(ctx, store, cfg); err != nil {
				t.Fatal(err)
			}
			batch := readRecs(t, store, "recs")
			// u0 has every item (see RandomMF), so the batch writes no row
			// for it and the online answer is empty.
			if len(batch) != len(cat.Users)-1 {
				t.Fatalf("batch wrote %d users, want %d", len(batch), len(cat.Users)-1)
			}
			var r model.Recommendation
			for _, u := range cat.Users {
				if err := online.TopN(u, n, &r); err != nil {
					t.Fatal(err)
				}
				var got []string
				for j, i := range r.Items {
					got = append(got, fmt.Sprintf("%d %s %v", j+1, online.Catalogue().Items[i], r.Scores[j]))
				}
				if strings.Join(got, "; ") != strings.Join(batch[u], "; ") {
					t.Fatalf("user %s:\nonline %v\nbatch  %v", u, got, batch[u])
				}
				if want := scoreSortTopN(t, m, rec.Schema(), cat, u, n); strings.Join(want, "; ") != strings.Join(batch[u], "; ") {
					t.Fatalf("user %s:\nScore and sort %v\nbatch          %v", u, want, batch[u])
				}
			}
			// Every unseen item ranked: the 3 items without a row (RandomMF's
			// Unmodelled) tie, and keep catalogue order.
			cfg.N, cfg.Output = predict.MaxTopN, "recsall"
			if _, err := predict.TopN(ctx, store, cfg); err != nil {
				t.Fatal(err)
			}
			all := readRecs(t, store, "recsall")
			for _, u := range cat.Users[1:] {
				if want := scoreSortTopN(t, m, rec.Schema(), cat, u, predict.MaxTopN); strings.Join(want, "; ") != strings.Join(all[u], "; ") {
					t.Fatalf("user %s, every item:\nScore and sort %v\nbatch          %v", u, want, all[u])
				}
			}
		})
	}
}

// scoreSortTopN is the reference top N of user (the batch's former
// algorithm): model.Score of the user against every catalogue item, in the
// table's column types, the user's items left out, a stable sort by score
// (ties keep catalogue order); as "rank item score" strings. The last 3
// items of RandomMF's Unmodelled have no row, so they tie.
func scoreSortTopN(t *testing.T, m *model.Model, schema *arrow.Schema, cat *model.Catalogue, user string, n int) []string {
	t.Helper()
	u := slices.Index(cat.Users, user)
	ub, ib := array.NewBuilder(memory.DefaultAllocator, schema.Field(0).Type), array.NewBuilder(memory.DefaultAllocator, schema.Field(1).Type)
	defer ub.Release()
	defer ib.Release()
	for _, it := range cat.Items {
		if err := errors.Join(ub.AppendValueFromString(user), ib.AppendValueFromString(it)); err != nil {
			t.Fatal(err)
		}
	}
	uc, ic := ub.NewArray(), ib.NewArray()
	defer uc.Release()
	defer ic.Release()
	r := array.NewRecord(schema, []arrow.Array{uc, ic}, int64(len(cat.Items)))
	defer r.Release()
	scores := make([]float64, len(cat.Items))
	if err := m.Score(r, scores); err != nil {
		t.Fatal(err)
	}
	var order []int
	for i := range cat.Items {
		if !slices.Contains(cat.SeenBy(u), int32(i)) {
			order = append(order, i)
		}
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(scores[b], scores[a]) })
	var out []string
	for rank, i := range order[:min(n, len(order))] {
		out = append(out, fmt.Sprintf("%d %s %v", rank+1, cat.Items[i], scores[i]))
	}
	return out
}

// readRecs reads a top-N table as each user's "rank item score" strings.
func readRecs(t *testing.T, store lake.Store, folder string) map[string][]string {
	t.Helper()
	ctx := context.Background()
	batch := map[string][]string{}
	out, err := dataset.Open(ctx, store, folder)
	if err != nil {
		t.Fatal(err)
	}
	p, err := out.Plan(ctx, dataset.Query{Columns: []string{"user", "item", "score", "rank"}})
	if err != nil {
		t.Fatal(err)
	}
	sc := p.Scan(ctx, p.Splits(), dataset.ScanOptions{})
	for sc.Next() {
		r := sc.At()
		for row := range int(r.NumRows()) {
			u := r.Column(0).ValueStr(row)
			batch[u] = append(batch[u], fmt.Sprintf("%d %s %v", r.Column(3).(*array.Int32).Value(row), r.Column(1).ValueStr(row), r.Column(2).(*array.Float64).Value(row)))
		}
	}
	sc.Close()
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return batch
}
