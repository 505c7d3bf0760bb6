package paramserver

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/lake/laketest"
)

// localCheckpointer snapshots one Local into a lake, as shards do.
type localCheckpointer struct {
	l        *Local
	store    lake.Store
	snaps    int
	instance uint64
}

func (c *localCheckpointer) Instances(context.Context) ([]uint64, error) {
	return []uint64{c.instance}, nil
}

func (c *localCheckpointer) Snapshot(ctx context.Context, name string) ([]string, error) {
	c.snaps++
	key := SnapshotKey("ckpt", name, 0, 1)
	return []string{key}, c.l.SaveSnapshot(ctx, c.store, key)
}

func (c *localCheckpointer) Fence(_ context.Context, gen int64) (int64, error) {
	return c.l.Fence(gen), nil
}

func (c *localCheckpointer) Restore(ctx context.Context, name string) error {
	return c.l.LoadSnapshot(ctx, c.store, SnapshotKey("ckpt", name, 0, 1))
}

func mustAcquire(t *testing.T, co *Coordinator, w string, want AssignmentState) Assignment {
	t.Helper()
	a, err := co.Acquire(w)
	if err != nil {
		t.Fatal(err)
	}
	if a.State != want {
		t.Fatalf("Acquire(%s) state %v, want %v", w, a.State, want)
	}
	return a
}

func TestCoordinatorEpochsAndLeases(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	clocks, _ := NewClocks(ConsistencyConfig{Mode: Sync})
	co, err := NewCoordinator(CoordinatorConfig{Epochs: 2, LeaseTTL: time.Second, Now: clk.Now, Clocks: clocks})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"a", "b"} {
		if err := co.Register(w, 3); err != nil {
			t.Fatal(err)
		}
	}
	if err := co.Register("c", 4); err == nil {
		t.Fatal("a worker with another split count registered")
	}
	a := mustAcquire(t, co, "a", Assigned)
	b := mustAcquire(t, co, "b", Assigned)
	if a.Split == b.Split {
		t.Fatal("two workers got the same split")
	}
	if err := co.Progress("b", b.Split, b.Generation, 500); err != nil {
		t.Fatal(err)
	}
	// b dies: a keeps heartbeating past b's lease.
	clk.Advance(700 * time.Millisecond)
	if err := co.Heartbeat("a"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(700 * time.Millisecond)
	co.reap()
	if err := co.Progress("b", b.Split, b.Generation, 600); !errors.Is(err, ErrWorkerExpired) {
		t.Fatalf("dead worker's progress: %v", err)
	}
	if err := co.Complete("a", a.Split, a.Generation); err != nil {
		t.Fatal(err)
	}
	// a gets b's split back from row 500, then the last one.
	r := mustAcquire(t, co, "a", Assigned)
	if r.Split != b.Split || r.SkipRows != 500 {
		t.Fatalf("reassigned %+v, want split %d from row 500", r, b.Split)
	}
	if err := co.Complete("a", r.Split, r.Generation); err != nil {
		t.Fatal(err)
	}
	last := mustAcquire(t, co, "a", Assigned)
	if err := co.Complete("a", last.Split, last.Generation); err != nil {
		t.Fatal(err)
	}
	st := co.Status()
	if st.Epoch != 1 || st.DoneSplits != 0 {
		t.Fatalf("after epoch 0: %+v", st)
	}
	for range 3 {
		x := mustAcquire(t, co, "a", Assigned)
		if x.Epoch != 1 || x.SkipRows != 0 {
			t.Fatalf("epoch 1 assignment %+v", x)
		}
		if err := co.Complete("a", x.Split, x.Generation); err != nil {
			t.Fatal(err)
		}
	}
	mustAcquire(t, co, "a", Done)
	st = co.Status()
	if !st.Finished {
		t.Fatal("not finished after 2 epochs")
	}
	for i, n := range st.Trained {
		if n != 2 {
			t.Fatalf("split %d completed %d times in 2 epochs", i, n)
		}
	}
}

