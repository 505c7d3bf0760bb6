package paramserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lakestream/lakestream/lake"
)

// The retention tests use the local folder store, as a single-machine job
// does. The checkpointer writes <ckpt>/<name>/shard-0-of-1.pssnap and the
// coordinators write <ckpt>/<name>/manifest.json.

func newLocalLake(t *testing.T) lake.Store {
	t.Helper()
	s, err := lake.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// lakeKeys returns every key in store, sorted.
func lakeKeys(t *testing.T, store lake.Store) []string {
	t.Helper()
	var keys []string
	it := store.List(context.Background(), "")
	for it.Next() {
		keys = append(keys, it.At().Key)
	}
	if err := it.Err(); err != nil && !errors.Is(err, lake.ErrNotExist) {
		t.Fatal(err)
	}
	slices.Sort(keys)
	return keys
}

// checkpointKeys returns the keys of the named checkpoints, sorted.
func checkpointKeys(names ...string) []string {
	var keys []string
	for _, n := range names {
		keys = append(keys, "ckpt/"+n+"/manifest.json", SnapshotKey("ckpt", n, 0, 1))
	}
	slices.Sort(keys)
	return keys
}

// failingDeletes is a store whose Delete fails while fail is set.
type failingDeletes struct {
	lake.Store
	fail    atomic.Bool
	refused atomic.Int32
}

func (f *failingDeletes) Delete(ctx context.Context, key string) error {
	if f.fail.Load() {
		f.refused.Add(1)
		return errors.New("injected delete failure")
	}
	return lake.Delete(ctx, f.Store, key)
}

// trainBatch runs a batch job of one worker over splits splits with a
// checkpoint after every split (so splits+1 checkpoints: the initial one,
// one per split). before, when set, runs once before the i-th split is
// trained.
func trainBatch(t *testing.T, co *Coordinator, l *Local, splits int, before func(i int)) {
	t.Helper()
	ctx := context.Background()
	if err := co.Register("a", splits); err != nil {
		t.Fatal(err)
	}
	called := -1
	for i := 0; ; {
		a, err := co.Acquire("a")
		if err != nil {
			t.Fatal(err)
		}
		switch a.State {
		case Done:
			return
		case Wait:
			if err := co.barrierWork(ctx); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if before != nil && called < i {
			called = i
			before(i)
		}
		if err := l.Push(ctx, "w", []uint64{uint64(a.Split)}, []float32{-1}); err != nil {
			t.Fatal(err)
		}
		if err := co.Complete("a", a.Split, a.Generation); err != nil {
			if errors.Is(err, ErrLeaseLost) {
				continue // a recovery rewound the split
			}
			t.Fatal(err)
		}
		i++
	}
}

func TestCoordinatorKeepsNewestCheckpoints(t *testing.T) {
	ctx := context.Background()
	l := mustLocal(t, Config{Tables: []TableSpec{{Name: "w", Width: 1, Optimizer: sgd(1)}}})
	store := newLocalLake(t)
	cp := &localCheckpointer{l: l, store: store}
	co, err := NewCoordinator(CoordinatorConfig{CheckpointEvery: 1, Shards: cp, Lake: store, Prefix: "ckpt", Keep: 2})
	if err != nil {
		t.Fatal(err)
	}
	trainBatch(t, co, l, 4, func(i int) {
		if i != 3 {
			return
		}
		// Checkpoints 0..3 taken, 0 and 1 pruned: a lost shard rolls
		// back to ckpt-000003, the newest.
		if got, want := lakeKeys(t, store), checkpointKeys("ckpt-000002", "ckpt-000003"); !slices.Equal(got, want) {
			t.Fatalf("after 4 checkpoints with Keep 2 the lake holds %q, want %q", got, want)
		}
		if err := l.Push(ctx, "w", []uint64{99}, []float32{-1}); err != nil {
			t.Fatal(err)
		}
		gen := co.Status().Generation
		if err := co.Fail("a", 3, gen, true, "shard lost"); err != nil {
			t.Fatal(err)
		}
		if err := co.barrierWork(ctx); err != nil {
			t.Fatal(err)
		}
		if n, _ := l.Len("w"); n != 3 || co.Status().Generation != gen+1 {
			t.Fatalf("after the recovery: %d rows in generation %d, want ckpt-000003's 3 rows in generation %d", n, co.Status().Generation, gen+1)
		}
	})
	st := co.Status()
	if !st.Finished || st.Checkpoints != 5 || st.LastCheckpoint != "ckpt-000004" {
		t.Fatalf("status %+v, want a finished job with 5 checkpoints", st)
	}
	if got, want := lakeKeys(t, store), checkpointKeys("ckpt-000003", "ckpt-000004"); !slices.Equal(got, want) {
		t.Fatalf("after 5 checkpoints with Keep 2 the lake holds %q, want %q", got, want)
	}
	if n, _ := l.Len("w"); n != 4 {
		t.Fatalf("%d rows at the end, want the 4 splits' keys", n)
	}
}

func TestCoordinatorPrunesEarlierRun(t *testing.T) {
	ctx := context.Background()
	store := newLocalLake(t)
	newTable := func() *Local {
		return mustLocal(t, Config{Tables: []TableSpec{{Name: "w", Width: 1, Optimizer: sgd(1)}}})
	}
	l := newTable()
	earlier, err := NewCoordinator(CoordinatorConfig{CheckpointEvery: 1, Shards: &localCheckpointer{l: l, store: store}, Lake: store, Prefix: "ckpt", Keep: 10})
	if err != nil {
		t.Fatal(err)
	}
	trainBatch(t, earlier, l, 1, nil) // ckpt-000000, ckpt-000001
	// The earlier run had two shards in ckpt-000001 (its manifest lists
	// the second's snapshot) and a file no manifest lists in ckpt-000000.
	other := SnapshotKey("ckpt", "ckpt-000001", 1, 2)
	stray := SnapshotKey("ckpt", "ckpt-000000", 1, 2)
	var m Manifest
	raw, err := lake.ReadAll(ctx, store, "ckpt/ckpt-000001/manifest.json")
	if err == nil {
		err = json.Unmarshal(raw, &m)
	}
	if err != nil {
		t.Fatal(err)
	}
	m.Shards = append(m.Shards, other)
	raw, _ = json.Marshal(m)
	for k, v := range map[string][]byte{other: []byte("x"), stray: []byte("x"), "ckpt/ckpt-000001/manifest.json": raw} {
		if err := store.Put(ctx, k, bytes.NewReader(v), int64(len(v))); err != nil {
			t.Fatal(err)
		}
	}

	// The new run's names restart at ckpt-000000 and overwrite the
	// earlier run's: Keep 2 keeps the earlier ckpt-000001 after the new
	// ckpt-000000; the new ckpt-000001 replaces it and must survive.
	l = newTable()
	co, err := NewCoordinator(CoordinatorConfig{CheckpointEvery: 1, Shards: &localCheckpointer{l: l, store: store}, Lake: store, Prefix: "ckpt", Keep: 2})
	if err != nil {
		t.Fatal(err)
	}
	trainBatch(t, co, l, 2, nil) // ckpt-000000..ckpt-000002
	if got, want := lakeKeys(t, store), checkpointKeys("ckpt-000001", "ckpt-000002"); !slices.Equal(got, want) {
		t.Fatalf("after the new run's 3 checkpoints with Keep 2 the lake holds %q, want %q", got, want)
	}
	raw, err = lake.ReadAll(ctx, store, "ckpt/ckpt-000001/manifest.json")
	if err == nil {
		err = json.Unmarshal(raw, &m)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Done) != 2 || len(m.Shards) != 1 {
		t.Fatalf("ckpt-000001 is not the new run's (2 splits, 1 shard):\n%s", raw)
	}
}

func TestCoordinatorCheckpointsWhenDeleteFails(t *testing.T) {
	l := mustLocal(t, Config{Tables: []TableSpec{{Name: "w", Width: 1, Optimizer: sgd(1)}}})
	store := &failingDeletes{Store: newLocalLake(t)}
	store.fail.Store(true)
	co, err := NewCoordinator(CoordinatorConfig{CheckpointEvery: 1, Shards: &localCheckpointer{l: l, store: store}, Lake: store, Prefix: "ckpt", Keep: 1})
	if err != nil {
		t.Fatal(err)
	}
	trainBatch(t, co, l, 4, func(i int) {
		if i == 3 {
			if store.refused.Load() == 0 {
				t.Fatal("retention never tried to delete")
			}
			if n := len(lakeKeys(t, store)); n != 2*4 {
				t.Fatalf("%d keys while deletes fail, want the 4 checkpoints' 8", n)
			}
			store.fail.Store(false) // the last checkpoint retries them all
		}
	})
	if st := co.Status(); !st.Finished || st.Checkpoints != 5 {
		t.Fatalf("status %+v, want a finished job with 5 checkpoints", st)
	}
	if got, want := lakeKeys(t, store), checkpointKeys("ckpt-000004"); !slices.Equal(got, want) {
		t.Fatalf("after deletes work again the lake holds %q, want %q", got, want)
	}
}

func TestCoordinatorKeepsPinned(t *testing.T) {
	l := mustLocal(t, Config{Tables: []TableSpec{{Name: "w", Width: 1, Optimizer: sgd(1)}}})
	store := newLocalLake(t)
	co, err := NewCoordinator(CoordinatorConfig{CheckpointEvery: 1, Shards: &localCheckpointer{l: l, store: store}, Lake: store, Prefix: "ckpt", Keep: 2})
	if err != nil {
		t.Fatal(err)
	}
	co.Pin("ckpt-000001")
	trainBatch(t, co, l, 4, nil)
	if got, want := lakeKeys(t, store), checkpointKeys("ckpt-000001", "ckpt-000003", "ckpt-000004"); !slices.Equal(got, want) {
		t.Fatalf("with ckpt-000001 pinned the lake holds %q, want %q", got, want)
	}
	if _, err := NewCoordinator(CoordinatorConfig{Keep: -1}); err == nil {
		t.Fatal("Keep -1 accepted")
	}
}

// streamJob drives a StreamCoordinator with one worker on one partition
// whose record r pushes -1 to key r.
type streamJob struct {
	t      *testing.T
	co     *StreamCoordinator
	l      *Local
	inst   string
	gen    int64
	offset int64
	seeked int64 // the offset of the last seek
	stop   func()
}

func startStreamJob(t *testing.T, store lake.Store, l *Local, keep int) *streamJob {
	t.Helper()
	co, err := NewStreamCoordinator(StreamCoordinatorConfig{Workers: 1, Partitions: 1, Topic: "t", Shards: &localCheckpointer{l: l, store: store},
		Lake: store, Prefix: "ckpt", Keep: keep})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = co.Run(ctx, time.Millisecond)
	}()
	j := &streamJob{t: t, co: co, l: l, inst: t.Name() + time.Now().String(), stop: func() { cancel(); <-done }}
	t.Cleanup(j.stop)
	j.report(StreamReport{Stopped: true})
	j.waitFor("running", func(st StreamStatus) bool { return st.Phase == "running" })
	j.release()
	return j
}

func (j *streamJob) report(r StreamReport) StreamOrder {
	j.t.Helper()
	r.Worker, r.Instance = 0, j.inst
	if r.Generation == 0 {
		r.Generation = j.gen
	}
	o, err := j.co.Report(context.Background(), r)
	if err != nil {
		j.t.Fatal(err)
	}
	return o
}

func (j *streamJob) waitFor(what string, cond func(StreamStatus) bool) {
	j.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := j.co.WaitFor(ctx, cond); err != nil {
		j.t.Fatalf("waiting for %s: %v (status %+v)", what, err, j.co.Status())
	}
}

// release reports the stopped worker until it is told to run, and seeks.
func (j *streamJob) release() {
	j.t.Helper()
	o := j.report(StreamReport{Stopped: true, Offsets: map[int32]int64{0: j.offset}})
	if o.Command != StreamRun {
		j.t.Fatalf("order %+v, want run", o)
	}
	j.gen = o.Generation
	if o.Seek {
		j.offset, j.seeked = o.Offsets[0], o.Offsets[0]
	}
}

// checkpoint trains one record and takes a checkpoint.
func (j *streamJob) checkpoint() {
	j.t.Helper()
	if err := j.l.Push(context.Background(), "w", []uint64{uint64(j.offset)}, []float32{-1}); err != nil {
		j.t.Fatal(err)
	}
	j.offset++
	n := j.co.Status().Checkpoints
	j.co.Checkpoint()
	j.waitFor("a barrier", func(st StreamStatus) bool { return st.Phase == "barrier" })
	j.report(StreamReport{Stopped: true, Barrier: j.co.Status().Barrier, Offsets: map[int32]int64{0: j.offset}, Examples: j.offset - j.seeked})
	j.waitFor("the checkpoint", func(st StreamStatus) bool { return st.Checkpoints == n+1 })
	j.release()
}

func streamKeys(barriers ...int) []string {
	var names []string
	for _, b := range barriers {
		names = append(names, "stream-"+strings.Repeat("0", 8)+string(rune('0'+b)))
	}
	return checkpointKeys(names...)
}

func TestStreamCoordinatorKeepsNewestCheckpoints(t *testing.T) {
	store := newLocalLake(t)
	l := mustLocal(t, Config{Tables: []TableSpec{{Name: "w", Width: 1, Optimizer: sgd(1)}}})
	j := startStreamJob(t, store, l, 2) // stream-000000000
	for range 4 {
		j.checkpoint() // stream-000000001..4
	}
	// The newest checkpoint is taken by the background loop, which then
	// prunes: wait for it to be done with the lake.
	want := streamKeys(3, 4)
	deadline := time.Now().Add(time.Minute)
	for !slices.Equal(lakeKeys(t, store), want) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := lakeKeys(t, store); !slices.Equal(got, want) {
		t.Fatalf("after 5 checkpoints with Keep 2 the lake holds %q, want %q", got, want)
	}
	// A lost shard rolls back to the newest, stream-000000004 (4 records).
	if err := l.Push(context.Background(), "w", []uint64{99}, []float32{-1}); err != nil {
		t.Fatal(err)
	}
	j.report(StreamReport{Stopped: true, ShardLost: true, Offsets: map[int32]int64{0: j.offset + 1}})
	j.waitFor("the rollback", func(st StreamStatus) bool { return st.Recoveries == 1 && st.Phase == "running" })
	j.release()
	if n, _ := l.Len("w"); n != 4 || j.offset != 4 {
		t.Fatalf("after the rollback: %d rows, offset %d; want stream-000000004's 4 rows and offset 4", n, j.offset)
	}
}

func TestStreamCoordinatorPrunesEarlierRun(t *testing.T) {
	store := newLocalLake(t)
	l := mustLocal(t, Config{Tables: []TableSpec{{Name: "w", Width: 1, Optimizer: sgd(1)}}})
	j := startStreamJob(t, store, l, 10)
	for range 4 {
		j.checkpoint()
	}
	j.stop()
	if got, want := lakeKeys(t, store), streamKeys(0, 1, 2, 3, 4); !slices.Equal(got, want) {
		t.Fatalf("the earlier run left %q, want %q", got, want)
	}
	// A new process resumes from stream-000000004 with empty tables.
	l = mustLocal(t, Config{Tables: []TableSpec{{Name: "w", Width: 1, Optimizer: sgd(1)}}})
	j = startStreamJob(t, store, l, 2)
	if n, _ := l.Len("w"); n != 4 || j.offset != 4 {
		t.Fatalf("resumed with %d rows at offset %d, want stream-000000004's 4 rows and offset 4", n, j.offset)
	}
	if got, want := lakeKeys(t, store), streamKeys(0, 1, 2, 3, 4); !slices.Equal(got, want) {
		t.Fatalf("before the new run's first checkpoint the lake holds %q, want %q untouched", got, want)
	}
	j.checkpoint() // stream-000000005
	want := streamKeys(4, 5)
	deadline := time.Now().Add(time.Minute)
	for !slices.Equal(lakeKeys(t, store), want) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := lakeKeys(t, store); !slices.Equal(got, want) {
		t.Fatalf("after the new run's first checkpoint with Keep 2 the lake holds %q, want %q", got, want)
	}
}

func TestStreamCoordinatorCheckpointsWhenDeleteFails(t *testing.T) {
	store := &failingDeletes{Store: newLocalLake(t)}
	store.fail.Store(true)
	l := mustLocal(t, Config{Tables: []TableSpec{{Name: "w", Width: 1, Optimizer: sgd(1)}}})
	j := startStreamJob(t, store, l, 1)
	for range 3 {
		j.checkpoint()
	}
	if st := j.co.Status(); st.Checkpoints != 4 || st.Phase != "running" {
		t.Fatalf("status %+v while deletes fail, want 4 checkpoints and a running job", st)
	}
	if store.refused.Load() == 0 {
		t.Fatal("retention never tried to delete")
	}
	store.fail.Store(false)
	j.checkpoint() // stream-000000004 retries the deletes of 0..3
	want := streamKeys(4)
	deadline := time.Now().Add(time.Minute)
	for !slices.Equal(lakeKeys(t, store), want) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := lakeKeys(t, store); !slices.Equal(got, want) {
		t.Fatalf("after deletes work again the lake holds %q, want %q", got, want)
	}
}
