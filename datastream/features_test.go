package datastream_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/lakestream/lakestream/datastream"
	"github.com/lakestream/lakestream/datastream/datastreamtest"
)

// event is one input row of the window feature tests.
type event struct {
	ts    int64 // ms
	user  string
	click int64
	site  string
}

func eventRecord(evs []event) arrow.Record {
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "ts", Type: arrow.PrimitiveTypes.Int64},
		{Name: "user", Type: arrow.BinaryTypes.String},
		{Name: "click", Type: arrow.PrimitiveTypes.Int64},
		{Name: "site", Type: arrow.BinaryTypes.String},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	for _, e := range evs {
		b.Field(0).(*array.Int64Builder).Append(e.ts)
		b.Field(1).(*array.StringBuilder).Append(e.user)
		b.Field(2).(*array.Int64Builder).Append(e.click)
		b.Field(3).(*array.StringBuilder).Append(e.site)
	}
	return b.NewRecord()
}

// runWindows runs the events, cut into records of size rows, through
// WindowFeatures and returns the output rows.
func runWindows(t *testing.T, evs []event, size int, ws ...datastream.FeatureWindow) []string {
	t.Helper()
	var steps []datastreamtest.Step
	for i := 0; i < len(evs); i += size {
		rec := eventRecord(evs[i:min(i+size, len(evs))])
		defer rec.Release()
		steps = append(steps, datastreamtest.Step{Batch: datastream.Batch{Record: rec}})
	}
	job := datastream.NewJob("windows")
	sink := datastreamtest.NewSink()
	src := job.Source("events", datastreamtest.NewSource(nil, steps...))
	datastream.WindowFeatures(src, "features", datastream.FeatureWindows{TimeColumn: "ts", Windows: ws, Drop: []string{"site"}}).To("out", sink)
	if _, err := job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return sink.Rows()
}

func TestWindowFeaturesPointInTime(t *testing.T) {
	const min = 60_000
	evs := []event{
		{0, "a", 1, "x"},
		{min, "a", 0, "y"},
		{min, "a", 1, "x"}, // same time as the row before: neither sees the other
		{min, "b", 1, "x"},
		{2*min + 1, "a", 0, "z"},
		{61 * min, "a", 1, "x"}, // the event at 0 is out of its hour
		{200 * min, "a", 0, "x"},
	}
	ws := []datastream.FeatureWindow{
		{Name: "n", Key: "user", Agg: datastream.WindowCount, Over: time.Hour, Resolution: time.Minute},
		{Name: "clicks", Key: "user", Agg: datastream.WindowCount, Column: "click", Over: time.Hour, Resolution: time.Minute},
		{Name: "ctr", Key: "user", Agg: datastream.WindowRatio, Column: "click", Over: time.Hour, Resolution: time.Minute},
		{Name: "sites", Key: "user", Agg: datastream.WindowDistinct, Column: "site", Over: time.Hour, Resolution: time.Minute},
		{Name: "last", Key: "user", Agg: datastream.WindowLast, Column: "click", Over: time.Hour, Resolution: time.Minute},
		{Name: "mean", Key: "user", Agg: datastream.WindowMean, Column: "click", Over: time.Hour, Resolution: time.Minute},
		{Name: "sum", Key: "user", Agg: datastream.WindowSum, Column: "click", Over: time.Hour, Resolution: time.Minute},
	}
	want := []string{
		"ts=0 user=a click=1 n=0 clicks=0 ctr=(null) sites=0 last=(null) mean=(null) sum=0",
		"ts=60000 user=a click=0 n=1 clicks=1 ctr=1 sites=1 last=1 mean=1 sum=1",
		"ts=60000 user=a click=1 n=1 clicks=1 ctr=1 sites=1 last=1 mean=1 sum=1",
		"ts=60000 user=b click=1 n=0 clicks=0 ctr=(null) sites=0 last=(null) mean=(null) sum=0",
		"ts=120001 user=a click=0 n=3 clicks=2 ctr=0.6666666666666666 sites=2 last=1 mean=0.6666666666666666 sum=2",
		// [61min − 60min, 61min) = [1min, 61min): not the event at 0.
		"ts=3660000 user=a click=1 n=3 clicks=1 ctr=0.3333333333333333 sites=3 last=0 mean=0.3333333333333333 sum=1",
		"ts=12000000 user=a click=0 n=0 clicks=0 ctr=(null) sites=0 last=(null) mean=(null) sum=0",
	}
	for _, size := range []int{1, 2, 3, len(evs)} {
		got := runWindows(t, evs, size, ws...)
		if !slices.Equal(got, want) {
			t.Errorf("records of %d rows:\ngot  %q\nwant %q", size, got, want)
		}
	}
}

func TestWindowFeaturesLateRow(t *testing.T) {
	const min = 60_000
	evs := []event{
		{10 * min, "a", 1, "x"},
		{20 * min, "a", 1, "x"},
		{20*min + 5, "a", 1, "x"},
		{15 * min, "a", 1, "x"}, // late: sees the whole buckets before its own (the 10-minute event)
		{30 * min, "a", 1, "x"}, // sees all four
	}
	got := runWindows(t, evs, 2, datastream.FeatureWindow{Name: "n", Key: "user", Agg: datastream.WindowCount, Over: time.Hour, Resolution: time.Minute})
	var ns []string
	for _, r := range got {
		ns = append(ns, r[len(r)-3:])
	}
	if want := []string{"n=0", "n=1", "n=2", "n=1", "n=4"}; !slices.Equal(ns, want) {
		t.Errorf("got %q, want %q", ns, want)
	}
}

func TestWindowFeaturesValidate(t *testing.T) {
	for name, w := range map[string]datastream.FeatureWindow{
		"no key":         {Name: "x", Agg: datastream.WindowCount, Over: time.Hour, Resolution: time.Minute},
		"no column":      {Name: "x", Key: "k", Agg: datastream.WindowSum, Over: time.Hour, Resolution: time.Minute},
		"not a multiple": {Name: "x", Key: "k", Agg: datastream.WindowCount, Over: time.Hour, Resolution: 7 * time.Minute},
		"denominator":    {Name: "x", Key: "k", Agg: datastream.WindowCount, Denominator: "d", Over: time.Hour, Resolution: time.Minute},
	} {
		if err := (datastream.FeatureWindows{TimeColumn: "ts", Windows: []datastream.FeatureWindow{w}}).Validate(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