// TestCoordinatorCheckpointAndRecovery checks that a checkpoint waits for
// in-progress splits, and that a recovery restores the tables and rewinds
// the splits to the checkpoint.
func TestCoordinatorCheckpointAndRecovery(t *testing.T) {
	ctx := context.Background()
	l := mustLocal(t, Config{Tables: []TableSpec{{Name: "w", Width: 1, Optimizer: sgd(1)}}})
	store := laketest.NewMemory()
	cp := &localCheckpointer{l: l, store: store}
	co, err := NewCoordinator(CoordinatorConfig{CheckpointEvery: 2, Shards: cp, Lake: store, Prefix: "ckpt"})
	if err != nil {
		t.Fatal(err)
	}
	if err := co.Register("a", 4); err != nil {
		t.Fatal(err)
	}
	if err := co.Register("b", 4); err != nil {
		t.Fatal(err)
	}
	mustAcquire(t, co, "a", Wait) // the initial checkpoint comes first
	if err := co.barrierWork(ctx); err != nil {
		t.Fatal(err)
	}
	// Split i holds 10·(i+1) rows: Examples counts the completed ones.
	progress := func(w string, a Assignment) {
		if err := co.Progress(w, a.Split, a.Generation, int64(10*(a.Split+1))); err != nil {
			t.Fatal(err)
		}
	}
	train := func(w string) Assignment {
		a := mustAcquire(t, co, w, Assigned)
		progress(w, a)
		if err := l.Push(ctx, "w", []uint64{uint64(a.Split)}, []float32{-1}); err != nil {
			t.Fatal(err)
		}
		return a
	}
	a1 := train("a")
	b1 := train("b")
	if err := co.Complete("a", a1.Split, a1.Generation); err != nil {
		t.Fatal(err)
	}
	if err := co.Complete("b", b1.Split, b1.Generation); err != nil {
		t.Fatal(err)
	}
	// Two splits done: a checkpoint is due and taken at once (nothing in flight).
	mustAcquire(t, co, "a", Wait)
	if err := co.barrierWork(ctx); err != nil {
		t.Fatal(err)
	}
	st := co.Status()
	if st.Checkpoints != 2 || st.LastCheckpoint != "ckpt-000001" {
		t.Fatalf("status %+v", st)
	}
	atCheckpoint := int64(10*(a1.Split+1) + 10*(b1.Split+1))
	if st.Examples != atCheckpoint {
		t.Fatalf("examples %d after splits %d and %d, want %d", st.Examples, a1.Split, b1.Split, atCheckpoint)
	}
	if _, err := lake.ReadAll(ctx, store, "ckpt/ckpt-000001/manifest.json"); err != nil {
		t.Fatal(err)
	}
	// Train a third split, then b reports a lost shard mid-split.
	a3 := train("a")
	b3 := train("b")
	if err := co.Complete("a", a3.Split, a3.Generation); err != nil {
		t.Fatal(err)
	}
	if err := co.Fail("b", b3.Split, b3.Generation, true, "shard 1 unavailable"); err != nil {
		t.Fatal(err)
	}
	mustAcquire(t, co, "a", Wait)
	if err := co.barrierWork(ctx); err != nil {
		t.Fatal(err)
	}
	st = co.Status()
	if st.Generation != 1 || st.DoneSplits != 2 || st.Examples != atCheckpoint {
		t.Fatalf("after recovery: %+v (want the checkpoint's %d examples)", st, atCheckpoint)
	}
	if n, _ := l.Len("w"); n != 2 {
		t.Fatalf("after restore the table holds %d rows, want the 2 of the checkpoint", n)
	}
	if err := co.Complete("a", a3.Split, a3.Generation); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("completion from before the recovery: %v", err)
	}
	for {
		a, err := co.Acquire("a")
		if err != nil {
			t.Fatal(err)
		}
		if a.State == Done {
			break
		}
		if a.State == Wait {
			if err := co.barrierWork(ctx); err != nil {
				t.Fatal(err)
			}
			continue
		}
		progress("a", a)
		if err := co.Complete("a", a.Split, a.Generation); err != nil {
			t.Fatal(err)
		}
	}
	if n := co.Status().Examples; n != 10+20+30+40 {
		t.Fatalf("examples %d at the end of the job, want the 100 rows of the 4 splits once", n)
	}
	for i, n := range co.Status().Trained {
		if n > 1 {
			t.Fatalf("split %d trained %d times since the restore", i, n)
		}
	}
}

// TestCoordinatorDetectsRestartedShard: a shard that restarts between
// checkpoints comes back empty without any worker seeing an error; the
// coordinator must notice its new instance and restore every shard.
func TestCoordinatorDetectsRestartedShard(t *testing.T) {
	ctx := context.Background()
	l := mustLocal(t, Config{Tables: []TableSpec{{Name: "w", Width: 1, Optimizer: sgd(1)}}})
	store := laketest.NewMemory()
	cp := &localCheckpointer{l: l, store: store, instance: 1}
	co, err := NewCoordinator(CoordinatorConfig{CheckpointEvery: 1, Shards: cp, Lake: store})
	if err != nil {
		t.Fatal(err)
	}
	if err := co.Register("a", 3); err != nil {
		t.Fatal(err)
	}
	if err := co.barrierWork(ctx); err != nil { // initial checkpoint
		t.Fatal(err)
	}
	a := mustAcquire(t, co, "a", Assigned)
	if err := l.Push(ctx, "w", []uint64{1}, []float32{-1}); err != nil {
		t.Fatal(err)
	}
	if err := co.Complete("a", a.Split, a.Generation); err != nil {
		t.Fatal(err)
	}
	if err := co.barrierWork(ctx); err != nil { // checkpoint 1 holds w[1] = 1
		t.Fatal(err)
	}
	b := mustAcquire(t, co, "a", Assigned)
	// The shard restarts: new instance, empty tables.
	cp.instance = 2
	if err := l.Reset(); err != nil {
		t.Fatal(err)
	}
	if err := co.barrierWork(ctx); err != nil {
		t.Fatal(err)
	}
	if err := co.Progress("a", b.Split, b.Generation, 10); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("progress while a recovery is pending: %v", err)
	}
	if err := co.barrierWork(ctx); err != nil {
		t.Fatal(err)
	}
	if st := co.Status(); st.Generation != 1 || st.DoneSplits != 1 {
		t.Fatalf("after the restart: %+v", st)
	}
	dst := make([]float32, 1)
	if err := l.Pull(ctx, "w", []uint64{1}, dst); err != nil {
		t.Fatal(err)
	}
	if dst[0] != 1 {
		t.Fatalf("w[1] = %v after recovery, want the checkpoint's 1", dst[0])
	}
}

