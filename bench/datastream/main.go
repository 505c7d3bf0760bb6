package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"syscall"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/lakestream/lakestream/datastream"
	"github.com/lakestream/lakestream/lake"
)

func main() {
	duration := flag.Duration("duration", 30*time.Second, "how long each run reads")
	interval := flag.Duration("interval", 10*time.Second, "checkpoint interval")
	keys := flag.Int("keys", 100000, "distinct int64 keys")
	rows := flag.Int("batch", 8192, "rows per batch")
	rounds := flag.Int("rounds", 2, "alternating runs per mode (the median of rounds is reported)")
	flag.Parse()
	if err := run(*duration, *interval, *keys, *rows, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "datastream bench:", err)
		os.Exit(1)
	}
}

type result struct {
	rowsPerSec    float64 // wall clock
	rowsPerCPUSec float64 // per CPU-second of the process: robust to other load
	summary       *datastream.Summary
}

func run(duration, interval time.Duration, keys, rows, rounds int) error {
	dir, err := os.MkdirTemp("", "lakestream-bench-checkpoints-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	store, err := lake.NewLocal(dir)
	if err != nil {
		return err
	}
	cps := datastream.ObjectCheckpoints(store, lake.ErrNotExist)
	fmt.Printf("GOMAXPROCS=%d keys=%d batch=%d duration=%v interval=%v\n", runtime.GOMAXPROCS(0), keys, rows, duration, interval)
	var plain, ckpt []result
	for i := range rounds {
		// Alternate which mode runs first, so drifting load on a shared
		// machine does not favor one.
		var p, r result
		var err error
		for k := range 2 {
			if (k+i)%2 == 0 {
				p, err = once(nil, 0, duration, keys, rows)
			} else {
				r, err = once(cps, interval, duration, keys, rows)
			}
			if err != nil {
				return err
			}
		}
		plain = append(plain, p)
		ckpt = append(ckpt, r)
		cs := r.summary.Checkpoints
		fmt.Printf("round %d: no checkpoints %.0f rows/s (%.0f rows/cpu-s); checkpoints %.0f rows/s (%.0f rows/cpu-s; %d completed, last %v, %d bytes, pipeline stall %v = %.3f%% of the run)\n",
			i+1, plain[i].rowsPerSec, plain[i].rowsPerCPUSec, r.rowsPerSec, r.rowsPerCPUSec, cs.Completed,
			cs.LastDuration.Round(time.Millisecond), cs.LastSize,
			cs.Stall.Round(time.Microsecond), 100*cs.Stall.Seconds()/r.summary.Duration.Seconds())
	}
	p, c := median(plain, false), median(ckpt, false)
	pc, cc := median(plain, true), median(ckpt, true)
	fmt.Printf("median wall: no checkpoints %.0f rows/s, checkpoints every %v %.0f rows/s, overhead %.2f%%\n", p, interval, c, 100*(p-c)/p)
	fmt.Printf("median CPU:  no checkpoints %.0f rows/cpu-s, checkpoints every %v %.0f rows/cpu-s, overhead %.2f%%\n", pc, interval, cc, 100*(pc-cc)/pc)
	return nil
}

func median(rs []result, cpu bool) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = r.rowsPerSec
		if cpu {
			v[i] = r.rowsPerCPUSec
		}
	}
	for i := range v {
		for j := i + 1; j < len(v); j++ {
			if v[j] < v[i] {
				v[i], v[j] = v[j], v[i]
			}
		}
	}
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func once(cps datastream.CheckpointStore, interval, duration time.Duration, keys, rows int) (result, error) {
	src := newTimedSource(keys, rows, duration)
	var opts []datastream.Option
	if cps != nil {
		opts = append(opts, datastream.WithCheckpoints(cps, interval, 2))
	}
	job := datastream.NewJob(fmt.Sprintf("bench-%d", time.Now().UnixNano()), opts...)
	s := job.Source("clicks", src, datastream.Watermarks(datastream.WatermarkStrategy{TimestampColumn: "ts"}))
	datastream.Aggregate(s.KeyBy("user").Window(datastream.Tumbling(time.Minute)), "count",
		datastream.Aggregates(datastream.Count("count"))).To("sink", &discard{})
	start, cpu0 := time.Now(), cpuTime()
	sum, err := job.Run(context.Background())
	if err != nil {
		return result{}, err
	}
	n := float64(sum.Operator("count").RecordsIn)
	return result{rowsPerSec: n / time.Since(start).Seconds(), rowsPerCPUSec: n / (cpuTime() - cpu0).Seconds(), summary: sum}, nil
}

// cpuTime returns the user+system CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// timedSource produces batches of random int64 keys with event time rising
// 1 ms per row until its duration has passed, then ends. It is a Positioner
// (the batch count), as a checkpointed source must be.
type timedSource struct {
	schema   *arrow.Schema
	users    arrow.Array
	rows     int
	i        int64
	deadline time.Time
	ts       []int64
}

func newTimedSource(keys, rows int, d time.Duration) *timedSource {
	rng := rand.New(rand.NewPCG(1, 2))
	b := array.NewInt64Builder(memory.DefaultAllocator)
	for range rows {
		b.Append(rng.Int64N(int64(keys)))
	}
	users := b.NewArray()
	b.Release()
	return &timedSource{
		schema: arrow.NewSchema([]arrow.Field{{Name: "user", Type: arrow.PrimitiveTypes.Int64}, {Name: "ts", Type: arrow.PrimitiveTypes.Int64}}, nil),
		users:  users, rows: rows, deadline: time.Now().Add(d), ts: make([]int64, rows),
	}
}

func (s *timedSource) ReadBatch(ctx context.Context) (datastream.Batch, error) {
	if time.Now().After(s.deadline) {
		return datastream.Batch{}, datastream.ErrEndOfInput
	}
	base := s.i * int64(s.rows)
	s.i++
	for j := range s.ts {
		s.ts[j] = base + int64(j)
	}
	tb := array.NewInt64Builder(memory.DefaultAllocator)
	tb.AppendValues(s.ts, nil)
	ts := tb.NewArray()
	tb.Release()
	defer ts.Release()
	return datastream.Batch{Record: array.NewRecord(s.schema, []arrow.Array{s.users, ts}, int64(s.rows))}, nil
}

func (s *timedSource) Position() ([]byte, error) { return fmt.Appendf(nil, "%d", s.i), nil }

func (s *timedSource) SeekTo(_ context.Context, pos []byte) error {
	_, err := fmt.Sscanf(string(pos), "%d", &s.i)
	return err
}

func (s *timedSource) Close(context.Context) error { return nil }

type discard struct{}

func (discard) WriteBatch(context.Context, datastream.Batch) error { return nil }
func (discard) Close(context.Context) error                        { return nil }
