package schedule

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
)

// Errors.
var (
	// ErrLeaseLost is returned when another scheduler took a run over
	// (its lease expired without renewal); the run stops without writing.
	ErrLeaseLost = errors.New("schedule: the run's lease was lost")
	// ErrDone is returned by RunInterval when the interval already
	// succeeded or was refused by the gate and force was not given; the
	// record is returned with it.
	ErrDone = errors.New("schedule: the interval has already run")
)

// BusyError is returned when another scheduler holds a live lease on the
// interval (or won the race to take it).
type BusyError struct {
	Job, Interval, Owner string
	Expires              time.Time // zero when unknown
}

func (e *BusyError) Error() string {
	s := fmt.Sprintf("job %s interval %s is being run by %s", e.Job, e.Interval, e.Owner)
	if !e.Expires.IsZero() {
		s += fmt.Sprintf(" (lease until %s)", e.Expires.Format(time.RFC3339))
	}
	return s
}

// Pipeline does the work of a run once its data is there. The default is
// NewPipeline; tests may pass their own.
type Pipeline interface {
	// Check validates the job's settings for a plan before anything runs
	// (the training flags, the table), naming what to fix.
	Check(ctx context.Context, j *Job, p *Plan) error
	// Train trains the run's candidate and saves it in the registry.
	Train(ctx context.Context, r *Run) (Candidate, error)
	// Publish scores the candidate and the champion on the evaluation
	// slice and applies the publishing policy. It is called again for the
	// same candidate when an attempt died after Train, so it must not
	// promote a candidate twice.
	Publish(ctx context.Context, r *Run, c Candidate) (Publication, error)
}

// Run is what a Pipeline gets for one attempt.
type Run struct {
	Job     *Job
	Plan    *Plan
	Attempt int
	Logger  *slog.Logger
}

// Candidate is a trained, saved version.
type Candidate struct {
	Version int
	// WarmStart is "name@version" the training started from, or "".
	WarmStart string
	// Metrics are the validation metrics training reported.
	Metrics map[string]float64
}

// Publication is the outcome of Publish.
type Publication struct {
	// Metrics are the candidate's metrics on the evaluation slice.
	Metrics map[string]float64
	// Decision is the gate's decision, nil under policy register.
	Decision *model.Decision
	// Champion is the champion version afterwards (0: none).
	Champion int
}

// Config configures a Scheduler.
type Config struct {
	// Store is the lake holding the data, the models and the run records.
	// It must be a lake.Creator (local folders and S3 are).
	Store lake.Store
	// Pipeline does the work; required.
	Pipeline Pipeline
	// Clock defaults to SystemClock.
	Clock Clock
	// Logger receives one line per state change; nil discards.
	Logger *slog.Logger
	// Metrics records Prometheus metrics; nil records none.
	Metrics *Metrics
	// Owner names this process in leases and records; default
	// host/pid/random.
	Owner string
}

// Scheduler runs jobs' intervals: one at a time (RunInterval), a range
// (Backfill), or as a long-running process (Serve). Several schedulers may
// share a lake: leases make sure one interval runs in one place at a time.
type Scheduler struct {
	cfg Config
	log *slog.Logger
}