// TestCoordinatorCheckpointQuota: with CheckpointEvery n, a worker that
// finishes early gets no split beyond the n of the next checkpoint, so the
// checkpoint covers exactly n splits and is taken as soon as they are done.
func TestCoordinatorCheckpointQuota(t *testing.T) {
	ctx := context.Background()
	l := mustLocal(t, Config{Tables: []TableSpec{{Name: "w", Width: 1, Optimizer: sgd(1)}}})
	store := laketest.NewMemory()
	co, err := NewCoordinator(CoordinatorConfig{CheckpointEvery: 2, Shards: &localCheckpointer{l: l, store: store}, Lake: store})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"a", "b", "c"} {
		if err := co.Register(w, 6); err != nil {
			t.Fatal(err)
		}
	}
	if err := co.barrierWork(ctx); err != nil { // initial checkpoint
		t.Fatal(err)
	}
	a := mustAcquire(t, co, "a", Assigned)
	mustAcquire(t, co, "b", Assigned)
	mustAcquire(t, co, "c", Wait) // a's and b's splits fill the quota of 2
	if err := co.Complete("a", a.Split, a.Generation); err != nil {
		t.Fatal(err)
	}
	mustAcquire(t, co, "a", Wait) // 1 done + b's in progress
	if err := co.barrierWork(ctx); err != nil {
		t.Fatal(err)
	}
	if st := co.Status(); st.Checkpoints != 1 {
		t.Fatalf("checkpoint taken with b's split in progress: %+v", st)
	}
	b, err := co.Acquire("b") // b still holds its split
	if err != nil || b.State != Assigned {
		t.Fatalf("Acquire(b) = %+v, %v", b, err)
	}
	if err := co.Complete("b", b.Split, b.Generation); err != nil {
		t.Fatal(err)
	}
	if err := co.barrierWork(ctx); err != nil {
		t.Fatal(err)
	}
	if st := co.Status(); st.Checkpoints != 2 || st.DoneSplits != 2 {
		t.Fatalf("after 2 splits: %+v", st)
	}
	mustAcquire(t, co, "c", Assigned)
}

// TestCoordinatorWorkerQuorum: no split is handed out before Workers
// workers registered, so the first worker cannot train a short job alone.
func TestCoordinatorWorkerQuorum(t *testing.T) {
	co, err := NewCoordinator(CoordinatorConfig{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := co.Register("a", 4); err != nil {
		t.Fatal(err)
	}
	mustAcquire(t, co, "a", Wait)
	if err := co.Register("b", 4); err != nil {
		t.Fatal(err)
	}
	mustAcquire(t, co, "a", Assigned)
	mustAcquire(t, co, "b", Assigned)
	co.Leave("b") // the quorum counts registrations: a dead worker does not stall the job
	mustAcquire(t, co, "a", Assigned)
}

// TestCoordinatorEpochEnd: EpochEnd is called after each epoch's last
// checkpoint, with no split handed out meanwhile, and a stop there ends the
// job before its last epoch.
func TestCoordinatorEpochEnd(t *testing.T) {
	ctx := context.Background()
	l := mustLocal(t, Config{Tables: []TableSpec{{Name: "w", Width: 1, Optimizer: sgd(1)}}})
	store := laketest.NewMemory()
	var co *Coordinator
	type call struct {
		epoch int
		ckpt  string
	}
	var calls []call
	co, err := NewCoordinator(CoordinatorConfig{Epochs: 5, Shards: &localCheckpointer{l: l, store: store}, Lake: store, Prefix: "ckpt",
		EpochEnd: func(ctx context.Context, epoch int, ckpt string) (bool, error) {
			calls = append(calls, call{epoch, ckpt})
			if a, err := co.Acquire("a"); err != nil || a.State != Wait {
				t.Errorf("Acquire during EpochEnd: %+v %v, want Wait", a, err)
			}
			return epoch == 1, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := co.Register("a", 2); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		a, err := co.Acquire("a")
		if err != nil {
			t.Fatal(err)
		}
		if a.State == Done {
			break
		}
		if a.State == Wait {
			if err := co.barrierWork(ctx); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := co.Complete("a", a.Split, a.Generation); err != nil {
			t.Fatal(err)
		}
	}
	st := co.Status()
	if !st.Finished || st.Epoch != 1 {
		t.Fatalf("status %+v: want finished in epoch 1 (of 5)", st)
	}
	// Checkpoints: the initial one, then one per epoch end.
	want := []call{{0, "ckpt-000001"}, {1, "ckpt-000002"}}
	if !slices.Equal(calls, want) {
		t.Fatalf("EpochEnd calls %v, want %v", calls, want)
	}
}
