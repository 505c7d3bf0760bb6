package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lakestream/lakestream/datastream"
	"github.com/lakestream/lakestream/datastream/kafka"
	"github.com/lakestream/lakestream/internal/cliconfig"
	"github.com/lakestream/lakestream/internal/kafkaretry"
	"github.com/lakestream/lakestream/train"
	"github.com/lakestream/lakestream/train/feature"
)

// streamFlags are the flags of "trainer worker" that make it a streaming
// worker: with --topic it trains on a Kafka topic whose partitions the
// consumer group spreads over the running workers, instead of on the
// coordinator's Parquet splits.
type streamFlags struct {
	topic          string
	brokers        string
	group          string
	deadLetter     string
	commitEvery    time.Duration
	sessionTimeout time.Duration
	maxRecords     int64
	idleExit       time.Duration
}

func (f *streamFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.topic, "topic", "", "stream mode: train on this Kafka topic of JSON rows (partitions assigned by the consumer group) instead of the coordinator's Parquet splits")
	fs.StringVar(&f.brokers, "kafka-brokers", "", "stream mode: Kafka seed brokers host:port[,...] (required with --topic)")
	cliconfig.Alias(fs, "brokers", "kafka-brokers") // the spelling before 2026-12; remove in the next release
	fs.StringVar(&f.group, "group", "", "stream mode: consumer group shared by the job's workers (default lakestream-train-<topic>-<model>)")
	fs.StringVar(&f.deadLetter, "dead-letter-topic", "", "stream mode: topic receiving messages that do not decode, with the reason in headers (default <topic>.dead-letters; it must exist)")
	fs.DurationVar(&f.commitEvery, "commit-interval", 5*time.Second, "stream mode: how often to commit the offsets whose records' gradients the shards acknowledged (a checkpoint), and log progress")
	fs.DurationVar(&f.sessionTimeout, "session-timeout", 45*time.Second, "stream mode: Kafka group session timeout: how long a dead worker keeps its partitions before the group hands them to the others (broker minimum 6s)")
	fs.Int64Var(&f.maxRecords, "max-records", 0, "stream mode: stop (committing) once this many records were trained (0: no limit)")
	fs.DurationVar(&f.idleExit, "idle-exit", 0, "stream mode: stop (committing) when no message arrived for this long (0: run until SIGTERM)")
}

// streamWorker trains on the partitions of a Kafka topic the consumer group
// assigns to it. The job is a datastream graph, kafka.Source →
// train.Sink, with checkpoints: a checkpoint barrier reaches the sink only
// after every batch before it was trained, and the sink's Stepper pushes
// each mini-batch synchronously (Push returns once every shard applied it),
// so when a checkpoint completes, the gradients of every record below the
// source's position are on the shards, and the position is committed to the
// group. A worker that dies loses nothing: its partitions go to the others,
// which resume at the last committed offsets and may train up to one
// commit interval of records a second time (at-least-once).
type streamWorker struct {
	name  string
	flags streamFlags
	dlq   string
	log   *slog.Logger

	src   *kafka.Source
	sink  *train.Sink
	start time.Time

	mu        sync.Mutex // guards committed and last
	committed map[int32]int64
	lastLogAt time.Time
	last      train.SinkStats // at the last progress line
}

// finish checks the flags of stream mode against the job's flags and
// returns the group, the dead-letter topic and the brokers.
func (f *streamFlags) finish(j *trainJob, coordAddr string) (group, dlq string, brokers []string, err error) {
	switch {
	case f.brokers == "":
		return "", "", nil, &usageError{"--kafka-brokers is required with --topic (Kafka seed brokers host:port[,...])"}
	case coordAddr != "":
		return "", "", nil, &usageError{"--coordinator is for Parquet jobs; with --topic the Kafka consumer group assigns the partitions"}
	case j.run.Epochs != 1:
		return "", "", nil, &usageError{"--epochs: a stream is trained in one pass; drop --epochs with --topic"}
	case j.shuffle != 0:
		return "", "", nil, &usageError{"--shuffle-buffer is not supported with --topic (records train in partition order)"}
	case j.run.Patience != 0:
		return "", "", nil, &usageError{"--patience (early stopping) is not supported with --topic"}
	case f.commitEvery <= 0:
		return "", "", nil, &usageError{fmt.Sprintf("--commit-interval %s: must be positive", f.commitEvery)}
	case f.sessionTimeout < time.Second:
		return "", "", nil, &usageError{fmt.Sprintf("--session-timeout %s: want at least 1s (the broker's minimum is usually 6s)", f.sessionTimeout)}
	case f.maxRecords < 0 || f.idleExit < 0:
		return "", "", nil, &usageError{"--max-records and --idle-exit must not be negative"}
	}
	for _, b := range strings.Split(f.brokers, ",") {
		if b = strings.TrimSpace(b); b == "" {
			return "", "", nil, &usageError{fmt.Sprintf("--kafka-brokers %q: empty address", f.brokers)}
		}
		brokers = append(brokers, b)
	}
	group = f.group
	if group == "" {
		group = "lakestream-train-" + f.topic + "-" + string(j.model.Kind)
	}
	dlq = f.deadLetter
	if dlq == "" {
		dlq = f.topic + ".dead-letters"
	}
	if dlq == f.topic {
		return "", "", nil, &usageError{"--dead-letter-topic must differ from --topic"}
	}
	return group, dlq, brokers, nil
}