// New returns a Scheduler.
func New(cfg Config) (*Scheduler, error) {
	if cfg.Store == nil || cfg.Pipeline == nil {
		return nil, errors.New("schedule: Config needs a Store and a Pipeline")
	}
	if _, ok := cfg.Store.(lake.Creator); !ok {
		return nil, fmt.Errorf("schedule: the lake %T cannot create objects conditionally, which leases need", cfg.Store)
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Owner == "" {
		host, _ := os.Hostname()
		var b [4]byte
		rand.Read(b[:])
		cfg.Owner = fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	return &Scheduler{cfg: cfg, log: cfg.Logger}, nil
}

// Check validates every job's pipeline settings for its latest closed
// interval, before anything runs.
func (s *Scheduler) Check(ctx context.Context, jobs ...*Job) error {
	for _, j := range jobs {
		p, err := j.Plan(j.LatestClosed(s.cfg.Clock.Now()))
		if err != nil {
			return err
		}
		if err := s.cfg.Pipeline.Check(ctx, j, p); err != nil {
			return fmt.Errorf("job %s: %w", j.Name, err)
		}
	}
	return nil
}

// startedKey carries attempt's started callback to execute.
type startedKey struct{}

// mode says which earlier outcomes an attempt respects.
type mode int

const (
	// modeOnce: RunInterval and Backfill: skip succeeded and gate-refused
	// intervals unless forced; run failed and no-data ones again.
	modeOnce mode = iota
	// modeServe: the long-running scheduler: skip final records and failed
	// ones whose retry is not due.
	modeServe
)

// RunInterval runs one attempt of job's interval iv and returns its record.
// The record's state says how it ended (succeeded, gate-refused, no-data,
// failed); the error is non-nil only when the attempt could not run: the
// interval is leased elsewhere (*BusyError), already ran (ErrDone, with the
// record; pass force to run it again), or the lake failed.
func (s *Scheduler) RunInterval(ctx context.Context, j *Job, iv Interval, force bool) (*Record, error) {
	return s.attempt(ctx, j, iv, modeOnce, force, nil)
}

// Backfill runs the intervals of job from..to (IDs, inclusive) in interval
// order, at most MaxActiveRuns at a time, each until it ends (retrying
// failed attempts with backoff, up to the job's retries). Intervals that
// succeeded or were refused by the gate are skipped unless force. It
// returns the final records in interval order and the first error that
// stopped an interval from running (busy, lake errors).
func (s *Scheduler) Backfill(ctx context.Context, j *Job, from, to string, force bool) ([]*Record, error) {
	ivs, err := j.Intervals(from, to)
	if err != nil {
		return nil, err
	}
	if now := s.cfg.Clock.Now(); ivs[len(ivs)-1].End.After(now) {
		return nil, fmt.Errorf("backfill %s..%s of job %s: interval %s has not closed yet (it ends %s)", from, to, j.Name,
			ivs[len(ivs)-1].ID, ivs[len(ivs)-1].End.Format(time.RFC3339))
	}
	recs := make([]*Record, len(ivs))
	errs := make([]error, len(ivs))
	sem := make(chan struct{}, j.MaxActiveRuns)
	var wg sync.WaitGroup
	for i, iv := range ivs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return recs, ctx.Err()
		}
		wg.Add(1)
		started := make(chan struct{})
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			recs[i], errs[i] = s.untilEnded(ctx, j, iv, force, func() { close(started) })
		}()
		<-started // runs start in interval order
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, ErrDone) {
			return recs, err
		}
	}
	return recs, nil
}

// untilEnded runs attempts of iv until its record is final.
// started is called once the first attempt has started (or could not).
func (s *Scheduler) untilEnded(ctx context.Context, j *Job, iv Interval, force bool, started func()) (*Record, error) {
	rec, err := s.attempt(ctx, j, iv, modeOnce, force, started)
	for err == nil && rec.State == Failed && rec.Attempt < rec.MaxAttempts {
		if err := s.cfg.Clock.Sleep(ctx, rec.RetryAt.Sub(s.cfg.Clock.Now())); err != nil {
			return rec, err
		}
		rec, err = s.attempt(ctx, j, iv, modeServe, false, nil)
	}
	return rec, err
}

// attempt takes the interval's lease and runs one attempt of it. started,
// if not nil, is called once the attempt's queued record is written, or when
// it returns without starting.
func (s *Scheduler) attempt(ctx context.Context, j *Job, iv Interval, m mode, force bool, started func()) (*Record, error) {
	if started != nil {
		var once sync.Once
		onStart := func() { once.Do(started) }
		defer onStart()
		ctx = context.WithValue(ctx, startedKey{}, onStart)
	}
	store, clock := s.cfg.Store, s.cfg.Clock
	l, err := acquire(ctx, store, clock, time.Duration(j.Lease), j.Name, iv.ID, s.cfg.Owner)
	if err != nil {
		return nil, err
	}
	// Read the record only now that the lease is ours: a run that ended
	// before we took the lease is seen here.
	rec, err := ReadRecord(ctx, store, j.Name, iv.ID)
	switch {
	case errors.Is(err, lake.ErrNotExist):
		rec = &Record{Job: j.Name, Interval: iv.ID, DataIntervalStart: iv.Start, DataIntervalEnd: iv.End,
			QueuedAt: clock.Now().UTC(), Model: j.Publish.Model}
	case err != nil:
		l.release(ctx)
		return nil, err
	}
	skip := false
	switch m {
	case modeOnce:
		skip = !force && (rec.State == Succeeded || rec.State == GateRefused)
	case modeServe:
		skip = rec.Final() || (rec.State == Failed && rec.RetryAt != nil && clock.Now().Before(*rec.RetryAt))
	}
	if skip {
		l.release(ctx)
		return rec, ErrDone
	}
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var keepers sync.WaitGroup
	keepers.Add(1)
	go func() {
		defer keepers.Done()
		l.keep(runCtx, func(err error) { cancel(err) })
	}()
	defer keepers.Wait()
	defer cancel(nil)
	return s.execute(runCtx, j, iv, l, rec, force)
}

