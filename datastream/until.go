package datastream

import (
	"context"
	"errors"
	"time"
)

// StopReason says why RunUntil stopped a job.
type StopReason int

const (
	// StopInputEnded: every source ended; the job finished by itself.
	StopInputEnded StopReason = iota
	// StopCanceled: the caller's context was done (SIGTERM).
	StopCanceled
	// StopMaxRecords: Until.Records reached Until.MaxRecords.
	StopMaxRecords
	// StopIdle: Until.Seen did not move for Until.Idle.
	StopIdle
)

// Until says when RunUntil stops a long-running (unbounded) job. The zero
// value runs until the input ends or the context is done.
type Until struct {
	// MaxRecords > 0 stops once Records() reaches it (records processed,
	// such as examples trained); more may be processed before the stop
	// takes effect.
	MaxRecords int64
	Records    func() int64
	// Idle > 0 stops when Seen() (records read, such as messages decoded
	// or dead-lettered) did not change for that long.
	Idle time.Duration
	Seen func() int64
	// Poll is how often the conditions are checked (default 50ms).
	Poll time.Duration
	// StopTimeout bounds the final savepoint (default 1 minute).
	StopTimeout time.Duration
	// OnStop, when set, is called when a stop begins, before the final
	// savepoint (to log it).
	OnStop func(StopReason)
	// OnSavepointError, when set, is told that the final savepoint failed;
	// the job is then canceled without it.
	OnSavepointError func(error)
}

// RunUntil runs job, which must have checkpoints (WithCheckpoints), until
// its input ends, ctx is done, or a condition of u holds; in the last two
// cases it stops the job at a final savepoint (StopWithSavepoint), and
// cancels it outright only when that savepoint fails. The job runs on a
// context of its own, so that canceling ctx asks for a clean stop. It
// returns why the job stopped and the job's error (nil after a clean stop).
func RunUntil(ctx context.Context, job *Job, u Until) (StopReason, error) {
	if u.Poll <= 0 {
		u.Poll = 50 * time.Millisecond
	}
	if u.StopTimeout <= 0 {
		u.StopTimeout = time.Minute
	}
	runCtx, cancelRun := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRun()
	done := make(chan error, 1)
	go func() {
		_, err := job.Run(runCtx)
		done <- err
	}()
	stop := func(why StopReason) (StopReason, error) {
		if u.OnStop != nil {
			u.OnStop(why)
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), u.StopTimeout)
		defer cancel()
		if _, err := job.StopWithSavepoint(sctx); err != nil {
			if u.OnSavepointError != nil {
				u.OnSavepointError(err)
			}
			cancelRun()
		}
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			return why, err
		}
		return why, nil
	}
	tick := time.NewTicker(u.Poll)
	defer tick.Stop()
	lastSeen, lastAt := int64(-1), time.Now()
	for {
		select {
		case err := <-done:
			return StopInputEnded, err
		case <-ctx.Done():
			return stop(StopCanceled)
		case <-tick.C:
		}
		if u.Seen != nil {
			if seen := u.Seen(); seen != lastSeen {
				lastSeen, lastAt = seen, time.Now()
			}
		}
		switch {
		case u.MaxRecords > 0 && u.Records != nil && u.Records() >= u.MaxRecords:
			return stop(StopMaxRecords)
		case u.Idle > 0 && u.Seen != nil && time.Since(lastAt) >= u.Idle:
			return stop(StopIdle)
		}
	}
}
