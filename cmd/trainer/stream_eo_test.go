package main

import (
	"context"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/datastream/kafka/kafkatest"
	"github.com/lakestream/lakestream/eval"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/train/clicklog"
	"github.com/lakestream/lakestream/train/job"
	"github.com/lakestream/lakestream/train/publish"
)

// TestTrainerStreamExactlyOnce is the stream exactly-once acceptance test:
// "trainer stream" on a real 4-partition topic with publishing on, killed
// with SIGKILL 10 times at seeded random points and restarted each time,
// ends with the model of an uninterrupted run; its example counter and its
// prequential accumulators count every record once, and the lineage
// offsets of its versions never go backwards.
//
// The order in which the source interleaves the partitions depends on
// fetch timing, in every run (killed or not): per-partition order is fixed,
// the interleaving is not, so two uninterrupted runs differ too. The test
// measures that difference (a second uninterrupted run) and bounds the
// resumed run's difference from the first by it (see the bound below);
// exactness is checked where it is exact: the counters.
//
// The suite trains ~150k records; LAKESTREAM_STREAM_EO_ROWS=1000000 runs
// the full acceptance count. LAKESTREAM_KILL_SEED replays the kill points.
func TestTrainerStreamExactlyOnce(t *testing.T) {
	rows := 150_000
	if s := os.Getenv("LAKESTREAM_STREAM_EO_ROWS"); s != "" {
		var err error
		if rows, err = strconv.Atoi(s); err != nil || rows < 10_000 {
			t.Fatalf("LAKESTREAM_STREAM_EO_ROWS=%q: want a count ≥ 10000", s)
		}
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("LAKESTREAM_KILL_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("LAKESTREAM_KILL_SEED=%q: %v", s, err)
		}
	}
	t.Logf("kill seed %d (LAKESTREAM_KILL_SEED=%d replays it)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0x656f6b6c))

	// Three of the lake's four days are the training rows.
	c := newSizedCluster(t, rows*4/3, "logistic") // skips under -short
	brokers := kafkatest.Brokers(t)
	s := &streamRun{cluster: c, brokers: brokers, adm: kafkatest.Admin(t, brokers)}
	s.topic = kafkatest.Topic(t, brokers, 4, nil)
	s.dlq = kafkatest.Topic(t, brokers, 1, nil)
	// The lake's rows are in day order, and the days drift; the source
	// reads the partitions in an order that fetch timing decides, and a
	// restarted source fetches from a few partitions first, so one run may
	// train a partition's last day before another's first. Shuffled in
	// blocks of 5,000 rows, every partition holds all days throughout, and
	// the runs differ by the interleaving of like data only.
	recs := s.trainingRows()
	rand.New(rand.NewPCG(seed, 1)).Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
	n := s.produce(recs)
	t.Logf("%d records on a 4-partition topic", n)
	publishEvery := max(n/20, 1000)
	run := func(output string, extra ...string) *proc {
		args := []string{"stream", "--lake", c.lake, "--data", "clicks", "--spec", c.spec,
			"--dt", c.days[0].DT + ".." + c.days[len(c.days)-2].DT, "--model", "logistic", "--seed", "7", "--batch-size", "256",
			"--topic", s.topic, "--kafka-brokers", strings.Join(brokers, ","), "--dead-letter-topic", s.dlq, "--output", output,
			"--publish-every", strconv.Itoa(publishEvery), "--max-drop", "1", "--max-records", strconv.Itoa(n),
			"--model-topic", kafkatest.Name(t, "models")}
		return c.start(output, append(args, extra...)...)
	}
	ref := run("ref")
	start := time.Now()
	if err := waitExit(ref, 5*time.Minute); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, tail(ref.errb.String(), 3000))
	}
	full := time.Since(start)
	t.Logf("uninterrupted run: %s\n%s", full.Round(time.Millisecond), ref.out.String())
	again := run("again")
	if err := waitExit(again, 5*time.Minute); err != nil {
		t.Fatalf("second uninterrupted run: %v\n%s", err, tail(again.errb.String(), 3000))
	}

	// Checkpoints every 1/30 of the uninterrupted run, so a fast machine
	// and a slow one take as many.
	every := max(full/30, 20*time.Millisecond)
	ckDir := filepath.Join(c.lake, "checkpoints", "trainer-stream-resumed")
	resumes := 0
	for i := range 10 {
		// Killed a random 0-5% of the uninterrupted run's time after the
		// run began writing a checkpoint of its own (at a fixed time a fast
		// machine could kill every run before its first checkpoint).
		after := time.Duration(float64(full) * 0.05 * rng.Float64())
		before := stateFiles(t, ckDir)
		p := run("resumed", "--checkpoint-every", every.String())
		deadline := time.Now().Add(2 * time.Minute)
		for !hasNew(stateFiles(t, ckDir), before) && time.Now().Before(deadline) {
			time.Sleep(2 * time.Millisecond)
		}
		time.Sleep(after)
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatalf("kill %d: %v", i+1, err)
		}
		<-p.done
		if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("run %d ended before its kill at %s (%v):\n%s", i+1, after, p.err, tail(p.errb.String(), 3000))
		}
		if strings.Contains(p.errb.String(), "resuming from the job's latest checkpoint") {
			resumes++
		}
		t.Logf("run %d killed %s after its first checkpoint began", i+1, after.Round(time.Millisecond))
	}
	last := run("resumed", "--checkpoint-every", every.String())
	if err := waitExit(last, 5*time.Minute); err != nil {
		t.Fatalf("final run: %v\n%s", err, tail(last.errb.String(), 3000))
	}
	if !strings.Contains(last.errb.String(), "resuming from the job's latest checkpoint") {
		t.Errorf("the final run did not resume from a checkpoint:\n%s", tail(last.errb.String(), 3000))
	}
	resumes++
	t.Logf("final run (%d of 11 runs resumed from a checkpoint):\n%s", resumes, last.out.String())
	if resumes < 10 {
		t.Errorf("%d of 11 runs resumed from a checkpoint; each run after the first should", resumes)
	}

	ctx := context.Background()
	store, err := lake.NewLocal(c.lake)
	if err != nil {
		t.Fatal(err)
	}
	final := map[string]*model.Model{}
	for _, name := range []string{"ref", "again", "resumed"} {
		m, err := model.Load(ctx, store, name, 0)
		if err != nil {
			t.Fatal(err)
		}
		final[name] = m
		var sum int64
		for _, off := range m.Meta().Lineage.Offsets {
			sum += off
		}
		if m.Meta().Rows != int64(n) || sum != int64(n) {
			t.Errorf("%s: final version counts %d examples at offsets summing to %d, want %d", name, m.Meta().Rows, sum, n)
		}
		st, err := publish.ReadStatus(ctx, store, "stream-"+name)
		if err != nil {
			t.Fatal(err)
		}
		if st.Examples != int64(n) || st.Prequential.Total.Examples != int64(n) {
			t.Errorf("%s: status counts %d examples, prequential total %d; want %d each (every record once)",
				name, st.Examples, st.Prequential.Total.Examples, n)
		}
		mfs, err := model.Versions(ctx, store, name)
		if err != nil {
			t.Fatal(err)
		}
		var prev map[int32]int64
		var prevEx int64
		for _, mf := range mfs {
			l := mf.Meta.Lineage
			for part, off := range prev {
				if l.Offsets[part] < off {
					t.Errorf("%s version %d: lineage offsets %v behind the previous version's %v", name, mf.Meta.Version, l.Offsets, prev)
				}
			}
			if l.Examples <= prevEx {
				t.Errorf("%s version %d: %d examples, the previous version %d", name, mf.Meta.Version, l.Examples, prevEx)
			}
			prev, prevEx = l.Offsets, l.Examples
		}
		t.Logf("%s: %d versions", name, len(mfs))
	}
	// The group holds the offsets of the final checkpoint (the savepoint),
	// committed once it was durable: the end of every partition.
	s.group = "lakestream-stream-resumed"
	end, committed, err := s.offsets()
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(committed, end) || !maps.Equal(committed, final["resumed"].Meta().Lineage.Offsets) {
		t.Errorf("group %s committed %v; want the end offsets %v, the final version's lineage %v", s.group, committed, end, final["resumed"].Meta().Lineage.Offsets)
	}
	noise := job.TablesDiff(tableData(final["ref"]), tableData(final["again"]))
	diff := job.TablesDiff(tableData(final["ref"]), tableData(final["resumed"]))
	// Scored on the held-out day: the mean absolute difference of the
	// predicted probabilities, and the AUCs.
	held := s.dayRows(c.days[len(c.days)-1].DT)
	scores := map[string][]float64{}
	var labels []float64
	for _, r := range held {
		y := r.Column(r.Schema().FieldIndices("click")[0]).(*array.Int32)
		for i := range y.Len() {
			labels = append(labels, float64(y.Value(i)))
		}
	}
	for name, m := range final {
		for _, r := range held {
			dst := make([]float64, r.NumRows())
			if err := m.Score(r, dst); err != nil {
				t.Fatal(err)
			}
			scores[name] = append(scores[name], dst...)
		}
	}
	meanDiff := func(a, b []float64) float64 {
		d := 0.0
		for i := range a {
			d += math.Abs(a[i] - b[i])
		}
		return d / float64(len(a))
	}
	auc := map[string]float64{}
	for name, sc := range scores {
		if auc[name], err = eval.ROCAUC(sc, labels, nil); err != nil {
			t.Fatal(err)
		}
	}
	scoreNoise, scoreDiff := meanDiff(scores["ref"], scores["again"]), meanDiff(scores["ref"], scores["resumed"])
	t.Logf("difference from the uninterrupted run: largest weight: resumed %g, second uninterrupted %g; mean |Δp| on the %d held-out rows: resumed %g, second uninterrupted %g; held-out AUC: uninterrupted %.6f, second %.6f, resumed %.6f",
		diff, noise, len(labels), scoreDiff, scoreNoise, auc["ref"], auc["again"], auc["resumed"])
	// The bound: the resumed run trains every record once, in an
	// interleaving of the partitions that differs from the reference's
	// (Kafka does not order partitions against each other), more than a
	// second uninterrupted run's does: a restarted source fetches from a
	// few partitions first. At 1M records one run measured mean |Δp|
	// 0.0055 resumed against 0.0019 for a second uninterrupted run, and
	// the same held-out AUC to 4e-6. Hence 4× the measured pair's figure
	// and at least 0.01 in probability (a pair can interleave alike by
	// chance). A lost or repeated stretch of records is caught exactly by
	// the counters above; that the state itself (optimizer state,
	// counters, evaluator, gate window) resumes bit for bit is
	// publish.TestStreamStateRoundTrip's.
	if bound := max(4*scoreNoise, 0.01); scoreDiff > bound {
		t.Errorf("resumed model's predictions differ from the uninterrupted one's by %g on average (two uninterrupted runs: %g), above %g", scoreDiff, scoreNoise, bound)
	}
	if d := math.Abs(auc["resumed"] - auc["ref"]); d > max(4*math.Abs(auc["again"]-auc["ref"]), 0.001) {
		t.Errorf("held-out AUC: resumed %.6f, uninterrupted %.6f (second %.6f)", auc["resumed"], auc["ref"], auc["again"])
	}
}

