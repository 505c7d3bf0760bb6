package dataset_test

import (
	"context"
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/lake/laketest"
)

// Example writes a two-day table partitioned by dt, then reads one day of
// it with a projection: the other day's file is never opened.
func Example() {
	ctx := context.Background()
	store := laketest.NewMemory()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "user", Type: arrow.BinaryTypes.String},
		{Name: "clicks", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	for day, users := range map[string][]string{"2026-11-01": {"ann", "bob"}, "2026-11-02": {"cy"}} {
		b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
		for i, u := range users {
			b.Field(0).(*array.StringBuilder).Append(u)
			b.Field(1).(*array.Int64Builder).Append(int64(i + 1))
		}
		rec := b.NewRecord()
		folder := "clicks/dt=" + day
		if err := dataset.WriteFile(ctx, store, folder+"/part-0.parquet", schema, []arrow.Record{rec}, dataset.WriteOptions{}); err != nil {
			panic(err)
		}
		rec.Release()
		b.Release()
		if err := lake.Commit(ctx, store, folder); err != nil {
			panic(err)
		}
	}

	var seen dataset.Counter
	ds, err := dataset.Open(ctx, store, "clicks/", dataset.WithObserver(&seen))
	if err != nil {
		panic(err)
	}
	where, err := dataset.ParseWhere("dt = '2026-11-01'")
	if err != nil {
		panic(err)
	}
	plan, err := ds.Plan(ctx, dataset.Query{Columns: []string{"dt", "user"}, Where: where})
	if err != nil {
		panic(err)
	}
	sc := plan.Scan(ctx, plan.Splits(), dataset.ScanOptions{})
	defer sc.Close()
	for sc.Next() {
		fmt.Println(sc.At())
	}
	if err := sc.Err(); err != nil {
		panic(err)
	}
	fmt.Println("footers read:", seen.Files())
	// Output:
	// record:
	//   schema:
	//   fields: 2
	//     - dt: type=utf8, nullable
	//     - user: type=utf8
	//   rows: 2
	//   col[0][dt]: ["2026-11-01" "2026-11-01"]
	//   col[1][user]: ["ann" "bob"]
	//
	// footers read: [clicks/dt=2026-11-01/part-0.parquet]
}
