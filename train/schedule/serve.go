package schedule

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Serve runs the jobs as a long-running scheduler until ctx is done. For
// each job it runs every interval that has closed, from the job's Start (or
// the latest interval closed when Serve began) on, in interval order and at
// most MaxActiveRuns at once; it also resumes every interval whose record is
// not final (an attempt a killed scheduler left running, once its lease has
// expired; a failed attempt, when its retry is due). Intervals leased by
// another scheduler are left to it. Serve returns ctx's error after its runs
// have stopped; an interrupted attempt is recorded as failed, to be retried
// at once.
func (s *Scheduler) Serve(ctx context.Context, jobs ...*Job) error {
	clock := s.cfg.Clock
	type jobState struct {
		j      *Job
		low    Interval // no interval before it needs this scheduler
		active map[string]bool
	}
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		finished = make(chan struct{}, 1)
	)
	defer wg.Wait()
	var states []*jobState
	now := clock.Now()
	for _, j := range jobs {
		low := j.LatestClosed(now)
		if j.Start != "" {
			low, _ = j.IntervalByID(j.Start) // checked by Validate
		}
		// Resume records a stopped scheduler left unfinished.
		recs, err := Records(ctx, s.cfg.Store, j.Name)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if r.Final() || !r.DataIntervalStart.Before(low.Start) {
				continue
			}
			if iv, err := j.IntervalByID(r.Interval); err == nil {
				low = iv
			}
		}
		states = append(states, &jobState{j: j, low: low, active: map[string]bool{}})
		s.log.Info("scheduling", "job", j.Name, "schedule", j.Schedule, "timezone", j.Timezone, "from", low.ID)
	}
	for {
		now := clock.Now()
		wake := now.Add(time.Hour)
		for _, st := range states {
			j := st.j
			mu.Lock()
			active := len(st.active)
			mu.Unlock()
			advancing := true
			for iv := st.low; !iv.End.After(now) && active < j.MaxActiveRuns; iv = j.After(iv) {
				mu.Lock()
				busy := st.active[iv.ID]
				mu.Unlock()
				if busy {
					advancing = false
					continue
				}
				rec, err := ReadRecord(ctx, s.cfg.Store, j.Name, iv.ID)
				switch {
				case err == nil && rec.Final():
					if advancing {
						st.low = j.After(iv)
					}
					continue
				case err == nil && rec.State == Failed && rec.RetryAt != nil && now.Before(*rec.RetryAt):
					wake = minTime(wake, *rec.RetryAt)
					advancing = false
					continue
				case err != nil && ctx.Err() != nil:
					return ctx.Err()
				}
				advancing = false
				if lb, err := latestLease(ctx, s.cfg.Store, j.Name, iv.ID); err == nil && lb.Number > 0 && !lb.Released && now.Before(lb.Expires) {
					wake = minTime(wake, lb.Expires) // leased elsewhere: look again when it may expire
					continue
				}
				mu.Lock()
				st.active[iv.ID] = true
				mu.Unlock()
				active++
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := s.attempt(ctx, j, iv, modeServe, false, nil)
					var busy *BusyError
					switch {
					case err == nil, errors.Is(err, ErrDone), errors.As(err, &busy), ctx.Err() != nil:
					default:
						s.log.Error("run", "job", j.Name, "interval", iv.ID, "error", err)
					}
					mu.Lock()
					delete(st.active, iv.ID)
					mu.Unlock()
					select {
					case finished <- struct{}{}:
					default:
					}
				}()
			}
			// The next interval to close.
			wake = minTime(wake, j.After(j.LatestClosed(now)).End)
		}
		sleepCtx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-finished:
				cancel()
			case <-sleepCtx.Done():
			}
		}()
		clock.Sleep(sleepCtx, wake.Sub(clock.Now())) // woken early by a finished run
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// minTime returns the earlier of a and b, ignoring a zero b.
func minTime(a, b time.Time) time.Time {
	if !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}
