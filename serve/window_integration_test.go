package serve

import (
	"context"
	"encoding/json"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/twmb/franz-go/pkg/kgo"

	pb "github.com/lakestream/lakestream/api/inference"
	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/datastream"
	"github.com/lakestream/lakestream/datastream/kafka/kafkatest"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/train/clicklog"
	"github.com/lakestream/lakestream/train/feature"
	"github.com/lakestream/lakestream/train/job"
)

// recordSink keeps the records written to it.
type recordSink struct{ recs []arrow.Record }

func (s *recordSink) WriteBatch(_ context.Context, b datastream.Batch) error {
	b.Record.Retain() // the runtime releases it after WriteBatch
	s.recs = append(s.recs, b.Record)
	return nil
}

func (*recordSink) Close(context.Context) error { return nil }

// TestWindowedModelPredictorMatchesStreamScoring trains a model whose spec
// has a derived column (hour of day of the YYMMDDHH hour) and a window
// (the device_ip's rows in the hour before), then scores the held-out day
// two ways: stream scoring reads the raw rows from a Kafka topic and
// computes the window in its graph; a gRPC client computes the window
// with the same operator and sends its value as the model's input. The
// scores must be equal row by row.
func TestWindowedModelPredictorMatchesStreamScoring(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "lake")
	store, err := lake.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	gc := clicklog.DefaultConfig()
	gc.Rows, gc.Days, gc.RowGroupRows, gc.Activity = 12_000, 2, 2048, true
	sum, err := clicklog.Generate(ctx, store, "clicks", gc)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := feature.Parse([]byte(clicklog.ActivitySpecYAML(16)))
	if err != nil {
		t.Fatal(err)
	}
	c := job.DefaultConfig()
	c.Lake, c.Data, c.Spec, c.Output = dir, "clicks", spec, "ctr"
	c.DT, c.ValidationDT = sum.Days[0].DT, sum.Test().DT
	if _, err := job.Run(ctx, c); err != nil {
		t.Fatal(err)
	}
	loader := NewRegistryLoader(store)
	m, err := loader.Load(ctx, "ctr", "1")
	if err != nil {
		t.Fatal(err)
	}
	windows, windowInputs, err := WindowsOf(m)
	if err != nil || windows == nil {
		t.Fatalf("WindowsOf: %v, %v; want the model's windows", windows, err)
	}

	// The held-out day with its window values, as a client computes them.
	c.DT = sum.Test().DT
	c.Spec = spec.Clone() // reads the id too
	c.Spec.Categorical = append(c.Spec.Categorical, feature.Categorical{Column: "id"})
	dts, err := job.DTFilter(sum.Test().DT)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := job.Plan(ctx, store, &c, dts, "scoring")
	if err != nil {
		t.Fatal(err)
	}
	dj := datastream.NewJob("client-windows")
	rows, err := feature.AddWindows(dj.Source("lake", dataset.NewSource(plan.Scan(ctx, plan.Splits(), dataset.ScanOptions{BatchSize: 1000}))), "windows", windows)
	if err != nil {
		t.Fatal(err)
	}
	got := &recordSink{}
	rows.To("rows", got)
	if _, err := dj.Run(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, r := range got.recs {
			r.Release()
		}
	}()

	// Stream scoring: the raw rows (the windows' inputs and the model's
	// other inputs) as JSON on a topic.
	value := func(col arrow.Array, i int) any {
		switch a := col.(type) {
		case *array.String:
			return a.Value(i)
		case *array.Int64:
			return a.Value(i)
		case *array.Int32:
			return a.Value(i)
		}
		t.Fatalf("column type %s", col.DataType())
		return nil
	}
	raw := map[string]bool{"id": true}
	for _, f := range windowInputs.Fields() {
		raw[f.Name] = true
	}
	windowTypes := windows.WindowTypes()
	for _, f := range m.Schema().Fields() {
		if _, computed := windowTypes[f.Name]; !computed {
			raw[f.Name] = true
		}
	}
	dataTopic := kafkatest.Topic(t, brokers, 1, nil)
	modelTopic := kafkatest.Topic(t, brokers, 1, nil)
	outTopic := kafkatest.Topic(t, brokers, 1, nil)
	dlq := kafkatest.Topic(t, brokers, 1, nil)
	var msgs []*kgo.Record
	var ids []string
	for _, rec := range got.recs {
		for i := range int(rec.NumRows()) {
			row := map[string]any{}
			for j, f := range rec.Schema().Fields() {
				if raw[f.Name] {
					row[f.Name] = value(rec.Column(j), i)
				}
			}
			b, _ := json.Marshal(row)
			msgs = append(msgs, &kgo.Record{Value: b})
			ids = append(ids, row["id"].(string))
		}
	}
	kafkatest.Produce(t, brokers, dataTopic, msgs...)
	cfg := StreamConfig{
		Brokers: brokers, DataTopic: dataTopic, ModelTopic: modelTopic, PredictionsTopic: outTopic,
		DeadLetterTopic: dlq, Group: kafkatest.Name(t, "scoring"), Model: ModelRef{Name: "ctr", Ref: "1"},
		Keep: []arrow.Field{{Name: "id", Type: arrow.BinaryTypes.String}}, Windows: windows, WindowInputs: windowInputs,
	}
	sj, err := NewStreamJob(cfg, loader, m.Schema(), m.Outputs())
	if err != nil {
		t.Fatal(err)
	}
	jobCtx, stopJob := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { _, err := sj.Run(jobCtx); done <- err }()
	defer func() { stopJob(); <-done }()
	streamed := map[string]float64{}
	reader, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(outTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	for len(streamed) < len(ids) {
		fs := reader.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%d of %d predictions before the deadline", len(streamed), len(ids))
		}
		fs.EachRecord(func(r *kgo.Record) {
			var p struct {
				ID    string  `json:"id"`
				Score float64 `json:"score"`
				Error string  `json:"error"`
			}
			if err := json.Unmarshal(r.Value, &p); err != nil || p.Error != "" {
				t.Fatalf("prediction %s: %v %s", r.Value, err, p.Error)
			}
			streamed[p.ID] = p.Score
		})
	}

	// The predictor over gRPC, the client sending the window's value.
	e, err := NewEngine(loader, []ModelRef{{Name: "ctr", Ref: "1"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.RefreshAll(ctx); err != nil {
		t.Fatal(err)
	}
	_, conn := startServer(t, e, DefaultServerConfig())
	client := pb.NewGRPCInferenceServiceClient(conn)
	n, differ := 0, 0
	for _, rec := range got.recs {
		req := &pb.ModelInferRequest{ModelName: "ctr"}
		rows := rec.NumRows()
		for _, f := range m.Schema().Fields() {
			col := rec.Column(rec.Schema().FieldIndices(f.Name)[0])
			in := &pb.ModelInferRequest_InferInputTensor{Name: f.Name, Shape: []int64{rows}, Contents: &pb.InferTensorContents{}}
			switch a := col.(type) {
			case *array.String:
				in.Datatype = "BYTES"
				for i := range int(rows) {
					in.Contents.BytesContents = append(in.Contents.BytesContents, []byte(a.Value(i)))
				}
			case *array.Int64:
				in.Datatype = "INT64"
				in.Contents.Int64Contents = append(in.Contents.Int64Contents, a.Int64Values()...)
			default:
				t.Fatalf("input %s of type %s", f.Name, col.DataType())
			}
			req.Inputs = append(req.Inputs, in)
		}
		resp, err := client.ModelInfer(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		scores, err := OutputFP64(resp, resp.Outputs[0].Name)
		if err != nil {
			t.Fatal(err)
		}
		idCol := rec.Column(rec.Schema().FieldIndices("id")[0]).(*array.String)
		for i, s := range scores {
			// Both paths featurize the same values with the same spec and
			// weights: equal to the last bit.
			if want := streamed[idCol.Value(i)]; s != want || math.IsNaN(s) {
				if differ++; differ <= 5 {
					t.Errorf("row %s: predictor %v, stream scoring %v", idCol.Value(i), s, want)
				}
			}
			n++
		}
	}
	if n != len(ids) || differ > 0 {
		t.Fatalf("%d of %d rows differ (%d scored by the predictor)", differ, len(ids), n)
	}
	t.Logf("%d held-out rows: the predictor (window value sent by the client) and stream scoring (window computed from the topic) give equal scores", n)
}
