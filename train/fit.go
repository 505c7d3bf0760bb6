package train

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/lakestream/lakestream/datastream"
	"github.com/lakestream/lakestream/train/feature"
)

// Bounded is the input of Fit: bounded sources of the datastream runtime
// (a Parquet scan of the lake through dataset.NewSource, or any source that
// ends), replayed once per epoch.
type Bounded struct {
	// Train opens part of parts of the training input of epoch (0-based);
	// parts is the number of train subtasks. It is called once per part and
	// epoch and should seed any shuffle from the epoch, so a run is
	// reproducible.
	Train func(ctx context.Context, epoch, part, parts int) (datastream.Source, error)
	// Validation, if not nil, opens the held-out input (a partition range,
	// such as the last day), scored after each epoch.
	Validation func(ctx context.Context) (datastream.Source, error)
	// HashSplit, when its Column is set, sends the rows whose column hashes
	// into the first Percent of 100 buckets to validation and the others to
	// training; both read Train (epoch 0, one part, for validation).
	HashSplit HashSplit
	// Spec is the feature spec; every train and evaluate subtask gets its
	// own Featurizer.
	Spec *feature.Spec
	// BatchSize is the number of rows per mini-batch (DefaultBatchSize if
	// 0). Records are cut into mini-batches; a mini-batch never spans
	// records.
	BatchSize int
}

// Checkpointing makes Fit take aligned checkpoints of the training state.
type Checkpointing struct {
	// Store holds the checkpoints, under checkpoints/<Job>-e<epoch>/.
	Store datastream.CheckpointStore
	// Every is the processing-time interval between checkpoints; 0 takes
	// none.
	Every time.Duration
	// Job names the checkpoints; Fit resumes from the latest one of Job
	// when one exists.
	Job string
	// Fingerprint identifies the job's configuration and fitted feature
	// statistics; it is stored in every checkpoint, and a checkpoint with
	// another fingerprint is refused (ErrCheckpointMismatch) rather than
	// resumed.
	Fingerprint []byte
}