// runStreamWorker is "trainer worker --topic ...".
func runStreamWorker(ctx context.Context, j *trainJob, cl clusterFlags, sf streamFlags, name, coordAddr string, stdout io.Writer) error {
	group, dlq, brokers, err := sf.finish(j, coordAddr)
	if err != nil {
		return err
	}
	log := newLogger(os.Stderr).With("worker", name, "topic", sf.topic, "group", group)
	w := &streamWorker{name: name, flags: sf, dlq: dlq, log: log}
	// The table in the lake types the JSON columns (an integer column must
	// hash as an integer, as it does when the same model trains on the
	// table or serves) and fits the spec's standardization, if it asks.
	lk, filter, plan, model, err := j.workerSetup(ctx, "schema")
	if err != nil {
		return err
	}
	ps, err := cl.dialAsync(ctx)
	if err != nil {
		return err
	}
	defer ps.Close()

	if err := w.checkTopics(ctx, brokers); err != nil {
		return err
	}
	fz, err := feature.NewFeaturizer(j.spec)
	if err != nil {
		return err
	}
	scfg := kafka.DefaultSourceConfig()
	scfg.Brokers, scfg.Topic, scfg.Group, scfg.Assignment = brokers, sf.topic, group, kafka.AssignByGroup
	scfg.Start = kafka.StartCommitted
	scfg.Schema = decodeSchema(plan.Schema(), j.spec)
	scfg.DeadLetterTopic = dlq
	scfg.MaxBatchRows = max(j.batchSize, 1024)
	gate, err := newRowGate(j.spec, model)
	if err != nil {
		return err
	}
	scfg.Reject = gate.reject
	scfg.ClientOpts = []kgo.Opt{kgo.ClientID(name), kgo.SessionTimeout(sf.sessionTimeout),
		kgo.HeartbeatInterval(min(3*time.Second, sf.sessionTimeout/3))}
	if w.src, err = kafka.NewSource(scfg); err != nil {
		return &usageError{err.Error()}
	}
	w.sink = train.NewSink(train.NewStepper(model, ps, j.run.ClipNorm), fz, j.batchSize)
	if err := w.run(ctx); err != nil {
		return err
	}
	d := time.Since(w.start)
	st, src := w.sink.Stats(), w.src.Stats()
	fmt.Fprintf(stdout, "worker %s trained %d examples in %d batches in %s (%s examples/s); prequential loss %.6f\n",
		w.name, st.Examples, st.Steps, d.Round(time.Millisecond), rate(st.Examples, d), prequential(st, train.SinkStats{}))
	fmt.Fprintf(stdout, "stream %s group %s: committed %s; dead letters %s to %s\n",
		sf.topic, group, formatOffsets(w.lastCommitted()), formatDead(src.DeadLetters), dlq)
	if j.valDT != "" {
		// SIGTERM is how a stream worker normally ends: validate anyway.
		m, err := j.validate(context.WithoutCancel(ctx), lk, filter, ps)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "validation auc %.6f  logloss %.6f  (%d examples)\n", m.AUC, m.LogLoss, m.Examples)
	}
	return nil
}

// decodeSchema is the JSON decoding schema: the table's columns the spec
// reads, typed as in the table, with the label and weight non-nullable so
// a message without them goes to the dead-letter topic (missing_field)
// instead of failing the training step.
func decodeSchema(table *arrow.Schema, spec *feature.Spec) *arrow.Schema {
	fields := slices.Clone(table.Fields())
	for i := range fields {
		if fields[i].Name == spec.Label.Column || (spec.Weight != "" && fields[i].Name == spec.Weight) {
			fields[i].Nullable = false
		}
	}
	return arrow.NewSchema(fields, nil)
}

