package predict

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
)

// ErrInvalidConfig is wrapped by every error of Config.Validate.
var ErrInvalidConfig = errors.New("predict: invalid config")

// OutputExistsError is the error of Run when an output partition it would
// write already holds objects and Config.Overwrite is not set.
type OutputExistsError struct {
	Folder  string
	Objects int
	First   string // the first object's key
}

func (e *OutputExistsError) Error() string {
	return fmt.Sprintf("output partition %s exists (%d object(s), e.g. %s)", e.Folder, e.Objects, e.First)
}

// ErrNoRows is wrapped by the error of Run when no committed row of the
// table matches the filters.
var ErrNoRows = errors.New("no rows to score")

// FileName is the name of the Parquet file Run writes in each output folder.
const FileName = "part-00000.parquet"

// ModelMetadataKey is the Parquet key-value metadata key that names the
// model version of an output file ("ctr@3").
const ModelMetadataKey = "lakestream.model"

// Config is one batch-scoring run.
type Config struct {
	// Data is the input table in the lake: a folder, key or glob of Parquet
	// files. Required.
	Data string
	// Where is a row filter in dataset.ParseWhere's syntax.
	Where string
	// DT is a day or an inclusive range of days a..b of the dt partition
	// column (dataset.DayRange).
	DT string
	// IncludeUncommitted reads partitions that no _SUCCESS marker commits.
	IncludeUncommitted bool

	// Model is the version to score with: "name" (the latest version),
	// "name@3" or "name@champion" (model.ParseRef). Required.
	Model string

	// Output is the folder of the output table in the lake. Required; it
	// must not be the input table's folder nor inside it.
	Output string
	// Keep lists the input columns copied to each output row before the
	// scores (an id to join back on, the label to evaluate). Partition
	// columns are in the output's folder names, not in its files.
	Keep []string
	// Overwrite replaces output partitions that exist; without it Run
	// refuses to start when one does.
	Overwrite bool

	// BatchSize is the number of rows read and scored at a time.
	BatchSize int
	// RowGroupRows is the number of rows per output row group, the most a
	// file writer holds in memory.
	RowGroupRows int64

	// Logger receives a warning naming the input partitions skipped for
	// want of a _SUCCESS marker, and one line per partition written; nil
	// discards them.
	Logger *slog.Logger
}

// DefaultConfig returns the default batch and row-group sizes.
func DefaultConfig() Config {
	return Config{BatchSize: dataset.DefaultBatchSize, RowGroupRows: 64 << 10}
}

// Validate reports the first field that cannot work, before anything is
// read.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrInvalidConfig)
	}
	switch {
	case c.Data == "":
		return bad("no input table (Data)")
	case c.Model == "":
		return bad("no model (Model)")
	case c.Output == "":
		return bad("no output table (Output)")
	case c.BatchSize <= 0:
		return bad("batch size %d: want > 0", c.BatchSize)
	case c.RowGroupRows <= 0:
		return bad("row group rows %d: want > 0", c.RowGroupRows)
	}
	if _, _, err := model.ParseRef(c.Model); err != nil {
		return bad("model %v", err)
	}
	if err := lake.ValidateKey(strings.TrimSuffix(c.Output, "/")); err != nil {
		return bad("output %q: %v", c.Output, err)
	}
	if _, err := dataset.ParseWhere(c.Where); err != nil {
		return bad("where: %v", err)
	}
	if _, err := dataset.DayRange("dt", c.DT); err != nil {
		return bad("dt %v", err)
	}
	if err := CheckKeep(c.Keep); err != nil {
		return fmt.Errorf("keep: %w: %w", err, ErrInvalidConfig)
	}
	return nil
}

// CheckKeep checks the names of the columns to keep: none empty, none
// twice, none named like a score column ("score", "score_<n>").
func CheckKeep(keep []string) error {
	seen := map[string]bool{}
	for _, k := range keep {
		switch {
		case k == "":
			return errors.New("an empty column name")
		case seen[k]:
			return fmt.Errorf("column %s named twice", k)
		case isScoreName(k):
			return fmt.Errorf("column %s has the name of a score column", k)
		}
		seen[k] = true
	}
	return nil
}