// execute runs an attempt under a held lease.
func (s *Scheduler) execute(ctx context.Context, j *Job, iv Interval, l *lease, rec *Record, force bool) (*Record, error) {
	clock := s.cfg.Clock
	now := clock.Now().UTC()
	if rec.State == Succeeded || rec.State == GateRefused {
		// Forced: a new run from scratch.
		*rec = Record{Job: j.Name, Interval: iv.ID, DataIntervalStart: iv.Start, DataIntervalEnd: iv.End,
			QueuedAt: now, Model: j.Publish.Model, Forced: true, Attempt: rec.Attempt, Attempts: rec.Attempts}
	}
	// A record with a Version whose run did not end well (killed, or
	// Publish failed) is resumed with that candidate: it is published, not
	// trained again.
	rec.Attempt++
	rec.MaxAttempts = 1 + *j.Retries
	rec.Owner = s.cfg.Owner
	rec.StartedAt = now
	rec.EndedAt, rec.RetryAt, rec.Error, rec.Missing = nil, nil, "", nil
	rec.Durations = Durations{}
	rec.Attempts = append(rec.Attempts, Attempt{Number: rec.Attempt, Owner: s.cfg.Owner, StartedAt: now, State: Queued})
	if err := s.transition(ctx, j, l, rec, Queued); err != nil {
		return rec, err
	}
	if f, ok := ctx.Value(startedKey{}).(func()); ok {
		f()
	}
	plan, err := j.Plan(iv)
	if err != nil {
		return s.fail(ctx, j, l, rec, err)
	}

	// The sensor: wait until every partition is committed, up to the
	// interval's end + the timeout.
	start := clock.Now()
	deadline := iv.End.Add(time.Duration(j.Sensor.Timeout))
	folders := append(append([]string(nil), plan.TrainPartitions...), plan.EvalPartitions...)
	for {
		missing, err := Missing(ctx, s.cfg.Store, folders)
		if err != nil {
			return s.fail(ctx, j, l, rec, err)
		}
		if len(missing) == 0 {
			break
		}
		if !clock.Now().Before(deadline) {
			rec.Missing = missing
			rec.Error = fmt.Sprintf("no data: %d partition(s) not committed (no _SUCCESS) by %s: %v", len(missing), deadline.Format(time.RFC3339), missing)
			rec.Durations.Wait = clock.Now().Sub(start).Seconds()
			return s.end(ctx, j, l, rec, NoData)
		}
		if rec.State != Waiting || len(missing) != len(rec.Missing) {
			rec.Missing = missing
			if err := s.transition(ctx, j, l, rec, Waiting); err != nil {
				return rec, err
			}
		}
		if err := clock.Sleep(ctx, min(time.Duration(j.Sensor.Poke), deadline.Sub(clock.Now()))); err != nil {
			return s.interrupted(ctx, j, l, rec, err)
		}
	}
	rec.Missing = nil
	rec.Durations.Wait = clock.Now().Sub(start).Seconds()
	if err := s.transition(ctx, j, l, rec, Running); err != nil {
		return rec, err
	}

	run := &Run{Job: j, Plan: plan, Attempt: rec.Attempt,
		Logger: s.log.With("job", j.Name, "interval", iv.ID, "attempt", rec.Attempt)}
	cand := Candidate{Version: rec.Version, WarmStart: rec.WarmStart, Metrics: rec.TrainMetrics}
	if rec.Version == 0 {
		t0 := clock.Now()
		cand, err = s.cfg.Pipeline.Train(ctx, run)
		rec.Durations.Train = clock.Now().Sub(t0).Seconds()
		if err != nil {
			return s.failOrStop(ctx, j, l, rec, err)
		}
		rec.Version, rec.WarmStart, rec.TrainMetrics = cand.Version, cand.WarmStart, cand.Metrics
		// Record the candidate before publishing it: an attempt that dies
		// during Publish is resumed with this version, never trained again.
		if err := s.write(ctx, l, rec); err != nil {
			return rec, err
		}
		s.log.Info("candidate trained", "job", j.Name, "interval", iv.ID, "model", j.Publish.Model, "version", cand.Version, "warm_start", cand.WarmStart)
	} else {
		s.log.Info("resuming with the trained candidate", "job", j.Name, "interval", iv.ID, "version", rec.Version)
	}
	t0 := clock.Now()
	pub, err := s.cfg.Pipeline.Publish(ctx, run, cand)
	rec.Durations.Publish = clock.Now().Sub(t0).Seconds()
	if err != nil {
		return s.failOrStop(ctx, j, l, rec, err)
	}
	rec.Metrics, rec.Decision, rec.Champion = pub.Metrics, pub.Decision, pub.Champion
	s.cfg.Metrics.gate(j.Name, pub.Decision)
	if pub.Decision != nil && !pub.Decision.Promoted {
		rec.Error = pub.Decision.Reason
		return s.end(ctx, j, l, rec, GateRefused)
	}
	return s.end(ctx, j, l, rec, Succeeded)
}