// rowGate refuses, before they reach the training sink, the rows the
// Stepper would fail on: a label the spec or the model rejects, a weight or
// a numeric value the spec refuses. Such a row would otherwise fail the
// worker, and then every worker of the group in turn as its partition moves
// on (a poison pill); refused, its message goes to the dead-letter topic as
// "rejected" with the reason. Categorical values are never refused, so the
// gate featurizes only the label, the weight and the numeric fields.
type rowGate struct {
	fz    *feature.Featurizer
	fb    feature.Batch
	model train.Model
}

func newRowGate(spec *feature.Spec, model train.Model) (*rowGate, error) {
	check := feature.Spec{Version: spec.Version, Label: spec.Label, Weight: spec.Weight, HashBits: spec.HashBits,
		Derived: spec.Derived}
	windows := spec.WindowTypes()
	for _, n := range spec.Numeric {
		if _, computed := windows[n.Column]; !computed {
			check.Numeric = append(check.Numeric, n) // windows come after this check
		}
	}
	if len(check.Numeric) == 0 && len(spec.Categorical) > 0 {
		check.Categorical = spec.Categorical[:1] // a spec needs a field
	}
	fz, err := feature.NewFeaturizer(&check)
	if err != nil {
		return nil, fmt.Errorf("label check of --spec: %w", err)
	}
	return &rowGate{fz: fz, model: model}, nil
}

// reject implements kafka.SourceConfig.Reject. It costs one featurization
// of the cheap fields per batch; a batch with a refused row is checked row
// by row.
func (g *rowGate) reject(rec arrow.Record) []kafka.RowError {
	if g.check(rec) == nil {
		return nil
	}
	var out []kafka.RowError
	for r := range int(rec.NumRows()) {
		row := rec.NewSlice(int64(r), int64(r+1))
		err := g.check(row)
		row.Release()
		var (
			ve *feature.ValueError
			le *train.LabelError
		)
		switch {
		case errors.As(err, &ve):
			out = append(out, kafka.RowError{Row: r, Column: ve.Column, Detail: fmt.Sprintf("value %s: %s", ve.Value, ve.Reason)})
		case errors.As(err, &le):
			out = append(out, kafka.RowError{Row: r, Column: g.fz.Spec().Label.Column,
				Detail: fmt.Sprintf("value %v: not a target a %s model trains on", le.Value, le.Kind)})
		}
		// Other errors (the schema does not bind) are not the row's fault:
		// the sink reports them and the job fails.
	}
	return out
}

// check featurizes rec's cheap fields and checks every label with the
// model.
func (g *rowGate) check(rec arrow.Record) error {
	if err := g.fz.Featurize(rec, &g.fb); err != nil {
		return err
	}
	for r, y := range g.fb.Labels {
		if !g.model.CheckLabel(y) {
			return &train.LabelError{Row: r, Value: y, Kind: g.model.Kind()}
		}
	}
	return nil
}

// checkTopics fails early, naming the flag, when the input or dead-letter
// topic does not exist (auto-creation is often off, and a missing
// dead-letter topic would otherwise surface only at the first bad message).
func (w *streamWorker) checkTopics(ctx context.Context, brokers []string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return fmt.Errorf("--kafka-brokers: %w", err)
	}
	defer cl.Close()
	mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var md kadm.Metadata
	err = kafkaretry.Do(mctx, func() error {
		var err error
		md, err = kadm.NewClient(cl).Metadata(mctx, w.flags.topic, w.dlq)
		return err
	})
	if err != nil {
		return fmt.Errorf("--kafka-brokers %s: metadata: %w", w.flags.brokers, err)
	}
	for flagName, t := range map[string]string{"--topic": w.flags.topic, "--dead-letter-topic": w.dlq} {
		td, ok := md.Topics[t]
		if !ok || td.Err != nil || len(td.Partitions) == 0 {
			return &usageError{fmt.Sprintf("%s %s: topic not found on %s (create it first)", flagName, t, w.flags.brokers)}
		}
	}
	return nil
}