// Fit trains the models of ss on in for cfg.Epochs epochs through the
// datastream runtime, with validation after each epoch, early stopping and
// progress reporting, and returns the trained parameters.
//
// Each epoch is one run of the graph
//
//	source (len(ss) subtasks) → [hold-out filter] → train (len(ss) subtasks)
//
// whose train operator is a Sink per Stepper; validation is a run of
// source → evaluate. The epoch ends when the bounded sources end: that is
// the epoch barrier, after which Fit validates, decides on early stopping
// and replays the source for the next epoch.
//
// The Steppers share one parameter store, which must be safe for
// concurrent use (paramserver.Local is), and each needs its own Model
// instance. With more than one, updates interleave as the subtasks run
// (asynchronous data-parallel SGD, "Hogwild!", Recht et al., NIPS 2011), so
// the run is not reproducible bit for bit; one Stepper is. ss[0] validates,
// exports and reports: after each epoch it takes over the keys the other
// Steppers trained.
//
// With cfg.Checkpoint.Every > 0 (one Stepper, no early stopping), the
// runtime takes aligned checkpoints of the training state — the store's
// tables with their optimizer state and per-row step counts (the store must
// implement WriteSnapshot/ReadSnapshot, as paramserver.Local does), the keys
// trained, the epoch, the finished epochs' reports and the current epoch's
// loss accumulators — with the source's position in the manifest, and Fit
// resumes from the latest one.
func Fit(ctx context.Context, ss []*Stepper, in *Bounded, cfg Config) (Result, error) {
	if err := checkSteppers(ss); err != nil {
		return Result{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	if len(in.Spec.Windows) > 0 && len(ss) > 1 {
		return Result{}, fmt.Errorf("%w: windowed features need one train subtask (their operator sees the rows of every key in event-time order), got %d", ErrBadConfig, len(ss))
	}
	if cfg.Observe != nil && (len(ss) > 1 || cfg.Epochs > 1) {
		return Result{}, fmt.Errorf("%w: test-then-train (Observe) needs one train subtask and one epoch, not %d and %d", ErrBadConfig, len(ss), cfg.Epochs)
	}
	ck := cfg.Checkpoint
	if ck.Every > 0 {
		switch {
		case len(ss) > 1:
			return Result{}, fmt.Errorf("%w: checkpoints need one train subtask (parallel %d interleaves updates, so no barrier state is exact)", ErrBadConfig, len(ss))
		case cfg.Patience > 0:
			return Result{}, fmt.Errorf("%w: checkpoints with early stopping (patience) are not supported yet", ErrBadConfig)
		case ck.Store == nil || ck.Job == "":
			return Result{}, fmt.Errorf("%w: checkpoints need a store and a job name", ErrBadConfig)
		}
		if !ss[0].CanCheckpoint() {
			return Result{}, fmt.Errorf("%w: the parameter store cannot snapshot its tables", ErrBadConfig)
		}
	}
	f := &fit{ss: ss, in: in, cfg: cfg, now: cfg.Now, log: cfg.Logger}
	if f.now == nil {
		f.now = time.Now
	}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	if err := CheckMetric(ss[0].model, cfg.Metric); err != nil {
		return Result{}, err
	}
	f.metric = cfg.Metric
	if f.metric == "" {
		f.metric = DefaultMetric(ss[0].model)
	}
	f.es = EarlyStopping{Metric: f.metric, Patience: cfg.Patience, MinDelta: cfg.MinDelta}
	return f.run(ctx)
}

// checkSteppers refuses Steppers that cannot train together.
func checkSteppers(ss []*Stepper) error {
	if len(ss) == 0 {
		return fmt.Errorf("%w: no Stepper", ErrBadConfig)
	}
	for i, s := range ss[1:] {
		if s.model.Kind() != ss[0].model.Kind() {
			return fmt.Errorf("%w: subtask %d trains %s, subtask 0 %s", ErrBadConfig, i+1, s.model.Kind(), ss[0].model.Kind())
		}
		for _, o := range ss[:i+1] {
			if s.model == o.model {
				return fmt.Errorf("%w: subtasks share a Model instance; give each Stepper its own (NewModel)", ErrBadConfig)
			}
		}
	}
	return nil
}

// fit is one run of Fit.
type fit struct {
	ss     []*Stepper
	in     *Bounded
	cfg    Config
	now    func() time.Time
	log    *slog.Logger
	metric Metric
	state  fitState
	es     EarlyStopping // fed every epoch's report (replayed on restore)
	res    Result        // Tables of the best epoch when they may be rolled back

	// epochStart is when this process started the current epoch; resumed
	// is the epoch's training time before the checkpoint it resumed from.
	epochStart time.Time
	resumed    time.Duration
}

// fitState is the state of the epoch loop that goes into checkpoints; the
// early-stopping state is derived from the reports.
type fitState struct {
	epoch   int
	reports []EpochReport
}

// epochName names the datastream job of an epoch (its checkpoints).
func (f *fit) epochName(epoch int) string {
	if f.cfg.Checkpoint.Every <= 0 {
		return "train"
	}
	return f.cfg.Checkpoint.Job + "-e" + strconv.Itoa(epoch)
}

func (f *fit) run(ctx context.Context) (Result, error) {
	start := f.now()
	restoreEpoch := -1
	if ck := f.cfg.Checkpoint; ck.Every > 0 {
		for e := f.cfg.Epochs - 1; e >= 0; e-- {
			m, err := datastream.LatestCheckpoint(ctx, ck.Store, f.epochName(e))
			if errors.Is(err, datastream.ErrNoCheckpoint) {
				continue
			}
			if err != nil {
				return Result{}, fmt.Errorf("find checkpoints of %s: %w", ck.Job, err)
			}
			if m != nil {
				restoreEpoch = e
				f.log.Info("resuming from checkpoint", "job", ck.Job, "epoch", e+1, "checkpoint", m.ID)
				break
			}
		}
	}
	if restoreEpoch >= 0 {
		f.state.epoch = restoreEpoch
	}
	var res Result
	for f.state.epoch < f.cfg.Epochs {
		epoch := f.state.epoch
		rep, err := f.trainEpoch(ctx, epoch, epoch == restoreEpoch)
		if err != nil {
			return res, err
		}
		if rep.Examples == 0 {
			return res, fmt.Errorf("epoch %d: %w (check the data path and partition filters)", epoch, ErrNoData)
		}
		if f.in.Validation != nil || f.in.HashSplit.Column != "" {
			m, err := f.validate(ctx)
			if err != nil {
				return res, fmt.Errorf("validate epoch %d: %w", epoch, err)
			}
			rep.Validation = &m
		}
		f.state.reports = append(f.state.reports, rep)
		attrs := []any{"epoch", epoch + 1, "examples", rep.Examples, "train_loss", rep.TrainLoss, "duration", rep.Duration.Round(time.Millisecond)}
		if rep.Validation != nil {
			attrs = append(attrs, "val_"+string(f.metric), logValue(rep.Validation.Get(f.metric)))
		}
		f.log.Info("epoch done", attrs...)
		f.state.epoch++
		stop, err := f.judge(ctx, rep)
		if err != nil {
			return res, err
		}
		if stop {
			res.Stopped = true
			break
		}
	}
	st := &f.state
	res.Epochs = st.reports
	res.BestEpoch = f.es.BestEpoch()
	res.Validation = st.reports[res.BestEpoch].Validation
	res.Tables = f.res.Tables
	for _, r := range st.reports {
		res.Examples += r.Examples
		res.TrainTime += r.Duration
	}
	if res.Tables == nil || res.BestEpoch == len(st.reports)-1 {
		var err error
		if res.Tables, err = f.ss[0].Export(ctx); err != nil {
			return res, err
		}
	}
	for _, s := range f.ss {
		res.Steps += s.steps
	}
	res.Duration = f.now().Sub(start)
	return res, nil
}

// judge applies early stopping after an epoch's report; true stops.
func (f *fit) judge(ctx context.Context, rep EpochReport) (bool, error) {
	best, stop := f.es.Observe(rep.Epoch, rep.Validation)
	if best {
		// Keep the best parameters only when a later epoch may be rolled
		// back; otherwise export once at the end.
		f.res.Tables = nil
		if f.cfg.Patience > 0 && rep.Epoch+1 < f.cfg.Epochs {
			var err error
			if f.res.Tables, err = f.ss[0].Export(ctx); err != nil {
				return false, err
			}
		}
		return false, nil
	}
	if stop {
		be := f.es.BestEpoch()
		f.log.Info("early stopping", "best_epoch", be+1, "metric", f.metric, "best", f.state.reports[be].Validation.Get(f.metric))
	}
	return stop, nil
}

// trainEpoch runs the epoch's graph: source → [hold-out] → train.
func (f *fit) trainEpoch(ctx context.Context, epoch int, restore bool) (EpochReport, error) {
	rep := EpochReport{Epoch: epoch}
	n := len(f.ss)
	opts := []datastream.Option{datastream.WithLogger(f.log)}
	if ck := f.cfg.Checkpoint; ck.Every > 0 {
		opts = append(opts, datastream.WithCheckpoints(ck.Store, ck.Every, 1))
		if restore {
			opts = append(opts, datastream.WithRestore())
		}
	}
	job := datastream.NewJob(f.epochName(epoch), opts...)
	data := job.Sources("data", func(part int) (datastream.Source, error) {
		return f.in.Train(ctx, epoch, part, n)
	}, datastream.Parallelism(n))
	// Every row is an event of the windows, held-out ones included.
	data, err := feature.AddWindows(data, "windows", f.in.Spec)
	if err != nil {
		return rep, err
	}
	if f.in.HashSplit.Column != "" {
		data = data.Filter("hold-out", holdOut(f.in.HashSplit, false), datastream.Parallelism(n))
	}
	pr := newProgress(f.cfg, epoch, f.log, f.now)
	f.epochStart, f.resumed = pr.start, 0
	var examples atomic.Int64
	sinks := make([]*fitSink, n)
	for i, s := range f.ss {
		fz, err := feature.NewFeaturizer(f.in.Spec)
		if err != nil {
			return rep, err
		}
		sinks[i] = &fitSink{Sink: NewSink(s, fz, f.in.BatchSize), fit: f, part: i, examples: &examples}
		sinks[i].Observe = f.cfg.Observe
		if i == 0 {
			sinks[i].pr = pr
		}
	}
	data.ToSinks("train", func(part int) (datastream.Sink, error) { return sinks[part], nil }, datastream.Parallelism(n))
	_, err = job.Run(ctx)
	pr.finish()
	if err != nil {
		return rep, fmt.Errorf("epoch %d: %w", epoch+1, err)
	}
	if f.state.epoch != epoch {
		return rep, fmt.Errorf("%w: checkpoint of %s holds epoch %d", ErrCheckpointMismatch, f.epochName(epoch), f.state.epoch+1)
	}
	var loss, weight float64
	for _, s := range sinks {
		st := s.Stats()
		rep.Examples += st.Examples
		rep.Positives += st.Positives
		loss += st.Loss
		weight += st.Weight
	}
	rep.Duration = f.resumed + f.now().Sub(pr.start)
	if weight > 0 {
		rep.TrainLoss = loss / weight
	}
	// ss[0] scores and exports every key any subtask trained.
	for _, s := range f.ss[1:] {
		for _, k := range s.seen.keys(nil) {
			f.ss[0].seen.add(k)
		}
	}
	return rep, nil
}

// validate runs source → evaluate over the held-out rows with ss[0].
func (f *fit) validate(ctx context.Context) (Metrics, error) {
	job := datastream.NewJob("validate", datastream.WithLogger(f.log))
	var data *datastream.Stream
	if f.in.Validation != nil {
		data = job.Sources("validation", func(int) (datastream.Source, error) { return f.in.Validation(ctx) })
	} else {
		data = job.Sources("validation", func(int) (datastream.Source, error) { return f.in.Train(ctx, 0, 0, 1) })
	}
	data, err := feature.AddWindows(data, "windows", f.in.Spec)
	if err != nil {
		return Metrics{}, err
	}
	if f.in.Validation == nil {
		data = data.Filter("held-out", holdOut(f.in.HashSplit, true))
	}
	fz, err := feature.NewFeaturizer(f.in.Spec)
	if err != nil {
		return Metrics{}, err
	}
	es := &evalSink{st: f.ss[0], fz: fz, cut: cutter{size: max(f.in.BatchSize, 1)}}
	if f.in.BatchSize <= 0 {
		es.cut.size = DefaultBatchSize
	}
	data.To("evaluate", es)
	if _, err := job.Run(ctx); err != nil {
		return Metrics{}, err
	}
	return es.ev.metrics(f.ss[0].model)
}

// holdOut returns the Filter keeping the rows on one side of a hash split.
func holdOut(h HashSplit, heldOut bool) func(arrow.Record, []bool) error {
	return func(rec arrow.Record, keep []bool) error {
		idx := rec.Schema().FieldIndices(h.Column)
		if len(idx) == 0 {
			return fmt.Errorf("train: validation split column %q is not in the data (columns: %v)", h.Column, columnNames(rec.Schema()))
		}
		if err := hashMask(rec.Column(idx[0]), h.Percent, heldOut, keep); err != nil {
			return fmt.Errorf("train: validation split column %q: %w", h.Column, err)
		}
		return nil
	}
}

// fitSink is a train subtask of Fit: the train operator (Sink) plus the
// epoch's progress and, on subtask 0, the training state for checkpoints.
type fitSink struct {
	*Sink
	fit      *fit
	part     int
	pr       *progress // subtask 0 only
	examples *atomic.Int64
	snap     bytes.Buffer
}

// WriteBatch trains on b and reports progress.
func (s *fitSink) WriteBatch(ctx context.Context, b datastream.Batch) error {
	before := s.Stats()
	if err := s.Sink.WriteBatch(ctx, b); err != nil {
		return err
	}
	after := s.Stats()
	total := s.examples.Add(after.Examples - before.Examples)
	if s.pr != nil && after.Weight > before.Weight {
		s.pr.update(total, (after.Loss-before.Loss)/max(after.Weight-before.Weight, 1e-12))
	}
	return nil
}

// fitCheckpoint is the gob-encoded head of a train subtask's state.
type fitCheckpoint struct {
	Fingerprint []byte
	Epoch       int
	Reports     []EpochReport
	Stats       SinkStats
	Elapsed     time.Duration // the current epoch's training time so far
}

// fitStateMagic starts a train subtask's state: magic | u64 len(head) |
// head (gob fitCheckpoint) | the Stepper's state (Stepper.WriteState).
const fitStateMagic = "LSFIT002"

// SnapshotState implements datastream.StatefulSink (subtask 0 of a
// one-subtask job: Fit refuses checkpoints otherwise).
func (s *fitSink) SnapshotState(ctx context.Context, _ int64) ([]byte, error) {
	f := s.fit
	st := &f.state
	head := fitCheckpoint{Fingerprint: f.cfg.Checkpoint.Fingerprint, Epoch: st.epoch, Reports: st.reports, Stats: s.Stats(),
		Elapsed: f.resumed + f.now().Sub(f.epochStart)}
	var hb bytes.Buffer
	if err := gob.NewEncoder(&hb).Encode(&head); err != nil {
		return nil, fmt.Errorf("encode training state: %w", err)
	}
	b := &s.snap
	b.Reset()
	b.WriteString(fitStateMagic)
	b.Write(binary.LittleEndian.AppendUint64(nil, uint64(hb.Len())))
	b.Write(hb.Bytes())
	if err := s.st.WriteState(ctx, b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// RestoreState implements datastream.StatefulSink.
func (s *fitSink) RestoreState(ctx context.Context, id int64, state []byte) error {
	bad := func(what string) error { return fmt.Errorf("%w: checkpoint %d: %s", ErrCheckpointMismatch, id, what) }
	if len(state) < len(fitStateMagic)+8 || string(state[:len(fitStateMagic)]) != fitStateMagic {
		return bad("not a training state")
	}
	state = state[len(fitStateMagic):]
	n := binary.LittleEndian.Uint64(state)
	state = state[8:]
	if n > uint64(len(state)) {
		return bad("truncated")
	}
	var head fitCheckpoint
	if err := gob.NewDecoder(bytes.NewReader(state[:n])).Decode(&head); err != nil {
		return bad(err.Error())
	}
	state = state[n:]
	f := s.fit
	if !bytes.Equal(head.Fingerprint, f.cfg.Checkpoint.Fingerprint) {
		return bad("it was taken by a job with other settings or other fitted feature statistics")
	}
	if err := s.st.ReadState(ctx, state); err != nil {
		return fmt.Errorf("checkpoint %d: %w", id, err)
	}
	f.state = fitState{epoch: head.Epoch, reports: head.Reports}
	f.es = EarlyStopping{Metric: f.es.Metric, Patience: f.es.Patience, MinDelta: f.es.MinDelta}
	for _, r := range head.Reports {
		f.es.Observe(r.Epoch, r.Validation)
	}
	f.resumed = head.Elapsed
	s.mu.Lock()
	s.stats = head.Stats
	s.mu.Unlock()
	s.examples.Store(head.Stats.Examples)
	return nil
}

// evalSink is the evaluate operator of Fit's validation graph: it scores
// every row with the Stepper's current parameters (nothing is updated).
type evalSink struct {
	st  *Stepper
	fz  *feature.Featurizer
	cut cutter
	ev  evaluator
}

// WriteBatch implements datastream.Sink.
func (e *evalSink) WriteBatch(ctx context.Context, b datastream.Batch) error {
	if err := e.fz.Featurize(b.Record, &e.cut.fb); err != nil {
		return fmt.Errorf("evaluate: featurize: %w", err)
	}
	e.cut.lo = 0
	for e.cut.next() {
		if err := e.ev.add(ctx, e.st, &e.cut.cur); err != nil {
			return err
		}
	}
	return nil
}

// Close implements datastream.Sink.
func (*evalSink) Close(context.Context) error { return nil }

var (
	_ datastream.StatefulSink = (*fitSink)(nil)
	_ datastream.Sink         = (*evalSink)(nil)
)
