package datastream_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/lakestream/lakestream/datastream"
	"github.com/lakestream/lakestream/datastream/datastreamtest"
)

// TestNoRecordLeaks runs filter, repartitioning, a window with late rows
// and a fan-out on a checked allocator and expects every buffer released
// and every goroutine gone when Run returns.
func TestNoRecordLeaks(t *testing.T) {
	before := runtime.NumGoroutine()
	defer func() {
		// Every goroutine of the run has an owner that waited for it.
		after := runtime.NumGoroutine()
		for i := 0; i < 100 && after > before; i++ {
			time.Sleep(10 * time.Millisecond)
			after = runtime.NumGoroutine()
		}
		if after > before {
			t.Errorf("%d goroutines before the run, %d after", before, after)
		}
	}()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	all := randomClicks(13, 20, 30, 9, 25000) // disorder beyond the bound: late rows
	var steps []datastreamtest.Step
	for i := 0; i < len(all); i += 30 {
		b := array.NewRecordBuilder(mem, clickSchema)
		for _, c := range all[i : i+30] {
			b.Field(0).(*array.StringBuilder).Append(c.user)
			b.Field(1).(*array.Int64Builder).Append(c.ts)
			b.Field(2).(*array.Int64Builder).Append(c.amount)
		}
		rec := b.NewRecord()
		b.Release()
		defer rec.Release()
		steps = append(steps, datastreamtest.Step{Batch: datastream.Batch{Record: rec}})
	}
	job := datastream.NewJob("leaks", datastream.WithAllocator(mem), datastream.WithQueueSize(2))
	s := job.Source("clicks", datastreamtest.NewSource(nil, steps...), datastream.ReadAhead(3),
		datastream.Watermarks(datastream.WatermarkStrategy{TimestampColumn: "ts", OutOfOrderness: time.Second}))
	s = s.Filter("odd", func(rec arrow.Record, keep []bool) error {
		a := rec.Column(2).(*array.Int64)
		for i := range keep {
			keep[i] = a.Value(i)%2 == 1
		}
		return nil
	})
	w := datastream.Aggregate(s.KeyBy("user").Window(datastream.Sliding(20*time.Second, 10*time.Second)), "count",
		datastream.Aggregates(datastream.Count("n"), datastream.Mean("amount", "mean")), datastream.Parallelism(3))
	w.ToSinks("out", func(int) (datastream.Sink, error) { return datastreamtest.NewSink(), nil }, datastream.Parallelism(2))
	w.Late().To("late", datastreamtest.NewSink())
	s.To("raw", datastreamtest.NewSink())
	sum, err := job.Run(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Operator("count").LateRecords == 0 {
		t.Error("no late rows: the test does not cover the late side output")
	}
}

// TestNoLeaksOnCancel cancels a job with batches in flight (read ahead,
// queued between subtasks, held by an alignment) and expects every buffer
// released.
func TestNoLeaksOnCancel(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	all := randomClicks(14, 40, 30, 9, 0)
	var steps []datastreamtest.Step
	for i := 0; i < len(all); i += 30 {
		b := array.NewRecordBuilder(mem, clickSchema)
		for _, c := range all[i : i+30] {
			b.Field(0).(*array.StringBuilder).Append(c.user)
			b.Field(1).(*array.Int64Builder).Append(c.ts)
			b.Field(2).(*array.Int64Builder).Append(c.amount)
		}
		rec := b.NewRecord()
		b.Release()
		defer rec.Release()
		steps = append(steps, datastreamtest.Step{Batch: datastream.Batch{Record: rec}})
	}
	src := datastreamtest.NewSource(nil, steps...).BlockAt(35)
	job := datastream.NewJob("cancel", datastream.WithAllocator(mem), datastream.WithQueueSize(1),
		datastream.WithCheckpoints(datastreamtest.NewMemoryStore(), time.Hour, 1))
	s := job.Source("clicks", src, datastream.ReadAhead(4), datastream.Watermarks(datastream.WatermarkStrategy{TimestampColumn: "ts"}))
	datastream.Aggregate(s.KeyBy("user").Window(datastream.Tumbling(time.Minute)), "count",
		datastream.Aggregates(datastream.Count("n")), datastream.Parallelism(2)).
		To("out", slowSink{time.Millisecond})
	ctx, cancel := context.WithCancel(testCtx(t))
	done := runAsync(ctx, job)
	<-src.Blocked()
	triggered := make(chan struct{})
	go func() {
		defer close(triggered)
		job.TriggerCheckpoint(ctx) //nolint:errcheck // canceled below; only the in-flight barrier matters
	}()
	time.Sleep(5 * time.Millisecond)
	cancel()
	if r := <-done; !errors.Is(r.err, context.Canceled) {
		t.Fatalf("run: %v", r.err)
	}
	<-triggered
}
