package datastream_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/lakestream/lakestream/datastream"
)

// clickStream is an in-memory source of n batches of rows rows over keys
// user ids, with event time advancing by 1ms per row. The user column is
// built once and shared; each batch gets a fresh ts column.
type clickStream struct {
	schema *arrow.Schema
	users  arrow.Array
	rows   int
	n, i   int
	tsBuf  []int64
}

func newClickStream(rows, keys, batches int, stringKeys bool) *clickStream {
	rng := rand.New(rand.NewPCG(1, 2))
	var users arrow.Array
	typ := arrow.DataType(arrow.PrimitiveTypes.Int64)
	if stringKeys {
		b := array.NewStringBuilder(memory.DefaultAllocator)
		for range rows {
			b.Append(fmt.Sprintf("user-%06d", rng.IntN(keys)))
		}
		users, typ = b.NewArray(), arrow.BinaryTypes.String
		b.Release()
	} else {
		b := array.NewInt64Builder(memory.DefaultAllocator)
		for range rows {
			b.Append(rng.Int64N(int64(keys)))
		}
		users = b.NewArray()
		b.Release()
	}
	return &clickStream{
		schema: arrow.NewSchema([]arrow.Field{{Name: "user", Type: typ}, {Name: "ts", Type: arrow.PrimitiveTypes.Int64}}, nil),
		users:  users, rows: rows, n: batches, tsBuf: make([]int64, rows),
	}
}

func (c *clickStream) ReadBatch(ctx context.Context) (datastream.Batch, error) {
	if c.i == c.n {
		return datastream.Batch{}, datastream.ErrEndOfInput
	}
	base := int64(c.i * c.rows)
	c.i++
	for j := range c.tsBuf {
		c.tsBuf[j] = base + int64(j)
	}
	tb := array.NewInt64Builder(memory.DefaultAllocator)
	tb.AppendValues(c.tsBuf, nil)
	ts := tb.NewArray()
	tb.Release()
	defer ts.Release()
	return datastream.Batch{Record: array.NewRecord(c.schema, []arrow.Array{c.users, ts}, int64(c.rows))}, nil
}

func (c *clickStream) Close(context.Context) error { return nil }

// cpuTime returns the user+system CPU time the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type discard struct{ rows int64 }

func (d *discard) WriteBatch(_ context.Context, b datastream.Batch) error {
	d.rows += b.Record.NumRows()
	return nil
}
func (d *discard) Close(context.Context) error { return nil }

// BenchmarkTumblingCount measures benchmark (a) of issue 3: a keyed 1-minute
// tumbling-window count over Arrow batches, in process, on one core
// (parallelism 1: source, window and sink chained in one goroutine). One op
// is one batch; rows/s is the throughput.
func BenchmarkTumblingCount(b *testing.B) {
	for _, bc := range []struct {
		name       string
		rows, keys int
		strings    bool
	}{
		{"int64key/keys=1k/batch=8192", 8192, 1000, false},
		{"int64key/keys=100k/batch=8192", 8192, 100000, false},
		{"stringkey/keys=10k/batch=8192", 8192, 10000, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			src := newClickStream(bc.rows, bc.keys, b.N, bc.strings)
			out := &discard{}
			job := datastream.NewJob("bench")
			s := job.Source("clicks", src, datastream.Watermarks(datastream.WatermarkStrategy{TimestampColumn: "ts"}))
			datastream.Aggregate(s.KeyBy("user").Window(datastream.Tumbling(time.Minute)), "count",
				datastream.Aggregates(datastream.Count("count"))).To("sink", out)
			b.ReportAllocs()
			b.ResetTimer()
			start, cpu0 := time.Now(), cpuTime(b)
			sum, err := job.Run(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			el, cpu := time.Since(start), cpuTime(b)-cpu0
			if got := sum.Operator("count").RecordsIn; got != int64(b.N*bc.rows) {
				b.Fatalf("window saw %d rows, want %d", got, b.N*bc.rows)
			}
			b.ReportMetric(float64(b.N*bc.rows)/el.Seconds(), "rows/s")
			// Rows per CPU-second of the whole process (GC included) is the
			// per-core figure, robust to other load on a shared machine.
			b.ReportMetric(float64(b.N*bc.rows)/cpu.Seconds(), "rows/cpu-s")
			b.ReportMetric(0, "ns/op")
		})
	}
}
