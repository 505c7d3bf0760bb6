package datastream_test

import (
	"context"
	"fmt"
	"time"

	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/lakestream/lakestream/datastream"
	"github.com/lakestream/lakestream/datastream/datastreamtest"
)

// A bounded job: count and sum clicks per user in 1-minute event-time
// windows. When the source ends, the final watermark fires every window.
func Example() {
	b := array.NewRecordBuilder(memory.DefaultAllocator, clickSchema)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).AppendValues([]string{"ann", "bob", "ann", "ann"}, nil)
	b.Field(1).(*array.Int64Builder).AppendValues([]int64{1_000, 2_000, 30_000, 61_000}, nil)
	b.Field(2).(*array.Int64Builder).AppendValues([]int64{5, 7, 1, 2}, nil)
	rec := b.NewRecord()
	defer rec.Release()

	sink := datastreamtest.NewSink()
	job := datastream.NewJob("clicks-per-minute")
	clicks := job.Source("clicks", datastreamtest.NewSource(nil, datastreamtest.Step{Batch: datastream.Batch{Record: rec}}),
		datastream.Watermarks(datastream.WatermarkStrategy{TimestampColumn: "ts", OutOfOrderness: 5 * time.Second}))
	datastream.Aggregate(clicks.KeyBy("user").Window(datastream.Tumbling(time.Minute)), "per-minute",
		datastream.Aggregates(datastream.Count("clicks"), datastream.SumInt("amount", "amount"))).
		To("out", sink)

	summary, err := job.Run(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, row := range sink.Rows() {
		fmt.Println(row)
	}
	fmt.Println("rows in:", summary.Operator("per-minute").RecordsIn)
	// Output:
	// user=ann window_start=1970-01-01 00:00:00Z window_end=1970-01-01 00:01:00Z clicks=2 amount=6
	// user=bob window_start=1970-01-01 00:00:00Z window_end=1970-01-01 00:01:00Z clicks=1 amount=7
	// user=ann window_start=1970-01-01 00:01:00Z window_end=1970-01-01 00:02:00Z clicks=1 amount=2
	// rows in: 4
}
