package serve

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/lakestream/lakestream/api/inference"

	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/lake/laketest"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/train/feature"
)

// registryFixture saves an LR model over an int64 and a string column, as
// training would, makes it champion, and returns the record it was "trained"
// on.
func registryFixture(t testing.TB) (lake.Store, *model.Model, arrow.Record) {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "click", Type: arrow.PrimitiveTypes.Int32},
		{Name: "c1", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "site", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "price", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	b.Field(0).(*array.Int32Builder).AppendValues([]int32{0, 1, 0, 1}, nil)
	b.Field(1).(*array.Int64Builder).AppendValues([]int64{1005, 1002, 1005, 7}, nil)
	b.Field(2).(*array.StringBuilder).AppendValues([]string{"a", "b", "", "zz"}, []bool{true, true, false, true})
	b.Field(3).(*array.Float64Builder).AppendValues([]float64{1.5, 0, -2, 10}, nil)
	rec := b.NewRecord()
	t.Cleanup(rec.Release)

	spec := &feature.Spec{
		Label: feature.Label{Column: "click", Type: feature.Binary}, HashBits: 12,
		Numeric:     []feature.Numeric{{Column: "price"}},
		Categorical: []feature.Categorical{{Column: "c1"}, {Column: "site"}},
	}
	fz, err := feature.NewFeaturizer(spec)
	if err != nil {
		t.Fatal(err)
	}
	var batch feature.Batch
	if err := fz.Featurize(rec, &batch); err != nil {
		t.Fatal(err)
	}
	w := model.Table{Name: model.TableWeights, Width: 1}
	seen := map[uint64]bool{}
	for i, k := range batch.Indices {
		if !seen[k] {
			seen[k] = true
			w.Keys = append(w.Keys, k)
			w.Values = append(w.Values, float32(i%5)*0.3-0.5)
		}
	}
	inputs, err := model.InputsOf(schema, spec)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(model.Metadata{Kind: model.KindLogistic, Inputs: inputs}, spec,
		[]model.Table{w, {Name: model.TableBias, Width: 1, Dense: true, Values: []float32{0.25}}})
	if err != nil {
		t.Fatal(err)
	}
	store := laketest.NewMemory()
	ctx := context.Background()
	v, err := m.Save(ctx, store, "ctr")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := model.SetAlias(ctx, store, "ctr", model.Champion, v, nil); err != nil {
		t.Fatal(err)
	}
	return store, m, rec
}

