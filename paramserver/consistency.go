package paramserver

import (
	"context"
	"fmt"
	"sync"
)

// Consistency models accepted by ConsistencyConfig.Mode.
const (
	// Sync is bulk-synchronous parallel: a worker starts step c+1 only when
	// every live worker has finished step c, so every pull of a step sees
	// all pushes of the previous steps.
	Sync = "sync"
	// SSP is stale-synchronous parallel (Ho et al., NIPS 2013): a worker may
	// run up to Staleness steps ahead of the slowest live worker.
	SSP = "ssp"
	// Async never waits: workers push and pull as fast as they can.
	Async = "async"
)

// ConsistencyConfig chooses a job's consistency model.
type ConsistencyConfig struct {
	// Mode is Sync, SSP or Async; empty means Sync.
	Mode string `yaml:"mode,omitempty" json:"mode,omitempty"`
	// Staleness is SSP's bound s ≥ 0 (SSP with s = 0 behaves as Sync).
	Staleness int64 `yaml:"staleness,omitempty" json:"staleness,omitempty"`
	// Workers is the number of workers that must join before any worker
	// may finish its first step under Sync or SSP, so that early workers do
	// not run ahead of a job that is still starting. 0 means 1.
	Workers int `yaml:"workers,omitempty" json:"workers,omitempty"`
}

// Validate reports the first problem of c.
func (c ConsistencyConfig) Validate() error {
	switch c.Mode {
	case "", Sync, Async:
	case SSP:
		if c.Staleness < 0 {
			return fmt.Errorf("paramserver: consistency: staleness %d is negative", c.Staleness)
		}
	default:
		return fmt.Errorf("paramserver: consistency: mode %q is not %s, %s or %s", c.Mode, Sync, SSP, Async)
	}
	if c.Workers < 0 {
		return fmt.Errorf("paramserver: consistency: workers %d is negative", c.Workers)
	}
	return nil
}

// bound is the number of clocks a worker may be ahead of the slowest, or -1
// for no bound.
func (c ConsistencyConfig) bound() int64 {
	switch c.Mode {
	case Async:
		return -1
	case SSP:
		return c.Staleness
	default:
		return 0
	}
}

// Clocks is the clock table of one job: the number of steps each live
// worker has finished. Workers Join, call Advance after pushing the
// gradients of each step, and Leave when done; a coordinator removes dead
// workers with Leave so that barriers stop waiting for them. It is safe for
// concurrent use.
//
// The promise: when Advance(w, c) returns nil, worker w may start step c+1,
// and at that moment c − min(clocks of live workers) ≤ s, where s is 0 for
// Sync, Staleness for SSP and unbounded for Async.
type Clocks struct {
	cfg   ConsistencyConfig
	bound int64

	mu      sync.Mutex
	clocks  map[string]int64
	joined  int
	floor   int64         // the highest minimum clock seen: where joiners start
	changed chan struct{} // closed and replaced on every change
}

// NewClocks returns an empty clock table.
func NewClocks(c ConsistencyConfig) (*Clocks, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.Workers == 0 {
		c.Workers = 1
	}
	return &Clocks{cfg: c, bound: c.bound(), clocks: map[string]int64{}, changed: make(chan struct{})}, nil
}

// Config returns the table's consistency configuration.
func (c *Clocks) Config() ConsistencyConfig { return c.cfg }

func (c *Clocks) broadcast() {
	c.floor = max(c.floor, c.minLocked())
	close(c.changed)
	c.changed = make(chan struct{})
}

// minLocked returns the smallest clock of the live workers, or -1 if none.
func (c *Clocks) minLocked() int64 {
	m := int64(-1)
	for _, v := range c.clocks {
		if m < 0 || v < m {
			m = v
		}
	}
	return m
}

// Join adds worker to the table (or returns its clock if it is already
// live) and returns the clock it starts at: 0 while the job is starting
// (fewer than Workers joined so far), afterwards the smallest clock of the
// live workers (or, when none is live, the last such minimum), so that a
// worker that replaces a dead one does not hold back the others and clocks
// never go back: per-clock operations such as Local.Flush rely on it.
func (c *Clocks) Join(worker string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.clocks[worker]; ok {
		return v
	}
	var start int64
	if c.joined >= c.cfg.Workers {
		start = max(c.minLocked(), c.floor)
	}
	c.clocks[worker] = start
	c.joined++
	c.broadcast()
	return start
}

// Leave removes worker. Barriers stop waiting for it; a later Advance of it
// returns ErrWorkerExpired.
func (c *Clocks) Leave(worker string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.clocks[worker]; ok {
		delete(c.clocks, worker)
		c.broadcast()
	}
}

// Advance records that worker finished clock steps and blocks until it may
// start the next step, ctx is done, or the worker is removed. It returns the
// smallest clock of the live workers.
func (c *Clocks) Advance(ctx context.Context, worker string, clock int64) (int64, error) {
	c.mu.Lock()
	old, ok := c.clocks[worker]
	if !ok {
		c.mu.Unlock()
		return 0, fmt.Errorf("%w: %q", ErrWorkerExpired, worker)
	}
	if clock < old {
		c.mu.Unlock()
		return 0, fmt.Errorf("paramserver: worker %q moved its clock back from %d to %d", worker, old, clock)
	}
	if clock != old {
		c.clocks[worker] = clock
		c.broadcast()
	}
	for {
		if _, ok := c.clocks[worker]; !ok {
			c.mu.Unlock()
			return 0, fmt.Errorf("%w: %q", ErrWorkerExpired, worker)
		}
		m := c.minLocked()
		if c.bound < 0 || (c.joined >= c.cfg.Workers && clock-m <= c.bound) {
			c.mu.Unlock()
			return m, nil
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		c.mu.Lock()
	}
}

// Min returns the smallest clock of the live workers, or -1 when none is live.
func (c *Clocks) Min() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.minLocked()
}

// Live returns the number of live workers.
func (c *Clocks) Live() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.clocks)
}