// isScoreName reports whether name is "score" or "score_<n>".
func isScoreName(name string) bool {
	if name == "score" {
		return true
	}
	n, ok := strings.CutPrefix(name, "score_")
	_, err := strconv.Atoi(n)
	return ok && err == nil
}

// Partition is one output partition Run wrote.
type Partition struct {
	// Folder is the output folder ("scores/dt=2026-11-09"), committed by
	// its _SUCCESS marker.
	Folder string
	// Rows is the number of rows scored into it.
	Rows int64
}

// Result describes a finished run.
type Result struct {
	// Model and Version name the version that scored.
	Model   string
	Version int
	// Outputs is the number of score columns per row.
	Outputs int
	// Partitions lists the output partitions in the order written.
	Partitions []Partition
	// Rows is the total number of rows scored.
	Rows int64
}

// job is a validated run: the model, the plan and the output partitions.
type job struct {
	cfg     Config
	store   lake.Store
	m       *model.Model
	ref     string // name@version
	plan    *dataset.Plan
	keep    []int // indices of the kept columns in the plan's schema
	out     *arrow.Schema
	outputs int
	groups  []group
}

// group is the input splits of one output folder.
type group struct {
	folder string // below Output: "dt=2026-11-09" or ""
	splits []dataset.Split
}

// Run scores the rows cfg selects and writes them to cfg.Output (see the
// package documentation). It validates everything before it reads a data
// page; on error the partition being written stays uncommitted.
func Run(ctx context.Context, store lake.Store, cfg Config) (*Result, error) {
	j, err := prepare(ctx, store, cfg)
	if err != nil {
		return nil, err
	}
	return j.run(ctx)
}

// prepare validates cfg against the model, the table and the output.
func prepare(ctx context.Context, store lake.Store, cfg Config) (*job, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Output = strings.TrimSuffix(cfg.Output, "/")
	j := &job{cfg: cfg, store: store}

	var err error
	if j.m, err = model.LoadRef(ctx, store, cfg.Model); err != nil {
		return nil, err
	}
	meta := j.m.Meta()
	j.ref = meta.Name + "@" + strconv.Itoa(meta.Version)
	j.outputs = j.m.Outputs()

	ds, err := openInput(ctx, store, cfg.Data, cfg.Output, cfg.IncludeUncommitted, "input table")
	if err != nil {
		return nil, err
	}
	skipped := ds.SkippedPartitions()
	if len(skipped) > 0 && cfg.Logger != nil {
		cfg.Logger.Warn("skipping partitions without a _SUCCESS marker",
			"data", cfg.Data, "partitions", dataset.PartitionList(skipped))
	}
	partCols := map[string]bool{}
	for _, f := range ds.PartitionColumns() {
		partCols[f.Name] = true
	}
	for _, k := range cfg.Keep {
		if partCols[k] {
			return nil, fmt.Errorf("column %s to keep is a partition column of %s: the output is partitioned like the input, so it is in the output's folder names: %w", k, cfg.Data, ErrInvalidConfig)
		}
	}

	// The projection: the model's inputs, then the kept columns.
	cols := j.m.Spec().InputColumns(false)
	for _, k := range cfg.Keep {
		if !slices.Contains(cols, k) {
			cols = append(cols, k)
		}
	}
	filter, _ := dataset.ParseWhere(cfg.Where) // checked by Validate
	dt, _ := dataset.DayRange("dt", cfg.DT)
	filter = append(filter, dt...)
	plan, err := ds.Plan(ctx, dataset.Query{Columns: cols, Where: filter})
	if err != nil {
		if errors.Is(err, dataset.ErrUnknownColumn) {
			kept := ""
			if len(cfg.Keep) > 0 {
				kept = "; the columns to keep are " + strings.Join(cfg.Keep, ", ")
			}
			return nil, fmt.Errorf("input table %s: %w (model %s reads %s%s)",
				cfg.Data, err, j.ref, strings.Join(j.m.Spec().InputColumns(false), ", "), kept)
		}
		return nil, fmt.Errorf("input table %s: %w", cfg.Data, err)
	}
	if plan.Rows() == 0 {
		why := ""
		if len(skipped) > 0 {
			why = fmt.Sprintf("; %s skipped for want of a _SUCCESS marker", dataset.PartitionList(skipped))
		}
		return nil, fmt.Errorf("input table %s: %w: no committed rows match %s%s", cfg.Data, ErrNoRows, filter, why)
	}
	j.plan = plan
	if err := checkTypes(j.m, plan.Schema(), cfg.Data, j.ref, "input table"); err != nil {
		return nil, err
	}

	schema := plan.Schema()
	fields := make([]arrow.Field, 0, len(cfg.Keep)+j.outputs)
	for _, k := range cfg.Keep {
		i := schema.FieldIndices(k)[0]
		j.keep = append(j.keep, i)
		fields = append(fields, schema.Field(i))
	}
	if j.outputs == 1 {
		fields = append(fields, arrow.Field{Name: "score", Type: arrow.PrimitiveTypes.Float64})
	} else {
		for o := range j.outputs {
			fields = append(fields, arrow.Field{Name: "score_" + strconv.Itoa(o), Type: arrow.PrimitiveTypes.Float64})
		}
	}
	md := arrow.NewMetadata([]string{ModelMetadataKey}, []string{j.ref})
	j.out = arrow.NewSchema(fields, &md)

	if j.groups, err = groupSplits(plan.Splits()); err != nil {
		return nil, err
	}
	for _, g := range j.groups {
		if err := checkOutput(ctx, store, j.folder(g), cfg.Overwrite); err != nil {
			return nil, err
		}
	}
	return j, nil
}

