package dataset_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/compress"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/lake/laketest"
)

const clickLogRows = 1 << 20

// clickLogFile returns the path of the benchmark table: 24 columns (12
// int64, 12 string) of a synthetic click log, 2^20 rows in 8 row groups,
// dictionary encoding and snappy, written once with Arrow's own Parquet
// writer into $LAKESTREAM_BENCH_CACHE (default: the user cache directory).
func clickLogFile(b *testing.B) string {
	b.Helper()
	dir := os.Getenv("LAKESTREAM_BENCH_CACHE")
	if dir == "" {
		c, err := os.UserCacheDir()
		if err != nil {
			b.Fatal(err)
		}
		dir = filepath.Join(c, "lakestream", "bench")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, "clicklog-1m-v1.parquet")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	if err := writeClickLog(path + ".tmp"); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		b.Fatal(err)
	}
	return path
}

func writeClickLog(path string) error {
	type intCol struct {
		name string
		gen  func(r *rand.Rand, i int) int64
	}
	type strCol struct {
		name string
		card int
	}
	ints := []intCol{
		{"ts", func(r *rand.Rand, i int) int64 { return 1_790_000_000_000 + int64(i)*7 }},
		{"user_id", func(r *rand.Rand, i int) int64 { return r.Int64N(1_000_000) }},
		{"item_id", func(r *rand.Rand, i int) int64 { return r.Int64N(100_000) }},
		{"campaign_id", func(r *rand.Rand, i int) int64 { return r.Int64N(1000) }},
		{"ad_id", func(r *rand.Rand, i int) int64 { return r.Int64N(10_000) }},
		{"position", func(r *rand.Rand, i int) int64 { return r.Int64N(10) }},
		{"price_cents", func(r *rand.Rand, i int) int64 { return r.Int64N(1000) }},
		{"dwell_ms", func(r *rand.Rand, i int) int64 { return r.Int64N(60_000) }},
		{"clicks", func(r *rand.Rand, i int) int64 { return r.Int64N(2) }},
		{"impressions", func(r *rand.Rand, i int) int64 { return 1 + r.Int64N(5) }},
		{"session_id", func(r *rand.Rand, i int) int64 { return r.Int64() }},
		{"hour", func(r *rand.Rand, i int) int64 { return int64(i/43690) % 24 }},
	}
	strs := []strCol{
		{"country", 50}, {"device", 5}, {"os", 8}, {"browser", 10}, {"page", 1000}, {"referrer", 200},
		{"lang", 30}, {"city", 2000}, {"carrier", 20}, {"app_version", 50}, {"query", 5000}, {"slot", 10},
	}
	var fields []arrow.Field
	for _, c := range ints {
		fields = append(fields, arrow.Field{Name: c.name, Type: arrow.PrimitiveTypes.Int64})
	}
	for _, c := range strs {
		fields = append(fields, arrow.Field{Name: c.name, Type: arrow.BinaryTypes.String})
	}
	schema := arrow.NewSchema(fields, nil)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	props := parquet.NewWriterProperties(
		parquet.WithCompression(compress.Codecs.Snappy),
		parquet.WithDictionaryDefault(true),
		parquet.WithMaxRowGroupLength(clickLogRows/8),
	)
	w, err := pqarrow.NewFileWriter(schema, f, props, pqarrow.DefaultWriterProps())
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(1, 2))
	const chunk = 1 << 16
	for start := 0; start < clickLogRows; start += chunk {
		bld := array.NewRecordBuilder(memory.DefaultAllocator, schema)
		for i := start; i < start+chunk; i++ {
			for j, c := range ints {
				bld.Field(j).(*array.Int64Builder).Append(c.gen(r, i))
			}
			for j, c := range strs {
				bld.Field(len(ints) + j).(*array.StringBuilder).Append(fmt.Sprintf("%s-%d", c.name, r.IntN(c.card)))
			}
		}
		rec := bld.NewRecord()
		bld.Release()
		if err := w.WriteBuffered(rec); err != nil {
			return err
		}
		rec.Release()
	}
	return w.Close()
}

