package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/lake"
)

// runScan implements "trainer scan": it opens a Parquet table in the lake
// (optionally generating a sample one first), scans it with the given
// projection and filter, and prints what it found and read.
func runScan(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("scan", flag.ContinueOnError)
	fs.SetOutput(stdout)
	uri := lakeFlag(fs)
	data := fs.String("data", "", "table in the lake: a folder, key or glob (default: everything under --lake)")
	where := fs.String("where", "", `filter, e.g. "dt >= '2026-11-02' AND country IN ('fr', 'de')"`)
	columns := fs.String("columns", "", "comma-separated projection (default: all columns)")
	partTypes := fs.String("partition-types", "", "types of partition columns, e.g. dt=date32,hour=int32 (string by default)")
	uncommitted := fs.Bool("include-uncommitted", false, "also read partitions without a _SUCCESS marker")
	sample := fs.String("generate-sample", "", "write a sample Hive-partitioned click log into this folder and scan it (overrides --lake)")
	fs.Usage = func() {
		fmt.Fprintln(stdout, "Usage: trainer scan [flags]")
		fmt.Fprintln(stdout, "Scans a Parquet table in the lake and prints its schema, partitions, files, row groups and rows.")
		fmt.Fprintln(stdout, "First run: trainer scan --generate-sample /tmp/lakestream-sample")
		fs.PrintDefaults()
	}
	if err := parseConfig(fs, args, os.LookupEnv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &usageError{fmt.Sprintf("scan takes no arguments, got %q (use --lake and --data)", fs.Args())}
	}
	filter, err := dataset.ParseWhere(*where)
	if err != nil {
		return &usageError{fmt.Sprintf("--where: %v", err)}
	}
	var opts []dataset.Option
	if *uncommitted {
		opts = append(opts, dataset.WithoutSuccessMarkers())
	}
	if *partTypes != "" {
		for _, kv := range strings.Split(*partTypes, ",") {
			col, name, ok := strings.Cut(strings.TrimSpace(kv), "=")
			t, known := scanPartitionTypes[name]
			if !ok || !known {
				return &usageError{fmt.Sprintf("--partition-types: %q is not column=type with type one of string, int32, int64, float64, bool, date32", kv)}
			}
			opts = append(opts, dataset.WithPartitionType(col, t))
		}
	}
	var cols []string
	if *columns != "" {
		for _, c := range strings.Split(*columns, ",") {
			cols = append(cols, strings.TrimSpace(c))
		}
	}
	lakeURI := *uri
	if *sample != "" {
		lakeURI = *sample
		store, err := lake.NewLocal(*sample)
		if err != nil {
			return fmt.Errorf("--generate-sample: %w", err)
		}
		n, err := writeScanSample(ctx, store)
		if err != nil {
			return fmt.Errorf("--generate-sample %s: %w", *sample, err)
		}
		fmt.Fprintf(stdout, "wrote a sample click log of %d rows to %s\n\n", n, *sample)
		if *data == "" {
			*data = scanSampleTable
		}
		if *partTypes == "" {
			opts = append(opts, dataset.WithPartitionType("dt", arrow.FixedWidthTypes.Date32))
		}
	}
	store, err := lake.Open(ctx, lakeURI)
	if err != nil {
		return fmt.Errorf("--lake: %w", err)
	}
	var seen dataset.Counter
	opts = append(opts, dataset.WithObserver(&seen))
	ds, err := dataset.Open(ctx, store, *data, opts...)
	if ue := (*dataset.UncommittedError)(nil); errors.As(err, &ue) {
		return fmt.Errorf("--lake %s --data %q: %w; pass --include-uncommitted to read them", lakeURI, *data, err)
	}
	if errors.Is(err, dataset.ErrNoFiles) && *sample == "" {
		return fmt.Errorf("--lake %s --data %q: %w (for a sample lake: trainer scan --generate-sample /tmp/lakestream-sample)", lakeURI, *data, err)
	}
	if err != nil {
		return fmt.Errorf("--lake %s --data %q: %w", lakeURI, *data, err)
	}
	plan, err := ds.Plan(ctx, dataset.Query{Columns: cols, Where: filter})
	if err != nil {
		return err
	}
	start := time.Now()
	sc := plan.Scan(ctx, plan.Splits(), dataset.ScanOptions{})
	var rows, nulls int64
	for sc.Next() {
		rec := sc.At()
		rows += rec.NumRows()
		for _, c := range rec.Columns() {
			nulls += int64(c.NullN())
		}
	}
	if err := sc.Err(); err != nil {
		sc.Close()
		return err
	}
	if err := sc.Close(); err != nil {
		return err
	}
	elapsed := time.Since(start)
	printScan(stdout, lakeURI, ds, plan, &seen, filter, rows, nulls, elapsed)
	return nil
}

var scanPartitionTypes = map[string]arrow.DataType{
	"string": arrow.BinaryTypes.String, "int32": arrow.PrimitiveTypes.Int32, "int64": arrow.PrimitiveTypes.Int64,
	"float64": arrow.PrimitiveTypes.Float64, "bool": arrow.FixedWidthTypes.Boolean, "date32": arrow.FixedWidthTypes.Date32,
}

