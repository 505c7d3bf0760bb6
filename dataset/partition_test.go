package dataset_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/lake/laketest"
)

var eventSchema = arrow.NewSchema([]arrow.Field{
	{Name: "user", Type: arrow.BinaryTypes.String},
	{Name: "clicks", Type: arrow.PrimitiveTypes.Int64},
	{Name: "score", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
}, nil)

// eventRecord returns rows whose clicks are lo, lo+1, ..., lo+n-1.
func eventRecord(prefix string, lo, n int) arrow.Record {
	b := array.NewRecordBuilder(memory.DefaultAllocator, eventSchema)
	defer b.Release()
	for i := range n {
		b.Field(0).(*array.StringBuilder).Append(fmt.Sprintf("%s-%d", prefix, lo+i))
		b.Field(1).(*array.Int64Builder).Append(int64(lo + i))
		if i%5 == 0 {
			b.Field(2).AppendNull()
		} else {
			b.Field(2).(*array.Float64Builder).Append(float64(lo+i) / 2)
		}
	}
	return b.NewRecord()
}

// writeEvents writes a Hive-partitioned table under events/: three days ×
// two countries, each file with two row groups (clicks 0..99 and
// 100..199), every partition committed with a _SUCCESS marker except
// dt=2026-11-04, which is left uncommitted.
func writeEvents(t *testing.T, store lake.Store) {
	t.Helper()
	ctx := context.Background()
	for _, dt := range []string{"2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"} {
		for _, country := range []string{"de", "fr"} {
			folder := fmt.Sprintf("events/dt=%s/country=%s", dt, country)
			tag := dt + "/" + country
			recs := []arrow.Record{eventRecord(tag, 0, 100), eventRecord(tag, 100, 100)}
			if err := dataset.WriteFile(ctx, store, folder+"/part-0.parquet", eventSchema, recs, dataset.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				r.Release()
			}
			if dt != "2026-11-04" {
				if err := lake.Commit(ctx, store, folder); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

func TestHivePruningMemory(t *testing.T) {
	testHivePruning(t, laketest.NewMemory())
}

// TestHivePruningMinIO runs the same scan against the real MinIO.
func TestHivePruningMinIO(t *testing.T) {
	testHivePruning(t, laketest.MinIO(t))
}

// testHivePruning scans with projection, partition pruning and statistics
// skipping, and checks exactly which files and row groups were read.
func testHivePruning(t *testing.T, store lake.Store) {
	ctx := context.Background()
	writeEvents(t, store)
	var seen dataset.Counter
	ds, err := dataset.Open(ctx, store, "events/", dataset.WithObserver(&seen),
		dataset.WithPartitionType("dt", arrow.FixedWidthTypes.Date32))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(ds.Files()); got != 6 {
		t.Errorf("%d files, want 6 (dt=2026-11-04 has no _SUCCESS)", got)
	}
	if got := len(ds.Skipped()); got != 2 {
		t.Errorf("%d skipped files, want 2", got)
	}
	where, err := dataset.ParseWhere("dt >= '2026-11-02' AND country = 'fr' AND clicks >= 150")
	if err != nil {
		t.Fatal(err)
	}
	plan, err := ds.Plan(ctx, dataset.Query{Columns: []string{"user", "dt", "clicks", "country"}, Where: where})
	if err != nil {
		t.Fatal(err)
	}
	wantFiles := []string{
		"events/dt=2026-11-02/country=fr/part-0.parquet",
		"events/dt=2026-11-03/country=fr/part-0.parquet",
	}
	if got := seen.Files(); !slices.Equal(got, wantFiles) {
		t.Errorf("footers read: %v, want %v", got, wantFiles)
	}
	if total, skipped := plan.RowGroups(); total != 4 || skipped != 2 {
		t.Errorf("row groups: %d total, %d skipped; want 4, 2", total, skipped)
	}
	if got, want := plan.Schema().String(), arrow.NewSchema([]arrow.Field{
		{Name: "user", Type: arrow.BinaryTypes.String},
		{Name: "dt", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
		{Name: "clicks", Type: arrow.PrimitiveTypes.Int64},
		{Name: "country", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil).String(); got != want {
		t.Errorf("schema\n%s\nwant\n%s", got, want)
	}
	sc := plan.Scan(ctx, plan.Splits(), dataset.ScanOptions{BatchSize: 30})
	defer sc.Close()
	rows := 0
	for sc.Next() {
		rec := sc.At()
		users := rec.Column(0).(*array.String)
		dts := rec.Column(1).(*array.Date32)
		clicks := rec.Column(2).(*array.Int64)
		countries := rec.Column(3).(*array.String)
		for i := 0; i < int(rec.NumRows()); i++ {
			day := dts.Value(i).ToTime().Format("2006-01-02")
			want := fmt.Sprintf("%s/%s-%d", day, countries.Value(i), clicks.Value(i))
			if users.Value(i) != want || countries.Value(i) != "fr" || day < "2026-11-02" {
				t.Fatalf("row %d: user %q dt %s country %q clicks %d", rows+i, users.Value(i), day, countries.Value(i), clicks.Value(i))
			}
			if clicks.Value(i) < 150 {
				t.Fatalf("row with clicks %d < 150 was not filtered", clicks.Value(i))
			}
		}
		rows += int(rec.NumRows())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if rows != 100 {
		t.Errorf("read %d rows, want 100 (clicks 150-199 of two files)", rows)
	}
	wantRGs := []string{wantFiles[0] + "#1", wantFiles[1] + "#1"}
	if got := seen.RowGroups(); !slices.Equal(got, wantRGs) {
		t.Errorf("row groups read: %v, want %v", got, wantRGs)
	}
}

func TestPruningPredicates(t *testing.T) {
	ctx := context.Background()
	store := laketest.NewMemory()
	writeEvents(t, store)
	tests := []struct {
		where     string
		files     int // footers read
		rowGroups int // row groups kept
		rows      int // rows returned
	}{
		{"", 6, 12, 1200},
		{"country != 'fr'", 3, 6, 600},
		{"country IN ('fr', 'xx')", 3, 6, 600},
		{"dt < '2026-11-02'", 2, 4, 400},
		{"dt <= '2026-11-02' AND dt > '2026-11-01'", 2, 4, 400},
		{"clicks = 99", 6, 6, 6},
		{"clicks > 199", 6, 0, 0},
		{"clicks < 0", 6, 0, 0},
		{"clicks IN (5, 150)", 6, 12, 12},
		{"clicks != 5", 6, 12, 1194},
		// score is clicks/2, null when clicks is a multiple of 5.
		{"score >= 60", 6, 6, 6 * 64},
		{"user = 'x'", 6, 0, 0},
		{"user >= '2026-11-01/de-0'", 6, 12, 1200},
		{"dt = '2026-11-09'", 1, 0, 0}, // one footer for the schema
	}
	for _, tt := range tests {
		t.Run(tt.where, func(t *testing.T) {
			f, err := dataset.ParseWhere(tt.where)
			if err != nil {
				t.Fatal(err)
			}
			var seen dataset.Counter
			ds, err := dataset.Open(ctx, store, "events", dataset.WithObserver(&seen))
			if err != nil {
				t.Fatal(err)
			}
			plan, err := ds.Plan(ctx, dataset.Query{Columns: []string{"clicks", "dt"}, Where: f})
			if err != nil {
				t.Fatal(err)
			}
			if got := len(seen.Files()); got != tt.files {
				t.Errorf("%d footers read, want %d", got, tt.files)
			}
			if got := len(plan.Splits()); got != tt.rowGroups {
				t.Errorf("%d row groups kept, want %d", got, tt.rowGroups)
			}
			// clicks is projected; score is not and is read for the filter.
			sc := plan.Scan(ctx, plan.Splits(), dataset.ScanOptions{BatchSize: 64})
			defer sc.Close()
			rows := 0
			for sc.Next() {
				if n := sc.At().NumCols(); n != 2 {
					t.Fatalf("%d columns, want 2", n)
				}
				rows += int(sc.At().NumRows())
			}
			if err := sc.Err(); err != nil {
				t.Fatal(err)
			}
			if rows != tt.rows {
				t.Errorf("%d rows, want %d", rows, tt.rows)
			}
		})
	}
}

func TestPlanErrors(t *testing.T) {
	ctx := context.Background()
	store := laketest.NewMemory()
	writeEvents(t, store)
	ds, err := dataset.Open(ctx, store, "events/")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		query dataset.Query
		want  string
	}{
		{"unknown projected column", dataset.Query{Columns: []string{"nope"}}, `dataset: unknown column "nope" (have user, clicks, score, dt, country)`},
		{"unknown filter column", dataset.Query{Where: dataset.Filter{dataset.Where("nope", dataset.Eq, dataset.Int(1))}}, `dataset: unknown column "nope" in filter nope = 1`},
		{"type mismatch", dataset.Query{Where: dataset.Filter{dataset.Where("clicks", dataset.Eq, dataset.String("a"))}}, `dataset: predicate clicks = 'a' on column "clicks": cannot compare int64 with 'a'`},
		{"bad date", dataset.Query{Where: dataset.Filter{dataset.Where("dt", dataset.Eq, dataset.String("a"))}}, ``},
		{"projected twice", dataset.Query{Columns: []string{"user", "user"}}, `dataset: column "user" projected twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ds.Plan(ctx, tt.query)
			if tt.want == "" {
				// dt is a string partition here: any string compares.
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error %v, want %s", err, tt.want)
			}
		})
	}
}

func TestOpenPatterns(t *testing.T) {
	ctx := context.Background()
	store := laketest.NewMemory()
	writeEvents(t, store)
	tests := []struct {
		name  string
		where string
		files int
		parts string // partition columns
	}{
		{"folder", "events/", 6, "dt,country"},
		{"folder without slash", "events", 6, "dt,country"},
		{"glob", "events/dt=2026-11-0[12]/*/*.parquet", 4, "dt,country"},
		{"sub folder", "events/dt=2026-11-02/", 2, "country"},
		{"one file", "events/dt=2026-11-02/country=fr/part-0.parquet", 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds, err := dataset.Open(ctx, store, tt.where)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, f := range ds.PartitionColumns() {
				names = append(names, f.Name)
			}
			if len(ds.Files()) != tt.files || fmt.Sprint(names) != fmt.Sprint(splitNames(tt.parts)) {
				t.Errorf("%d files, partitions %v; want %d, %s", len(ds.Files()), names, tt.files, tt.parts)
			}
		})
	}
	// dt=2026-11-04 has no marker; one at the table root, outside the
	// listed folder, commits it.
	if _, err := dataset.Open(ctx, store, "events/dt=2026-11-04/"); err == nil {
		t.Fatal("uncommitted partition was read")
	}
	if err := lake.Commit(ctx, store, "events"); err != nil {
		t.Fatal(err)
	}
	ds, err := dataset.Open(ctx, store, "events/dt=2026-11-04/")
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Files()) != 2 {
		t.Errorf("%d files after the root commit, want 2", len(ds.Files()))
	}
}

func splitNames(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}