// stateFiles lists the files of the checkpoints under dir (in their
// numbered folders, temporary files of a write in progress included), not
// the warm-start base a job records when it starts.
func stateFiles(t *testing.T, dir string) map[string]bool {
	t.Helper()
	files := checkpointFiles(t, dir)
	for f := range files {
		rel, err := filepath.Rel(dir, f)
		id, _, nested := strings.Cut(rel, string(filepath.Separator))
		if _, perr := strconv.ParseInt(id, 10, 64); err != nil || !nested || perr != nil {
			delete(files, f)
		}
	}
	return files
}

// dayRows reads the rows of a dt day or range a..b of the cluster's lake,
// all columns but the dt partition.
func (s *streamRun) dayRows(dt string) []arrow.Record {
	s.t.Helper()
	ctx := context.Background()
	store, err := lake.NewLocal(s.lake)
	if err != nil {
		s.t.Fatal(err)
	}
	ds, err := dataset.Open(ctx, store, "clicks")
	if err != nil {
		s.t.Fatal(err)
	}
	where, err := job.DTFilter(dt)
	if err != nil {
		s.t.Fatal(err)
	}
	plan, err := ds.Plan(ctx, dataset.Query{Columns: clicklog.Columns(), Where: where})
	if err != nil {
		s.t.Fatal(err)
	}
	sc := plan.Scan(ctx, plan.Splits(), dataset.ScanOptions{BatchSize: 5000})
	defer sc.Close()
	var recs []arrow.Record
	for sc.Next() {
		r := sc.At()
		r.Retain()
		recs = append(recs, r)
	}
	if err := sc.Err(); err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() {
		for _, r := range recs {
			r.Release()
		}
	})
	return recs
}