func printScan(w io.Writer, uri string, ds *dataset.Dataset, plan *dataset.Plan, seen *dataset.Counter, filter dataset.Filter, rows, nulls int64, elapsed time.Duration) {
	parts := map[string]bool{}
	for _, f := range ds.PartitionColumns() {
		parts[f.Name] = true
	}
	fmt.Fprintf(w, "lake        %s (table %q)\n", uri, ds.Prefix())
	fmt.Fprintln(w, "schema")
	for _, f := range plan.Schema().Fields() {
		note := ""
		if parts[f.Name] {
			note = "  (partition)"
		}
		null := ""
		if !f.Nullable {
			null = " not null"
		}
		fmt.Fprintf(w, "  %-14s %s%s%s\n", f.Name, f.Type, null, note)
	}
	if un := plan.Unsupported(); len(un) > 0 {
		fmt.Fprintf(w, "  (not readable: %s: struct, map and nested list columns are not supported; write their fields as top-level columns)\n", strings.Join(un, ", "))
	}
	if len(ds.PartitionColumns()) > 0 {
		fmt.Fprintln(w, "partitions")
		for _, f := range ds.PartitionColumns() {
			var vals []string
			for _, file := range ds.Files() {
				for _, p := range file.Partitions {
					v := p.Value
					if p.Null {
						v = "null"
					}
					if p.Column == f.Name && !slices.Contains(vals, v) {
						vals = append(vals, v)
					}
				}
			}
			slices.Sort(vals)
			fmt.Fprintf(w, "  %-14s %d values: %s\n", f.Name, len(vals), scanShortList(vals, 6))
		}
	}
	if len(filter) > 0 {
		fmt.Fprintf(w, "where       %s\n", filter)
	}
	total, skipped := plan.RowGroups()
	fmt.Fprintf(w, "files       %d listed, %d footers read after partition pruning", len(ds.Files()), len(seen.Files()))
	if n := len(ds.Skipped()); n > 0 {
		fmt.Fprintf(w, ", %d skipped (no _SUCCESS marker in %s; --include-uncommitted reads them)", n, dataset.PartitionList(ds.SkippedPartitions()))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "row groups  %d in opened files, %d skipped by statistics, %d read\n", total, skipped, len(seen.RowGroups()))
	fmt.Fprintf(w, "rows        %d read (%d null values) in %s\n\n", rows, nulls, elapsed.Round(time.Microsecond))
	perFile := map[string][2]int64{}
	for _, s := range plan.Splits() {
		v := perFile[s.Key]
		perFile[s.Key] = [2]int64{v[0] + 1, v[1] + s.Rows}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FILE\tROW GROUPS\tROWS")
	shown := 0
	for _, key := range plan.Files() {
		v, ok := perFile[key]
		if !ok {
			continue
		}
		if shown == 12 {
			fmt.Fprintf(tw, "… %d more files\t\t\n", len(perFile)-shown)
			break
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\n", key, v[0], v[1])
		shown++
	}
	tw.Flush()
}

func scanShortList(vals []string, n int) string {
	if len(vals) <= n {
		return strings.Join(vals, ", ")
	}
	return strings.Join(vals[:n/2], ", ") + ", …, " + strings.Join(vals[len(vals)-n/2:], ", ")
}

// scanSampleTable is the table --generate-sample writes.
const scanSampleTable = "clicks/"

// writeScanSample writes a small click log partitioned by day and country,
// two row groups per file, each partition committed with a _SUCCESS marker.
// The data is drawn from a fixed seed, so every run writes the same table.
func writeScanSample(ctx context.Context, store lake.Store) (int, error) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}},
		{Name: "user_id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "item_id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "device", Type: arrow.BinaryTypes.String},
		{Name: "price", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "clicked", Type: arrow.FixedWidthTypes.Boolean},
		{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
	}, nil)
	devices := []string{"android", "ios", "web"}
	tags := []string{"sport", "news", "music", "travel", "food"}
	r := rand.New(rand.NewPCG(2026, 11))
	day0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	const rowsPerGroup = 1000
	total := 0
	for d := range 3 {
		day := day0.AddDate(0, 0, d)
		for _, country := range []string{"de", "fr"} {
			var recs []arrow.Record
			for g := range 2 {
				b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
				for i := range rowsPerGroup {
					ts := day.Add(time.Duration(g*rowsPerGroup+i) * 40 * time.Second)
					b.Field(0).(*array.TimestampBuilder).Append(arrow.Timestamp(ts.UnixMilli()))
					b.Field(1).(*array.Int64Builder).Append(r.Int64N(5000))
					// Items 0-399 in the first row group, 400-799 in the
					// second, so "item_id >= 400" shows statistics skipping.
					b.Field(2).(*array.Int64Builder).Append(int64(g*400) + r.Int64N(400))
					b.Field(3).(*array.StringBuilder).Append(devices[r.IntN(len(devices))])
					if r.IntN(10) == 0 {
						b.Field(4).AppendNull()
					} else {
						b.Field(4).(*array.Float64Builder).Append(float64(r.IntN(10000)) / 100)
					}
					b.Field(5).(*array.BooleanBuilder).Append(r.IntN(8) == 0)
					lb := b.Field(6).(*array.ListBuilder)
					lb.Append(true)
					for range r.IntN(3) {
						lb.ValueBuilder().(*array.StringBuilder).Append(tags[r.IntN(len(tags))])
					}
				}
				recs = append(recs, b.NewRecord())
				b.Release()
			}
			folder := fmt.Sprintf("%sdt=%s/country=%s", scanSampleTable, day.Format(time.DateOnly), country)
			err := dataset.WriteFile(ctx, store, folder+"/part-0.parquet", schema, recs, dataset.WriteOptions{RowGroupRows: rowsPerGroup})
			for _, rec := range recs {
				rec.Release()
			}
			if err != nil {
				return total, err
			}
			if err := lake.Commit(ctx, store, folder); err != nil {
				return total, err
			}
			total += 2 * rowsPerGroup
		}
	}
	return total, nil
}
