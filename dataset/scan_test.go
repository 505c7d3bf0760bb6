package dataset_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/datastream"
	"github.com/lakestream/lakestream/lake/laketest"
)

func eventsPlan(t *testing.T) *dataset.Plan {
	t.Helper()
	ctx := context.Background()
	store := laketest.NewMemory()
	writeEvents(t, store)
	ds, err := dataset.Open(ctx, store, "events/")
	if err != nil {
		t.Fatal(err)
	}
	plan, err := ds.Plan(ctx, dataset.Query{Columns: []string{"user"}})
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

// users scans splits and returns the user column in order.
func users(t *testing.T, plan *dataset.Plan, splits []dataset.Split, opts dataset.ScanOptions) []string {
	t.Helper()
	sc := plan.Scan(context.Background(), splits, opts)
	defer sc.Close()
	var out []string
	for sc.Next() {
		col := sc.At().Column(0).(*array.String)
		for i := 0; i < col.Len(); i++ {
			out = append(out, col.Value(i))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestShuffle(t *testing.T) {
	plan := eventsPlan(t)
	splits := plan.Splits()
	base := users(t, plan, splits, dataset.ScanOptions{})
	if len(base) != 1200 {
		t.Fatalf("%d rows, want 1200", len(base))
	}
	sorted := slices.Sorted(slices.Values(base))
	t.Run("splits", func(t *testing.T) {
		a := dataset.ShuffleSplits(splits, 7)
		b := dataset.ShuffleSplits(splits, 7)
		c := dataset.ShuffleSplits(splits, 8)
		if !slices.Equal(a, b) {
			t.Error("same seed gave different orders")
		}
		if slices.Equal(a, c) || slices.Equal(a, splits) {
			t.Error("shuffle did not change the order")
		}
		got := users(t, plan, a, dataset.ScanOptions{})
		if !slices.Equal(slices.Sorted(slices.Values(got)), sorted) {
			t.Error("shuffled splits do not hold the same rows")
		}
	})
	t.Run("rows", func(t *testing.T) {
		opts := dataset.ScanOptions{BatchSize: 64, ShuffleBuffer: 300, Seed: 3}
		a := users(t, plan, splits, opts)
		b := users(t, plan, splits, opts)
		opts.Seed = 4
		c := users(t, plan, splits, opts)
		if !slices.Equal(a, b) {
			t.Error("same seed gave different row orders")
		}
		if slices.Equal(a, c) || slices.Equal(a, base) {
			t.Error("row shuffle did not change the order")
		}
		if !slices.Equal(slices.Sorted(slices.Values(a)), sorted) {
			t.Error("row shuffle lost or duplicated rows")
		}
		// Bounded: the first 300 rows come from the first window, which
		// holds the first two row groups (2 × 100 rows, then a third).
		first := map[string]bool{}
		for _, u := range base[:300] {
			first[u] = true
		}
		for _, u := range a[:300] {
			if !first[u] {
				t.Fatalf("row %q escaped its shuffle window", u)
			}
		}
	})
}

func TestAssignAndTrainValidation(t *testing.T) {
	plan := eventsPlan(t)
	splits := plan.Splits()
	var all []dataset.Split
	for w := range 3 {
		all = append(all, dataset.AssignSplits(splits, w, 3)...)
	}
	key := func(s dataset.Split) string { return s.String() }
	if got, want := slices.Sorted(mapSeq(all, key)), slices.Sorted(mapSeq(splits, key)); !slices.Equal(got, want) {
		t.Errorf("workers' splits %v do not partition %v", got, want)
	}
	train, val := dataset.TrainValidation(splits, 0.25, 1)
	if len(train)+len(val) != len(splits) || len(val) == 0 || len(train) == 0 {
		t.Errorf("train %d + validation %d of %d splits", len(train), len(val), len(splits))
	}
	train2, val2 := dataset.TrainValidation(splits, 0.25, 1)
	if !slices.Equal(train, train2) || !slices.Equal(val, val2) {
		t.Error("train/validation split is not deterministic")
	}
}

func mapSeq[T, U any](s []T, f func(T) U) func(func(U) bool) {
	return func(yield func(U) bool) {
		for _, v := range s {
			if !yield(f(v)) {
				return
			}
		}
	}
}

// TestSourceResume reads part of a scan through the datastream.Source,
// takes its position, and resumes in a fresh Source: the two parts must
// add up to the whole scan.
func TestSourceResume(t *testing.T) {
	ctx := context.Background()
	plan := eventsPlan(t)
	splits := plan.Splits()
	opts := dataset.ScanOptions{BatchSize: 70}
	want := users(t, plan, splits, opts)
	for _, stopAfter := range []int{0, 1, 2, 5, 100} {
		src := dataset.NewSource(plan.Scan(ctx, splits, opts)).(*dataset.Source)
		var got []string
		read := func(src datastream.Source, limit int) {
			for n := 0; n < limit; n++ {
				b, err := src.ReadBatch(ctx)
				if errors.Is(err, datastream.ErrEndOfInput) {
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				col := b.Record.Column(0).(*array.String)
				for i := 0; i < col.Len(); i++ {
					got = append(got, col.Value(i))
				}
				b.Record.Release()
			}
		}
		read(src, stopAfter)
		pos, err := src.Position()
		if err != nil {
			t.Fatal(err)
		}
		src.Close(ctx)
		resumed := dataset.NewSource(plan.Scan(ctx, splits, opts)).(datastream.Positioner)
		if err := resumed.SeekTo(ctx, pos); err != nil {
			t.Fatal(err)
		}
		rs := resumed.(datastream.Source)
		read(rs, 1<<30)
		if _, err := rs.ReadBatch(ctx); !errors.Is(err, datastream.ErrEndOfInput) {
			t.Errorf("after the end: %v, want ErrEndOfInput", err)
		}
		rs.Close(ctx)
		if !slices.Equal(got, want) {
			t.Errorf("stop after %d batches: resumed scan gave %d rows, want %d in order", stopAfter, len(got), len(want))
		}
	}
	if _, ok := dataset.NewSource(plan.Scan(ctx, splits, dataset.ScanOptions{ShuffleBuffer: 10})).(datastream.Positioner); ok {
		t.Error("a source with a shuffle buffer claims to have positions")
	}
	bad := dataset.NewSource(plan.Scan(ctx, splits, opts)).(*dataset.Source)
	if err := bad.SeekTo(ctx, []byte(`{"split":1,"key":"x","row_group":0,"row":0}`)); !errors.Is(err, dataset.ErrBadPosition) {
		t.Errorf("foreign position: %v, want ErrBadPosition", err)
	}
}
