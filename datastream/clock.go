package datastream

import "time"

// Clock is the runtime's source of processing time: idle-source detection,
// processing-time windows and timers, and checkpoint intervals all read it.
// Tests inject a fake clock (see datastreamtest.FakeClock) so they run on
// scripted time.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has elapsed and returns a
	// function that cancels the call, reporting whether it stopped it.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// SystemClock returns the wall clock.
func SystemClock() Clock { return systemClock{} }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}
