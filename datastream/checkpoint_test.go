package datastream_test

import (
	"context"
	"errors"
	"fmt"
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
	// Event times are in 1970, the clock is not: the lag is decades.
	if got := metricValue(t, reg, "lakestream_datastream_watermark_lag_seconds", "count"); got < 3600*24*365 {
		t.Errorf("watermark_lag_seconds{operator=count} = %v, want the decades since the rows' event time", got)
	}
	if got := metricValue(t, reg, "lakestream_datastream_checkpoint_size_bytes", ""); got <= 0 {
		t.Errorf("checkpoint_size_bytes = %v", got)
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
// lake.Store, the production checkpoint store: the in-memory double and
// the real MinIO (an integration test, skipped under -short).
func TestObjectCheckpointsOnLake(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testLakeCheckpoints(t, laketest.NewMemory()) })
	t.Run("minio", func(t *testing.T) { testLakeCheckpoints(t, laketest.MinIO(t)) })
}

func testLakeCheckpoints(t *testing.T, lakeStore lake.Store) {
	all := randomClicks(12, 10, 20, 5, 0)
	steps := stepsOf(t, all, 20)
	store := datastream.ObjectCheckpoints(lakeStore, lake.ErrNotExist)
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

// TestCheckpointAfterASourceEnded checkpoints a job whose first source
// subtask has already ended, crashes it, and restores: the ended subtask
// resumes at its end, the other where it was, and the committed output is
// exact.
func TestCheckpointAfterASourceEnded(t *testing.T) {
	short := randomClicks(31, 5, 20, 6, 0)
	long := randomClicks(32, 30, 20, 6, 0)
	shortSteps, longSteps := stepsOf(t, short, 20), stepsOf(t, long, 20)
	build := func(srcs [2]*datastreamtest.Source, log *datastreamtest.TxLog, store datastream.CheckpointStore, opts ...datastream.Option) *datastream.Job {
		opts = append([]datastream.Option{datastream.WithCheckpoints(store, time.Hour, 2)}, opts...)
		job := datastream.NewJob("partial", opts...)
		s := job.Sources("clicks", func(i int) (datastream.Source, error) { return srcs[i], nil }, datastream.Parallelism(2),
			datastream.Watermarks(datastream.WatermarkStrategy{TimestampColumn: "ts"}))
		datastream.Aggregate(s.KeyBy("user").Window(datastream.Tumbling(time.Minute)), "count",
			datastream.Aggregates(datastream.Count("count"), datastream.SumInt("amount", "sum")), datastream.Parallelism(2)).
			To("sink", datastreamtest.NewTxSink(log))
		return job
	}
	store := datastreamtest.NewMemoryStore()
	log := datastreamtest.NewTxLog()
	first := [2]*datastreamtest.Source{datastreamtest.NewSource(nil, shortSteps...), datastreamtest.NewSource(nil, longSteps...).BlockAt(12)}
	job := build(first, log, store)
	ctx, cancel := context.WithCancel(testCtx(t))
	done := runAsync(ctx, job)
	<-first[1].Blocked()
	<-first[0].Ended()
	time.Sleep(20 * time.Millisecond) // let the short subtask deliver its end
	id, err := job.TriggerCheckpoint(ctx)
	if err != nil {
		t.Fatalf("checkpoint with one source ended: %v", err)
	}
	cancel()
	<-done
	m, err := datastream.LatestCheckpoint(testCtx(t), store, "partial")
	if err != nil || m.ID != id || len(m.Sources) != 2 || len(m.States) != 5 {
		t.Fatalf("manifest %+v, %v", m, err)
	}
	second := [2]*datastreamtest.Source{datastreamtest.NewSource(nil, shortSteps...), datastreamtest.NewSource(nil, longSteps...)}
	if _, err := build(second, log, store, datastream.WithRestore()).Run(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if got, want := sorted(log.Committed()), referenceTumbling(append(short, long...), 60000); !slices.Equal(got, want) {
		t.Fatalf("committed %d rows, want %d", len(got), len(want))
	}
}

// TestRescaleKeyedState takes a savepoint of a job whose window and process
// operators run with parallelism 2 and resumes it with 3 and 1: keyed state
// moves to the subtasks its keys hash to, and the results are exact.
func TestRescaleKeyedState(t *testing.T) {
	all := randomClicks(41, 30, 40, 23, 0)
	steps := stepsOf(t, all, 40)
	build := func(src datastream.Source, log *datastreamtest.TxLog, store datastream.CheckpointStore, p int, opts ...datastream.Option) *datastream.Job {
		opts = append([]datastream.Option{datastream.WithCheckpoints(store, time.Hour, 2)}, opts...)
		job := datastream.NewJob("rescale", opts...)
		s := job.Source("clicks", src, datastream.Watermarks(datastream.WatermarkStrategy{TimestampColumn: "ts"}))
		datastream.Aggregate(s.KeyBy("user").Window(datastream.Tumbling(time.Minute)), "count",
			datastream.Aggregates(datastream.Count("count"), datastream.SumInt("amount", "sum")), datastream.Parallelism(p)).
			To("sink", datastreamtest.NewTxSink(log))
		datastream.Process(s.KeyBy("user"), "joins", joinSchema, datastream.KeyedProcessFunc[joinState](joinCount{}), datastream.Parallelism(p)).
			To("totals", datastreamtest.NewTxSink(log))
		return job
	}
	var want []string
	counts := map[string]int64{}
	for _, c := range all {
		counts[c.user]++
	}
	for u, n := range counts {
		want = append(want, fmt.Sprintf("user=%s left=%d right=0", u, n))
	}
	want = sorted(append(want, referenceTumbling(all, 60000)...))
	for _, newP := range []int{3, 1} {
		t.Run(fmt.Sprintf("2to%d", newP), func(t *testing.T) {
			store := datastreamtest.NewMemoryStore()
			log := datastreamtest.NewTxLog()
			src := datastreamtest.NewSource(nil, steps...).BlockAt(13)
			job := build(src, log, store, 2)
			done := runAsync(testCtx(t), job)
			<-src.Blocked()
			if _, err := job.StopWithSavepoint(testCtx(t)); err != nil {
				t.Fatal(err)
			}
			if r := <-done; r.err != nil {
				t.Fatal(r.err)
			}
			if _, err := build(datastreamtest.NewSource(nil, steps...), log, store, newP, datastream.WithRestore()).Run(testCtx(t)); err != nil {
				t.Fatal(err)
			}
			if got := sorted(log.Committed()); !slices.Equal(got, want) {
				t.Fatalf("committed %d rows, want %d", len(got), len(want))
			}
		})
	}
}

func TestRescaleSourceFails(t *testing.T) {
	store := datastreamtest.NewMemoryStore()
	steps := stepsOf(t, randomClicks(42, 4, 10, 3, 0), 10)
	build := func(p int, opts ...datastream.Option) (*datastream.Job, *datastreamtest.Source) {
		src := datastreamtest.NewSource(nil, steps...).BlockAt(2)
		opts = append([]datastream.Option{datastream.WithCheckpoints(store, time.Hour, 2)}, opts...)
		job := datastream.NewJob("rescale-source", opts...)
		job.Sources("clicks", func(int) (datastream.Source, error) { return src, nil }, datastream.Parallelism(p)).
			To("sink", datastreamtest.NewSink())
		return job, src
	}
	job, src := build(1)
	done := runAsync(testCtx(t), job)
	<-src.Blocked()
	if _, err := job.StopWithSavepoint(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	<-done
	job2, _ := build(2, datastream.WithRestore())
	if _, err := job2.Run(testCtx(t)); err == nil || !strings.Contains(err.Error(), "cannot change parallelism") {
		t.Fatalf("restore with another source parallelism: %v", err)
	}
}
