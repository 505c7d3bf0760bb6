package psworker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lakestream/lakestream/paramserver"
)

// Coordinator is the coordinator service as a worker calls it;
// *paramserver.CoordinatorClient implements it. Errors wrap
// paramserver.ErrLeaseLost and paramserver.ErrWorkerExpired as that client's
// do.
type Coordinator interface {
	Register(ctx context.Context, worker string, splits int) (quorum int, err error)
	Acquire(ctx context.Context, worker string) (paramserver.Assignment, error)
	Progress(ctx context.Context, worker string, a paramserver.Assignment, rows int64) error
	Complete(ctx context.Context, worker string, a paramserver.Assignment) error
	Fail(ctx context.Context, worker string, a paramserver.Assignment, shardLost bool, reason string) error
	Heartbeat(ctx context.Context, worker string) error
}

// Clocks is the shards' clock table and deferred updates as a worker calls
// them; *paramserver.Client implements it.
type Clocks interface {
	// Join enters the clock table and returns the clock to start from.
	Join(ctx context.Context, worker string) (int64, error)
	// Clock reports that worker finished step clock and waits until the
	// consistency model lets it start the next.
	Clock(ctx context.Context, worker string, clock int64) (int64, error)
	// Flush applies the summed pushes of step clock (sync shards).
	Flush(ctx context.Context, clock int64) error
	// Leave removes worker from the clock table.
	Leave(ctx context.Context, worker string) error
}

// Config configures a Worker.
type Config struct {
	// Name identifies the worker in the job; it must be unique. Required.
	Name string
	// Splits is the number of splits the worker planned; every worker of a
	// job must plan the same. Required.
	Splits int
	// Coordinator leases splits. Required.
	Coordinator Coordinator
	// Clocks is the shards' clock table; required unless Mode is async.
	Clocks Clocks
	// Mode is the consistency model the shards report: paramserver.Sync,
	// SSP or Async. Required.
	Mode string
	// Heartbeat is how often the lease is renewed while a split trains;
	// 0 means 2s. It must be well under the coordinator's lease.
	Heartbeat time.Duration
	// Poll is how long to wait before asking again after Wait; 0 means
	// 20ms.
	Poll time.Duration
	// Generations, when set, is told the generation of every assignment
	// before its split trains (*paramserver.Client implements it), so the
	// pushes carry it and shards fenced above it refuse them.
	Generations GenerationSetter
	// Logger receives the worker's warnings; nil means slog.Default().
	Logger *slog.Logger
}

// Validate reports the first problem of c.
func (c Config) Validate() error {
	switch {
	case c.Name == "":
		return errors.New("psworker: empty worker name")
	case c.Splits <= 0:
		return fmt.Errorf("psworker: worker %q has %d splits to train", c.Name, c.Splits)
	case c.Coordinator == nil:
		return errors.New("psworker: no coordinator")
	case c.Mode != paramserver.Sync && c.Mode != paramserver.SSP && c.Mode != paramserver.Async:
		return fmt.Errorf("psworker: consistency %q is not %s, %s or %s", c.Mode, paramserver.Sync, paramserver.SSP, paramserver.Async)
	case c.Mode != paramserver.Async && c.Clocks == nil:
		return fmt.Errorf("psworker: consistency %s needs the shards' clock table", c.Mode)
	case c.Heartbeat < 0 || c.Poll < 0:
		return errors.New("psworker: negative heartbeat or poll period")
	}
	return nil
}

// SplitFunc trains one leased split: the rows of split l.Assignment().Split
// in epoch Epoch, skipping the first SkipRows (trained by a worker that
// died). Before it pushes a mini-batch it calls l.Progress with the rows
// trained once that batch is in; after the push, l.Barrier. It returns nil
// when the split is exhausted, and the error of any call otherwise, wrapped
// or not.
type SplitFunc func(ctx context.Context, l *Lease) error

// Worker runs the protocol for one worker process. Its methods are not safe
// for concurrent use.
type Worker struct {
	cfg    Config
	log    *slog.Logger
	quorum int
	joined bool
	clock  int64 // steps finished while joined
}

// New validates cfg and returns a worker; Register it, then Run it.
func New(cfg Config) (*Worker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = 2 * time.Second
	}
	if cfg.Poll == 0 {
		cfg.Poll = 20 * time.Millisecond
	}
	w := &Worker{cfg: cfg, log: cfg.Logger}
	if w.log == nil {
		w.log = slog.Default()
	}
	return w, nil
}

// Register announces the worker and returns the job's start quorum (the
// coordinator's Workers, 0 if none): under sync the job's batch is split
// over it (see SyncBatch).
func (w *Worker) Register(ctx context.Context) (int, error) {
	q, err := w.cfg.Coordinator.Register(ctx, w.cfg.Name, w.cfg.Splits)
	if err != nil {
		return 0, err
	}
	w.quorum = q
	return q, nil
}

// SyncBatch returns the rows of one worker's mini-batch when a sync job's
// global batch of rows is split over quorum workers: ⌈global/quorum⌉, so W
// workers' pushes sum to one step of about the single process's batch.
func SyncBatch(global, quorum int) int {
	if quorum <= 1 {
		return global
	}
	return (global + quorum - 1) / quorum
}