// registryEngine serves the registry fixture's model as "ctr" (version 1,
// loaded) and returns the engine and the model, for in-process scores.
func registryEngine(t testing.TB) (*Engine, *model.Model) {
	t.Helper()
	store, m, _ := registryFixture(t)
	e, err := NewEngine(NewRegistryLoader(store), []ModelRef{{Name: "ctr"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.RefreshAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	return e, m
}

// scoreInProcess returns m's in-process scores of the rows (c1, site,
// price), from a record in the model's input types.
func scoreInProcess(t testing.TB, m *model.Model, c1 []int64, site []string, price []float64) []float64 {
	t.Helper()
	schema, _, err := m.InputSchema()
	if err != nil {
		t.Fatal(err)
	}
	rb := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer rb.Release()
	for i, f := range schema.Fields() {
		switch f.Name {
		case "c1":
			rb.Field(i).(*array.Int64Builder).AppendValues(c1, nil)
		case "site":
			rb.Field(i).(*array.StringBuilder).AppendValues(site, nil)
		case "price":
			rb.Field(i).(*array.Float64Builder).AppendValues(price, nil)
		}
	}
	rec := rb.NewRecord()
	defer rec.Release()
	want := make([]float64, len(c1))
	if err := m.Score(rec, want); err != nil {
		t.Fatal(err)
	}
	return want
}

// TestRegistryModelScoresLikeInProcess checks that a request carrying the
// columns in their training types (INT64 for an integer column hashed as a
// category) scores exactly as the model does in process on the training
// record.
func TestRegistryModelScoresLikeInProcess(t *testing.T) {
	store, m, rec := registryFixture(t)
	e, err := NewEngine(NewRegistryLoader(store), []ModelRef{{Name: "ctr"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.RefreshAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, conn := startServer(t, e, DefaultServerConfig())
	want := make([]float64, rec.NumRows())
	if err := m.Score(rec, want); err != nil {
		t.Fatal(err)
	}
	req := &pb.ModelInferRequest{ModelName: "ctr", Inputs: []*pb.ModelInferRequest_InferInputTensor{
		{Name: "c1", Datatype: "INT64", Shape: []int64{4}, Contents: &pb.InferTensorContents{Int64Contents: []int64{1005, 1002, 1005, 7}}},
		{Name: "site", Datatype: "BYTES", Shape: []int64{4}, Contents: &pb.InferTensorContents{BytesContents: [][]byte{[]byte("a"), []byte("b"), nil, []byte("zz")}}},
		{Name: "price", Datatype: "FP64", Shape: []int64{4}, Contents: &pb.InferTensorContents{Fp64Contents: []float64{1.5, 0, -2, 10}}},
	}}
	resp, err := pb.NewGRPCInferenceServiceClient(conn).ModelInfer(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	got := mustScores(t, resp)
	// Row 2's site is null in training and "" over the protocol (BYTES has
	// no null): compare the rows that mean the same thing.
	for _, i := range []int{0, 1, 3} {
		if got[i] != want[i] {
			t.Errorf("row %d: served %v, in-process %v", i, got[i], want[i])
		}
	}
	if resp.ModelVersion != "1" {
		t.Errorf("version %q", resp.ModelVersion)
	}
	// A value the spec refuses (NaN in a numeric column, policy "error") is
	// the client's mistake: InvalidArgument naming the column, not Internal.
	req.Inputs[2].Contents.Fp64Contents[1] = math.NaN()
	_, err = pb.NewGRPCInferenceServiceClient(conn).ModelInfer(context.Background(), req)
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "price") {
		t.Errorf("NaN price: %v, want InvalidArgument naming price", err)
	}
}

// TestCraftedManifestCannotTakeServingDown saves version 2 with a manifest
// whose table claims 2^62 rows and whose files are empty with the valid
// checksum of empty input: the 4·rows·width size check once overflowed to 0
// and make panicked in the watch goroutine. The version must be refused as
// corrupt while version 1 keeps serving, and a predictor started afresh
// while champion designates it must start (not ready) without panicking.
func TestCraftedManifestCannotTakeServingDown(t *testing.T) {
	store, m, _ := registryFixture(t)
	ctx := context.Background()
	e, err := NewEngine(NewRegistryLoader(store), []ModelRef{{Name: "ctr"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.RefreshAll(ctx); err != nil {
		t.Fatal(err)
	}
	v, err := m.Save(ctx, store, "ctr")
	if err != nil {
		t.Fatal(err)
	}
	mf, err := model.ReadManifest(ctx, store, "ctr", v)
	if err != nil {
		t.Fatal(err)
	}
	// Promoted while intact; then the manifest is replaced.
	if _, err := model.SetAlias(ctx, store, "ctr", model.Champion, v, nil); err != nil {
		t.Fatal(err)
	}
	dir := model.VersionPrefix("ctr", v)
	empty := sha256.Sum256(nil)
	for i := range mf.Tables {
		tb := &mf.Tables[i]
		tb.Rows, tb.Width = 1<<62, 9
		files := []*model.File{&tb.Values}
		if tb.Keys != nil {
			files = append(files, tb.Keys)
		}
		for _, f := range files {
			f.Size, f.SHA256 = 0, hex.EncodeToString(empty[:])
			if err := lake.PutBytes(ctx, store, dir+f.Path, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	raw, _ := json.Marshal(mf)
	if err := lake.PutBytes(ctx, store, dir+model.ManifestFile, raw); err != nil {
		t.Fatal(err)
	}
	if err := e.Refresh(ctx, "ctr"); !errors.Is(err, model.ErrCorrupt) {
		t.Fatalf("refresh to the crafted version: %v, want ErrCorrupt", err)
	}
	if got := e.Served("ctr"); got != "1" {
		t.Fatalf("served %q after the crafted version, want 1", got)
	}
	restarted, err := NewEngine(NewRegistryLoader(store), []ModelRef{{Name: "ctr"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := restarted.RefreshAll(ctx); !errors.Is(err, model.ErrCorrupt) {
		t.Fatalf("restart on the crafted champion: %v, want ErrCorrupt", err)
	}
	if restarted.Ready() {
		t.Fatal("a restart on a corrupt champion reports ready")
	}
}

// TestReusedRequestMemoryScoresLikeInProcess sends one request after
// another, so that each reuses the previous one's pooled record memory,
// varying what the reuse depends on: rows, typed or raw contents, string
// lengths past the buffer's capacity, a column left out. Every score must
// be bit-equal to the model's in-process score of a record built from the
// same values with Arrow builders.
func TestReusedRequestMemoryScoresLikeInProcess(t *testing.T) {
	e, m := registryEngine(t)
	svc := NewService(e, DefaultServerConfig())
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "c1", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "site", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "price", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	}, nil)
	for i, tc := range []struct {
		rows    int
		raw     bool
		siteLen int
		noPrice bool
	}{
		{1, false, 1, false}, {1, false, 2, false}, {1, true, 1, false}, {3, true, 1, false},
		{3, false, 1, false}, {3, false, 300, false}, {1, false, 1, true}, {1, false, 1, false},
		{2, true, 5000, true}, {2, true, 3, false}, {1, true, 0, false},
	} {
		c1 := make([]int64, tc.rows)
		sites := make([][]byte, tc.rows)
		prices := make([]float64, tc.rows)
		for r := range tc.rows {
			c1[r] = int64(1000 + (i+r)%7)
			sites[r] = []byte(strings.Repeat(string(rune('a'+(i+r)%3)), tc.siteLen))
			prices[r] = float64(i) - 1.5*float64(r)
		}
		req := &pb.ModelInferRequest{ModelName: "ctr", Inputs: []*pb.ModelInferRequest_InferInputTensor{
			{Name: "c1", Datatype: "INT64", Shape: []int64{int64(tc.rows)}},
			{Name: "site", Datatype: "BYTES", Shape: []int64{int64(tc.rows)}},
			{Name: "price", Datatype: "FP64", Shape: []int64{int64(tc.rows), 1}},
		}}
		if tc.raw {
			var s []byte
			for _, v := range sites {
				s = binary.LittleEndian.AppendUint32(s, uint32(len(v)))
				s = append(s, v...)
			}
			var c, p []byte
			for r := range tc.rows {
				c = binary.LittleEndian.AppendUint64(c, uint64(c1[r]))
				p = binary.LittleEndian.AppendUint64(p, math.Float64bits(prices[r]))
			}
			req.RawInputContents = [][]byte{c, s, p}
		} else {
			req.Inputs[0].Contents = &pb.InferTensorContents{Int64Contents: c1}
			req.Inputs[1].Contents = &pb.InferTensorContents{BytesContents: sites}
			req.Inputs[2].Contents = &pb.InferTensorContents{Fp64Contents: prices}
		}
		if tc.noPrice {
			req.Inputs = req.Inputs[:2]
			if tc.raw {
				req.RawInputContents = req.RawInputContents[:2]
			}
		}
		b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
		b.Field(0).(*array.Int64Builder).AppendValues(c1, nil)
		for _, s := range sites {
			b.Field(1).(*array.StringBuilder).Append(string(s))
		}
		if tc.noPrice {
			b.Field(2).AppendNulls(tc.rows)
		} else {
			b.Field(2).(*array.Float64Builder).AppendValues(prices, nil)
		}
		rec := b.NewRecord()
		b.Release()
		want := make([]float64, tc.rows)
		err := m.Score(rec, want)
		rec.Release()
		resp, err2 := svc.ModelInfer(context.Background(), req)
		if (err == nil) != (err2 == nil) {
			t.Fatalf("request %d: in process %v, served %v", i, err, err2)
		}
		if err != nil {
			continue
		}
		got := mustScores(t, resp)
		for r := range want {
			if math.Float64bits(got[r]) != math.Float64bits(want[r]) {
				t.Errorf("request %d %+v row %d: served %v, in process %v", i, tc, r, got[r], want[r])
			}
		}
	}
}

// TestRepeatedRequestBuildsNoRecord: once a scratch has served a request, a
// request of the same rows and sizes reuses its arrays and record, typed
// or raw, without allocating.
func TestRepeatedRequestBuildsNoRecord(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "c1", Type: arrow.PrimitiveTypes.Int64},
		{Name: "site", Type: arrow.BinaryTypes.String},
		{Name: "price", Type: arrow.PrimitiveTypes.Float64},
		{Name: "small", Type: arrow.PrimitiveTypes.Int16},
		{Name: "flag", Type: arrow.FixedWidthTypes.Boolean},
		{Name: "absent", Type: arrow.PrimitiveTypes.Float32},
	}, nil)
	typed := &pb.ModelInferRequest{Inputs: []*pb.ModelInferRequest_InferInputTensor{
		{Name: "c1", Datatype: "INT64", Shape: []int64{1}, Contents: &pb.InferTensorContents{Int64Contents: []int64{7}}},
		{Name: "site", Datatype: "BYTES", Shape: []int64{1}, Contents: &pb.InferTensorContents{BytesContents: [][]byte{[]byte("ab")}}},
		{Name: "price", Datatype: "FP64", Shape: []int64{1}, Contents: &pb.InferTensorContents{Fp64Contents: []float64{2.5}}},
		{Name: "small", Datatype: "INT32", Shape: []int64{1}, Contents: &pb.InferTensorContents{IntContents: []int32{-300}}},
		{Name: "flag", Datatype: "BOOL", Shape: []int64{1}, Contents: &pb.InferTensorContents{BoolContents: []bool{true}}},
	}}
	raw := &pb.ModelInferRequest{Inputs: typed.Inputs[:3], RawInputContents: [][]byte{
		binary.LittleEndian.AppendUint64(nil, 9),
		append(binary.LittleEndian.AppendUint32(nil, 1), 'x'),
		binary.LittleEndian.AppendUint64(nil, math.Float64bits(-1)),
	}}
	raw.Inputs = []*pb.ModelInferRequest_InferInputTensor{
		{Name: "c1", Datatype: "INT64", Shape: []int64{1}},
		{Name: "site", Datatype: "BYTES", Shape: []int64{1}},
		{Name: "price", Datatype: "FP64", Shape: []int64{1}},
	}
	for _, tc := range []struct {
		name string
		req  *pb.ModelInferRequest
		want func(arrow.Record) bool
	}{
		{"typed", typed, func(r arrow.Record) bool {
			return r.Column(0).(*array.Int64).Value(0) == 7 && r.Column(1).(*array.String).Value(0) == "ab" &&
				r.Column(2).(*array.Float64).Value(0) == 2.5 && r.Column(3).(*array.Int16).Value(0) == -300 &&
				r.Column(4).(*array.Boolean).Value(0) && r.Column(5).IsNull(0)
		}},
		{"raw", raw, func(r arrow.Record) bool {
			return r.Column(0).(*array.Int64).Value(0) == 9 && r.Column(1).(*array.String).Value(0) == "x" &&
				r.Column(2).(*array.Float64).Value(0) == -1 && r.Column(3).IsNull(0)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := newRecordScratch(schema)
			defer sc.release()
			first, err := sc.build(tc.req, 10)
			if err != nil {
				t.Fatal(err)
			}
			allocs := testing.AllocsPerRun(50, func() {
				rec, err := sc.build(tc.req, 10)
				if err != nil || rec != first {
					t.Fatalf("repeated build: %v, new record %v", err, rec != first)
				}
			})
			if allocs != 0 {
				t.Errorf("a repeated request allocates %v times building its record, want 0", allocs)
			}
			if !tc.want(first) {
				t.Errorf("record holds %v", first)
			}
		})
	}
}
