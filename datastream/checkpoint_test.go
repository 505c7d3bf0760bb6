package datastream_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lakestream/lakestream/datastream"
	"github.com/lakestream/lakestream/datastream/datastreamtest"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/lake/laketest"
)

// countJob builds source -> KeyBy(user) -> 1m tumbling count/sum (p=2) ->
// transactional sink, with checkpoints in store.
func countJob(src datastream.Source, sink datastream.Sink, store datastream.CheckpointStore, opts ...datastream.Option) *datastream.Job {
	opts = append([]datastream.Option{datastream.WithCheckpoints(store, time.Hour, 2)}, opts...)
	job := datastream.NewJob("count", opts...)
	s := job.Source("clicks", src, datastream.Watermarks(datastream.WatermarkStrategy{TimestampColumn: "ts", OutOfOrderness: 2 * time.Second}))
	datastream.Aggregate(s.KeyBy("user").Window(datastream.Tumbling(time.Minute)), "count",
		datastream.Aggregates(datastream.Count("count"), datastream.SumInt("amount", "sum")), datastream.Parallelism(2)).
		To("sink", sink)
	return job
}

type runResult struct {
	sum *datastream.Summary
	err error
}

func runAsync(ctx context.Context, job *datastream.Job) <-chan runResult {
	ch := make(chan runResult, 1)
	go func() {
		s, err := job.Run(ctx)
		ch <- runResult{s, err}
	}()
	return ch
}

