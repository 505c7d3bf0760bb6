package datastream_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/lakestream/lakestream/datastream"
	"github.com/lakestream/lakestream/datastream/datastreamtest"
)

// TestIdleSubtaskReleasesWatermark runs a parallel source whose second
// subtask delivers one batch and then waits forever, like a Kafka consumer
// of a quiet partition. Without idleness the window could never fire while
// the job runs; with a 30s idle timeout the quiet subtask is excluded once
// the clock passes it, and the busy subtask's watermark fires the windows.
func TestIdleSubtaskReleasesWatermark(t *testing.T) {
	clock := datastreamtest.NewFakeClock(time.UnixMilli(0))
	// The quiet subtask reads its batch at clock 0 (busy waits for that), so
	// it turns idle at 30s, while busy, last seen at 40s, stays active.
	quiet := datastreamtest.NewSource(nil, datastreamtest.Step{Batch: datastream.Batch{Record: clicks(click{"b", 2000, 1})}}).BlockAt(1)
	busy := datastreamtest.NewSource(clock,
		datastreamtest.Step{Batch: datastream.Batch{Record: clicks(click{"a", 1000, 1})}},
		datastreamtest.Step{Wait: quiet.Blocked(), Advance: 20 * time.Second, Batch: datastream.Batch{Record: clicks(click{"a", 50000, 1})}},
		datastreamtest.Step{Advance: 20 * time.Second, Batch: datastream.Batch{Record: clicks(click{"a", 70000, 1})}},
	).BlockAt(3)
	sink := datastreamtest.NewSink()
	job := datastream.NewJob("idle", datastream.WithClock(clock))
	src := job.Sources("clicks", func(i int) (datastream.Source, error) {
		if i == 0 {
			return busy, nil
		}
		return quiet, nil
	}, datastream.Parallelism(2), datastream.Watermarks(datastream.WatermarkStrategy{TimestampColumn: "ts", IdleTimeout: 30 * time.Second}))
	datastream.Aggregate(src.KeyBy("user").Window(datastream.Tumbling(time.Minute)), "count",
		datastream.Aggregates(datastream.Count("count"))).To("sink", sink)
	ctx, cancel := context.WithCancel(testCtx(t))
	done := runAsync(ctx, job)
	<-busy.Blocked()
	<-quiet.Blocked()
	deadline := time.Now().Add(10 * time.Second)
	for len(sink.Rows()) < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if r := <-done; !errors.Is(r.err, context.Canceled) {
		t.Fatalf("run: %v", r.err)
	}
	want := []string{
		"user=a window_start=1970-01-01 00:00:00Z window_end=1970-01-01 00:01:00Z count=2",
		"user=b window_start=1970-01-01 00:00:00Z window_end=1970-01-01 00:01:00Z count=1",
	}
	if got := sorted(sink.Rows()); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("fired while running: %q, want %q", got, want)
	}
}

// slowSink sleeps on every batch.
type slowSink struct{ d time.Duration }

func (s slowSink) WriteBatch(context.Context, datastream.Batch) error {
	time.Sleep(s.d)
	return nil
}
func (slowSink) Close(context.Context) error { return nil }

func TestBackpressureIsMeasured(t *testing.T) {
	all := randomClicks(3, 30, 10, 3, 0)
	job := datastream.NewJob("bp", datastream.WithQueueSize(1))
	s := job.Source("clicks", datastreamtest.NewSource(nil, stepsOf(t, all, 10)...))
	s.Map("pass", func(r arrow.Record) (arrow.Record, error) { r.Retain(); return r, nil }, datastream.Parallelism(2)).
		To("sink", slowSink{2 * time.Millisecond})
	sum, err := job.Run(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if bp := sum.Operator("pass").Backpressure; bp < 10*time.Millisecond {
		t.Errorf("operator before a slow sink reports %v of backpressure, want most of 30 x 2ms", bp)
	}
	if o := sum.Operator("sink"); o.RecordsIn != int64(len(all)) {
		t.Errorf("sink got %d rows, want %d", o.RecordsIn, len(all))
	}
}
