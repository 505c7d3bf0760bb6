package predict_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	pb "github.com/lakestream/lakestream/api/inference"
	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/lake/laketest"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/predict"
	"github.com/lakestream/lakestream/serve"
	"github.com/lakestream/lakestream/train/feature"
	"github.com/lakestream/lakestream/train/feature/featuretest"
)

// days are the dt partitions of the test table, 5,000 rows each.
var days = []string{"2026-11-01", "2026-11-02"}

const rowsPerDay = 5000

// clickLake writes the click-log table "clicks" (dt partitions, committed)
// into store and saves a model of kind over its columns as "ctr" version 1,
// whose "w" table holds a random row for every key of the table.
func clickLake(t testing.TB, store lake.Store, kind model.Kind, spec *feature.Spec) []arrow.Record {
	t.Helper()
	ctx := context.Background()
	var recs []arrow.Record
	for i, day := range days {
		rec := featuretest.ClickLog(memory.DefaultAllocator, rowsPerDay, uint64(11+i))
		t.Cleanup(rec.Release)
		recs = append(recs, rec)
		folder := "clicks/dt=" + day
		if err := dataset.WriteFile(ctx, store, folder+"/part-0.parquet", rec.Schema(), []arrow.Record{rec},
			dataset.WriteOptions{RowGroupRows: 2000}); err != nil {
			t.Fatal(err)
		}
		if err := lake.Commit(ctx, store, folder); err != nil {
			t.Fatal(err)
		}
	}
	saveModel(t, store, kind, spec, recs)
	return recs
}