// groupSplits groups splits by the Hive partition folders of their files,
// keeping the plan's order within a group and ordering groups by folder.
func groupSplits(splits []dataset.Split) ([]group, error) {
	byFolder := map[string]int{}
	var groups []group
	for _, sp := range splits {
		parts, err := lake.ParsePartitions(sp.Key)
		if err != nil {
			return nil, err
		}
		segs := make([]string, len(parts))
		for i, p := range parts {
			segs[i] = p.String()
		}
		folder := strings.Join(segs, "/")
		i, ok := byFolder[folder]
		if !ok {
			i = len(groups)
			byFolder[folder] = i
			groups = append(groups, group{folder: folder})
		}
		groups[i].splits = append(groups[i].splits, sp)
	}
	slices.SortFunc(groups, func(a, b group) int { return strings.Compare(a.folder, b.folder) })
	return groups, nil
}

// folder is the output folder of g.
func (j *job) folder(g group) string {
	if g.folder == "" {
		return j.cfg.Output
	}
	return j.cfg.Output + "/" + g.folder
}

func (j *job) run(ctx context.Context) (*Result, error) {
	meta := j.m.Meta()
	res := &Result{Model: meta.Name, Version: meta.Version, Outputs: j.outputs}
	w := newBatchWriter(j.out, j.keep, j.outputs)
	for _, g := range j.groups {
		folder := j.folder(g)
		if j.cfg.Overwrite {
			if err := clear(ctx, j.store, folder); err != nil {
				return res, err
			}
		}
		rows, err := j.writePartition(ctx, w, g, folder+"/"+FileName)
		if err != nil {
			return res, fmt.Errorf("output %s: %w", folder, err)
		}
		if err := lake.Commit(ctx, j.store, folder); err != nil {
			return res, err
		}
		res.Partitions = append(res.Partitions, Partition{Folder: folder, Rows: rows})
		res.Rows += rows
		if j.cfg.Logger != nil {
			j.cfg.Logger.Info("partition scored", "folder", folder, "rows", rows, "model", j.ref)
		}
	}
	return res, nil
}