// TestTrainerStreamKeepsWarmStartBase: a job warm-started from a model name
// resumes from its checkpoint with the base version its first run resolved,
// though the name now resolves to a newer version (the checkpoint holds the
// change from that base, and its fingerprint names it).
func TestTrainerStreamKeepsWarmStartBase(t *testing.T) {
	c := newCluster(t, "logistic") // skips under -short
	brokers := kafkatest.Brokers(t)
	s := &streamRun{cluster: c, brokers: brokers, adm: kafkatest.Admin(t, brokers)}
	s.topic = kafkatest.Topic(t, brokers, 1, nil)
	s.dlq = kafkatest.Topic(t, brokers, 1, nil)
	n := s.produce(s.trainingRows())
	run := func(output string, maxRecords int, extra ...string) *proc {
		t.Helper()
		args := []string{"stream", "--lake", c.lake, "--data", "clicks", "--spec", c.spec,
			"--dt", c.days[0].DT + ".." + c.days[len(c.days)-2].DT, "--model", "logistic", "--seed", "7",
			"--topic", s.topic, "--kafka-brokers", strings.Join(brokers, ","), "--dead-letter-topic", s.dlq, "--output", output,
			"--publish-every", "0", "--max-records", strconv.Itoa(maxRecords), "--model-topic", kafkatest.Name(t, "models")}
		p := c.start(output, append(args, extra...)...)
		if err := waitExit(p, 3*time.Minute); err != nil {
			t.Fatalf("trainer stream --output %s: %v\n%s", output, err, tail(p.errb.String(), 3000))
		}
		return p
	}
	run("base", 5000)                          // base v1
	run("ctr", 10000, "--warm-start", "base")  // from base@1, stopped at a savepoint
	run("base", 20000)                         // base v2: "base" now resolves to it
	p := run("ctr", n, "--warm-start", "base") // resumes from ctr's checkpoint, on base@1
	if !strings.Contains(p.errb.String(), "resuming from the job's latest checkpoint") || !strings.Contains(p.errb.String(), `"base":"base@1"`) {
		t.Errorf("the restarted job did not resume from its checkpoint on base@1:\n%s", tail(p.errb.String(), 3000))
	}
	if !strings.Contains(p.out.String(), fmt.Sprintf("trained %d examples", n)) {
		t.Errorf("want all %d examples trained once:\n%s", n, p.out.String())
	}
}