// saveModel saves a model of kind with random weights for every key of
// recs as the next version of "ctr".
func saveModel(t testing.TB, store lake.Store, kind model.Kind, spec *feature.Spec, recs []arrow.Record) {
	t.Helper()
	fz, err := feature.NewFeaturizer(spec, feature.WithoutLabels())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	var keys []uint64
	for _, rec := range recs {
		var b feature.Batch
		if err := fz.Featurize(rec, &b); err != nil {
			t.Fatal(err)
		}
		for _, k := range b.Indices {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	layout, err := model.LayoutOf(kind, model.Arch{}, spec)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	var tables []model.Table
	for _, ts := range layout {
		tb := model.Table{Name: ts.Name, Width: ts.Width, Dense: ts.Dense}
		rows := ts.Rows
		if !ts.Dense {
			rows, tb.Keys = len(keys), keys
		}
		tb.Values = make([]float32, rows*ts.Width)
		for i := range tb.Values {
			tb.Values[i] = float32(rng.NormFloat64() * 0.3)
		}
		tables = append(tables, tb)
	}
	inputs, err := model.InputsOf(recs[0].Schema(), spec)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(model.Metadata{Kind: kind, Inputs: inputs}, spec, tables)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Save(context.Background(), store, "ctr"); err != nil {
		t.Fatal(err)
	}
}

// readOutput reads the committed output table at folder: the id column
// and the score columns, by id.
func readOutput(t *testing.T, store lake.Store, folder string, outputs int) (map[string][]float64, []string) {
	t.Helper()
	ctx := context.Background()
	ds, err := dataset.Open(ctx, store, folder)
	if err != nil {
		t.Fatal(err)
	}
	if s := ds.SkippedPartitions(); len(s) > 0 {
		t.Errorf("output partitions without _SUCCESS: %v", s)
	}
	p, err := ds.Plan(ctx, dataset.Query{})
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for _, f := range ds.Files() {
		parts = append(parts, f.Key)
	}
	sc := p.Scan(ctx, p.Splits(), dataset.ScanOptions{})
	defer sc.Close()
	got := map[string][]float64{}
	for sc.Next() {
		rec := sc.At()
		ids := rec.Column(rec.Schema().FieldIndices("id")[0]).(*array.String)
		cols := make([]*array.Float64, outputs)
		for o := range outputs {
			name := "score"
			if outputs > 1 {
				name = fmt.Sprintf("score_%d", o)
			}
			idx := rec.Schema().FieldIndices(name)
			if len(idx) != 1 {
				t.Fatalf("output schema %s has no column %s", rec.Schema(), name)
			}
			cols[o] = rec.Column(idx[0]).(*array.Float64)
		}
		for r := range int(rec.NumRows()) {
			s := make([]float64, outputs)
			for o := range outputs {
				s[o] = cols[o].Value(r)
			}
			got[ids.Value(r)] = s
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return got, parts
}

// inferRequest is rec's model input columns as one OIP request, with typed
// contents as a client sends them.
func inferRequest(t *testing.T, rec arrow.Record, schema *arrow.Schema) *pb.ModelInferRequest {
	t.Helper()
	req := &pb.ModelInferRequest{ModelName: "ctr"}
	n := rec.NumRows()
	for _, f := range schema.Fields() {
		col := rec.Column(rec.Schema().FieldIndices(f.Name)[0])
		in := &pb.ModelInferRequest_InferInputTensor{Name: f.Name, Shape: []int64{n}, Contents: &pb.InferTensorContents{}}
		switch c := col.(type) {
		case *array.Int64:
			in.Datatype, in.Contents.Int64Contents = "INT64", c.Int64Values()
		case *array.String:
			in.Datatype = "BYTES"
			for r := range int(n) {
				in.Contents.BytesContents = append(in.Contents.BytesContents, []byte(c.Value(r)))
			}
		default:
			t.Fatalf("column %s: type %s not handled by the test", f.Name, col.DataType())
		}
		req.Inputs = append(req.Inputs, in)
	}
	return req
}

// TestScoresEqualPredictor scores the 10,000 rows of two dt partitions and
// checks the output against the predictor's engine answering OIP requests
// for the same rows: the same values, bit for bit, one output partition
// per input partition, each committed.
func TestScoresEqualPredictor(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testScoresEqualPredictor(t, laketest.NewMemory()) })
	t.Run("minio", func(t *testing.T) {
		if testing.Short() {
			t.Skip("MinIO integration test; run without -short")
		}
		testScoresEqualPredictor(t, laketest.MinIO(t))
	})
}

func testScoresEqualPredictor(t *testing.T, store lake.Store) {
	ctx := context.Background()
	spec := featuretest.ClickLogSpec(20)
	recs := clickLake(t, store, model.KindLogistic, spec)

	cfg := predict.DefaultConfig()
	cfg.Data, cfg.Model, cfg.Output, cfg.Keep = "clicks", "ctr@1", "scores/ctr", []string{"id", "click"}
	cfg.BatchSize = 777 // batches that do not divide the row groups
	res, err := predict.Run(ctx, store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != int64(len(days)*rowsPerDay) || len(res.Partitions) != len(days) || res.Version != 1 {
		t.Fatalf("result %+v, want %d rows in %d partitions by version 1", res, len(days)*rowsPerDay, len(days))
	}
	for i, day := range days {
		folder := "scores/ctr/dt=" + day
		if p := res.Partitions[i]; p.Folder != folder || p.Rows != rowsPerDay {
			t.Errorf("partition %d = %+v, want %s with %d rows", i, p, folder, rowsPerDay)
		}
		if ok, err := lake.IsCommitted(ctx, store, folder); err != nil || !ok {
			t.Errorf("%s has no _SUCCESS marker (%v)", folder, err)
		}
	}
	got, files := readOutput(t, store, "scores/ctr", 1)
	want := []string{"scores/ctr/dt=2026-11-01/part-00000.parquet", "scores/ctr/dt=2026-11-02/part-00000.parquet"}
	if fmt.Sprint(files) != fmt.Sprint(want) {
		t.Errorf("output files %v, want %v", files, want)
	}

	// The predictor's engine, loading the same version from the registry.
	e, err := serve.NewEngine(serve.NewRegistryLoader(store), []serve.ModelRef{{Name: "ctr", Ref: "1"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.RefreshAll(ctx); err != nil {
		t.Fatal(err)
	}
	svc := serve.NewService(e, serve.DefaultServerConfig())
	m, err := model.Load(ctx, store, "ctr", 1)
	if err != nil {
		t.Fatal(err)
	}
	inSchema, _, err := m.InputSchema()
	if err != nil {
		t.Fatal(err)
	}
	compared := 0
	for _, rec := range recs {
		ids := rec.Column(0).(*array.String)
		for lo := int64(0); lo < rec.NumRows(); lo += 1000 {
			slice := rec.NewSlice(lo, min(lo+1000, rec.NumRows()))
			resp, err := svc.ModelInfer(ctx, inferRequest(t, slice, inSchema))
			slice.Release()
			if err != nil {
				t.Fatal(err)
			}
			scores, err := serve.OutputFP64(resp, "score")
			if err != nil {
				t.Fatal(err)
			}
			for r, s := range scores {
				id := ids.Value(int(lo) + r)
				if g, ok := got[id]; !ok || g[0] != s {
					t.Fatalf("row %s: batch score %v, predictor %v", id, g, s)
				}
				compared++
			}
		}
	}
	if compared != len(days)*rowsPerDay || len(got) != compared {
		t.Errorf("compared %d rows, the output has %d", compared, len(got))
	}
}

// TestMulticlassWritesOneColumnPerOutput scores with a softmax model: one
// score_<class> column per class, equal to model.Score's.
func TestMulticlassWritesOneColumnPerOutput(t *testing.T) {
	ctx := context.Background()
	store := laketest.NewMemory()
	spec := featuretest.ClickLogSpec(16)
	spec.Label = feature.Label{Column: "click", Type: feature.Multiclass, Classes: []string{"0", "1", "2"}}
	recs := clickLake(t, store, model.KindSoftmax, spec)
	cfg := predict.DefaultConfig()
	cfg.Data, cfg.Model, cfg.Output, cfg.Keep, cfg.DT = "clicks", "ctr", "scores", []string{"id"}, days[1]
	res, err := predict.Run(ctx, store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outputs != 3 || res.Rows != rowsPerDay || len(res.Partitions) != 1 {
		t.Fatalf("result %+v, want 3 outputs and one day of rows", res)
	}
	got, _ := readOutput(t, store, "scores", 3)
	m, err := model.Load(ctx, store, "ctr", 1)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float64, 3*rowsPerDay)
	if err := m.Score(recs[1], want); err != nil {
		t.Fatal(err)
	}
	ids := recs[1].Column(0).(*array.String)
	for r := range rowsPerDay {
		if g := got[ids.Value(r)]; fmt.Sprint(g) != fmt.Sprint(want[3*r:3*r+3]) {
			t.Fatalf("row %d: %v, want %v", r, g, want[3*r:3*r+3])
		}
	}
}

// TestRefusals checks that bad inputs are refused before any output is
// written, with an error naming what to fix.
func TestRefusals(t *testing.T) {
	ctx := context.Background()
	store := laketest.NewMemory()
	clickLake(t, store, model.KindLogistic, featuretest.ClickLogSpec(16))
	// The click log with its C1 column as strings: the model was trained on int64.
	strs := stringColumn(t, featuretest.ClickLog(memory.DefaultAllocator, 10, 3), "C1")
	defer strs.Release()
	if err := dataset.WriteFile(ctx, store, "strings/part-0.parquet", strs.Schema(), []arrow.Record{strs}, dataset.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := lake.PutBytes(ctx, store, "taken/dt=2026-11-02/part-00000.parquet", []byte("old")); err != nil {
		t.Fatal(err)
	}

	base := predict.DefaultConfig()
	base.Data, base.Model, base.Output = "clicks", "ctr", "out"
	tests := []struct {
		name string
		edit func(*predict.Config)
		want string
	}{
		{"no model", func(c *predict.Config) { c.Model = "" }, "no model"},
		{"bad model ref", func(c *predict.Config) { c.Model = "ctr@0" }, "versions start at 1"},
		{"unknown model", func(c *predict.Config) { c.Model = "nope" }, "nope"},
		{"unknown alias", func(c *predict.Config) { c.Model = "ctr@champion" }, "champion"},
		{"bad dt", func(c *predict.Config) { c.DT = "2026-13-01" }, "not a day"},
		{"bad where", func(c *predict.Config) { c.Where = "C1 >" }, "where"},
		{"no rows", func(c *predict.Config) { c.DT = "2027-01-01" }, "no rows to score"},
		{"missing keep column", func(c *predict.Config) { c.Keep = []string{"request_id"} }, `"request_id"`},
		{"keep a partition column", func(c *predict.Config) { c.Keep = []string{"dt"} }, "dt to keep is a partition column"},
		{"keep a score name", func(c *predict.Config) { c.Keep = []string{"score"} }, "score has the name of a score column"},
		{"keep twice", func(c *predict.Config) { c.Keep = []string{"id", "id"} }, "id named twice"},
		{"output inside input", func(c *predict.Config) { c.Output = "clicks/scores" }, "overlap"},
		{"input inside output", func(c *predict.Config) { c.Output = "clicks" }, "overlap"},
		{"bad output key", func(c *predict.Config) { c.Output = "../x" }, "output"},
		{"type differs from training", func(c *predict.Config) { c.Data = "strings" }, "column C1 is string, but model ctr@1 was trained on int64"},
		{"output exists", func(c *predict.Config) { c.Output = "taken" }, "output partition taken/dt=2026-11-02 exists"},
		{"batch size", func(c *predict.Config) { c.BatchSize = 0 }, "batch size 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			tc.edit(&cfg)
			_, err := predict.Run(ctx, store, cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	for _, prefix := range []string{"out/", "clicks/scores/", "taken/dt=2026-11-01/"} {
		if objs, _ := lake.ListAll(ctx, store, prefix); len(objs) > 0 {
			t.Errorf("a refused run wrote %s", objs[0].Key)
		}
	}
	var exists *predict.OutputExistsError
	cfg := base
	cfg.Output = "taken"
	if _, err := predict.Run(ctx, store, cfg); !errors.As(err, &exists) {
		t.Errorf("existing output: %v, want *OutputExistsError", err)
	}
}

// TestOverwrite replaces an existing partition only with Overwrite, and
// leaves the other partitions of the output alone.
func TestOverwrite(t *testing.T) {
	ctx := context.Background()
	store := laketest.NewMemory()
	clickLake(t, store, model.KindLogistic, featuretest.ClickLogSpec(16))
	for _, key := range []string{"out/dt=2026-11-02/stale.parquet", "out/dt=2026-11-02/_SUCCESS", "out/dt=2026-10-31/part-00000.parquet"} {
		if err := lake.PutBytes(ctx, store, key, []byte("old")); err != nil {
			t.Fatal(err)
		}
	}
	cfg := predict.DefaultConfig()
	cfg.Data, cfg.Model, cfg.Output, cfg.DT = "clicks", "ctr", "out", days[1]
	if _, err := predict.Run(ctx, store, cfg); err == nil {
		t.Fatal("Run over an existing partition without Overwrite succeeded")
	}
	cfg.Overwrite = true
	if _, err := predict.Run(ctx, store, cfg); err != nil {
		t.Fatal(err)
	}
	objs, err := lake.ListAll(ctx, store, "out/")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range objs {
		keys = append(keys, o.Key)
	}
	want := []string{"out/dt=2026-10-31/part-00000.parquet", "out/dt=2026-11-02/_SUCCESS", "out/dt=2026-11-02/part-00000.parquet"}
	if fmt.Sprint(keys) != fmt.Sprint(want) {
		t.Errorf("after overwrite: %v, want %v", keys, want)
	}
}

// TestBadValueLeavesPartitionUncommitted: a value the spec refuses fails
// the run, and the partition being written gets no marker.
func TestBadValueLeavesPartitionUncommitted(t *testing.T) {
	ctx := context.Background()
	store := laketest.NewMemory()
	spec := &feature.Spec{Version: 1, Label: feature.Label{Column: "y", Type: feature.Binary},
		Numeric: []feature.Numeric{{Column: "x", Invalid: feature.InvalidError}}}
	schema := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Float64}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	b.Field(0).(*array.Float64Builder).AppendValues([]float64{1, 2, math.NaN(), 4}, nil)
	rec := b.NewRecord()
	b.Release()
	defer rec.Release()
	if err := dataset.WriteFile(ctx, store, "nums/dt=2026-11-01/part-0.parquet", schema, []arrow.Record{rec}, dataset.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := lake.Commit(ctx, store, "nums/dt=2026-11-01"); err != nil {
		t.Fatal(err)
	}
	good := rec.NewSlice(0, 2)
	defer good.Release()
	saveModel(t, store, model.KindLogistic, spec, []arrow.Record{good})
	cfg := predict.DefaultConfig()
	cfg.Data, cfg.Model, cfg.Output = "nums", "ctr", "out"
	_, err := predict.Run(ctx, store, cfg)
	if err == nil || !strings.Contains(err.Error(), "x") {
		t.Fatalf("Run = %v, want an error naming column x", err)
	}
	if objs, _ := lake.ListAll(ctx, store, "out/"); len(objs) > 0 {
		t.Errorf("a failed partition left %v", objs)
	}
}

// stringColumn returns rec (which it releases) with the int64 column name
// replaced by its decimal strings.
func stringColumn(t *testing.T, rec arrow.Record, name string) arrow.Record {
	t.Helper()
	defer rec.Release()
	i := rec.Schema().FieldIndices(name)[0]
	b := array.NewStringBuilder(memory.DefaultAllocator)
	defer b.Release()
	for _, v := range rec.Column(i).(*array.Int64).Int64Values() {
		b.Append(fmt.Sprint(v))
	}
	col := b.NewArray()
	defer col.Release()
	fields := rec.Schema().Fields()
	fields[i].Type = arrow.BinaryTypes.String
	cols := slices.Clone(rec.Columns())
	cols[i] = col
	return array.NewRecord(arrow.NewSchema(fields, nil), cols, rec.NumRows())
}
