package job_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/predict"
	"github.com/lakestream/lakestream/train"
	"github.com/lakestream/lakestream/train/feature"
	"github.com/lakestream/lakestream/train/job"
)

// TestRunSavesCatalogue trains an mf model on ratings and checks that the
// version carries the catalogue of its training rows, and that the top N a
// predictor answers from it (model.TopN) equals what `trainer predict
// --top-n` (predict.TopN) writes for the same rows, for every user.
func TestRunSavesCatalogue(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "lake")
	store, err := lake.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	schema := arrow.NewSchema([]arrow.Field{{Name: "user", Type: arrow.BinaryTypes.String}, {Name: "item", Type: arrow.BinaryTypes.String},
		{Name: "rating", Type: arrow.PrimitiveTypes.Float64}}, nil)
	rb := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	rng := rand.New(rand.NewPCG(3, 4))
	for u := range 30 {
		for _, i := range rng.Perm(60)[:15] {
			rb.Field(0).(*array.StringBuilder).Append(fmt.Sprintf("u%d", u))
			rb.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("i%d", i))
			rb.Field(2).(*array.Float64Builder).Append(float64(1 + (u+i)%5))
		}
	}
	rec := rb.NewRecord()
	rb.Release()
	defer rec.Release()
	if err := dataset.WriteFile(ctx, store, "ratings/dt=2026-11-01/part-0.parquet", schema, []arrow.Record{rec}, dataset.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := lake.Commit(ctx, store, "ratings/dt=2026-11-01"); err != nil {
		t.Fatal(err)
	}
	spec, err := feature.Parse([]byte("version: 1\nlabel: {column: rating, type: real}\ncategorical:\n  - column: user\n  - column: item\n"))
	if err != nil {
		t.Fatal(err)
	}
	c := job.DefaultConfig()
	c.Lake, c.Data, c.DT, c.Spec, c.Output = dir, "ratings", "2026-11-01", spec, "rec"
	c.Model = train.DefaultModelConfig(train.KindMF)
	c.Train.Epochs = 3
	if _, err := job.Run(ctx, c); err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(ctx, store, "rec", 1)
	if err != nil {
		t.Fatal(err)
	}
	cat := m.Catalogue()
	if cat == nil || len(cat.Users) != 30 || len(cat.Items) > 60 || len(cat.Seen) != 30*15 {
		t.Fatalf("catalogue %v", cat)
	}

	// A catalogue past its bounds (here a user id over MaxCatalogueValue)
	// is left out with a warning; the version is saved and scores pairs.
	rb = array.NewRecordBuilder(memory.DefaultAllocator, schema)
	rb.Field(0).(*array.StringBuilder).AppendValues([]string{strings.Repeat("u", model.MaxCatalogueValue+1), "u1"}, nil)
	rb.Field(1).(*array.StringBuilder).AppendValues([]string{"i1", "i2"}, nil)
	rb.Field(2).(*array.Float64Builder).AppendValues([]float64{4, 2}, nil)
	big := rb.NewRecord()
	rb.Release()
	defer big.Release()
	if err := dataset.WriteFile(ctx, store, "ratings/dt=2026-11-02/part-0.parquet", schema, []arrow.Record{big}, dataset.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := lake.Commit(ctx, store, "ratings/dt=2026-11-02"); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	c2 := c
	c2.DT, c2.Output, c2.Logger = "2026-11-02", "rec-big", slog.New(slog.NewTextHandler(&logs, nil))
	if _, err := job.Run(ctx, c2); err != nil {
		t.Fatal(err)
	}
	if big, err := model.Load(ctx, store, "rec-big", 1); err != nil {
		t.Fatal(err)
	} else if big.Catalogue() != nil {
		t.Errorf("rec-big has a catalogue of %d items; want none", len(big.Catalogue().Items))
	}
	if !strings.Contains(logs.String(), "without its catalogue") {
		t.Errorf("no warning in the logs:\n%s", logs.String())
	}

	const n = 10
	cfg := predict.DefaultTopNConfig()
	cfg.Data, cfg.DT, cfg.Model, cfg.Output, cfg.N = "ratings", "2026-11-01", "rec", "recs", n
	if _, err := predict.TopN(ctx, store, cfg); err != nil {
		t.Fatal(err)
	}
	batch := map[string][]string{}
	ds, err := dataset.Open(ctx, store, "recs")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ds.Plan(ctx, dataset.Query{Columns: []string{"user", "item", "score"}})
	if err != nil {
		t.Fatal(err)
	}
	sc := p.Scan(ctx, p.Splits(), dataset.ScanOptions{})
	for sc.Next() {
		r := sc.At()
		for row := range int(r.NumRows()) {
			u := r.Column(0).ValueStr(row)
			batch[u] = append(batch[u], fmt.Sprintf("%s %v", r.Column(1).ValueStr(row), r.Column(2).(*array.Float64).Value(row)))
		}
	}
	sc.Close()
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	var r model.Recommendation
	for _, u := range cat.Users {
		if err := m.TopN(u, n, &r); err != nil {
			t.Fatal(err)
		}
		var online []string
		for j, i := range r.Items {
			online = append(online, fmt.Sprintf("%s %v", cat.Items[i], r.Scores[j]))
		}
		if !slices.Equal(online, batch[u]) {
			t.Fatalf("user %s: online %v\nbatch %v", u, online, batch[u])
		}
	}
}
