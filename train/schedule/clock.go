package schedule

import (
	"context"
	"time"
)

// Clock is the scheduler's time. Tests inject a fake one
// (scheduletest.Clock) so schedules, sensors, retries and leases run on
// fake time.
type Clock interface {
	Now() time.Time
	// Sleep blocks until d has passed or ctx is done (then it returns
	// ctx's error).
	Sleep(ctx context.Context, d time.Duration) error
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// Sleep waits for d or ctx.
func (SystemClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
