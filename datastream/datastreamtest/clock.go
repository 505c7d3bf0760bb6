package datastreamtest

import (
	"slices"
	"sync"
	"time"
)

// FakeClock is a datastream.Clock that moves only when told to. Callbacks
// registered with AfterFunc run synchronously inside Advance, in due order,
// so a test controls exactly when timers fire.
type FakeClock struct {
	mu      sync.Mutex
	now     time.Time
	seq     int
	pending []fakeTimer
}

type fakeTimer struct {
	at  time.Time
	seq int
	f   func()
}

// NewFakeClock returns a clock reading start.
func NewFakeClock(start time.Time) *FakeClock { return &FakeClock{now: start} }

// Now returns the clock's time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc registers f to run once the clock has advanced by d.
func (c *FakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	seq := c.seq
	c.pending = append(c.pending, fakeTimer{at: c.now.Add(d), seq: seq, f: f})
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, t := range c.pending {
			if t.seq == seq {
				c.pending = slices.Delete(c.pending, i, i+1)
				return true
			}
		}
		return false
	}
}

// Advance moves the clock forward by d and runs the callbacks that came
// due, each with the clock set to its due time.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		next := -1
		for i, t := range c.pending {
			if !t.at.After(end) && (next < 0 || t.at.Before(c.pending[next].at) ||
				(t.at.Equal(c.pending[next].at) && t.seq < c.pending[next].seq)) {
				next = i
			}
		}
		if next < 0 {
			c.now = end
			c.mu.Unlock()
			return
		}
		t := c.pending[next]
		c.pending = slices.Delete(c.pending, next, next+1)
		if t.at.After(c.now) {
			c.now = t.at
		}
		c.mu.Unlock()
		t.f()
	}
}
