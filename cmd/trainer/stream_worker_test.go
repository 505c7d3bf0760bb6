package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lakestream/lakestream/datastream"
	"github.com/lakestream/lakestream/datastream/kafka"
	"github.com/lakestream/lakestream/datastream/kafka/kafkatest"
	"github.com/lakestream/lakestream/internal/kafkaretry"
	"github.com/lakestream/lakestream/paramserver"
	"github.com/lakestream/lakestream/train"
	"github.com/lakestream/lakestream/train/clicklog"
	"github.com/lakestream/lakestream/train/feature"
)

// The stream acceptance tests run real "trainer ps" shards and "trainer
// worker --topic" processes against the Kafka broker of
// LAKESTREAM_KAFKA_BROKERS: the rows of newCluster's three training days go
// to a topic as JSON, the workers share a consumer group, and the model is
// validated on the held-out day of the lake, as the bounded workers are.

// streamRun is one stream test: a cluster (lake, binary, job flags, one
// async shard), a topic, its dead-letter topic and a consumer group.
type streamRun struct {
	*cluster
	brokers           []string
	adm               *kadm.Client
	topic, dlq, group string
	groups            []string // every group used, to delete
	shards            []string
	workers           []*proc
}

func newStreamRun(t *testing.T, partitions int32) *streamRun {
	t.Helper()
	c := newCluster(t, "logistic") // skips under -short
	brokers := kafkatest.Brokers(t)
	s := &streamRun{cluster: c, brokers: brokers, adm: kafkatest.Admin(t, brokers)}
	s.topic = kafkatest.Topic(t, brokers, partitions, nil)
	s.dlq = kafkatest.Topic(t, brokers, 1, nil)
	s.newGroup()
	// Runs before the topics are deleted (cleanups run last-in first-out):
	// stop the workers, then drop the group.
	t.Cleanup(func() {
		terminate(s.workers)
		for _, p := range s.workers {
			_ = waitExit(p, 20*time.Second)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, g := range s.groups {
			_, _ = s.adm.DeleteGroup(ctx, g)
		}
	})
	s.shards = c.startShards(1, paramserver.Async)
	return s
}

// newGroup makes the workers started next join a fresh consumer group.
func (s *streamRun) newGroup() {
	s.group = kafkatest.Name(s.t, "g")
	s.groups = append(s.groups, s.group)
}

// waitExit waits for p to exit and returns its error.
func waitExit(p *proc, timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		return errors.New(p.name + " still running after " + timeout.String())
	}
}

func (s *streamRun) startStreamWorker(name string, extra ...string) *proc {
	args := append([]string{"worker", "--name", name, "--shards", strings.Join(s.shards, ","), "--token", "t0k",
		"--topic", s.topic, "--kafka-brokers", strings.Join(s.brokers, ","), "--group", s.group,
		"--dead-letter-topic", s.dlq, "--commit-interval", "300ms", "--session-timeout", "6s"}, s.jobArg...)
	p := s.start(name, append(args, extra...)...)
	s.workers = append(s.workers, p)
	return p
}

// trainingRows reads the rows of the cluster's training days (the --dt of
// the job) from the lake, all columns but the dt partition.
func (s *streamRun) trainingRows() []arrow.Record {
	s.t.Helper()
	return s.dayRows(s.days[0].DT + ".." + s.days[len(s.days)-2].DT)
}

// produce writes recs to the topic as JSON messages keyed by id (so Kafka
// spreads them over the partitions) and waits for the acknowledgements.
func (s *streamRun) produce(recs []arrow.Record) int {
	s.t.Helper()
	n, err := s.send(recs)
	if err != nil {
		s.t.Fatal(err)
	}
	return n
}

// send is produce for other goroutines than the test's: it returns errors.
func (s *streamRun) send(recs []arrow.Record) (int, error) {
	cfg := kafka.DefaultSinkConfig()
	cfg.Brokers, cfg.Topic, cfg.KeyColumn = s.brokers, s.topic, "id"
	sink, err := kafka.NewSink(cfg)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	defer sink.Close(ctx)
	n := 0
	for _, r := range recs {
		if err := sink.WriteBatch(ctx, datastream.Batch{Record: r}); err != nil {
			return n, err
		}
		n += int(r.NumRows())
	}
	if _, err := sink.PrepareCheckpoint(ctx, datastream.FinalCheckpointID); err != nil {
		return n, fmt.Errorf("flush %d rows to %s: %w", n, s.topic, err)
	}
	return n, nil
}

