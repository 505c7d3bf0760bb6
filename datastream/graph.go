package datastream

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/prometheus/client_golang/prometheus"
)

// Job is a dataflow graph under construction and, once Run is called, its
// execution. Build it with Source, the Stream methods and To; then call Run.
// The builder methods are not safe for concurrent use; Run, TriggerCheckpoint
// and StopWithSavepoint are.
type Job struct {
	name  string
	cfg   jobConfig
	nodes []*node
	names map[string]bool
	err   error // first build error, reported by Run

	mu   sync.Mutex
	exec *execution // non-nil while Run is executing
	ran  bool
}

type jobConfig struct {
	clock       Clock
	parallelism int
	queue       int
	logger      *slog.Logger
	registerer  prometheus.Registerer
	store       CheckpointStore
	interval    time.Duration
	retain      int
	timeout     time.Duration
	restore     bool
	mem         memory.Allocator
}

// Option configures a Job.
type Option func(*jobConfig)

// WithClock sets the processing-time clock (default SystemClock()).
func WithClock(c Clock) Option { return func(j *jobConfig) { j.clock = c } }

// WithParallelism sets the default parallelism of operators that do not set
// their own (default 1).
func WithParallelism(n int) Option { return func(j *jobConfig) { j.parallelism = n } }

// WithQueueSize sets the capacity, in batches, of the queue in front of every
// subtask (default 16). A full queue blocks the sender: that is backpressure,
// and the time senders spend blocked is reported per operator.
func WithQueueSize(n int) Option { return func(j *jobConfig) { j.queue = n } }

// WithLogger sets the logger for warnings such as late rows without a side
// output and failed offset commits (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(j *jobConfig) { j.logger = l } }

// WithMetrics registers the job's Prometheus metrics in r (never the global
// registry unless you pass it). Metrics carry a job label.
func WithMetrics(r prometheus.Registerer) Option { return func(j *jobConfig) { j.registerer = r } }

// WithCheckpoints enables aligned checkpoints every interval of processing
// time, written to store under checkpoints/<job>/<id>/, keeping the last
// retain complete ones (minimum 1). Checkpoints go on while any source
// runs: a subtask whose inputs have all ended counts as aligned, and a
// source that has ended records its final position.
func WithCheckpoints(store CheckpointStore, interval time.Duration, retain int) Option {
	return func(j *jobConfig) { j.store, j.interval, j.retain = store, interval, retain }
}

// WithCheckpointTimeout aborts a checkpoint that has not completed after d
// (default 10 minutes).
func WithCheckpointTimeout(d time.Duration) Option { return func(j *jobConfig) { j.timeout = d } }

// WithRestore makes Run restore the latest complete checkpoint (or savepoint)
// of the job from the checkpoint store before it starts, seeking every source
// back to its recorded position; with no checkpoint, the job starts fresh.
// State is matched by operator name: every operator with state in the
// checkpoint must still exist, and operators new to the graph start empty.
// Keyed operators (Window, Process, CoProcess) and BroadcastProcess may change
// parallelism (keyed state moves to the subtask its key hashes to); sources
// and transactional sinks may not.
func WithRestore() Option { return func(j *jobConfig) { j.restore = true } }

// WithAllocator sets the Arrow allocator the runtime builds records with
// (window results, repartitioned and filtered records; default
// memory.DefaultAllocator). Tests pass a memory.CheckedAllocator to find
// leaks.
func WithAllocator(mem memory.Allocator) Option { return func(j *jobConfig) { j.mem = mem } }

// NewJob returns an empty job. The name keys its checkpoints and metrics.
func NewJob(name string, opts ...Option) *Job {
	cfg := jobConfig{
		clock:       SystemClock(),
		parallelism: 1,
		queue:       16,
		logger:      slog.Default(),
		retain:      3,
		timeout:     10 * time.Minute,
		mem:         memory.DefaultAllocator,
	}
	for _, o := range opts {
		o(&cfg)
	}
	j := &Job{name: name, cfg: cfg, names: map[string]bool{}}
	switch {
	case name == "":
		j.fail(fmt.Errorf("%w: empty job name", ErrGraph))
	case cfg.parallelism < 1:
		j.fail(fmt.Errorf("%w: job parallelism %d < 1", ErrGraph, cfg.parallelism))
	case cfg.queue < 1:
		j.fail(fmt.Errorf("%w: queue size %d < 1", ErrGraph, cfg.queue))
	case cfg.store != nil && cfg.interval <= 0:
		j.fail(fmt.Errorf("%w: checkpoint interval %v must be positive", ErrGraph, cfg.interval))
	case cfg.store != nil && cfg.retain < 1:
		j.fail(fmt.Errorf("%w: checkpoint retention %d < 1", ErrGraph, cfg.retain))
	case cfg.restore && cfg.store == nil:
		j.fail(fmt.Errorf("%w: WithRestore needs WithCheckpoints", ErrGraph))
	}
	return j
}

