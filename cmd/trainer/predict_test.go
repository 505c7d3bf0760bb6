package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/lakestream/lakestream/api/inference"
	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/internal/predictortest"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/serve"
	"github.com/lakestream/lakestream/train/clicklog"
)

// TestPredictEqualsPredictorProcess trains LR with "trainer train", scores
// the 10,000 rows of the test day with "trainer predict", and asks a real
// predictor process for the same rows over gRPC: the scores are equal.
func TestPredictEqualsPredictorProcess(t *testing.T) {
	t.Setenv("LAKESTREAM_KAFKA_BROKERS", "")
	ctx := context.Background()
	bin := predictortest.Build(t) // skips under -short
	dir := t.TempDir()
	lakeDir, specPath := filepath.Join(dir, "lake"), filepath.Join(dir, "spec.yaml")
	store, err := lake.NewLocal(lakeDir)
	if err != nil {
		t.Fatal(err)
	}
	gc := clicklog.DefaultConfig()
	gc.Rows, gc.Days = 30_000, 3
	sum, err := clicklog.Generate(ctx, store, "clicks", gc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(specPath, []byte(clicklog.SpecYAML(18)), 0o644); err != nil {
		t.Fatal(err)
	}
	test := sum.Test().DT
	run := func(args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if err := dispatch(ctx, args, &stdout, &stderr); err != nil {
			t.Fatalf("trainer %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return stdout.String()
	}
	run("train", "--lake", lakeDir, "--data", "clicks", "--spec", specPath,
		"--dt", sum.Days[0].DT+".."+sum.Days[1].DT, "--model", "logistic", "--output", "ctr")
	out := run("predict", "--lake", lakeDir, "--data", "clicks", "--dt", test, "--model", "ctr@1",
		"--output", "scores/ctr", "--keep", "id, click")
	if !strings.Contains(out, "scored 10000 rows with ctr@1 into 1 partition(s)") {
		t.Errorf("trainer predict printed:\n%s", out)
	}

	// The output, by id.
	got := map[string]float64{}
	readTable(t, store, "scores/ctr", func(rec arrow.Record) {
		if names := fmt.Sprint(rec.Schema().Fields()); !strings.HasPrefix(names, "[id: type=utf8 click: type=int32 score: type=float64 dt: type=utf8") || rec.Schema().NumFields() != 4 {
			t.Fatalf("output columns %s, want id, click, score (and the partition column dt)", names)
		}
		ids, scores := rec.Column(0).(*array.String), rec.Column(2).(*array.Float64)
		for r := range int(rec.NumRows()) {
			got[ids.Value(r)] = scores.Value(r)
		}
	})
	if len(got) != 10_000 {
		t.Fatalf("the output holds %d rows, want 10000", len(got))
	}

	// The predictor, serving the same version.
	_, addr := predictortest.Start(t, bin, "--lake", lakeDir, "--model", "ctr@1", "--listen", "127.0.0.1:0", "--metrics-listen", "")
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cl := pb.NewGRPCInferenceServiceClient(conn)
	m, err := model.Load(ctx, store, "ctr", 1)
	if err != nil {
		t.Fatal(err)
	}
	inputs, _, err := m.InputSchema()
	if err != nil {
		t.Fatal(err)
	}
	compared := 0
	ds, err := dataset.Open(ctx, store, "clicks")
	if err != nil {
		t.Fatal(err)
	}
	where, err := dataset.DayRange("dt", test)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ds.Plan(ctx, dataset.Query{Where: where})
	if err != nil {
		t.Fatal(err)
	}
	sc := p.Scan(ctx, p.Splits(), dataset.ScanOptions{BatchSize: 1000})
	defer sc.Close()
	for sc.Next() {
		rec := sc.At()
		req := &pb.ModelInferRequest{ModelName: "ctr"}
		for _, f := range inputs.Fields() {
			col := rec.Column(rec.Schema().FieldIndices(f.Name)[0])
			in := &pb.ModelInferRequest_InferInputTensor{Name: f.Name, Shape: []int64{rec.NumRows()}, Contents: &pb.InferTensorContents{}}
			switch c := col.(type) {
			case *array.Int64:
				in.Datatype, in.Contents.Int64Contents = "INT64", c.Int64Values()
			case *array.String:
				in.Datatype = "BYTES"
				for r := range c.Len() {
					in.Contents.BytesContents = append(in.Contents.BytesContents, []byte(c.Value(r)))
				}
			default:
				t.Fatalf("input %s: type %s not handled by the test", f.Name, col.DataType())
			}
			req.Inputs = append(req.Inputs, in)
		}
		resp, err := cl.ModelInfer(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		scores, err := serve.OutputFP64(resp, "score")
		if err != nil {
			t.Fatal(err)
		}
		ids := rec.Column(rec.Schema().FieldIndices("id")[0]).(*array.String)
		for r, s := range scores {
			if g, ok := got[ids.Value(r)]; !ok || g != s {
				t.Fatalf("row %s: trainer predict %v (present %v), predictor %v", ids.Value(r), g, ok, s)
			}
			compared++
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if compared != 10_000 {
		t.Errorf("compared %d rows, want 10000", compared)
	}
}

// readTable calls fn with every record of the committed table at folder.
func readTable(t *testing.T, store lake.Store, folder string, fn func(arrow.Record)) {
	t.Helper()
	ctx := context.Background()
	ds, err := dataset.Open(ctx, store, folder)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ds.Plan(ctx, dataset.Query{})
	if err != nil {
		t.Fatal(err)
	}
	sc := p.Scan(ctx, p.Splits(), dataset.ScanOptions{})
	defer sc.Close()
	for sc.Next() {
		fn(sc.At())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}

// TestPredictFlags checks that bad flags are refused as usage errors
// before anything is read, naming the flag.
func TestPredictFlags(t *testing.T) {
	t.Setenv("LAKESTREAM_KAFKA_BROKERS", "")
	lakeDir := t.TempDir()
	base := []string{"predict", "--lake", lakeDir, "--data", "clicks", "--model", "ctr", "--output", "out"}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"predict", "--lake", lakeDir, "--model", "ctr", "--output", "out"}, "--data is required"},
		{[]string{"predict", "--lake", lakeDir, "--data", "clicks", "--output", "out"}, "--model is required"},
		{[]string{"predict", "--lake", lakeDir, "--data", "clicks", "--model", "ctr"}, "--output is required"},
		{append(base, "--model", "ctr@0"), "--model"},
		{append(base, "--dt", "2026-02-30"), "--dt"},
		{append(base, "--where", "x >"), "--where"},
		{append(base, "--keep", "id,,click"), "--keep: an empty column name"},
		{append(base, "--keep", "score_1"), "--keep: column score_1"},
		{append(base, "--batch-size", "0"), "--batch-size 0"},
		{append(base, "--row-group-rows", "-1"), "--row-group-rows -1"},
		{append(base, "--output", "/abs"), "--output"},
		{append(base, "extra"), "unexpected argument"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			err := dispatch(context.Background(), tc.args, &bytes.Buffer{}, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tc.want) || exitCode(err) != exitUsage {
				t.Fatalf("trainer %v = %v (exit %d), want a usage error containing %q", tc.args[1:], err, exitCode(err), tc.want)
			}
		})
	}
}