// run trains until SIGTERM (ctx), --max-records or --idle-exit, then stops
// the job at a final checkpoint, which commits what was pushed.
func (w *streamWorker) run(ctx context.Context) error {
	job := datastream.NewJob("trainer-stream-worker",
		datastream.WithCheckpoints(&memCheckpoints{}, w.flags.commitEvery, 1),
		datastream.WithLogger(w.log))
	job.Source("kafka", &committingSource{Source: w.src, w: w}, datastream.ReadAhead(2)).To("train", w.sink)
	w.start = time.Now()
	w.mu.Lock()
	w.lastLogAt = w.start
	w.mu.Unlock()
	w.log.Info("stream worker started", "dead_letter_topic", w.dlq, "commit_interval", w.flags.commitEvery)
	stopped, err := runStreamJob(ctx, job, w.src, func() int64 { return w.sink.Stats().Examples }, w.flags.maxRecords, w.flags.idleExit, w.log, "stopping: final commit")
	if err != nil && stopped == "failed" {
		return fmt.Errorf("stream worker on %s: %w", w.flags.topic, err)
	}
	return err
}

// onCommit records a committed checkpoint and logs progress.
func (w *streamWorker) onCommit(id int64, pos kafka.Position) {
	st, src := w.sink.Stats(), w.src.Stats()
	now := time.Now()
	w.mu.Lock()
	if w.committed == nil {
		w.committed = map[int32]int64{}
	}
	moved := false
	for p, off := range pos.Next {
		if prev, ok := w.committed[p]; !ok || prev != off {
			moved = true
		}
	}
	maps.Copy(w.committed, pos.Next)
	dt, dn := now.Sub(w.lastLogAt), st.Examples-w.last.Examples
	if dn == 0 && !moved {
		w.mu.Unlock()
		return // nothing new since the last line
	}
	preq := prequential(st, w.last)
	w.lastLogAt, w.last = now, st
	w.mu.Unlock()
	var dead int64
	for _, n := range src.DeadLetters {
		dead += n
	}
	// trained is read after the commit, so it counts at least every record
	// below the committed offsets that this worker trained.
	w.log.Info("committed", "checkpoint", id, "trained", st.Examples, "examples_per_s", rate(dn, dt),
		"prequential_loss", preq, "lag", src.Lag, "dead_letters", dead, "offsets", formatOffsets(pos.Next))
}

// prequential is the mean loss of the mini-batches trained between two
// sink snapshots, each taken before its own update (test-then-train: an
// estimate of the loss on unseen data that needs no held-out set), or 0
// when nothing was trained.
func prequential(now, before train.SinkStats) float64 {
	if w := now.Weight - before.Weight; w > 0 {
		return (now.Loss - before.Loss) / w
	}
	return 0
}

func (w *streamWorker) lastCommitted() map[int32]int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.committed)
}

// committingSource is the worker's kafka.Source with a hook after each
// offset commit (progress logging).
type committingSource struct {
	*kafka.Source
	w *streamWorker
}

// CommitCheckpoint commits the checkpoint's offsets to the group, then
// logs them with the worker's progress.
func (s *committingSource) CommitCheckpoint(ctx context.Context, id int64, state []byte) error {
	if err := s.Source.CommitCheckpoint(ctx, id, state); err != nil {
		return err
	}
	var p kafka.Position
	if len(state) > 0 {
		if err := p.UnmarshalBinary(state); err != nil {
			return err
		}
	}
	s.w.onCommit(id, p)
	return nil
}

func formatOffsets(m map[int32]int64) string {
	if len(m) == 0 {
		return "nothing"
	}
	var b strings.Builder
	for i, p := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "p%d:%d", p, m[p])
	}
	return b.String()
}

func formatDead(m map[kafka.Reason]int64) string {
	var total int64
	var parts []string
	for _, r := range slices.Sorted(maps.Keys(m)) {
		total += m[r]
		parts = append(parts, fmt.Sprintf("%s %d", r, m[r]))
	}
	if total == 0 {
		return "0"
	}
	return fmt.Sprintf("%d (%s)", total, strings.Join(parts, ", "))
}

// memCheckpoints keeps the stream worker's checkpoints in memory. They hold
// nothing to restore: the train sink has no state, the parameters live on
// the shards and the positions are committed to the consumer group, which
// is where a restarted (or another) worker resumes. The runtime's
// checkpoints serve to learn when every record below a position has been
// trained, which is what makes the offset commit safe.
type memCheckpoints struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (c *memCheckpoints) Put(_ context.Context, key string, r io.Reader, _ int64) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string][]byte{}
	}
	c.m[key] = b
	return nil
}

func (c *memCheckpoints) Get(_ context.Context, key string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.m[key]
	if !ok {
		return nil, fmt.Errorf("checkpoint %s: %w", key, fs.ErrNotExist)
	}
	return b, nil
}

func (c *memCheckpoints) Delete(_ context.Context, key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
	return nil
}
