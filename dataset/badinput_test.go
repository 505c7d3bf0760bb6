package dataset_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/lake/laketest"
)

func oneColumn(t *testing.T, store lake.Store, key, name string, typ arrow.DataType, n int) {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{{Name: name, Type: typ}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for i := range n {
		switch fb := b.Field(0).(type) {
		case *array.Int64Builder:
			fb.Append(int64(i))
		case *array.StringBuilder:
			fb.Append(strings.Repeat("x", i%7))
		case *array.Float64Builder:
			fb.Append(float64(i))
		}
	}
	rec := b.NewRecord()
	defer rec.Release()
	if err := dataset.WriteFile(context.Background(), store, key, schema, []arrow.Record{rec}, dataset.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestSchemaEvolution checks the documented rule: a column missing from a
// file reads as nulls there.
func TestSchemaEvolution(t *testing.T) {
	ctx := context.Background()
	store := laketest.NewMemory()
	oneColumn(t, store, "t/dt=1/a.parquet", "a", arrow.PrimitiveTypes.Int64, 10)
	oneColumn(t, store, "t/dt=2/b.parquet", "b", arrow.BinaryTypes.String, 5)
	ds, err := dataset.Open(ctx, store, "t/", dataset.WithoutSuccessMarkers())
	if err != nil {
		t.Fatal(err)
	}
	plan, err := ds.Plan(ctx, dataset.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := plan.Schema().String(), "schema:\n  fields: 3\n    - a: type=int64, nullable\n    - b: type=utf8, nullable\n    - dt: type=utf8, nullable"; got != want {
		t.Fatalf("schema\n%s\nwant\n%s", got, want)
	}
	sc := plan.Scan(ctx, plan.Splits(), dataset.ScanOptions{})
	defer sc.Close()
	var nullsA, nullsB, rows int
	for sc.Next() {
		rec := sc.At()
		nullsA += rec.Column(0).NullN()
		nullsB += rec.Column(1).NullN()
		rows += int(rec.NumRows())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if rows != 15 || nullsA != 5 || nullsB != 10 {
		t.Errorf("rows %d, nulls in a %d, in b %d; want 15, 5, 10", rows, nullsA, nullsB)
	}
}

func TestBadInput(t *testing.T) {
	ctx := context.Background()
	good := laketest.NewMemory()
	oneColumn(t, good, "x.parquet", "a", arrow.PrimitiveTypes.Int64, 1000)
	whole, err := lake.ReadAll(ctx, good, "x.parquet")
	if err != nil {
		t.Fatal(err)
	}
	// Corrupt the first data page's bytes but keep the footer.
	corrupt := append([]byte(nil), whole...)
	for i := 8; i < 200 && i < len(corrupt)-100; i++ {
		corrupt[i] ^= 0x5a
	}
	tests := []struct {
		name    string
		setup   func(t *testing.T, s lake.Store)
		planErr string // substring; "" means Plan succeeds
		scanErr string // substring of the scan error
		is      error
	}{
		{
			name:    "truncated",
			setup:   func(t *testing.T, s lake.Store) { put(t, s, "t/p.parquet", whole[:len(whole)/2]) },
			planErr: "dataset: not a Parquet file: t/p.parquet:",
			is:      dataset.ErrNotParquet,
		},
		{
			name:    "not parquet",
			setup:   func(t *testing.T, s lake.Store) { put(t, s, "t/p.parquet", []byte("user,clicks\nann,3\n")) },
			planErr: "dataset: not a Parquet file: t/p.parquet:",
			is:      dataset.ErrNotParquet,
		},
		{
			name:    "empty object",
			setup:   func(t *testing.T, s lake.Store) { put(t, s, "t/p.parquet", nil) },
			planErr: "dataset: not a Parquet file: t/p.parquet:",
			is:      dataset.ErrNotParquet,
		},
		{
			name:    "corrupt pages",
			setup:   func(t *testing.T, s lake.Store) { put(t, s, "t/p.parquet", corrupt) },
			scanErr: "t/p.parquet",
		},
		{
			name: "conflicting types",
			setup: func(t *testing.T, s lake.Store) {
				oneColumn(t, s, "t/dt=1/a.parquet", "a", arrow.PrimitiveTypes.Int64, 3)
				oneColumn(t, s, "t/dt=2/a.parquet", "a", arrow.BinaryTypes.String, 3)
			},
			planErr: `dataset: column "a" is int64 in t/dt=1/a.parquet but utf8 in t/dt=2/a.parquet`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := laketest.NewMemory()
			tt.setup(t, store)
			ds, err := dataset.Open(ctx, store, "t/", dataset.WithoutSuccessMarkers())
			if err != nil {
				t.Fatal(err)
			}
			plan, err := ds.Plan(ctx, dataset.Query{})
			if tt.planErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.planErr) {
					t.Fatalf("Plan error %v, want %q", err, tt.planErr)
				}
				if tt.is != nil && !errors.Is(err, tt.is) {
					t.Errorf("error %v is not %v", err, tt.is)
				}
				var sce *dataset.SchemaConflictError
				if strings.Contains(tt.name, "conflict") && !errors.As(err, &sce) {
					t.Errorf("error %v is not a *SchemaConflictError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			sc := plan.Scan(ctx, plan.Splits(), dataset.ScanOptions{})
			defer sc.Close()
			for sc.Next() {
			}
			if err := sc.Err(); err == nil || !strings.Contains(err.Error(), tt.scanErr) {
				t.Fatalf("scan error %v, want one naming %q", err, tt.scanErr)
			}
		})
	}
}

func put(t *testing.T, s lake.Store, key string, b []byte) {
	t.Helper()
	if err := lake.PutBytes(context.Background(), s, key, b); err != nil {
		t.Fatal(err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	store := laketest.NewMemory()
	if _, err := dataset.Open(ctx, store, "nothing/"); !errors.Is(err, dataset.ErrNoFiles) {
		t.Errorf("empty prefix: %v, want ErrNoFiles", err)
	}
	oneColumn(t, store, "t/dt=1/a.parquet", "a", arrow.PrimitiveTypes.Int64, 3)
	_, err := dataset.Open(ctx, store, "t/")
	if !errors.Is(err, dataset.ErrNoFiles) || !strings.Contains(err.Error(), "_SUCCESS") {
		t.Errorf("uncommitted partition: %v, want ErrNoFiles mentioning _SUCCESS", err)
	}
	oneColumn(t, store, "u/n=x/a.parquet", "a", arrow.PrimitiveTypes.Int64, 3)
	_, err = dataset.Open(ctx, store, "u/", dataset.WithoutSuccessMarkers(), dataset.WithPartitionType("n", arrow.PrimitiveTypes.Int64))
	if !errors.Is(err, dataset.ErrBadPartition) || !strings.Contains(err.Error(), "u/n=x/a.parquet") {
		t.Errorf("bad partition value: %v, want ErrBadPartition naming the key", err)
	}
}
