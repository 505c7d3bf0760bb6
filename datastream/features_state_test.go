package datastream

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// TestWindowFeaturesSnapshotRestore stops the operator after some records,
// restores its snapshot into a new one and requires the values the
// uninterrupted operator gives, for every aggregate.
func TestWindowFeaturesSnapshotRestore(t *testing.T) {
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "ts", Type: arrow.PrimitiveTypes.Int64},
		{Name: "user", Type: arrow.BinaryTypes.String},
		{Name: "v", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	r := rand.New(rand.NewPCG(3, 4))
	var recs []arrow.Record
	ts := int64(0)
	for range 20 {
		b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
		for range 50 {
			ts += int64(r.IntN(3)) * 20_000 // ties and steps of 20 s
			b.Field(0).(*array.Int64Builder).Append(ts)
			b.Field(1).(*array.StringBuilder).Append(fmt.Sprint("u", r.IntN(7)))
			b.Field(2).(*array.Int64Builder).Append(int64(r.IntN(4)))
		}
		recs = append(recs, b.NewRecord())
		b.Release()
	}
	defer func() {
		for _, rec := range recs {
			rec.Release()
		}
	}()
	cfg := FeatureWindows{TimeColumn: "ts"}
	for i, agg := range []WindowAgg{WindowCount, WindowSum, WindowMean, WindowDistinct, WindowLast, WindowRatio} {
		cfg.Windows = append(cfg.Windows, FeatureWindow{Name: fmt.Sprint("w", i), Key: "user", Agg: agg, Column: "v", Over: 5 * time.Minute, Resolution: time.Minute})
	}
	open := func(out *[]string) *featureOp {
		op := newFeatureOp(cfg)
		op.c = &opContext{stats: &opStats{}, emitFn: func(_ int, rec arrow.Record) error {
			defer rec.Release()
			for row := range int(rec.NumRows()) {
				s := ""
				for c := range int(rec.NumCols()) {
					s += " " + rec.Column(c).ValueStr(row)
				}
				*out = append(*out, s)
			}
			return nil
		}}
		return op
	}
	var whole, resumed []string
	op := open(&whole)
	for _, rec := range recs {
		if err := op.process(0, rec); err != nil {
			t.Fatal(err)
		}
	}
	first := open(&resumed)
	for _, rec := range recs[:11] {
		if err := first.process(0, rec); err != nil {
			t.Fatal(err)
		}
	}
	state, err := first.snapshot(1)
	if err != nil {
		t.Fatal(err)
	}
	second := open(&resumed)
	if err := second.restore(state); err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs[11:] {
		if err := second.process(0, rec); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(whole, resumed) {
		for i := range whole {
			if i >= len(resumed) || whole[i] != resumed[i] {
				t.Fatalf("row %d: resumed%s, uninterrupted%s", i, resumed[min(i, len(resumed)-1)], whole[i])
			}
		}
		t.Fatalf("%d rows resumed, %d uninterrupted", len(resumed), len(whole))
	}
}
