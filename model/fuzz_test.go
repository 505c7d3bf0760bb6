package model_test

import (
	"context"
	"math"
	"testing"

	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/lake/laketest"
	"github.com/lakestream/lakestream/model"
)

// FuzzLoadManifest replaces a saved model's manifest with arbitrary bytes:
// Load must return a model or an error, never panic, and a model it returns
// must score.
func FuzzLoadManifest(f *testing.F) {
	ctx := context.Background()
	seed := laketest.NewMemory()
	if _, err := fmModel(f).Save(ctx, seed, "ctr"); err != nil {
		f.Fatal(err)
	}
	good, err := lake.ReadAll(ctx, seed, "models/ctr/1/manifest.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, false)
	f.Add([]byte(`{"format":"lakestream-model/1","meta":{"name":"ctr","version":1,"kind":"fm"}}`), false)
	// Seeds that reach the table-size arithmetic: shapes whose byte sizes
	// overflow, sit at the caps, or are negative, over empty table files.
	for _, shape := range [][2]int{{1 << 62, 9}, {1 << 61, 4}, {math.MaxInt32, 1}, {math.MaxInt32 + 1, 1}, {-1, 3}, {0, 0}, {1, model.MaxTableWidth + 1}} {
		f.Add(craftedManifest(f, seed, shape[0], shape[1]), true)
	}
	f.Fuzz(func(t *testing.T, manifest []byte, emptyFiles bool) {
		store := laketest.NewMemory()
		if _, err := fmModel(t).Save(ctx, store, "ctr"); err != nil {
			t.Fatal(err)
		}
		if emptyFiles {
			craftedManifest(t, store, 0, 1)
		}
		if err := lake.PutBytes(ctx, store, "models/ctr/1/manifest.json", manifest); err != nil {
			t.Fatal(err)
		}
		m, err := model.Load(ctx, store, "ctr", 1)
		if err != nil {
			return
		}
		dst := make([]float64, 2*m.Outputs())
		if err := m.Score(fixtureRecord(t), dst); err != nil {
			t.Fatalf("a loaded model fails to score: %v", err)
		}
	})
}
