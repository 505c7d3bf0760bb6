package publish

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lakestream/lakestream/datastream"
	"github.com/lakestream/lakestream/eval"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/train"
	"github.com/lakestream/lakestream/train/feature"
)

// StreamConfig configures a Stream.
type StreamConfig struct {
	// Sink is the training operator; Stream sets its Observe hook.
	Sink *train.Sink
	// Stepper is the Sink's Stepper: versions export its tables.
	Stepper *train.Stepper
	// Model is the trained model's configuration (kind, architecture).
	Model train.ModelConfig
	// Spec is the spec the Sink featurizes with; versions carry it.
	Spec *feature.Spec
	// Meta is the metadata template of every version (data, optimizer,
	// hyperparameters, seed, inputs); Rows, Lineage and Metrics are set
	// per version.
	Meta model.Metadata
	// Eval is the prequential evaluator (its Regression matches the model).
	Eval *eval.Prequential
	// Publisher publishes the versions.
	Publisher *Publisher
	// Source names the input in lineage ("kafka://clicks").
	Source string
	// EventTime is the event-time column the windows read ("": none).
	EventTime string
	// LogEvery is how often a progress line (and the status document) is
	// written; default 5s.
	LogEvery time.Duration
	// Registerer, when set, receives the prequential gauges.
	Registerer prometheus.Registerer
	// DeadLetters, when set, reports dead-lettered records by reason for
	// the status document.
	DeadLetters func() map[string]int64
	// RequestCut, when set, is called on the training goroutine (it must
	// not block) once a version became due since the last barrier. Wired
	// to the job's datastream.Job.TriggerCheckpoint, the version is cut
	// within the records in flight of its count, interval or event time,
	// not at the next periodic checkpoint, however fast the job trains.
	RequestCut func()
	// Fingerprint identifies the job's settings (model, spec, optimizer,
	// source, cadence, warm-start base). It goes into every checkpoint of
	// the training state, and a checkpoint with another fingerprint is
	// refused rather than resumed.
	Fingerprint []byte

	Logger *slog.Logger
	Now    func() time.Time
}

// Stream is the train → evaluate → publish end of a streaming job: a
// datastream.TwoPhaseSink and datastream.StatefulSink around the training
// sink. Every record is scored
// test-then-train; the prequential evaluator and the gate window see the
// scores; at a checkpoint barrier where a version is due, the tables are
// exported (the model as of the barrier), and once the checkpoint is
// durable and its source position known (Committed), the version is
// published with that position as its lineage. Publication runs on the
// training goroutine, at the next batch or checkpoint barrier, or at Finish.
//
// Checkpoints hold the training state (SnapshotState): the parameter
// tables with their optimizer state, the example counter, the prequential
// evaluator's accumulators and the publisher's cadence and gate window. A
// job restored from a checkpoint (with the source at the checkpoint's
// position, reported through Seeked) continues as the uninterrupted job
// would, and publishes a version due at that checkpoint unless it was
// published before the interruption.
type Stream struct {
	cfg    StreamConfig
	outs   int
	y, w   []float64
	closed []eval.WindowResult
	wm     int64

	examples int64        // trained, test-then-train counted
	trained  atomic.Int64 // examples, for other goroutines
	lastLog  time.Time
	offsets  map[int32]int64 // lineage of the last durable checkpoint
	// requested is set when RequestCut was called and no barrier has
	// reached the sink since.
	requested bool
	// failed is a publication error met at a barrier: it fails the job at
	// the next batch or at Finish.
	failed error
	snap   bytes.Buffer // the state of the last barrier

	mu      sync.Mutex
	pending map[int64]*cut // exported at a barrier, by checkpoint id
	ready   []*cut         // durable, waiting to be published
	durable map[int32]int64
	// at is the examples trained at each barrier, by checkpoint id, and
	// durableAt those of the durable checkpoint: the final version is cut
	// only when the durable position is the end of what was trained.
	at        map[int64]int64
	durableAt int64
	// After a restore: the checkpoint's source position (Seeked), whether
	// the training state was restored, and the version due at the
	// checkpoint (RecoverCheckpoint), published once both are known.
	seeked    map[int32]int64
	restored  bool
	recovered *cut

	gauges *gauges
}

