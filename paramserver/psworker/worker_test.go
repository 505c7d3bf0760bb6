package psworker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/lake/laketest"
	"github.com/lakestream/lakestream/paramserver"
	"github.com/lakestream/lakestream/paramserver/psworker"
	"github.com/lakestream/lakestream/train/optim"
)

// These tests run the protocol against the real in-process coordinator,
// clock table and store (paramserver.Coordinator, Clocks, Local), through
// the adapters below, which only add the context argument the gRPC clients
// take. A test's SplitFunc trains split s by pushing a gradient of 1 for
// key s once per row: under SGD with learning rate 1 the final weight of key
// s is minus the number of times its rows were trained, so duplicates and
// gaps both show.

const rowsPerSplit = 6

// coordinator adapts *paramserver.Coordinator to psworker.Coordinator; a
// hook may replace an answer.
type coordinator struct {
	co *paramserver.Coordinator
	// progress, when set, runs before the real Progress and may fail it.
	progress func(worker string, a paramserver.Assignment, rows int64) error
}

func (c *coordinator) Register(_ context.Context, w string, n int) (int, error) {
	return 0, c.co.Register(w, n)
}
func (c *coordinator) Acquire(_ context.Context, w string) (paramserver.Assignment, error) {
	return c.co.Acquire(w)
}
func (c *coordinator) Progress(_ context.Context, w string, a paramserver.Assignment, rows int64) error {
	if c.progress != nil {
		if err := c.progress(w, a, rows); err != nil {
			return err
		}
	}
	return c.co.Progress(w, a.Split, a.Generation, rows)
}
func (c *coordinator) Complete(_ context.Context, w string, a paramserver.Assignment) error {
	return c.co.Complete(w, a.Split, a.Generation)
}
func (c *coordinator) Fail(_ context.Context, w string, a paramserver.Assignment, lost bool, reason string) error {
	return c.co.Fail(w, a.Split, a.Generation, lost, reason)
}
func (c *coordinator) Heartbeat(_ context.Context, w string) error { return c.co.Heartbeat(w) }

// clocks adapts a *paramserver.Clocks and the shard's *paramserver.Local to
// psworker.Clocks.
type clocks struct {
	c     *paramserver.Clocks
	store *paramserver.Local
}

func (c clocks) Join(_ context.Context, w string) (int64, error) { return c.c.Join(w), nil }
func (c clocks) Clock(ctx context.Context, w string, clock int64) (int64, error) {
	return c.c.Advance(ctx, w, clock)
}
func (c clocks) Flush(ctx context.Context, clock int64) error { return c.store.Flush(ctx, clock) }
func (c clocks) Leave(_ context.Context, w string) error      { c.c.Leave(w); return nil }

// checkpointer snapshots the one in-process shard into a lake, as the
// shards' Snapshot and Restore RPCs do.
type checkpointer struct {
	store *paramserver.Local
	lake  lake.Store
}

func (c checkpointer) Snapshot(ctx context.Context, name string) ([]string, error) {
	key := paramserver.SnapshotKey("ckpt", name, 0, 1)
	if err := c.store.Flush(ctx, -1); err != nil {
		return nil, err
	}
	return []string{key}, c.store.SaveSnapshot(ctx, c.lake, key)
}
func (c checkpointer) Restore(ctx context.Context, name string) error {
	return c.store.LoadSnapshot(ctx, c.lake, paramserver.SnapshotKey("ckpt", name, 0, 1))
}
func (c checkpointer) Fence(_ context.Context, gen int64) (int64, error) {
	return c.store.Fence(gen), nil
}
func (c checkpointer) Instances(context.Context) ([]uint64, error) { return []uint64{1}, nil }

// job is one in-process distributed job: a shard, its clock table, a
// coordinator driven by Run, and the pushes each split received.
type job struct {
	mode   string
	splits int
	epochs int
	store  *paramserver.Local
	clocks *paramserver.Clocks
	co     *paramserver.Coordinator
	coord  *coordinator
	// hook, when set, runs in a SplitFunc before each push and may fail it
	// (after Progress recorded the rows).
	hook     func(worker string, a paramserver.Assignment, rows int64) error
	mu       sync.Mutex
	minClock []int64 // Clocks.Min() seen after each sync Barrier
}

