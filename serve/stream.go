package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/lakestream/lakestream/datastream"
	"github.com/lakestream/lakestream/datastream/kafka"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/train/feature"
)

// Stream scoring: a runtime job that joins a data topic with the model topic
// and writes every row's score, with the version that produced it, to an
// output topic. The model topic is the broadcast side: every subtask sees
// every announcement, loads the announced version and scores the rows that
// follow with it. The version served is operator state, so it goes into
// checkpoints and a restored job resumes with the version it had.

// AnnouncementSchema is the Arrow schema announcements decode into on the
// broadcast side of a stream-scoring job.
var AnnouncementSchema = arrow.NewSchema([]arrow.Field{
	{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "alias", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "version", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
}, nil)

// StreamScorer is the datastream.BroadcastProcessFunc of stream scoring. One
// instance is shared by the operator's subtasks; it is safe for concurrent
// use.
type StreamScorer struct {
	loader Loader
	ref    ModelRef
	keep   []string // data columns copied to the output
	out    *arrow.Schema
	log    *slog.Logger

	outputs int // scores per row of every version the job accepts

	mu     sync.Mutex
	models map[string]Model // loaded versions by version: the last two
	last   string           // the version loaded last
	failed map[string]error // versions that can never load
}

// StreamState is the broadcast state: the version scored with.
type StreamState struct {
	Version string
}

// NewStreamScorer scores with model ref (following its alias through
// announcements), copying the keep columns of each data row to the output
// next to "model_version", "score" (or score_0… for several outputs) and
// "error" (why a row could not be scored; null otherwise).
func NewStreamScorer(loader Loader, ref ModelRef, keep []arrow.Field, outputs int) *StreamScorer {
	if ref.Ref == "" {
		ref.Ref = "champion"
	}
	fields := append([]arrow.Field(nil), keep...)
	fields = append(fields, arrow.Field{Name: "model_version", Type: arrow.BinaryTypes.String})
	if outputs == 1 {
		fields = append(fields, arrow.Field{Name: "score", Type: arrow.PrimitiveTypes.Float64, Nullable: true})
	} else {
		for i := range outputs {
			fields = append(fields, arrow.Field{Name: "score_" + strconv.Itoa(i), Type: arrow.PrimitiveTypes.Float64, Nullable: true})
		}
	}
	// error is null for scored rows and says why for rows the model's
	// feature spec refused (their score is null).
	fields = append(fields, arrow.Field{Name: "error", Type: arrow.BinaryTypes.String, Nullable: true})
	s := &StreamScorer{loader: loader, ref: ref, outputs: outputs, out: arrow.NewSchema(fields, nil), log: slog.Default(),
		models: map[string]Model{}, failed: map[string]error{}}
	for _, f := range keep {
		s.keep = append(s.keep, f.Name)
	}
	return s
}

// OutputSchema is the schema of the rows the scorer emits.
func (s *StreamScorer) OutputSchema() *arrow.Schema { return s.out }

// model returns the loaded version, loading and warming it on first use.
func (s *StreamScorer) model(ctx context.Context, version string) (Model, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.models[version]; ok {
		return m, nil
	}
	if err, ok := s.failed[version]; ok {
		return nil, err
	}
	m, err := s.loader.Load(ctx, s.ref.Name, version)
	if err == nil {
		err = warmUp(m)
	}
	if err == nil && m.Outputs() != s.outputs {
		err = fmt.Errorf("%w: it gives %d scores per row, the job writes %d", model.ErrIncompatible, m.Outputs(), s.outputs)
	}
	if err != nil {
		err = fmt.Errorf("load %s version %s: %w", s.ref.Name, version, err)
		if permanent(err) {
			s.failed[version] = err
		}
		return nil, err
	}
	// Keep the versions subtasks may still score with: the one loaded now
	// and the one before it (subtasks switch on their own broadcast input).
	for v := range s.models {
		if v != s.last {
			delete(s.models, v)
		}
	}
	s.models[version] = m
	s.last = version
	return m, nil
}

// ProcessBroadcast switches to an announced version of the followed alias.
// A version that does not load is logged and skipped: scoring continues
// with the previous one.
func (s *StreamScorer) ProcessBroadcast(c *datastream.BroadcastContext, st *StreamState, rec arrow.Record) error {
	names, _ := rec.Column(0).(*array.String)
	aliases, _ := rec.Column(1).(*array.String)
	versions, _ := rec.Column(2).(*array.Int64)
	if names == nil || aliases == nil || versions == nil {
		return fmt.Errorf("stream scoring: model topic records have schema %s, want %s", rec.Schema(), AnnouncementSchema)
	}
	for i := range int(rec.NumRows()) {
		if names.IsNull(i) || versions.IsNull(i) || names.Value(i) != s.ref.Name || aliases.Value(i) != s.ref.Ref {
			continue
		}
		v := strconv.FormatInt(versions.Value(i), 10)
		if _, err := s.model(context.Background(), v); err != nil {
			s.log.Error("announced version rejected; scoring continues with the previous one", "model", s.ref.Name, "version", v, "err", err)
			continue
		}
		st.Version = v
	}
	return nil
}

// ProcessBatch scores a data record with the current version. Before the
// first announcement, the version is resolved from the registry.
func (s *StreamScorer) ProcessBatch(c *datastream.BroadcastContext, st *StreamState, rec arrow.Record) error {
	ctx := context.Background()
	if st.Version == "" {
		v, err := s.loader.Resolve(ctx, s.ref.Name, s.ref.Ref)
		if err != nil {
			return fmt.Errorf("stream scoring: no version of %s to score with: %w", s.ref.Name, err)
		}
		st.Version = v
	}
	m, err := s.model(ctx, st.Version)
	if err != nil {
		return fmt.Errorf("stream scoring: %w", err)
	}
	n := int(rec.NumRows())
	outs := m.Outputs()
	scores := make([]float64, n*outs)
	reasons, err := scoreRows(m, rec, scores)
	if err != nil {
		return fmt.Errorf("stream scoring with %s version %s: %w", s.ref.Name, st.Version, err)
	}
	b := c.Out()
	for i, name := range s.keep {
		idx := rec.Schema().FieldIndices(name)
		if len(idx) == 0 {
			return fmt.Errorf("stream scoring: data has no column %q to copy", name)
		}
		if err := appendColumn(b.Field(i), rec.Column(idx[0])); err != nil {
			return fmt.Errorf("stream scoring: column %q: %w", name, err)
		}
	}
	vb := b.Field(len(s.keep)).(*array.StringBuilder)
	for range n {
		vb.Append(st.Version)
	}
	for o := range outs {
		sb := b.Field(len(s.keep) + 1 + o).(*array.Float64Builder)
		for r := range n {
			if reasons != nil && reasons[r] != "" {
				sb.AppendNull()
				continue
			}
			sb.Append(scores[r*outs+o])
		}
	}
	eb := b.Field(len(s.keep) + 1 + outs).(*array.StringBuilder)
	for r := range n {
		if reasons != nil && reasons[r] != "" {
			eb.Append(reasons[r])
		} else {
			eb.AppendNull()
		}
	}
	return nil
}

// scoreRows scores rec into dst. When the batch holds values the feature
// spec refuses (a *feature.ValueError), it scores row by row and returns,
// per row, the reason a row could not be scored ("" for scored rows), so one
// bad row neither stops the job nor disappears: it is written with a null
// score and its reason. Other errors are returned.
func scoreRows(m Model, rec arrow.Record, dst []float64) ([]string, error) {
	err := m.Score(rec, dst)
	var bad *feature.ValueError
	if err == nil || !errors.As(err, &bad) {
		return nil, err
	}
	outs := m.Outputs()
	reasons := make([]string, rec.NumRows())
	for r := range int(rec.NumRows()) {
		row := rec.NewSlice(int64(r), int64(r+1))
		err := m.Score(row, dst[r*outs:(r+1)*outs])
		row.Release()
		switch {
		case errors.As(err, &bad):
			reasons[r] = err.Error()
		case err != nil:
			return nil, err
		}
	}
	return reasons, nil
}

// appendColumn copies arr into b, which has arr's type.
func appendColumn(b array.Builder, arr arrow.Array) error {
	switch bb := b.(type) {
	case *array.StringBuilder:
		a, ok := arr.(*array.String)
		if !ok {
			return fmt.Errorf("is %s, want string", arr.DataType())
		}
		for i := range a.Len() {
			if a.IsNull(i) {
				bb.AppendNull()
			} else {
				bb.Append(a.Value(i))
			}
		}
	case *array.Int64Builder:
		a, ok := arr.(*array.Int64)
		if !ok {
			return fmt.Errorf("is %s, want int64", arr.DataType())
		}
		for i := range a.Len() {
			if a.IsNull(i) {
				bb.AppendNull()
			} else {
				bb.Append(a.Value(i))
			}
		}
	default:
		return fmt.Errorf("copying %s columns is not supported (use string or int64 id columns)", arr.DataType())
	}
	return nil
}

// StreamConfig configures a stream-scoring job.
type StreamConfig struct {
	Brokers          []string
	DataTopic        string // rows to score, JSON
	ModelTopic       string // announcements
	PredictionsTopic string // output, JSON
	DeadLetterTopic  string // data rows that do not decode
	Group            string // consumer group of the data topic
	Model            ModelRef
	// Keep names data columns copied to each prediction (e.g. a request id),
	// with their types; they are decoded with the model's inputs.
	Keep []arrow.Field
	// TransactionalID makes the output exactly-once (see kafka.SinkConfig).
	TransactionalID string
	// Parallelism of the scoring operator. Default 1.
	Parallelism int
	// Windows, when it has windowed features, is the spec whose windows
	// the job computes from the data rows before scoring (the served
	// model's at start: a later version must have the same windows), and
	// WindowInputs the columns they read (model.Model.WindowInputSchema),
	// decoded in place of the window values the inputs name.
	Windows      *feature.Spec
	WindowInputs *arrow.Schema
}

// NewStreamJob builds the stream-scoring job: the data topic (decoded with
// inputs, the served model's input schema, plus cfg.Keep) and the model topic
// feed a StreamScorer whose rows go to the predictions topic. Pass job
// options such as checkpoints in opts.
func NewStreamJob(cfg StreamConfig, loader Loader, inputs *arrow.Schema, outputs int, opts ...datastream.Option) (*datastream.Job, error) {
	fields := append([]arrow.Field(nil), cfg.Keep...)
	var windows map[string]arrow.DataType
	if cfg.Windows != nil && len(cfg.Windows.Windows) > 0 {
		windows = cfg.Windows.WindowTypes()
		if cfg.WindowInputs == nil {
			return nil, fmt.Errorf("stream scoring: the model's windowed features need the columns they read (WindowInputs)")
		}
	}
	has := func(name string) bool { return len(arrow.NewSchema(fields, nil).FieldIndices(name)) > 0 }
	for _, f := range inputs.Fields() {
		if _, computed := windows[f.Name]; !computed && !has(f.Name) {
			fields = append(fields, f)
		}
	}
	if windows != nil {
		for _, f := range cfg.WindowInputs.Fields() {
			if !has(f.Name) {
				fields = append(fields, f)
			}
		}
	}
	data := kafka.DefaultSourceConfig()
	data.Brokers, data.Topic, data.Group = cfg.Brokers, cfg.DataTopic, cfg.Group
	data.Schema, data.DeadLetterTopic = arrow.NewSchema(fields, nil), cfg.DeadLetterTopic
	dataSrc, err := kafka.NewSource(data)
	if err != nil {
		return nil, fmt.Errorf("stream scoring data topic: %w", err)
	}
	models := kafka.DefaultSourceConfig()
	models.Brokers, models.Topic = cfg.Brokers, cfg.ModelTopic
	models.Assignment, models.Start = kafka.AssignAll, kafka.StartLatest
	models.Schema, models.DeadLetterTopic = AnnouncementSchema, cfg.DeadLetterTopic
	models.MaxBatchDelay = 10 * time.Millisecond // announcements are rare: pass each on at once
	modelSrc, err := kafka.NewSource(models)
	if err != nil {
		return nil, fmt.Errorf("stream scoring model topic: %w", err)
	}
	sinkCfg := kafka.DefaultSinkConfig()
	sinkCfg.Brokers, sinkCfg.Topic, sinkCfg.TransactionalID = cfg.Brokers, cfg.PredictionsTopic, cfg.TransactionalID
	sink, err := kafka.NewSink(sinkCfg)
	if err != nil {
		return nil, fmt.Errorf("stream scoring predictions topic: %w", err)
	}
	scorer := NewStreamScorer(loader, cfg.Model, cfg.Keep, outputs)
	job := datastream.NewJob("stream-scoring-"+cfg.Model.Name, opts...)
	rows := job.Source("data", dataSrc)
	if windows != nil {
		if rows, err = feature.AddWindows(rows, "windows", cfg.Windows); err != nil {
			return nil, fmt.Errorf("stream scoring: %w", err)
		}
	}
	announcements := job.Source("models", modelSrc)
	par := max(1, cfg.Parallelism)
	datastream.BroadcastProcess[StreamState](rows, announcements, "score", scorer.OutputSchema(), scorer, datastream.Parallelism(par)).
		To("predictions", sink)
	return job, nil
}

// WindowsOf returns what StreamConfig.Windows and WindowInputs need for a
// model loaded from the registry: its spec and the columns its windowed
// features read. Both are nil for a model without windows or one that is
// not a registry model.
func WindowsOf(m Model) (*feature.Spec, *arrow.Schema, error) {
	rm, ok := m.(*registryModel)
	if !ok || len(rm.Spec().Windows) == 0 {
		return nil, nil, nil
	}
	in, err := rm.WindowInputSchema()
	if err != nil {
		return nil, nil, err
	}
	return rm.Spec(), in, nil
}
