package model_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/train/feature"
	"github.com/lakestream/lakestream/train/feature/featuretest"
)

// clickModel builds a model of kind over the click-log spec whose "w" table
// holds a random row for every key of rec (so every lookup hits), plus
// extra random keys to give the index a realistic size.
func clickModel(tb testing.TB, kind model.Kind, arch model.Arch, rec arrow.Record, extra int) *model.Model {
	tb.Helper()
	spec := featuretest.ClickLogSpec(20)
	layout, err := model.LayoutOf(kind, arch, spec)
	if err != nil {
		tb.Fatal(err)
	}
	fz, err := feature.NewFeaturizer(spec, feature.WithoutLabels())
	if err != nil {
		tb.Fatal(err)
	}
	var b feature.Batch
	if err := fz.Featurize(rec, &b); err != nil {
		tb.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	seen := map[uint64]bool{}
	var keys []uint64
	for _, k := range b.Indices {
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	for target := len(keys) + extra; len(keys) < target; {
		k := feature.Key(int32(rng.IntN(spec.NumFields())), uint32(rng.IntN(1<<20)))
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	var tables []model.Table
	for _, ts := range layout {
		rows := ts.Rows
		t := model.Table{Name: ts.Name, Width: ts.Width, Dense: ts.Dense}
		if !ts.Dense {
			rows, t.Keys = len(keys), keys
		}
		t.Values = make([]float32, rows*ts.Width)
		for i := range t.Values {
			t.Values[i] = float32(rng.NormFloat64() * 0.1)
		}
		tables = append(tables, t)
	}
	m, err := model.New(model.Metadata{Kind: kind, Arch: arch}, spec, tables)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// BenchmarkScore scores the 24-column click log (22 hashed fields) in
// process and reports ns per example; allocs/op is per Score call of rows
// examples.
func BenchmarkScore(b *testing.B) {
	cases := []struct {
		name string
		kind model.Kind
		arch model.Arch
	}{
		{"lr", model.KindLogistic, model.Arch{}},
		{"fm/k=8", model.KindFM, model.Arch{Factors: 8, Loss: model.LossLogistic}},
		{"deepfm/k=8/hidden=64x32", model.KindDeepFM, model.Arch{Factors: 8, Loss: model.LossLogistic, Hidden: []int{64, 32}}},
	}
	for _, c := range cases {
		for _, rows := range []int{1, 1024} {
			b.Run(fmt.Sprintf("clicklog24/%s/rows=%d", c.name, rows), func(b *testing.B) {
				rec := featuretest.ClickLog(memory.DefaultAllocator, rows, 11)
				defer rec.Release()
				m := clickModel(b, c.kind, c.arch, rec, 1<<20)
				dst := make([]float64, rows)
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if err := m.Score(rec, dst); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/example")
			})
		}
	}
}

func TestScoreConcurrentAndAllocationFree(t *testing.T) {
	rec := featuretest.ClickLog(memory.DefaultAllocator, 256, 5)
	defer rec.Release()
	m := clickModel(t, model.KindFM, model.Arch{Factors: 4, Loss: model.LossLogistic}, rec, 1000)
	want := make([]float64, 256)
	if err := m.Score(rec, want); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			got := make([]float64, 256)
			for range 20 {
				if err := m.Score(rec, got); err != nil {
					t.Error(err)
					return
				}
				for i := range got {
					if got[i] != want[i] {
						t.Errorf("concurrent score %d = %v, want %v", i, got[i], want[i])
						return
					}
				}
			}
		})
	}
	wg.Wait()
	// Per call, after warm-up: sync.Pool may drop its scratch at a GC, so
	// allow a fraction of an allocation on average but not one per example.
	if raceEnabled {
		return
	}
	if a := testing.AllocsPerRun(50, func() { _ = m.Score(rec, want) }); a > 1 {
		t.Errorf("%v allocations per Score of 256 rows", a)
	}
}