func newJob(t *testing.T, mode string, workers, splits, epochs int, checkpoints bool) *job {
	t.Helper()
	sgd := optim.DefaultConfig(optim.SGD)
	sgd.LearningRate = 1
	store, err := paramserver.New(paramserver.Config{
		Tables:   []paramserver.TableSpec{{Name: "w", Width: 1, Optimizer: sgd}},
		Deferred: mode == paramserver.Sync,
	})
	if err != nil {
		t.Fatal(err)
	}
	j := &job{mode: mode, splits: splits, epochs: epochs, store: store}
	cfg := paramserver.CoordinatorConfig{Epochs: epochs, Workers: workers, LeaseTTL: time.Minute,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if mode != paramserver.Async {
		if j.clocks, err = paramserver.NewClocks(paramserver.ConsistencyConfig{Mode: mode, Workers: workers}); err != nil {
			t.Fatal(err)
		}
		cfg.Clocks = j.clocks
	}
	if checkpoints {
		cfg.Lake, cfg.Prefix = laketest.NewMemory(), "ckpt"
		cfg.Shards = checkpointer{store: store, lake: cfg.Lake}
		cfg.CheckpointEvery = 2
	}
	if j.co, err = paramserver.NewCoordinator(cfg); err != nil {
		t.Fatal(err)
	}
	j.coord = &coordinator{co: j.co}
	return j
}

// train is the SplitFunc of worker name: one row per mini-batch.
func (j *job) train(name string) psworker.SplitFunc {
	return func(ctx context.Context, l *psworker.Lease) error {
		a := l.Assignment()
		for rows := a.SkipRows + 1; rows <= rowsPerSplit; rows++ {
			if err := l.Progress(ctx, rows); err != nil {
				return err
			}
			if j.hook != nil {
				if err := j.hook(name, a, rows); err != nil {
					return err
				}
			}
			if err := j.store.Push(ctx, "w", []uint64{uint64(a.Split)}, []float32{1}); err != nil {
				return err
			}
			if err := l.Barrier(ctx); err != nil {
				return err
			}
			// After the barrier the step's update is applied (under sync,
			// by the Flush every worker calls): the split's weight counts
			// every row trained so far.
			got := make([]float32, 1)
			if err := j.store.Pull(ctx, "w", []uint64{uint64(a.Split)}, got); err != nil {
				return err
			}
			if want := -float32(int64(a.Epoch)*rowsPerSplit + rows); got[0] != want {
				return fmt.Errorf("after the barrier of row %d of split %d, epoch %d: weight %v, want %v", rows, a.Split, a.Epoch, got[0], want)
			}
			if j.mode == paramserver.Sync {
				j.mu.Lock()
				j.minClock = append(j.minClock, j.clocks.Min())
				j.mu.Unlock()
			}
		}
		return nil
	}
}

// run runs workers until the job is done (or a minute passes) and returns
// the first error.
func (j *job) run(t *testing.T, workers int) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	coCtx, stopCo := context.WithCancel(ctx)
	coDone := make(chan error, 1)
	go func() { coDone <- j.co.Run(coCtx, 5*time.Millisecond) }()
	defer func() { stopCo(); <-coDone }()
	for i := range workers {
		name := fmt.Sprintf("w%d", i)
		var cl psworker.Clocks
		if j.clocks != nil {
			cl = clocks{c: j.clocks, store: j.store}
		}
		w, err := psworker.New(psworker.Config{Name: name, Splits: j.splits, Coordinator: j.coord, Clocks: cl, Mode: j.mode,
			Heartbeat: 10 * time.Millisecond, Poll: time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		g.Go(func() error {
			if _, err := w.Register(gctx); err != nil {
				return err
			}
			return w.Run(gctx, j.train(name))
		})
	}
	return g.Wait()
}

// checkTrainedOnce: every split's rows were trained exactly epochs times
// (no duplicate, no gap), and the coordinator counted each split epochs
// times.
func (j *job) checkTrainedOnce(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	if err := j.store.Flush(ctx, -1); err != nil {
		t.Fatal(err)
	}
	keys := make([]uint64, j.splits)
	for i := range keys {
		keys[i] = uint64(i)
	}
	got := make([]float32, j.splits)
	if err := j.store.Pull(ctx, "w", keys, got); err != nil {
		t.Fatal(err)
	}
	st := j.co.Status()
	if !st.Finished {
		t.Errorf("the coordinator is not finished: %+v", st)
	}
	for s, w := range got {
		if want := -float32(rowsPerSplit * j.epochs); w != want {
			t.Errorf("split %d: weight %v, want %v (each of its %d rows trained once per epoch)", s, w, want, rowsPerSplit)
		}
		if st.Trained[s] != j.epochs {
			t.Errorf("split %d completed %d times, want %d", s, st.Trained[s], j.epochs)
		}
	}
}

// TestBarrier: three sync workers over two epochs train every row once,
// and no worker leaves a step's barrier before every live worker reached
// it (sync: staleness 0).
func TestBarrier(t *testing.T) {
	for _, mode := range []string{paramserver.Sync, paramserver.SSP, paramserver.Async} {
		t.Run(mode, func(t *testing.T) {
			j := newJob(t, mode, 3, 7, 2, false)
			if err := j.run(t, 3); err != nil {
				t.Fatal(err)
			}
			j.checkTrainedOnce(t)
			if mode != paramserver.Sync {
				return
			}
			if len(j.minClock) == 0 {
				t.Fatal("no barrier was passed")
			}
			// Each entry was read after some worker's Barrier at clock c
			// returned; under sync the minimum over live workers was then
			// at least c. Workers count clocks from the same start, so the
			// k-th barrier any worker passes is at clock ≥ 1 and the
			// minimum never went backwards.
			for i := 1; i < len(j.minClock); i++ {
				if j.minClock[i] < 1 {
					t.Fatalf("barrier %d passed with the minimum clock at %d", i, j.minClock[i])
				}
			}
		})
	}
}

// TestLeaseLost: a split taken away from a worker (its Progress fails with
// ErrLeaseLost, before the batch is pushed) is dropped by that worker and
// trained by whoever acquires it, from the rows recorded: nothing twice,
// nothing lost.
func TestLeaseLost(t *testing.T) {
	j := newJob(t, paramserver.Async, 2, 5, 1, false)
	var once sync.Once
	lost := 0
	j.coord.progress = func(w string, a paramserver.Assignment, rows int64) error {
		var err error
		if a.Split == 2 && rows == 3 {
			once.Do(func() {
				// What the coordinator does to a split reassigned elsewhere.
				j.co.Leave(w)
				lost++
				err = fmt.Errorf("coordinator progress: %w", paramserver.ErrLeaseLost)
			})
		}
		return err
	}
	if err := j.run(t, 2); err != nil {
		t.Fatal(err)
	}
	if lost != 1 {
		t.Fatalf("the lease was taken away %d times, want 1", lost)
	}
	j.checkTrainedOnce(t)
}

// TestRejoin: a worker the coordinator expired (a pause longer than its
// lease) gets ErrWorkerExpired, registers again as a new member and goes on;
// its split is resumed from the recorded rows. Both the expiry seen while
// training (Progress) and the one seen by Acquire are covered.
func TestRejoin(t *testing.T) {
	for _, where := range []string{"progress", "acquire"} {
		t.Run(where, func(t *testing.T) {
			j := newJob(t, paramserver.SSP, 2, 4, 1, false)
			var once sync.Once
			expired := false
			expire := func(w string) {
				once.Do(func() { j.co.Leave(w); expired = true })
			}
			switch where {
			case "progress":
				j.hook = func(w string, a paramserver.Assignment, rows int64) error {
					if a.Split == 1 && rows == 2 {
						expire(w) // the next Progress of w fails
					}
					return nil
				}
			case "acquire":
				j.hook = func(w string, a paramserver.Assignment, rows int64) error {
					if rows == rowsPerSplit {
						// Complete then fails (the lease is lost, which the
						// worker ignores), and the next Acquire says expired.
						expire(w)
					}
					return nil
				}
			}
			if err := j.run(t, 2); err != nil {
				t.Fatal(err)
			}
			if !expired {
				t.Fatal("no worker was expired")
			}
			j.checkTrainedOnce(t)
		})
	}
}

// TestShardLost: a shard that restarts empty under a worker makes its next
// call fail with Unavailable; the worker reports it (Fail with shardLost),
// the coordinator restores the shard from the last checkpoint and rewinds
// the splits, and the job ends with the uninterrupted job's weights.
func TestShardLost(t *testing.T) {
	j := newJob(t, paramserver.Async, 1, 6, 1, true)
	var once sync.Once
	failed := false
	j.hook = func(w string, a paramserver.Assignment, rows int64) error {
		var err error
		if a.Split == 3 && rows == 4 {
			once.Do(func() {
				if err := j.store.Reset(); err != nil { // the shard restarted empty
					t.Error(err)
				}
				failed = true
				err = fmt.Errorf("push: %w", status.Error(codes.Unavailable, "connection refused"))
			})
		}
		return err
	}
	if err := j.run(t, 1); err != nil {
		t.Fatal(err)
	}
	if !failed {
		t.Fatal("the shard never failed")
	}
	if g := j.co.Status().Generation; g == 0 {
		t.Error("the coordinator did not recover (generation 0)")
	}
	j.checkTrainedOnce(t)
}

// TestFatalSplitError: an error that is not a protocol event (bad data, a
// bug) fails the split with the coordinator and ends Run with it.
func TestFatalSplitError(t *testing.T) {
	j := newJob(t, paramserver.Async, 1, 3, 1, false)
	bad := errors.New("row 7: label 3 is not 0 or 1")
	j.hook = func(string, paramserver.Assignment, int64) error { return bad }
	if err := j.run(t, 1); !errors.Is(err, bad) {
		t.Fatalf("Run: %v, want the split's error", err)
	}
	if st := j.co.Status(); st.Owners[0] != "" {
		t.Errorf("the failed split is still held by %q", st.Owners[0])
	}
}

func TestShardLostErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{status.Error(codes.Unavailable, "x"), true},
		{fmt.Errorf("push: %w", status.Error(codes.Aborted, "x")), true},
		{context.DeadlineExceeded, true},
		{status.Error(codes.InvalidArgument, "x"), false},
		{errors.New("bad label"), false},
	} {
		if got := psworker.ShardLost(tc.err); got != tc.want {
			t.Errorf("ShardLost(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestSyncBatch(t *testing.T) {
	for _, tc := range []struct{ global, quorum, want int }{{1024, 0, 1024}, {1024, 1, 1024}, {1024, 3, 342}, {1024, 4, 256}, {1, 3, 1}} {
		if got := psworker.SyncBatch(tc.global, tc.quorum); got != tc.want {
			t.Errorf("SyncBatch(%d, %d) = %d, want %d", tc.global, tc.quorum, got, tc.want)
		}
	}
}
