package scheduletest

import (
	"context"
	"sync"
	"time"
)

// Clock is a fake schedule.Clock: time moves only when Advance or Set is
// called. Sleepers whose deadline is reached are woken. It is safe for
// concurrent use.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	waiters map[*waiter]struct{}
}

type waiter struct {
	until time.Time
	done  chan struct{}
}

// NewClock returns a Clock set to now.
func NewClock(now time.Time) *Clock {
	return &Clock{now: now, waiters: map[*waiter]struct{}{}}
}

// Now returns the fake time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Sleep blocks until the fake time has advanced by d or ctx is done.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	if d <= 0 {
		c.mu.Unlock()
		return ctx.Err()
	}
	w := &waiter{until: c.now.Add(d), done: make(chan struct{})}
	c.waiters[w] = struct{}{}
	c.mu.Unlock()
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.waiters, w)
		c.mu.Unlock()
		return ctx.Err()
	}
}

// Advance moves the time forward by d and wakes the sleepers it reaches.
func (c *Clock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// Set moves the time to t (never backwards) and wakes the sleepers it
// reaches.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
	for w := range c.waiters {
		if !w.until.After(c.now) {
			close(w.done)
			delete(c.waiters, w)
		}
	}
}

// Sleepers returns how many goroutines are sleeping.
func (c *Clock) Sleepers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

// Next returns the earliest deadline of the sleepers, or false if none
// sleeps.
func (c *Clock) Next() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var next time.Time
	for w := range c.waiters {
		if next.IsZero() || w.until.Before(next) {
			next = w.until
		}
	}
	return next, !next.IsZero()
}