// clear deletes the objects of an output folder, its _SUCCESS marker first
// so that readers stop reading it before its files go.
func clear(ctx context.Context, store lake.Store, folder string) error {
	objs, err := lake.ListAll(ctx, store, folder+"/")
	if err != nil {
		return fmt.Errorf("overwrite %s: %w", folder, err)
	}
	marker := folder + "/" + lake.SuccessMarker
	slices.SortStableFunc(objs, func(a, b lake.ObjectInfo) int {
		return boolInt(b.Key == marker) - boolInt(a.Key == marker)
	})
	for _, o := range objs {
		if err := lake.Delete(ctx, store, o.Key); err != nil {
			return fmt.Errorf("overwrite %s: %w", folder, err)
		}
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// writePartition scores the splits of g into one Parquet file at key,
// uploaded as it is encoded, and returns the number of rows.
func (j *job) writePartition(ctx context.Context, w *batchWriter, g group, key string) (int64, error) {
	return upload(ctx, j.store, key, func(sink io.Writer) (int64, error) { return j.encode(ctx, w, g, sink) })
}

// encode scans g's splits, scores each batch and writes it to sink.
func (j *job) encode(ctx context.Context, w *batchWriter, g group, sink io.Writer) (int64, error) {
	fw, err := newFileWriter(j.out, sink, j.cfg.RowGroupRows)
	if err != nil {
		return 0, err
	}
	// Recycling is safe: a batch is encoded before the next is read, and
	// nothing keeps its arrays after that.
	sc := j.plan.Scan(ctx, g.splits, dataset.ScanOptions{BatchSize: j.cfg.BatchSize, RecycleBuffers: true})
	defer sc.Close()
	var rows int64
	for sc.Next() {
		rec := sc.At()
		out, err := w.build(j.m, rec)
		if err != nil {
			fw.Close()
			return rows, fmt.Errorf("score rows %d.. of %s: %w", rows, g.splits[0].Key, err)
		}
		err = fw.WriteBuffered(out)
		out.Release()
		if err != nil {
			fw.Close()
			return rows, err
		}
		rows += rec.NumRows()
	}
	if err := sc.Err(); err != nil {
		fw.Close()
		return rows, fmt.Errorf("read %s: %w", j.cfg.Data, err)
	}
	return rows, fw.Close()
}

// batchWriter builds the output record of one input record. Its score
// buffers are reused from batch to batch: a built record is valid until
// the next build.
type batchWriter struct {
	schema  *arrow.Schema
	keep    []int
	outputs int
	scores  []float64   // rows × outputs, as Score writes them
	cols    [][]float64 // per output, for several outputs
}

func newBatchWriter(schema *arrow.Schema, keep []int, outputs int) *batchWriter {
	w := &batchWriter{schema: schema, keep: keep, outputs: outputs}
	if outputs > 1 {
		w.cols = make([][]float64, outputs)
	}
	return w
}

// build scores rec with m and returns the output record: the kept columns
// of rec (shared, not copied) and the scores (views of w's buffers).
func (w *batchWriter) build(m *model.Model, rec arrow.Record) (arrow.Record, error) {
	n := int(rec.NumRows())
	w.scores = grow(w.scores, n*w.outputs)
	if err := m.Score(rec, w.scores); err != nil {
		return nil, err
	}
	cols := make([]arrow.Array, 0, len(w.keep)+w.outputs)
	for _, i := range w.keep {
		cols = append(cols, rec.Column(i))
	}
	if w.outputs == 1 {
		cols = append(cols, float64View(w.scores))
	} else {
		for o := range w.outputs {
			c := grow(w.cols[o], n)
			for r := range n {
				c[r] = w.scores[r*w.outputs+o]
			}
			w.cols[o] = c
			cols = append(cols, float64View(c))
		}
	}
	out := array.NewRecord(w.schema, cols, int64(n))
	for _, c := range cols[len(w.keep):] {
		c.Release() // the record holds its own reference
	}
	return out, nil
}

// float64View wraps v as an Arrow array without copying it.
func float64View(v []float64) arrow.Array {
	buf := memory.NewBufferBytes(arrow.Float64Traits.CastToBytes(v))
	data := array.NewData(arrow.PrimitiveTypes.Float64, len(v), []*memory.Buffer{nil, buf}, nil, 0, 0)
	defer data.Release()
	return array.NewFloat64Data(data)
}

// grow returns s resized to n, reallocating only when its capacity is short.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}