// transition writes rec in state st.
func (s *Scheduler) transition(ctx context.Context, j *Job, l *lease, rec *Record, st State) error {
	rec.State = st
	rec.Attempts[len(rec.Attempts)-1].State = st
	if err := s.write(ctx, l, rec); err != nil {
		return err
	}
	attrs := []any{"job", j.Name, "interval", rec.Interval, "state", st, "attempt", rec.Attempt, "owner", s.cfg.Owner}
	if len(rec.Missing) > 0 {
		attrs = append(attrs, "missing", rec.Missing)
	}
	s.log.Info("run state", attrs...)
	return nil
}

// write checks that the lease is still ours and writes rec.
func (s *Scheduler) write(ctx context.Context, l *lease, rec *Record) error {
	if err := l.check(ctx); err != nil {
		return err
	}
	return writeRecord(ctx, s.cfg.Store, rec)
}

// end finishes the attempt in state st and releases the lease.
func (s *Scheduler) end(ctx context.Context, j *Job, l *lease, rec *Record, st State) (*Record, error) {
	return s.endRetry(ctx, j, l, rec, st, time.Duration(j.RetryDelay)<<(rec.Attempt-1))
}

// endRetry is end with the pause before a retry of a failed attempt.
func (s *Scheduler) endRetry(ctx context.Context, j *Job, l *lease, rec *Record, st State, retryIn time.Duration) (*Record, error) {
	now := s.cfg.Clock.Now().UTC()
	last := &rec.Attempts[len(rec.Attempts)-1]
	last.EndedAt, last.Error = &now, rec.Error
	rec.Durations.Total = now.Sub(rec.StartedAt).Seconds()
	if st == Failed && rec.Attempt < rec.MaxAttempts {
		at := now.Add(retryIn)
		rec.RetryAt = &at
	} else {
		rec.EndedAt = &now
	}
	if err := s.transition(ctx, j, l, rec, st); err != nil {
		return rec, err
	}
	s.cfg.Metrics.ended(j.Name, rec)
	if st == Failed {
		s.log.Warn("run failed", "job", j.Name, "interval", rec.Interval, "attempt", rec.Attempt, "error", rec.Error, "retry_at", rec.RetryAt)
	}
	if err := l.release(ctx); err != nil && !errors.Is(err, ErrLeaseLost) {
		s.log.Warn("release lease", "job", j.Name, "interval", rec.Interval, "error", err)
	}
	return rec, nil
}

func (s *Scheduler) fail(ctx context.Context, j *Job, l *lease, rec *Record, err error) (*Record, error) {
	rec.Error = err.Error()
	return s.end(ctx, j, l, rec, Failed)
}

// failOrStop records a pipeline error, unless the attempt was stopped (lease
// lost, or the scheduler shutting down).
func (s *Scheduler) failOrStop(ctx context.Context, j *Job, l *lease, rec *Record, err error) (*Record, error) {
	if ctx.Err() != nil {
		return s.interrupted(ctx, j, l, rec, err)
	}
	return s.fail(ctx, j, l, rec, err)
}

// interrupted ends an attempt stopped by its context: when the lease was
// lost nothing is written (the new holder owns the record); when the
// scheduler is stopping the attempt is recorded as failed, retryable at once,
// with a short detached context.
func (s *Scheduler) interrupted(ctx context.Context, j *Job, l *lease, rec *Record, err error) (*Record, error) {
	if cause := context.Cause(ctx); errors.Is(cause, ErrLeaseLost) {
		s.log.Warn("run stopped: lease lost", "job", j.Name, "interval", rec.Interval, "error", cause)
		return rec, cause
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	rec.Error = fmt.Sprintf("interrupted: %v", err)
	r, werr := s.endRetry(wctx, j, l, rec, Failed, 0)
	if werr != nil {
		return r, werr
	}
	return r, ctx.Err()
}