// BenchmarkScanClickLog1M scans the whole click-log table, all 24 columns,
// with this package and with Arrow Go's pqarrow reader, in the same run.
// Metrics: rows/s and MB/s of Parquet file bytes.
func BenchmarkScanClickLog1M(b *testing.B) {
	path := clickLogFile(b)
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, recycle := range []bool{false, true} {
		name := "dataset"
		if recycle {
			name = "dataset-recycle"
		}
		b.Run(name, func(b *testing.B) { benchDataset(b, path, st.Size(), recycle) })
	}
	b.Run("pqarrow", func(b *testing.B) {
		b.SetBytes(st.Size())
		b.ReportAllocs()
		start, cpu0 := time.Now(), cpuTime()
		for range b.N {
			pf, err := file.OpenParquetFile(path, false)
			if err != nil {
				b.Fatal(err)
			}
			fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 8192}, memory.DefaultAllocator)
			if err != nil {
				b.Fatal(err)
			}
			rr, err := fr.GetRecordReader(ctx, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			rows := 0
			for rr.Next() {
				rows += int(rr.Record().NumRows())
			}
			if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
				b.Fatal(err)
			}
			rr.Release()
			pf.Close()
			if rows != clickLogRows {
				b.Fatalf("read %d rows", rows)
			}
		}
		reportRows(b, start, cpu0)
	})
}

// reportRows reports rows per wall-clock second and per CPU second of the
// whole process (all threads, GC included). The machine the benchmarks run
// on is shared, so rows/cpu-s is the steadier per-core figure.
func reportRows(b *testing.B, start time.Time, cpu0 time.Duration) {
	rows := float64(clickLogRows) * float64(b.N)
	b.ReportMetric(rows/time.Since(start).Seconds(), "rows/s")
	b.ReportMetric(rows/(cpuTime()-cpu0).Seconds(), "rows/cpu-s")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchDataset scans the click log with this package.
func benchDataset(b *testing.B, path string, size int64, recycle bool) {
	ctx := context.Background()
	store, err := lake.NewLocal(filepath.Dir(path))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ReportAllocs()
	start, cpu0 := time.Now(), cpuTime()
	for range b.N {
		ds, err := dataset.Open(ctx, store, filepath.Base(path))
		if err != nil {
			b.Fatal(err)
		}
		plan, err := ds.Plan(ctx, dataset.Query{})
		if err != nil {
			b.Fatal(err)
		}
		sc := plan.Scan(ctx, plan.Splits(), dataset.ScanOptions{BatchSize: 8192, RecycleBuffers: recycle})
		rows := 0
		for sc.Next() {
			rows += int(sc.At().NumRows())
		}
		if err := sc.Err(); err != nil {
			b.Fatal(err)
		}
		sc.Close()
		if rows != clickLogRows {
			b.Fatalf("read %d rows", rows)
		}
	}
	reportRows(b, start, cpu0)
}

// BenchmarkScanClickLog1MMinIO scans the same table from the test MinIO
// (uploaded once per run): ranged reads over HTTP instead of preads.
func BenchmarkScanClickLog1MMinIO(b *testing.B) {
	path := clickLogFile(b)
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	store := laketest.MinIO(b)
	if err := lake.PutBytes(ctx, store, "clicklog/part-0.parquet", data); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	for range b.N {
		ds, err := dataset.Open(ctx, store, "clicklog/")
		if err != nil {
			b.Fatal(err)
		}
		plan, err := ds.Plan(ctx, dataset.Query{})
		if err != nil {
			b.Fatal(err)
		}
		sc := plan.Scan(ctx, plan.Splits(), dataset.ScanOptions{})
		rows := 0
		for sc.Next() {
			rows += int(sc.At().NumRows())
		}
		if err := sc.Err(); err != nil {
			b.Fatal(err)
		}
		sc.Close()
		if rows != clickLogRows {
			b.Fatalf("read %d rows", rows)
		}
	}
	reportRows(b, start, cpu0)
}
