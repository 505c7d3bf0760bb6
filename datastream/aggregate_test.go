package datastream_test

import (
	"slices"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/lakestream/lakestream/datastream"
	"github.com/lakestream/lakestream/datastream/datastreamtest"
)

func TestBuiltinAggregates(t *testing.T) {
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "i", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	b.Field(0).(*array.Int32Builder).AppendValues([]int32{4, -2, 0, 7}, []bool{true, true, false, true})
	b.Field(1).(*array.Float64Builder).AppendValues([]float64{1.5, 0, 2.5, -1}, []bool{true, false, true, true})
	rec := b.NewRecord()
	defer rec.Release()

	agg := datastream.Aggregates(
		datastream.Count("n"), datastream.SumInt("i", "sum_i"), datastream.Sum("f", "sum_f"),
		datastream.Min("i", "min_i"), datastream.Max("f", "max_f"), datastream.Mean("f", "mean_f"))
	for _, tc := range []struct {
		name  string
		split bool // fold rows 0-1 and 2-3 into two accumulators, then Merge
		want  string
	}{
		{"one accumulator", false, "n=4 sum_i=9 sum_f=3 min_i=-2 max_f=2.5 mean_f=1"},
		{"merged", true, "n=4 sum_i=9 sum_f=3 min_i=-2 max_f=2.5 mean_f=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a, c datastream.AggState
			accs := []*datastream.AggState{&a, &a, &a, &a}
			if tc.split {
				accs = []*datastream.AggState{&a, &a, &c, &c}
			}
			if err := agg.Add(rec, []int32{0, 1, 2, 3}, accs); err != nil {
				t.Fatal(err)
			}
			if tc.split {
				agg.Merge(&a, &c)
			}
			ob := array.NewRecordBuilder(memory.DefaultAllocator, arrow.NewSchema(agg.Fields(), nil))
			defer ob.Release()
			agg.Append(ob.Fields(), &a)
			var empty datastream.AggState
			agg.Append(ob.Fields(), &empty)
			out := ob.NewRecord()
			defer out.Release()
			got := datastreamtest.FormatRows(out)
			want := []string{tc.want, "n=0 sum_i=0 sum_f=0 min_i=(null) max_f=(null) mean_f=(null)"}
			if !slices.Equal(got, want) {
				t.Errorf("got %q\nwant %q", got, want)
			}
		})
	}
	if err := datastream.Aggregates(datastream.SumInt("f", "x")).Add(rec, []int32{0}, []*datastream.AggState{{}}); err == nil {
		t.Error("SumInt over a float column did not fail")
	}
}
