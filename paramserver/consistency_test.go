package paramserver

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestClocksBound runs workers of random speeds and checks, with counters
// kept outside the clock table, that no worker starts a step more than s
// clocks ahead of the slowest worker, and that every worker finishes.
func TestClocksBound(t *testing.T) {
	tests := []struct {
		cfg   ConsistencyConfig
		bound int64
	}{
		{ConsistencyConfig{Mode: Sync, Workers: 4}, 0},
		{ConsistencyConfig{Mode: SSP, Staleness: 1, Workers: 4}, 1},
		{ConsistencyConfig{Mode: SSP, Staleness: 3, Workers: 4}, 3},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s-%d", tt.cfg.Mode, tt.cfg.Staleness), func(t *testing.T) {
			c, err := NewClocks(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			const steps = 40
			var done [4]atomic.Int64
			var maxAhead atomic.Int64
			var wg sync.WaitGroup
			for w := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					name := fmt.Sprintf("w%d", w)
					c.Join(name)
					rng := rand.New(rand.NewPCG(uint64(w), 9))
					for step := int64(1); step <= steps; step++ {
						// Worker 0 is slow, the others vary.
						d := time.Duration(rng.IntN(200)) * time.Microsecond
						if w == 0 {
							d += 300 * time.Microsecond
						}
						time.Sleep(d)
						done[w].Store(step)
						if _, err := c.Advance(context.Background(), name, step); err != nil {
							t.Error(err)
							return
						}
						slowest := done[0].Load()
						for i := range done {
							slowest = min(slowest, done[i].Load())
						}
						if ahead := step - slowest; ahead > maxAhead.Load() {
							maxAhead.Store(ahead)
						}
					}
					c.Leave(name)
				}()
			}
			wg.Wait()
			if got := maxAhead.Load(); got > tt.bound {
				t.Fatalf("a worker started a step %d clocks ahead of the slowest, bound %d", got, tt.bound)
			}
			if tt.bound > 0 && maxAhead.Load() == 0 {
				t.Logf("no worker used its staleness allowance (max ahead %d)", maxAhead.Load())
			}
		})
	}
}

// TestClocksAsyncDoesNotWait checks that under Async a worker finishes every
// step while another is stuck, and under SSP it stops s+1 steps ahead.
func TestClocksAsyncDoesNotWait(t *testing.T) {
	for _, cfg := range []ConsistencyConfig{{Mode: Async, Workers: 2}, {Mode: SSP, Staleness: 2, Workers: 2}} {
		t.Run(cfg.Mode, func(t *testing.T) {
			c, err := NewClocks(cfg)
			if err != nil {
				t.Fatal(err)
			}
			c.Join("stuck")
			c.Join("fast")
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			finished := int64(0)
			for step := int64(1); step <= 10; step++ {
				if _, err := c.Advance(ctx, "fast", step); err != nil {
					if !errors.Is(err, context.DeadlineExceeded) {
						t.Fatal(err)
					}
					break
				}
				finished = step
			}
			want := map[string]int64{Async: 10, SSP: 2}[cfg.Mode]
			if finished != want {
				t.Fatalf("fast worker was released after %d steps, want %d", finished, want)
			}
		})
	}
}

// TestClocksSyncSeesAllPushes checks BSP at the data level: at the start of
// step c+1 every worker pulls a counter that all workers incremented once per
// step, and must see at least workers·c increments.
func TestClocksSyncSeesAllPushes(t *testing.T) {
	ctx := context.Background()
	const workers, steps = 3, 30
	l := mustLocal(t, Config{Tables: []TableSpec{{Name: "n", Width: 1, Optimizer: sgd(1)}}})
	c, err := NewClocks(ConsistencyConfig{Mode: Sync, Workers: workers})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("w%d", w)
			c.Join(name)
			dst := make([]float32, 1)
			for step := int64(1); step <= steps; step++ {
				if err := l.Pull(ctx, "n", []uint64{0}, dst); err != nil {
					t.Error(err)
					return
				}
				if seen := int64(dst[0]); seen < workers*(step-1) {
					t.Errorf("worker %d at step %d saw %d pushes, want ≥ %d", w, step, seen, workers*(step-1))
				}
				time.Sleep(time.Duration(w) * 100 * time.Microsecond)
				if err := l.Push(ctx, "n", []uint64{0}, []float32{-1}); err != nil {
					t.Error(err)
					return
				}
				if _, err := c.Advance(ctx, name, step); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestClocksLeaveReleasesBarrier(t *testing.T) {
	c, err := NewClocks(ConsistencyConfig{Mode: Sync, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	c.Join("a")
	c.Join("dead")
	errc := make(chan error, 1)
	go func() {
		_, err := c.Advance(context.Background(), "a", 1)
		errc <- err
	}()
	select {
	case err := <-errc:
		t.Fatalf("Advance returned (%v) before the other worker finished step 1", err)
	case <-time.After(50 * time.Millisecond):
	}
	c.Leave("dead")
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Leave did not release the barrier")
	}
	if _, err := c.Advance(context.Background(), "dead", 1); !errors.Is(err, ErrWorkerExpired) {
		t.Fatalf("Advance of a removed worker = %v, want ErrWorkerExpired", err)
	}
	// A replacement joins at the current minimum clock.
	if start := c.Join("new"); start != 1 {
		t.Fatalf("Join = %d, want 1", start)
	}
	// Clocks never go back: when every worker left, a joiner starts at the
	// last minimum.
	c.Leave("a")
	c.Leave("new")
	if start := c.Join("again"); start != 1 {
		t.Fatalf("Join after everyone left = %d, want 1", start)
	}
	if err := (ConsistencyConfig{Mode: "eventual"}).Validate(); err == nil {
		t.Fatal("Validate accepted an unknown mode")
	}
}