// TestCrashRestoreExactlyOnce kills a keyed-count job at random points ten
// times (canceling it without a final checkpoint, after a checkpoint taken
// at a random position) and restarts it from the latest checkpoint; the
// rows committed by the transactional sink equal those of an uninterrupted
// run, with no duplicates and no gaps.
func TestCrashRestoreExactlyOnce(t *testing.T) {
	all := randomClicks(21, 60, 40, 25, 1500)
	steps := stepsOf(t, all, 40)

	refLog := datastreamtest.NewTxLog()
	if _, err := countJob(datastreamtest.NewSource(nil, steps...), datastreamtest.NewTxSink(refLog), datastreamtest.NewMemoryStore()).Run(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	want := sorted(refLog.Committed())
	if len(want) == 0 || !slices.Equal(want, referenceTumbling(all, 60000)) {
		t.Fatalf("uninterrupted run committed %d rows, want the %d reference results", len(want), len(referenceTumbling(all, 60000)))
	}

	rng := rand.New(rand.NewPCG(4, 2))
	store := datastreamtest.NewMemoryStore()
	log := datastreamtest.NewTxLog()
	for crashes := range 10 {
		ctx, cancel := context.WithCancel(context.Background())
		stop := rng.IntN(len(steps))
		src := datastreamtest.NewSource(nil, steps...).BlockAt(stop)
		job := countJob(src, datastreamtest.NewTxSink(log), store, datastream.WithRestore())
		done := runAsync(ctx, job)
		// Checkpoint somewhere before the crash point, then crash there.
		for src.Next() < rng.IntN(stop+1) {
			time.Sleep(time.Millisecond)
		}
		if _, err := job.TriggerCheckpoint(ctx); err != nil && !errors.Is(err, datastream.ErrJobNotRunning) {
			t.Fatalf("crash %d: checkpoint: %v", crashes, err)
		}
		<-src.Blocked()
		cancel()
		if r := <-done; !errors.Is(r.err, context.Canceled) {
			t.Fatalf("crash %d: run ended with %v, want context.Canceled", crashes, r.err)
		}
	}
	src := datastreamtest.NewSource(nil, steps...)
	if _, err := countJob(src, datastreamtest.NewTxSink(log), store, datastream.WithRestore()).Run(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	got := log.Committed()
	if !slices.Equal(sorted(got), want) {
		t.Fatalf("after 10 crashes: committed %d rows, uninterrupted %d", len(got), len(want))
	}
	if len(log.Commits()) < 2 {
		t.Errorf("only %d commits: the crashes did not exercise restore", len(log.Commits()))
	}
}

func TestStopWithSavepointAndResume(t *testing.T) {
	all := randomClicks(8, 30, 40, 10, 0)
	steps := stepsOf(t, all, 40)
	store := datastreamtest.NewMemoryStore()
	log := datastreamtest.NewTxLog()

	src := datastreamtest.NewSource(nil, steps...).BlockAt(17)
	job := countJob(src, datastreamtest.NewTxSink(log), store)
	done := runAsync(testCtx(t), job)
	<-src.Blocked()
	id, err := job.StopWithSavepoint(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("run after savepoint: %v", r.err)
	}
	m, err := datastream.LatestCheckpoint(testCtx(t), store, "count")
	if err != nil || m.ID != id || !m.Savepoint || len(m.Sources) != 1 {
		t.Fatalf("latest checkpoint %+v, %v; want savepoint %d with one source position", m, err, id)
	}
	if !src.Closed() {
		t.Error("source not closed after stop-with-savepoint")
	}

	src2 := datastreamtest.NewSource(nil, steps...)
	sum, err := countJob(src2, datastreamtest.NewTxSink(log), store, datastream.WithRestore()).Run(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if sum.RestoredFrom != id {
		t.Errorf("restored from %d, want %d", sum.RestoredFrom, id)
	}
	if got, want := sorted(log.Committed()), referenceTumbling(all, 60000); !slices.Equal(got, want) {
		t.Fatalf("committed %d rows, want %d", len(got), len(want))
	}
	if o := sum.Operator("count"); o.RecordsIn != int64(len(all)-17*40) {
		t.Errorf("resumed job read %d rows, want the %d after the savepoint", o.RecordsIn, len(all)-17*40)
	}
}

// TestCheckpointRetentionAndCommits checks the store layout, retention of
// the last two checkpoints, source commits after durability and the
// checkpoint metrics.
func TestCheckpointRetentionAndCommits(t *testing.T) {
	all := randomClicks(9, 10, 20, 5, 0)
	store := datastreamtest.NewMemoryStore()
	reg := prometheus.NewRegistry()
	src := datastreamtest.NewSource(nil, stepsOf(t, all, 20)...).BlockAt(10)
	job := countJob(src, datastreamtest.NewSink(), store, datastream.WithMetrics(reg))
	ctx, cancel := context.WithCancel(testCtx(t))
	done := runAsync(ctx, job)
	<-src.Blocked()
	var ids []int64
	for range 4 {
		id, err := job.TriggerCheckpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if !slices.Equal(ids, []int64{1, 2, 3, 4}) {
		t.Errorf("checkpoint ids %v", ids)
	}
	if got := metricValue(t, reg, "lakestream_datastream_records_in_total", "count"); got != float64(len(all)) {
		t.Errorf("records_in_total{operator=count} = %v, want %d", got, len(all))
	}
	if got := metricValue(t, reg, "lakestream_datastream_checkpoints_total", ""); got != 4 {
		t.Errorf("checkpoints_total = %v, want 4", got)
	}
	cancel()
	r := <-done
	if !errors.Is(r.err, context.Canceled) {
		t.Fatalf("run: %v", r.err)
	}
	keys := store.Keys("checkpoints/count/")
	want := []string{
		"checkpoints/count/3/clicks-0.state", "checkpoints/count/3/count-0.state", "checkpoints/count/3/count-1.state",
		"checkpoints/count/3/manifest.json", "checkpoints/count/3/sink-0.state",
		"checkpoints/count/4/clicks-0.state", "checkpoints/count/4/count-0.state", "checkpoints/count/4/count-1.state",
		"checkpoints/count/4/manifest.json", "checkpoints/count/4/sink-0.state",
		"checkpoints/count/latest",
	}
	if !slices.Equal(keys, want) {
		t.Errorf("store keys\n%s\nwant\n%s", strings.Join(keys, "\n"), strings.Join(want, "\n"))
	}
	if c := src.Commits(); !slices.Equal(c, ids) {
		t.Errorf("source commits %v, want %v", c, ids)
	}
	cs := r.sum.Checkpoints
	if cs.Completed != 4 || cs.LastID != 4 || cs.LastSize <= 0 || cs.Failed != 0 {
		t.Errorf("checkpoint summary %+v", cs)
	}
}

// metricValue returns the value of the counter or gauge name with the
// given operator label ("" for none) from reg.
func metricValue(t *testing.T, reg *prometheus.Registry, name, operator string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			op := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "operator" {
					op = l.GetValue()
				}
			}
			if op != operator {
				continue
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s{operator=%q} not found", name, operator)
	return 0
}

func TestFailedCheckpointKeepsRunning(t *testing.T) {
	all := randomClicks(10, 6, 20, 5, 0)
	store := datastreamtest.NewMemoryStore()
	src := datastreamtest.NewSource(nil, stepsOf(t, all, 20)...).BlockAt(3)
	log := datastreamtest.NewTxLog()
	job := countJob(src, datastreamtest.NewTxSink(log), store)
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	done := runAsync(ctx, job)
	<-src.Blocked()
	store.FailPuts("count-1.state")
	if _, err := job.TriggerCheckpoint(ctx); err == nil {
		t.Fatal("checkpoint with a failing state write succeeded")
	}
	store.FailPuts("")
	id, err := job.TriggerCheckpoint(ctx)
	if err != nil {
		t.Fatalf("checkpoint after the failure: %v", err)
	}
	cancel()
	r := <-done
	if r.sum.Checkpoints.Failed != 1 || r.sum.Checkpoints.Completed != 1 || id != 2 {
		t.Errorf("checkpoints %+v, id %d", r.sum.Checkpoints, id)
	}
	if keys := store.Keys("checkpoints/count/1/"); len(keys) != 0 {
		t.Errorf("failed checkpoint left %q", keys)
	}
	if !slices.Equal(log.Commits(), []int64{2}) {
		t.Errorf("sink commits %v, want [2]", log.Commits())
	}
}

// TestObjectCheckpointsOnLake runs a checkpoint and a restore through a
// lake.Store, the production checkpoint store.
func TestObjectCheckpointsOnLake(t *testing.T) {
	all := randomClicks(12, 10, 20, 5, 0)
	steps := stepsOf(t, all, 20)
	store := datastream.ObjectCheckpoints(laketest.NewMemory(), lake.ErrNotExist)
	if _, err := datastream.LatestCheckpoint(testCtx(t), store, "count"); !errors.Is(err, datastream.ErrNoCheckpoint) {
		t.Fatalf("latest of an empty store: %v, want ErrNoCheckpoint", err)
	}
	log := datastreamtest.NewTxLog()
	src := datastreamtest.NewSource(nil, steps...).BlockAt(5)
	job := countJob(src, datastreamtest.NewTxSink(log), store)
	ctx, cancel := context.WithCancel(testCtx(t))
	done := runAsync(ctx, job)
	<-src.Blocked()
	if _, err := job.TriggerCheckpoint(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	if _, err := countJob(datastreamtest.NewSource(nil, steps...), datastreamtest.NewTxSink(log), store, datastream.WithRestore()).Run(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if got, want := sorted(log.Committed()), referenceTumbling(all, 60000); !slices.Equal(got, want) {
		t.Fatalf("committed %d rows, want %d", len(got), len(want))
	}
}