// assignment returns the group's members (by client ID, the worker's
// --name) and their partitions once the group is stable with members
// members holding every partition of the topic between them, each at least
// one.
func (s *streamRun) assignment(members int, timeout time.Duration) map[string][]int32 {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		gs, err := s.adm.DescribeGroups(ctx, s.group)
		md, merr := s.adm.Metadata(ctx, s.topic)
		cancel()
		if err == nil && merr == nil {
			g := gs[s.group]
			out := map[string][]int32{}
			total := 0
			for _, m := range g.Members {
				if c, ok := m.Assigned.AsConsumer(); ok {
					for _, tp := range c.Topics {
						if tp.Topic == s.topic {
							out[m.ClientID] = append(out[m.ClientID], tp.Partitions...)
							total += len(tp.Partitions)
						}
					}
				}
			}
			last = g.State + " " + strconv.Itoa(len(g.Members)) + " members " + formatAssignment(out)
			ok := g.State == "Stable" && len(g.Members) == members && len(out) == members &&
				total == len(md.Topics[s.topic].Partitions)
			if ok {
				return out
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("group %s: no stable assignment of %s to %d members within %s (last: %s)", s.group, s.topic, members, timeout, last)
	return nil
}

func formatAssignment(m map[string][]int32) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%v", k, slices.Sorted(slices.Values(m[k]))))
	}
	return strings.Join(parts, " ")
}

// offsets returns the topic's end offsets and the group's committed ones.
func (s *streamRun) offsets() (end, committed map[int32]int64, err error) {
	var ends kadm.ListedOffsets
	var cs kadm.OffsetResponses
	// Each request has 5s; a retriable answer (a coordinator or leader
	// moving under load) is asked again within kafkaretry's bound.
	err = kafkaretry.Do(context.Background(), func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var err error
		if ends, err = s.adm.ListEndOffsets(ctx, s.topic); err == nil {
			err = ends.Error()
		}
		if err != nil {
			return err
		}
		if cs, err = s.adm.FetchOffsets(ctx, s.group); err == nil {
			err = cs.Error()
		}
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	end, committed = map[int32]int64{}, map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { end[o.Partition] = o.Offset })
	cs.Each(func(o kadm.OffsetResponse) {
		if o.Topic == s.topic {
			committed[o.Partition] = o.At
		}
	})
	return end, committed, nil
}