// Run trains splits with train until the coordinator says the job is done,
// ctx is done, or a split fails with an error the protocol does not handle
// (see the package documentation). Register must have been called.
func (w *Worker) Run(ctx context.Context, train SplitFunc) error {
	hbCtx, stopHB := context.WithCancel(ctx)
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		w.heartbeats(hbCtx)
	}()
	defer func() { stopHB(); <-hbDone }()
	defer w.leave(ctx)
	co := w.cfg.Coordinator
	for {
		a, err := co.Acquire(ctx, w.cfg.Name)
		if err != nil || a.State != paramserver.Assigned {
			w.leave(ctx) // nothing to train now: the barriers must not wait for this worker
		}
		if errors.Is(err, paramserver.ErrWorkerExpired) {
			if err = w.rejoin(ctx); err == nil {
				continue
			}
		}
		if err != nil {
			return err
		}
		switch a.State {
		case paramserver.Done:
			return nil
		case paramserver.Wait:
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(w.cfg.Poll):
			}
			continue
		}
		if a.Split < 0 || a.Split >= w.cfg.Splits {
			return fmt.Errorf("psworker: the coordinator assigned split %d of %d", a.Split, w.cfg.Splits)
		}
		if w.cfg.Mode != paramserver.Async && !w.joined {
			if w.clock, err = w.cfg.Clocks.Join(ctx, w.cfg.Name); err != nil {
				return err
			}
			w.joined = true
		}
		if w.cfg.Generations != nil {
			w.cfg.Generations.SetGeneration(a.Generation)
		}
		err = train(ctx, &Lease{w: w, a: a})
		if err != nil {
			w.leave(ctx)
		}
		switch {
		case err == nil:
			if err := co.Complete(ctx, w.cfg.Name, a); err != nil && !errors.Is(err, paramserver.ErrLeaseLost) {
				return err
			}
		case errors.Is(err, paramserver.ErrLeaseLost), errors.Is(err, paramserver.ErrFenced):
			// ErrFenced: the job recovered from a checkpoint while the
			// split trained, and the shards refuse the old generation.
			w.log.Warn("split taken away; acquiring another", "split", a.Split, "err", err)
		case errors.Is(err, paramserver.ErrWorkerExpired):
			// Declared dead (a pause longer than the lease): the split went
			// to another worker; join again as a new member.
			if err := w.rejoin(ctx); err != nil {
				return err
			}
		case ctx.Err() != nil:
			return ctx.Err()
		case ShardLost(err):
			w.log.Warn("parameter server failed; asking for recovery", "split", a.Split, "err", err)
			if ferr := co.Fail(ctx, w.cfg.Name, a, true, err.Error()); ferr != nil {
				return ferr
			}
		default:
			_ = co.Fail(ctx, w.cfg.Name, a, false, err.Error())
			return fmt.Errorf("split %d: %w", a.Split, err)
		}
	}
}

// leave takes the worker out of the clock table if it is in.
func (w *Worker) leave(ctx context.Context) {
	if w.joined {
		_ = w.cfg.Clocks.Leave(context.WithoutCancel(ctx), w.cfg.Name)
		w.joined = false
	}
}

// rejoin registers again after the coordinator expired this worker.
func (w *Worker) rejoin(ctx context.Context) error {
	w.log.Warn("the coordinator expired this worker; registering again")
	_, err := w.Register(ctx)
	return err
}

func (w *Worker) heartbeats(ctx context.Context) {
	t := time.NewTicker(w.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := w.cfg.Coordinator.Heartbeat(ctx, w.cfg.Name); err != nil && ctx.Err() == nil {
				w.log.Warn("heartbeat failed", "err", err)
			}
		}
	}
}

// ShardLost reports whether err means a shard went away (and may have lost
// its tables), as opposed to a bug or bad data: a gRPC Unavailable,
// DeadlineExceeded, Canceled or Aborted anywhere in its chain, or a deadline.
func ShardLost(err error) bool {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if st, ok := status.FromError(e); ok {
			switch st.Code() {
			case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.Aborted:
				return true
			}
		}
	}
	return errors.Is(err, context.DeadlineExceeded)
}

// Lease is one split held by the worker while a SplitFunc trains it.
type Lease struct {
	w *Worker
	a paramserver.Assignment
}

// Assignment returns the split, its epoch, the rows to skip and the
// generation the lease belongs to.
func (l *Lease) Assignment() paramserver.Assignment { return l.a }

// Progress records with the coordinator that the split's first rows rows
// are about to be pushed; call it before the push. It fails with
// ErrLeaseLost when the split was taken away.
func (l *Lease) Progress(ctx context.Context, rows int64) error {
	return l.w.cfg.Coordinator.Progress(ctx, l.w.cfg.Name, l.a, rows)
}

// Barrier ends a step after its push: under sync and ssp it advances the
// worker's clock and waits until the consistency model lets the next step
// start; under sync it then applies the step's summed pushes (Flush, once
// per step on each shard, whoever calls first). Under async it returns at
// once.
func (l *Lease) Barrier(ctx context.Context) error {
	w := l.w
	if w.cfg.Mode == paramserver.Async {
		return nil
	}
	w.clock++
	if _, err := w.cfg.Clocks.Clock(ctx, w.cfg.Name, w.clock); err != nil {
		return err
	}
	if w.cfg.Mode == paramserver.Sync {
		// Every worker's pushes of this step are in: apply them as one
		// update before anyone pulls for the next step.
		return w.cfg.Clocks.Flush(ctx, w.clock)
	}
	return nil
}