// cut is the model as of a checkpoint barrier.
type cut struct {
	id        int64
	tables    []train.TableData
	examples  int64
	watermark int64
	offsets   map[int32]int64
}

// NewStream checks cfg and returns a Stream.
func NewStream(cfg StreamConfig) (*Stream, error) {
	switch {
	case cfg.Sink == nil || cfg.Stepper == nil || cfg.Spec == nil || cfg.Eval == nil || cfg.Publisher == nil:
		return nil, errors.New("publish: a stream needs its sink, stepper, spec, evaluator and publisher")
	case cfg.Eval.Config().Windows != (eval.Windows{}) && cfg.EventTime == "":
		return nil, errors.New("publish: event-time windows need the spec's event-time column")
	}
	if cfg.LogEvery <= 0 {
		cfg.LogEvery = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Stream{cfg: cfg, outs: cfg.Stepper.Model().Outputs(), wm: math.MinInt64, pending: map[int64]*cut{}, at: map[int64]int64{}, lastLog: cfg.Now()}
	if cfg.Registerer != nil {
		g, err := newGauges(cfg.Registerer, cfg.Publisher.Job())
		if err != nil {
			return nil, err
		}
		s.gauges = g
	}
	cfg.Sink.Observe = s.observe
	return s, nil
}

// Resume restores the job's counters after a warm start from its newest
// version (examples already trained into it).
func (s *Stream) Resume(examples int64, offsets map[int32]int64) {
	s.examples, s.offsets = examples, offsets
	s.trained.Store(examples)
	s.cfg.Publisher.Resume(examples, s.wm)
}

// observe is the Sink's test hook.
func (s *Stream) observe(_ context.Context, rec arrow.Record, preds []float64, b *feature.Batch) error {
	n := int(rec.NumRows())
	s.examples += int64(n)
	s.trained.Store(s.examples)
	if s.outs != 1 || len(preds) != n {
		return nil // multiclass, or negative samples: not evaluated here
	}
	s.y, s.w = s.y[:0], s.w[:0]
	for i := range n {
		s.y = append(s.y, float64(b.Labels[i]))
		s.w = append(s.w, float64(b.Weights[i]))
	}
	var ts []int64
	if s.cfg.Eval.Config().Windows != (eval.Windows{}) {
		// The featurizer read the spec's event_time (derived or not).
		if len(b.EventTimes) != n {
			return fmt.Errorf("event-time windows: the spec's event_time %q was not read", s.cfg.EventTime)
		}
		ts = b.EventTimes
	}
	if err := s.cfg.Eval.Observe(ts, preds, s.y, s.w); err != nil {
		return fmt.Errorf("prequential evaluation: %w", err)
	}
	s.cfg.Publisher.Observe(rec, preds, s.y, s.w)
	return nil
}

// WriteBatch implements datastream.Sink: it trains on b (scoring each row
// first), advances the evaluation's watermark, and publishes the versions
// whose checkpoints became durable.
func (s *Stream) WriteBatch(ctx context.Context, b datastream.Batch) error {
	if s.failed != nil {
		return s.failed
	}
	if err := s.cfg.Sink.WriteBatch(ctx, b); err != nil {
		return err
	}
	if b.Watermark > s.wm && b.Watermark != datastream.NoWatermark {
		s.wm = b.Watermark
		s.closed = append(s.closed, s.cfg.Eval.Advance(s.wm)...)
	}
	if err := s.housekeep(ctx); err != nil {
		return err
	}
	if s.cfg.RequestCut != nil && !s.requested && s.cfg.Publisher.Due(s.examples, s.wm) {
		s.requested = true
		s.cfg.RequestCut()
	}
	return nil
}

// housekeep publishes the versions whose checkpoints became durable and
// writes the progress line and status when they are due. It runs on the
// training goroutine at every batch and at every checkpoint barrier, so an
// idle stream (no record for a while) still publishes its last version and
// keeps its status current.
func (s *Stream) housekeep(ctx context.Context) error {
	if err := s.publishReady(ctx); err != nil {
		return err
	}
	if now := s.cfg.Now(); now.Sub(s.lastLog) >= s.cfg.LogEvery {
		s.lastLog = now
		s.report(ctx, "running")
	}
	return nil
}

// PrepareCheckpoint implements datastream.TwoPhaseSink: when a version is
// due, it exports the tables as of this barrier.
//
// The versions whose checkpoints became durable are published first, so
// that the publisher's state in this checkpoint follows them. The returned
// description is empty when no version is due, and else says so: a job
// restored from this checkpoint publishes that version (RecoverCheckpoint)
// if the interrupted job had not.
func (s *Stream) PrepareCheckpoint(ctx context.Context, id int64) ([]byte, error) {
	s.requested = false
	if s.failed == nil {
		s.failed = s.housekeep(ctx)
	}
	if s.failed != nil {
		return nil, s.failed // and the next batch, or Finish, fails the job
	}
	s.mu.Lock()
	s.at[id] = s.examples
	s.mu.Unlock()
	if !s.cfg.Publisher.Due(s.examples, s.wm) {
		return nil, nil
	}
	tables, err := s.cfg.Stepper.Export(ctx)
	if err != nil {
		return nil, fmt.Errorf("export the model at checkpoint %d: %w", id, err)
	}
	s.mu.Lock()
	s.pending[id] = &cut{id: id, tables: tables, examples: s.examples, watermark: s.wm}
	s.mu.Unlock()
	return []byte(versionDue), nil
}

// versionDue is the description of a checkpoint at whose barrier a version
// was cut.
const versionDue = "version"

// CommitCheckpoint implements datastream.CheckpointCommitter; the version
// waits for its source position (Committed).
func (s *Stream) CommitCheckpoint(context.Context, int64, []byte) error { return nil }

// RecoverCheckpoint implements datastream.TwoPhaseSink. It runs after
// RestoreState: when a version was cut at checkpoint id's barrier, the
// restored tables are that version, published with the checkpoint's
// position once Seeked reported it (the publisher skips it when the
// interrupted job had published it).
func (s *Stream) RecoverCheckpoint(ctx context.Context, id int64, prepared []byte) error {
	var c *cut
	switch string(prepared) {
	case "":
	case versionDue:
		tables, err := s.cfg.Stepper.Export(ctx)
		if err != nil {
			return fmt.Errorf("export the model of checkpoint %d: %w", id, err)
		}
		c = &cut{id: id, tables: tables, examples: s.examples, watermark: s.wm}
	default:
		return fmt.Errorf("publish: checkpoint %d: unknown description %q", id, prepared)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.restored, s.recovered = true, c
	s.resumeLocked()
	return nil
}

// Seeked is called when the job's source was positioned at a restored
// checkpoint's position (next offset per partition), before any record is
// read. Safe for concurrent use.
func (s *Stream) Seeked(offsets map[int32]int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seeked = offsets
	s.resumeLocked()
}

// resumeLocked completes a restore once both the training state and the
// source position are known: the restored checkpoint is the durable
// position, and the version due at it is ready to publish.
func (s *Stream) resumeLocked() {
	if !s.restored || s.seeked == nil {
		return
	}
	s.offsets, s.durable, s.durableAt = s.seeked, s.seeked, s.examples
	if c := s.recovered; c != nil {
		c.offsets = s.seeked
		s.ready = append(s.ready, c)
	}
	s.seeked, s.restored, s.recovered = nil, false, nil
}

// streamStateMagic starts the Stream's checkpoint state: magic |
// blob(head, gob streamState) | blob(evaluator) | blob(publisher) | the
// Stepper's state (train.Stepper.WriteState).
const streamStateMagic = "LSSTRM01"

// streamState is the head of the Stream's checkpoint state.
type streamState struct {
	Fingerprint []byte
	Examples    int64
	Watermark   int64
	Offsets     map[int32]int64
}

// SnapshotState implements datastream.StatefulSink: the training state as
// of the barrier (see Stream).
func (s *Stream) SnapshotState(ctx context.Context, _ int64) ([]byte, error) {
	var head bytes.Buffer
	if err := gob.NewEncoder(&head).Encode(&streamState{Fingerprint: s.cfg.Fingerprint, Examples: s.examples, Watermark: s.wm, Offsets: s.offsets}); err != nil {
		return nil, fmt.Errorf("encode the stream state: %w", err)
	}
	ev, err := s.cfg.Eval.MarshalBinary()
	if err != nil {
		return nil, err
	}
	pub, err := s.cfg.Publisher.marshalState()
	if err != nil {
		return nil, err
	}
	b := &s.snap
	b.Reset()
	b.WriteString(streamStateMagic)
	buf := appendBlob(b.AvailableBuffer(), head.Bytes())
	buf = appendBlob(buf, ev)
	buf = appendBlob(buf, pub)
	b.Write(buf)
	if err := s.cfg.Stepper.WriteState(ctx, b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// RestoreState implements datastream.StatefulSink. A state taken with
// another Fingerprint is refused (train.ErrCheckpointMismatch).
func (s *Stream) RestoreState(ctx context.Context, id int64, state []byte) error {
	bad := func(what string) error {
		return fmt.Errorf("%w: checkpoint %d: %s", train.ErrCheckpointMismatch, id, what)
	}
	rest, ok := bytes.CutPrefix(state, []byte(streamStateMagic))
	if !ok {
		return bad("not the state of a trainer stream job")
	}
	var blobs [3][]byte
	for i := range blobs {
		var err error
		if blobs[i], rest, err = nextBlob(rest); err != nil {
			return bad("state " + err.Error())
		}
	}
	var head streamState
	if err := gob.NewDecoder(bytes.NewReader(blobs[0])).Decode(&head); err != nil {
		return bad(err.Error())
	}
	if !bytes.Equal(head.Fingerprint, s.cfg.Fingerprint) {
		return bad("it was taken by a job with other settings (model, spec, optimizer, topic, cadence or warm-start base)")
	}
	if err := s.cfg.Eval.UnmarshalBinary(blobs[1]); err != nil {
		return bad(err.Error())
	}
	if err := s.cfg.Publisher.unmarshalState(blobs[2]); err != nil {
		return bad(err.Error())
	}
	if err := s.cfg.Stepper.ReadState(ctx, rest); err != nil {
		return fmt.Errorf("checkpoint %d: %w", id, err)
	}
	s.examples, s.wm, s.offsets = head.Examples, head.Watermark, head.Offsets
	s.trained.Store(s.examples)
	return nil // RecoverCheckpoint follows
}

// Committed is called when checkpoint id is durable, with the source's
// position in it (next offset per partition): the version exported at its
// barrier, if any, becomes ready to publish. Safe for concurrent use.
func (s *Stream) Committed(id int64, offsets map[int32]int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.durable, s.durableAt = offsets, s.at[id]
	s.resumeLocked()
	for pid := range s.at {
		if pid <= id {
			delete(s.at, pid)
		}
	}
	for pid, c := range s.pending {
		switch {
		case pid == id:
			c.offsets = offsets
			s.ready = append(s.ready, c)
			delete(s.pending, pid)
		case pid < id:
			delete(s.pending, pid) // its checkpoint failed; a later one covers it
		}
	}
}

func (s *Stream) publishReady(ctx context.Context) error {
	s.mu.Lock()
	ready := s.ready
	s.ready = nil
	s.mu.Unlock()
	for _, c := range ready {
		s.offsets = c.offsets
		if err := s.publish(ctx, c.tables, model.Lineage{Job: s.cfg.Publisher.Job(), Source: s.cfg.Source,
			Offsets: c.offsets, Watermark: max(c.watermark, 0), Examples: c.examples}); err != nil {
			return err
		}
	}
	return nil
}

func (s *Stream) publish(ctx context.Context, tables []train.TableData, lin model.Lineage) error {
	meta := s.cfg.Meta
	meta.Rows = lin.Examples
	meta.Lineage = &lin
	meta.Metrics = map[string]float64{}
	sum := s.cfg.Eval.Summary()
	for name, r := range map[string]eval.WindowResult{"prequential": sum.Total, "prequential_recent": sum.Recent} {
		ws := NewWindowStatus(r, s.cfg.Eval.Config().Regression)
		for k, v := range map[string]*float64{"auc": ws.AUC, "logloss": ws.LogLoss, "rmse": ws.RMSE, "mae": ws.MAE} {
			if v != nil {
				meta.Metrics[name+"_"+k] = *v
			}
		}
	}
	m, err := train.NewArtifact(s.cfg.Model, s.cfg.Spec, tables, meta)
	if err != nil {
		return fmt.Errorf("build version: %w", err)
	}
	v, ok, err := s.cfg.Publisher.Publish(ctx, m)
	if err != nil {
		return err
	}
	if ok && s.gauges != nil {
		s.gauges.version(v)
	}
	s.report(ctx, "running")
	return nil
}

// Finish ends the stream after a clean stop at a final checkpoint (a
// savepoint: nothing was trained after its barrier): it publishes what
// became durable and, when examples were trained since the last version,
// one more version of the final model with the savepoint's position as
// lineage. It then writes the final status with state ("stopped").
func (s *Stream) Finish(ctx context.Context, state string) error {
	err := s.failed
	if err == nil {
		err = s.publishReady(ctx)
	}
	s.mu.Lock()
	durable, durableAt := s.durable, s.durableAt
	s.mu.Unlock()
	switch {
	case err != nil || !s.cfg.Publisher.Behind(s.examples):
	case durable == nil || durableAt != s.examples:
		s.cfg.Logger.Warn("no final version: the final checkpoint did not complete, so the position of the last examples is unknown",
			"examples", s.examples, "durable_examples", durableAt)
	default:
		var tables []train.TableData
		if tables, err = s.cfg.Stepper.Export(ctx); err == nil {
			s.offsets = durable
			err = s.publish(ctx, tables, model.Lineage{Job: s.cfg.Publisher.Job(), Source: s.cfg.Source,
				Offsets: durable, Watermark: max(s.wm, 0), Examples: s.examples})
		}
	}
	s.closed = append(s.closed, s.cfg.Eval.Flush()...)
	s.report(ctx, state)
	return err
}

// Examples returns the examples trained so far. Safe for concurrent use.
func (s *Stream) Examples() int64 { return s.trained.Load() }

// Close implements datastream.Sink.
func (s *Stream) Close(ctx context.Context) error { return s.cfg.Sink.Close(ctx) }

// report logs a progress line, updates the gauges and writes the status.
func (s *Stream) report(ctx context.Context, state string) {
	sum := s.cfg.Eval.Summary()
	reg := s.cfg.Eval.Config().Regression
	recent, total := NewWindowStatus(sum.Recent, reg), NewWindowStatus(sum.Total, reg)
	attrs := []any{"job", s.cfg.Publisher.Job(), "examples", s.examples, "offsets", formatOffsets(s.offsets)}
	for _, f := range []struct {
		name string
		v    *float64
	}{{"recent_auc", recent.AUC}, {"recent_logloss", recent.LogLoss}, {"recent_rmse", recent.RMSE},
		{"total_auc", total.AUC}, {"total_logloss", total.LogLoss}, {"total_rmse", total.RMSE}} {
		if f.v != nil {
			attrs = append(attrs, f.name, *f.v)
		}
	}
	for _, w := range s.closed {
		ws := NewWindowStatus(w, reg)
		wattrs := []any{"job", s.cfg.Publisher.Job(), "start", ws.Start, "end", ws.End, "examples", ws.Examples, "partial", ws.Partial}
		if ws.AUC != nil {
			wattrs = append(wattrs, "auc", *ws.AUC)
		}
		if ws.LogLoss != nil {
			wattrs = append(wattrs, "logloss", *ws.LogLoss)
		}
		if ws.RMSE != nil {
			wattrs = append(wattrs, "rmse", *ws.RMSE)
		}
		s.cfg.Logger.Info("prequential window", wattrs...)
	}
	s.cfg.Logger.Info("prequential", attrs...)
	if s.gauges != nil {
		s.gauges.set(s.examples, recent, total)
	}
	pr := Progress{State: state, Source: s.cfg.Source, Offsets: s.offsets, Examples: s.examples, Watermark: s.wm,
		Regression: reg, Summary: sum, Closed: s.closed}
	if s.cfg.DeadLetters != nil {
		pr.DeadLetters = s.cfg.DeadLetters()
	}
	s.closed = s.closed[:0]
	if err := s.cfg.Publisher.WriteStatus(ctx, pr); err != nil {
		s.cfg.Logger.Warn("job status not written", "err", err)
	}
}

var _ datastream.StatefulSink = (*Stream)(nil)