// waitCommittedToEnd waits until the group's committed offset of every
// partition is the partition's end offset.
func (s *streamRun) waitCommittedToEnd(timeout time.Duration) map[int32]int64 {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	var end, committed map[int32]int64
	var err error
	for time.Now().Before(deadline) {
		end, committed, err = s.offsets()
		if err == nil && len(end) > 0 && maps.Equal(end, committed) {
			return end
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("group %s: committed offsets %v never reached the end offsets %v of %s within %s (last error %v)",
		s.group, committed, end, s.topic, timeout, err)
	return nil
}

// stopWorker sends SIGTERM and waits for a clean exit; it returns the
// examples the worker trained and the validation AUC it printed.
func (s *streamRun) stopWorker(p *proc) (int64, float64) {
	s.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		s.t.Fatal(err)
	}
	return s.finished(p)
}

// finished waits for p to exit successfully and parses its summary.
func (s *streamRun) finished(p *proc) (int64, float64) {
	s.t.Helper()
	if err := waitExit(p, time.Minute); err != nil {
		s.t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", p.name, err, p.out.String(), tail(p.errb.String(), 4000))
	}
	out := p.out.String()
	m := trainedLine.FindStringSubmatch(out)
	a := aucLine.FindStringSubmatch(out)
	if m == nil || a == nil {
		s.t.Fatalf("%s printed no trained count or validation AUC:\n%s", p.name, out)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	auc, _ := strconv.ParseFloat(a[1], 64)
	return n, auc
}

// lastCommitLog returns the "trained" count of the last "committed" log
// line of an exited worker: every record below the offsets it committed
// that it trained is counted there.
func lastCommitLog(t *testing.T, p *proc) int64 {
	t.Helper()
	var n int64 = -1
	sc := bufio.NewScanner(bytes.NewReader(p.errb.Bytes()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l struct {
			Msg     string `json:"msg"`
			Trained int64  `json:"trained"`
		}
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "committed" {
			n = l.Trained
		}
	}
	return n
}

var (
	prequentialLine = regexp.MustCompile(`prequential loss ([0-9.]+)`)
	loglossLine     = regexp.MustCompile(`validation auc [0-9.]+  logloss ([0-9.]+)`)
)

// streamAUCTolerance bounds how far below the single-process AUC ("trainer
// train" over the same rows in file order, batch 256, seed 7: 0.80665) a
// stream run may fall. The stream trains the same rows in one pass, but in
// another order (each partition in offset order, two workers interleaving
// their pushes asynchronously, each pull missing the other's updates in
// flight). Measured stream − single: −0.00021, −0.00016, −0.00011 with two
// workers, −0.00021, +0.00022, +0.00001 with one killed. The bound is the
// issue's async bound for distributed training, 0.005, about 20 times that
// spread; an untrained model scores 0.5.
const streamAUCTolerance = 0.005

// TestStreamWorkersShareTopic: two stream workers in one group share a
// 4-partition topic of the 90k training rows; each gets partitions and
// trains some; the group's committed offsets reach the end of every
// partition; together they trained every row; the model on the shard is as
// good as the single-process run on the same rows.
func TestStreamWorkersShareTopic(t *testing.T) {
	s := newStreamRun(t, 4)
	start := time.Now()
	ws := []*proc{s.startStreamWorker("w0"), s.startStreamWorker("w1")}
	asg := s.assignment(2, 45*time.Second)
	t.Logf("assignment after %s: %s", time.Since(start).Round(time.Millisecond), formatAssignment(asg))
	n := s.produce(s.trainingRows())
	end := s.waitCommittedToEnd(45 * time.Second)
	t.Logf("%d rows trained and committed %s after the first worker started; end offsets %v",
		n, time.Since(start).Round(time.Millisecond), end)
	var total int64
	var aucs []float64
	for _, w := range ws {
		trained, auc := s.stopWorker(w)
		t.Logf("%s: %s", w.name, strings.ReplaceAll(strings.TrimSpace(w.out.String()), "\n", " | "))
		if trained == 0 {
			t.Errorf("%s trained nothing: the group gave it no partition", w.name)
		}
		total += trained
		aucs = append(aucs, auc)
	}
	if total < int64(n) {
		t.Errorf("the workers trained %d examples, fewer than the %d rows of the topic", total, n)
	}
	single := s.singleProcess()
	for i, auc := range aucs {
		t.Logf("%s: stream AUC %.5f, single-process %.5f", ws[i].name, auc, single)
		if auc < single-streamAUCTolerance {
			t.Errorf("%s: stream AUC %.5f is more than %v below the single-process %.5f", ws[i].name, auc, streamAUCTolerance, single)
		}
	}
	// The prequential loss (each mini-batch's loss before its update) of
	// a one-pass learner sits between the final model's loss on held-out
	// rows (measured 0.389) and the loss of the untrained model, ln 2
	// (measured 0.404-0.408: the early batches cost the difference).
	for _, w := range ws {
		pm, lm := prequentialLine.FindStringSubmatch(w.out.String()), loglossLine.FindStringSubmatch(w.out.String())
		if pm == nil || lm == nil {
			t.Fatalf("%s printed no prequential or validation loss:\n%s", w.name, w.out.String())
		}
		preq, _ := strconv.ParseFloat(pm[1], 64)
		val, _ := strconv.ParseFloat(lm[1], 64)
		if preq <= val || preq >= math.Ln2 {
			t.Errorf("%s: prequential loss %.4f outside (validation log loss %.4f, ln 2)", w.name, preq, val)
		}
	}
	if aucs[0] != aucs[1] {
		t.Errorf("the workers validated the same shard tables but printed AUCs %.6f and %.6f", aucs[0], aucs[1])
	}
}

// TestStreamWorkerKilled kills -9 one of two stream workers while rows
// are still arriving and it has trained rows it has not committed yet
// (it commits every second): once the group's session timeout expires the
// survivor holds every partition, resumes the dead worker's at their last
// committed offsets, the committed offsets reach the end of every
// partition, and no row is lost: what the dead worker trained below its
// last commit plus what the survivor trained covers every row. Rows the
// dead worker trained after its last commit are trained again.
func TestStreamWorkerKilled(t *testing.T) {
	s := newStreamRun(t, 4)
	w0, w1 := s.startStreamWorker("w0"), s.startStreamWorker("w1", "--commit-interval", "1s")
	asg := s.assignment(2, 45*time.Second)
	recs := s.trainingRows()
	type sent struct {
		n   int
		err error
	}
	produced := make(chan sent, 1)
	go func() {
		var total sent
		for _, r := range recs {
			n, err := s.send([]arrow.Record{r})
			total.n += n
			if err != nil {
				total.err = err
				break
			}
			time.Sleep(150 * time.Millisecond)
		}
		produced <- total
	}()
	// Kill w1 once it has committed some of its partitions' rows, while
	// the rest of the stream is still to come.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, committed, err := s.offsets()
		if err == nil && slices.ContainsFunc(asg["w1"], func(p int32) bool { return committed[p] > 0 }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("w1 committed nothing of its partitions %v within 30s (offsets %v, err %v)", asg["w1"], committed, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // half a commit interval: w1 holds uncommitted rows
	if err := w1.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	_ = waitExit(w1, 10*time.Second)
	end, atKill, _ := s.offsets()
	p := <-produced
	if p.err != nil {
		t.Fatal(p.err)
	}
	n := p.n
	after := s.assignment(1, 45*time.Second)
	if len(after["w0"]) != 4 {
		t.Errorf("after w1 died the group assigned %s, want all 4 partitions to w0", formatAssignment(after))
	}
	s.waitCommittedToEnd(45 * time.Second)
	t.Logf("w1 killed holding %v; committed then %v of %v produced; w0 took over and committed to the end %s later",
		asg["w1"], atKill, end, time.Since(killed).Round(time.Millisecond))
	dead := lastCommitLog(t, w1)
	if dead <= 0 {
		t.Fatalf("w1 logged no commit of trained rows before it died:\n%s", tail(w1.errb.String(), 3000))
	}
	trained, auc := s.stopWorker(w0)
	t.Logf("w0 trained %d, w1 trained %d below its last commit; %d rows; AUC %.5f", trained, dead, n, auc)
	if trained+dead < int64(n) {
		t.Errorf("w0 trained %d and w1 at least %d below its last commit: %d < %d rows, some were lost", trained, dead, trained+dead, n)
	}
	if single := s.singleProcess(); auc < single-streamAUCTolerance {
		t.Errorf("AUC %.5f after a worker died is more than %v below the single-process %.5f", auc, streamAUCTolerance, single)
	}
}

// TestStreamWorkerDeadLetters: messages that do not decode go to the
// dead-letter topic with their reason and source offset, are counted, and
// do not stop training; the committed offset passes them. The worker stops
// by itself with --idle-exit, and a second group's worker with
// --max-records commits only what it trained. A worker refuses shards
// that are not asynchronous.
func TestStreamWorkerDeadLetters(t *testing.T) {
	s := newStreamRun(t, 1)
	rec := s.trainingRows()[0]
	half := rec.NumRows() / 2
	good := int(rec.NumRows())
	first, second := rec.NewSlice(0, half), rec.NewSlice(half, rec.NumRows())
	defer first.Release()
	defer second.Release()
	s.produce([]arrow.Record{first})
	bad := []struct {
		value  string
		reason kafka.Reason
	}{
		{`{"click": 1, "C1": `, kafka.ReasonInvalidJSON},
		{`{"click": "yes", "C1": 1005}`, kafka.ReasonWrongType},
		{`{"C1": 1005, "banner_pos": 0}`, kafka.ReasonMissingField},
		// Well-formed, but a binary label must be 0 or 1: it would fail
		// the training step of every worker it reached.
		{clickJSON(2), kafka.ReasonRejected},
	}
	for _, b := range bad {
		kafkatest.Produce(t, s.brokers, s.topic, &kgo.Record{Value: []byte(b.value)})
	}
	s.produce([]arrow.Record{second})

	w := s.startStreamWorker("w0", "--idle-exit", "3s")
	trained, _ := s.finished(w)
	if trained != int64(good) {
		t.Errorf("trained %d examples, want the %d good rows", trained, good)
	}
	if out := w.out.String(); !strings.Contains(out, "dead letters 4 (invalid_json 1, missing_field 1, rejected 1, wrong_type 1)") {
		t.Errorf("the summary does not count the dead letters by reason:\n%s", out)
	}
	end, committed, err := s.offsets()
	if err != nil || committed[0] != end[0] || end[0] != int64(good+len(bad)) {
		t.Errorf("committed %v, end %v (err %v): want both at %d", committed, end, err, good+len(bad))
	}
	dl := kafkatest.ReadAll(t, s.brokers, s.dlq, false)
	if len(dl) != len(bad) {
		t.Fatalf("%d dead letters, want %d", len(dl), len(bad))
	}
	for i, r := range dl {
		want := bad[i]
		reason, _ := kafka.Header(r, kafka.HeaderReason)
		off, _ := kafka.Header(r, kafka.HeaderSourceOffset)
		topic, _ := kafka.Header(r, kafka.HeaderSourceTopic)
		if string(r.Value) != want.value || reason != string(want.reason) || topic != s.topic || off != strconv.Itoa(int(half)+i) {
			t.Errorf("dead letter %d: value %q reason %q from %s offset %s; want %q reason %q from %s offset %d",
				i, r.Value, reason, topic, off, want.value, want.reason, s.topic, int(half)+i)
		}
	}

	// Another group reads the topic again and stops after 1000 records.
	// It commits only when it stops (no periodic commit within the hour),
	// and that commit covers no row it did not train.
	s.newGroup()
	w = s.startStreamWorker("w1", "--max-records", "1000", "--commit-interval", "1h")
	trained, _ = s.finished(w)
	_, committed, err = s.offsets()
	if err != nil {
		t.Fatal(err)
	}
	below := committed[0]
	if below > half {
		below -= min(int64(len(bad)), below-half)
	}
	if trained < 1000 || below > trained || committed[0] <= 0 {
		t.Errorf("--max-records 1000: trained %d, committed offset %d (%d good rows below it)", trained, committed[0], below)
	}
	t.Logf("--max-records 1000: trained %d, committed offset %d", trained, committed[0])

	// Per-step barriers make no sense over a stream: sync shards are refused.
	c := s.cluster
	syncShard := c.startShards(1, paramserver.Sync)
	args := append([]string{"worker", "--name", "w2", "--shards", syncShard[0], "--token", "t0k", "--topic", s.topic,
		"--brokers", strings.Join(s.brokers, ","), "--group", s.group, "--dead-letter-topic", s.dlq}, c.jobArg...)
	out, err := exec.Command(c.bin, args...).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "consistency is sync") {
		t.Errorf("worker against sync shards: %v, want exit 2 naming the consistency:\n%s", err, out)
	}
}

// clickJSON is a complete click-log row with the given label.
func clickJSON(click int) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, f := range kafkatest.ClickLogSchema().Fields() {
		if i > 0 {
			b.WriteByte(',')
		}
		switch {
		case f.Name == "click":
			fmt.Fprintf(&b, "%q:%d", f.Name, click)
		case f.Type.ID() == arrow.STRING:
			fmt.Fprintf(&b, "%q:%q", f.Name, "1fbe01fe")
		default:
			fmt.Fprintf(&b, "%q:%d", f.Name, 1005)
		}
	}
	b.WriteByte('}')
	return b.String()
}

// TestStreamWorkerFlags: stream mode's flag errors are usage errors that
// name the flag, before anything is dialed.
func TestStreamWorkerFlags(t *testing.T) {
	t.Setenv("LAKESTREAM_KAFKA_BROKERS", "") // the services' environment would fill --kafka-brokers
	spec := filepath.Join(t.TempDir(), "spec.yaml")
	if err := os.WriteFile(spec, []byte(clicklog.SpecYAML(18)), 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"--data", "clicks", "--spec", spec, "--shards", "127.0.0.1:1", "--topic", "clicks"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no brokers", nil, "--kafka-brokers is required"},
		{"coordinator without an index", []string{"--brokers", "b:9092", "--coordinator", "c:1"}, "--worker-index is required"},
		{"index without a coordinator", []string{"--brokers", "b:9092", "--worker-index", "0"}, "give --coordinator too"},
		{"group with a coordinator", []string{"--brokers", "b:9092", "--coordinator", "c:1", "--worker-index", "0", "--group", "g"}, "--group is for at-least-once"},
		{"max records with a coordinator", []string{"--brokers", "b:9092", "--coordinator", "c:1", "--worker-index", "0", "--max-records", "5"}, "--max-records is for at-least-once"},
		{"epochs", []string{"--brokers", "b:9092", "--epochs", "2"}, "--epochs"},
		{"shuffle", []string{"--brokers", "b:9092", "--shuffle-buffer", "100"}, "--shuffle-buffer"},
		{"dead letters into the input", []string{"--brokers", "b:9092", "--dead-letter-topic", "clicks"}, "--dead-letter-topic must differ"},
		{"commit interval", []string{"--brokers", "b:9092", "--commit-interval", "0s"}, "--commit-interval"},
		{"empty broker", []string{"--kafka-brokers", "b:9092,"}, "empty address"},
		{"worker batch", []string{"--brokers", "b:9092", "--worker-batch-size", "10"}, "--worker-batch-size is for synchronous Parquet jobs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := runWorker(context.Background(), append(slices.Clone(base), tc.args...), io.Discard)
			var ue *usageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a usage error containing %q", err, tc.want)
			}
		})
	}
}

// TestStreamRowGate: the stream worker's Reject hook names exactly the rows the
// training step would fail on (a label outside 0/1, a null label, a null
// numeric value under the default error policy), with the column, and
// passes the others (a null categorical value is its missing bucket).
func TestStreamRowGate(t *testing.T) {
	spec, err := feature.Parse([]byte(`version: 1
label: {column: click, type: binary}
numeric:
  - {column: price}
categorical:
  - {column: site}
`))
	if err != nil {
		t.Fatal(err)
	}
	mc := train.DefaultModelConfig(train.KindLogistic)
	mc.Fields = spec.NumFields()
	model, err := train.NewModel(mc)
	if err != nil {
		t.Fatal(err)
	}
	gate, err := newRowGate(spec, model)
	if err != nil {
		t.Fatal(err)
	}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "click", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "price", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "site", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	type row struct {
		click      int32
		clickNull  bool
		price      float64
		priceNull  bool
		site       string
		wantColumn string // "" if the row passes
	}
	for _, tc := range []struct {
		name string
		rows []row
	}{
		{"all good", []row{{click: 1, price: 2, site: "a"}, {click: 0, price: 3, site: ""}}},
		{"bad label", []row{{click: 1, price: 2, site: "a"}, {click: 2, price: 2, site: "a", wantColumn: "click"}}},
		{"null label and null price", []row{
			{clickNull: true, price: 1, site: "a", wantColumn: "click"},
			{click: 0, price: 1, site: "b"},
			{click: 1, priceNull: true, site: "c", wantColumn: "price"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
			defer b.Release()
			var want []int
			for i, r := range tc.rows {
				b.Field(0).(*array.Int32Builder).AppendValues([]int32{r.click}, []bool{!r.clickNull})
				b.Field(1).(*array.Float64Builder).AppendValues([]float64{r.price}, []bool{!r.priceNull})
				b.Field(2).(*array.StringBuilder).AppendValues([]string{r.site}, []bool{r.site != ""})
				if r.wantColumn != "" {
					want = append(want, i)
				}
			}
			rec := b.NewRecord()
			defer rec.Release()
			got := gate.reject(rec)
			var rows []int
			for _, e := range got {
				rows = append(rows, e.Row)
				if c := tc.rows[e.Row].wantColumn; e.Column != c || e.Detail == "" {
					t.Errorf("row %d refused for column %q (%s), want column %q", e.Row, e.Column, e.Detail, c)
				}
			}
			if !slices.Equal(rows, want) {
				t.Fatalf("refused rows %v (%+v), want %v", rows, got, want)
			}
		})
	}
}