// Name returns the job's name.
func (j *Job) Name() string { return j.name }

func (j *Job) fail(err error) {
	if j.err == nil {
		j.err = err
	}
}

type edgeKind uint8

const (
	edgeForward   edgeKind = iota // same subtask index, or round robin when parallelisms differ
	edgeHash                      // by key columns
	edgeBroadcast                 // every batch to every subtask
)

type edge struct {
	from *node
	port int
	to   *node
	side int // logical input of the receiving operator (0 or 1)
	kind edgeKind
	keys []string
}

type nodeKind uint8

const (
	kindSource nodeKind = iota
	kindOperator
	kindSink
)

type node struct {
	id          int
	name        string
	kind        nodeKind
	parallelism int
	ports       int // output ports
	in          []*edge
	out         [][]*edge // per port

	openSource func(subtask int) (Source, error)
	watermarks *WatermarkStrategy
	tsColumn   string // event-time column inherited from the source's WatermarkStrategy
	readAhead  int
	newOp      func(subtask int) operator
	openSink   func(subtask int) (Sink, error)
}

type opConfig struct {
	parallelism int
	watermarks  *WatermarkStrategy
	readAhead   int
}

// OperatorOption configures one operator.
type OperatorOption func(*opConfig)

// Parallelism sets the number of subtasks of an operator (default: the job's).
func Parallelism(n int) OperatorOption { return func(o *opConfig) { o.parallelism = n } }

// Watermarks sets how a source derives event time and watermarks (sources
// only; without it a source forwards the watermarks in its batches).
func Watermarks(ws WatermarkStrategy) OperatorOption {
	return func(o *opConfig) { o.watermarks = &ws }
}

// ReadAhead lets a source subtask read up to n batches ahead of the ones
// being processed (sources only; default 0). With 0, ReadBatch runs only
// when the previous batch has been processed, which keeps a test's fake
// clock in step with the data; with n > 0, reading (for example JSON or
// Parquet decoding) overlaps with processing on another core.
func ReadAhead(n int) OperatorOption { return func(o *opConfig) { o.readAhead = n } }

func (j *Job) addNode(name string, kind nodeKind, ports int, opts []OperatorOption) (*node, opConfig) {
	cfg := opConfig{parallelism: j.cfg.parallelism}
	for _, o := range opts {
		o(&cfg)
	}
	n := &node{id: len(j.nodes), name: name, kind: kind, parallelism: cfg.parallelism, ports: ports, out: make([][]*edge, ports)}
	switch {
	case name == "":
		j.fail(fmt.Errorf("%w: operator %d has an empty name", ErrGraph, n.id))
	case j.names[name]:
		j.fail(fmt.Errorf("%w: duplicate operator name %q", ErrGraph, name))
	case cfg.parallelism < 1:
		j.fail(fmt.Errorf("%w: operator %q: parallelism %d < 1", ErrGraph, name, cfg.parallelism))
	case cfg.watermarks != nil && kind != kindSource:
		j.fail(fmt.Errorf("%w: operator %q: Watermarks applies to sources only", ErrGraph, name))
	case cfg.readAhead != 0 && kind != kindSource:
		j.fail(fmt.Errorf("%w: operator %q: ReadAhead applies to sources only", ErrGraph, name))
	case cfg.readAhead < 0:
		j.fail(fmt.Errorf("%w: source %q: ReadAhead(%d) is negative", ErrGraph, name, cfg.readAhead))
	}
	j.names[name] = true
	j.nodes = append(j.nodes, n)
	return n, cfg
}

func (j *Job) connect(from *Stream, to *node, side int, kind edgeKind, keys []string) {
	if from.job != j {
		j.fail(fmt.Errorf("%w: operator %q: input stream belongs to another job", ErrGraph, to.name))
		return
	}
	e := &edge{from: from.node, port: from.port, to: to, side: side, kind: kind, keys: keys}
	from.node.out[from.port] = append(from.node.out[from.port], e)
	to.in = append(to.in, e)
}

