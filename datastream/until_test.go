package datastream_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lakestream/lakestream/datastream"
	"github.com/lakestream/lakestream/datastream/datastreamtest"
)

// rowCounter counts the rows written to it; safe to read concurrently.
type rowCounter struct{ rows atomic.Int64 }

func (c *rowCounter) WriteBatch(_ context.Context, b datastream.Batch) error {
	c.rows.Add(b.Record.NumRows())
	return nil
}
func (*rowCounter) Close(context.Context) error { return nil }

// TestRunUntil: each stop condition stops an unbounded job at a final
// savepoint (the job ends without error and its savepoint is in the
// store), and a job whose input ends reports that.
func TestRunUntil(t *testing.T) {
	steps := []datastreamtest.Step{
		{Batch: datastream.Batch{Record: clicks(click{"a", 1000, 1}, click{"b", 1001, 0})}},
		{Batch: datastream.Batch{Record: clicks(click{"c", 1002, 1})}},
	}
	for _, tc := range []struct {
		name    string
		until   datastream.Until
		cancel  bool
		bounded bool
		want    datastream.StopReason
	}{
		{name: "max records", until: datastream.Until{MaxRecords: 3}, want: datastream.StopMaxRecords},
		{name: "idle", until: datastream.Until{Idle: 100 * time.Millisecond}, want: datastream.StopIdle},
		{name: "canceled", cancel: true, want: datastream.StopCanceled},
		{name: "input ended", bounded: true, want: datastream.StopInputEnded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := datastreamtest.NewMemoryStore()
			src := datastreamtest.NewSource(nil, steps...)
			if !tc.bounded {
				src.BlockAt(len(steps))
			}
			sink := &rowCounter{}
			job := datastream.NewJob("until", datastream.WithCheckpoints(store, time.Hour, 1))
			job.Source("clicks", src).To("count", sink)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancel {
				go func() { <-src.Blocked(); cancel() }()
			}
			u := tc.until
			u.Records, u.Seen = sink.rows.Load, sink.rows.Load
			var began datastream.StopReason = -1
			u.OnStop = func(r datastream.StopReason) { began = r }
			got, err := datastream.RunUntil(ctx, job, u)
			if err != nil || got != tc.want {
				t.Fatalf("RunUntil = %v, %v; want %v, nil", got, err, tc.want)
			}
			if sink.rows.Load() != 3 {
				t.Errorf("%d rows written, want 3", sink.rows.Load())
			}
			if tc.bounded {
				return
			}
			if began != tc.want {
				t.Errorf("OnStop told %v, want %v", began, tc.want)
			}
			m, err := datastream.LatestCheckpoint(context.Background(), store, "until")
			if err != nil || !m.Savepoint {
				t.Errorf("final savepoint: %+v, %v", m, err)
			}
		})
	}
}
