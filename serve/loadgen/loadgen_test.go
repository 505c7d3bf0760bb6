package loadgen

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunKeepsRateAndRecordsEveryCall(t *testing.T) {
	var calls atomic.Int64
	rs, err := Run(context.Background(), Config{Requests: 200, Rate: 2000, Workers: 4}, func(ctx context.Context, i int) (string, error) {
		calls.Add(1)
		if i%50 == 0 {
			return "", errors.New("boom")
		}
		return "v1", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 200 || calls.Load() != 200 {
		t.Fatalf("%d results for %d calls, want 200", len(rs), calls.Load())
	}
	// Call i is scheduled i/rate after the first: the schedule is open-loop.
	if d := rs[199].Scheduled.Sub(rs[0].Scheduled); d != 199*500*time.Microsecond {
		t.Errorf("schedule spans %v, want %v", d, 199*500*time.Microsecond)
	}
	s := Summarize(rs)
	if s.Failed != 4 || s.Requests != 200 {
		t.Errorf("summary %+v, want 4 failed of 200", s)
	}
	if s.P99Scheduled < s.P99 {
		t.Errorf("p99 from schedule %v is below the p99 from start %v", s.P99Scheduled, s.P99)
	}
}

// TestSummaryCountsQueueing: one worker at a rate it cannot keep makes
// later calls wait; the scheduled latency shows it, the start latency not.
func TestSummaryCountsQueueing(t *testing.T) {
	rs, err := Run(context.Background(), Config{Requests: 20, Rate: 1000, Workers: 1}, func(context.Context, int) (string, error) {
		time.Sleep(5 * time.Millisecond)
		return "", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Each call takes at least 5ms and the next is due 1ms later, so the
	// last call starts at least 19×5ms after the first although it was due
	// 19ms after it: its latency from the schedule is at least its own
	// duration plus 19×(5−1) = 76ms. The bound holds however slow the
	// machine is (a loaded one only lengthens the sleeps, and so the queue);
	// an absolute bound on the start latency would not.
	s := Summarize(rs)
	if s.P99 < 5*time.Millisecond || s.P99Scheduled < s.P99+76*time.Millisecond {
		t.Errorf("p99 %v, p99 from schedule %v: want the queueing (≥ 19×4 ms) only in the latter", s.P99, s.P99Scheduled)
	}
}

func TestQuantileNearestRank(t *testing.T) {
	lat := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5}, {0.9, 9}, {0.99, 10}, {0, 1}} {
		if got := Quantile(lat, tc.q); got != tc.want {
			t.Errorf("Quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
}