// Stream is one output of an operator: a flow of Arrow records with
// watermarks. Streams are cheap handles; using a stream twice sends every
// batch to both consumers.
type Stream struct {
	job  *Job
	node *node
	port int
}

// Source adds a source with one subtask reading src.
func (j *Job) Source(name string, src Source, opts ...OperatorOption) *Stream {
	opts = append(opts, Parallelism(1))
	return j.Sources(name, func(int) (Source, error) { return src, nil }, opts...)
}

// Sources adds a parallel source: open is called once per subtask, with the
// subtask index in [0, parallelism), when the job starts.
func (j *Job) Sources(name string, open func(subtask int) (Source, error), opts ...OperatorOption) *Stream {
	n, cfg := j.addNode(name, kindSource, 1, opts)
	n.openSource = open
	n.readAhead = cfg.readAhead
	if cfg.watermarks != nil {
		if err := cfg.watermarks.validate(); err != nil {
			j.fail(fmt.Errorf("%w: source %q: %w", ErrGraph, name, err))
		}
		n.watermarks = cfg.watermarks
		n.tsColumn = cfg.watermarks.TimestampColumn
	}
	return &Stream{job: j, node: n}
}

func (s *Stream) then(name string, newOp func(int) operator, ports int, kind edgeKind, keys []string, opts []OperatorOption) *node {
	n, _ := s.job.addNode(name, kindOperator, ports, opts)
	n.newOp = newOp
	n.tsColumn = s.node.tsColumn
	s.job.connect(s, n, 0, kind, keys)
	return n
}

// Map transforms every record with fn. The runtime owns in and releases it
// after fn returns; fn returns a new record that the runtime then owns (to
// pass in through, Retain it and return it). A nil result emits nothing.
func (s *Stream) Map(name string, fn func(in arrow.Record) (arrow.Record, error), opts ...OperatorOption) *Stream {
	n := s.then(name, func(int) operator { return &mapOp{fn: fn} }, 1, edgeForward, nil, opts)
	return &Stream{job: s.job, node: n}
}

// FlatMap calls fn for every record; fn passes any number of records it
// owns to emit, which takes ownership of them.
func (s *Stream) FlatMap(name string, fn func(in arrow.Record, emit func(arrow.Record)) error, opts ...OperatorOption) *Stream {
	n := s.then(name, func(int) operator { return &flatMapOp{fn: fn} }, 1, edgeForward, nil, opts)
	return &Stream{job: s.job, node: n}
}

// Filter keeps the rows for which fn sets keep[row] (keep has one entry per
// row, initially all false, and is reused between calls). Records whose rows
// are all kept pass through without a copy.
func (s *Stream) Filter(name string, fn func(in arrow.Record, keep []bool) error, opts ...OperatorOption) *Stream {
	n := s.then(name, func(int) operator { return &filterOp{fn: fn} }, 1, edgeForward, nil, opts)
	return &Stream{job: s.job, node: n}
}

// To writes the stream to a sink with one subtask.
func (s *Stream) To(name string, sink Sink, opts ...OperatorOption) {
	opts = append(opts, Parallelism(1))
	s.ToSinks(name, func(int) (Sink, error) { return sink, nil }, opts...)
}

// ToSinks writes the stream to a parallel sink: open is called once per
// subtask when the job starts.
func (s *Stream) ToSinks(name string, open func(subtask int) (Sink, error), opts ...OperatorOption) {
	n, _ := s.job.addNode(name, kindSink, 0, opts)
	n.openSink = open
	s.job.connect(s, n, 0, edgeForward, nil)
}

// KeyBy partitions the stream by the values of columns: rows with equal keys
// go to the same subtask of the next operator, which may keep state per key.
// Supported key column types: integers, floats, booleans, timestamps, dates,
// strings and binaries.
func (s *Stream) KeyBy(columns ...string) *KeyedStream {
	if len(columns) == 0 {
		s.job.fail(fmt.Errorf("%w: KeyBy after %q needs at least one column", ErrGraph, s.node.name))
	}
	return &KeyedStream{s: s, keys: columns}
}

// KeyedStream is a stream partitioned by key columns, the input of keyed
// operators (Process, Window, CoProcess).
type KeyedStream struct {
	s    *Stream
	keys []string
}
