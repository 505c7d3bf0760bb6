package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/datastream/kafka/kafkatest"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/train/clicklog"
	"github.com/lakestream/lakestream/train/job"
	"github.com/lakestream/lakestream/train/publish"
)

// TestTrainerStreamExactlyOnce is the stream exactly-once acceptance test:
// "trainer stream" on a real 4-partition topic with publishing on, killed
// with SIGKILL 10 times at seeded random points and restarted each time,
// ends with the model of an uninterrupted run, bit for bit, and with its
// prequential metrics; its example counter and its prequential
// accumulators count every record once, and the lineage offsets of its
// versions never go backwards. A second uninterrupted run ends with the
// same model too.
//
// Exactness holds because the records are in the topic before the runs
// start: the source merges the partitions in turn (kafka.MergeInTurn), so
// the order records reach training is a function of the topic's contents
// and the checkpoint's position (turn included), not of fetch timing, and
// the checkpoint holds the whole training state.
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
	n := s.produce(s.trainingRows())
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
	status := map[string]publish.Status{}
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
		status[name] = st
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
	// Bit for bit: the tables (weights and optimizer state as exported),
	// the held-out predictions and the prequential metrics.
	held := s.dayRows(c.days[len(c.days)-1].DT)
	scores := map[string][]float64{}
	for name, m := range final {
		for _, r := range held {
			dst := make([]float64, r.NumRows())
			if err := m.Score(r, dst); err != nil {
				t.Fatal(err)
			}
			scores[name] = append(scores[name], dst...)
		}
	}
	for _, name := range []string{"again", "resumed"} {
		if d := job.TablesDiff(tableData(final["ref"]), tableData(final[name])); d != 0 {
			t.Errorf("%s: the largest weight differs from the uninterrupted run's by %g; want the same model bit for bit", name, d)
		}
		if !slices.Equal(scores[name], scores["ref"]) {
			t.Errorf("%s: held-out predictions differ from the uninterrupted run's", name)
		}
		if got, want := status[name].Prequential, status["ref"].Prequential; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: prequential metrics %s, the uninterrupted run's %s", name, jsonString(got), jsonString(want))
		}
	}
	t.Logf("held-out rows scored alike by the three runs: %d", len(scores["ref"]))
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
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
