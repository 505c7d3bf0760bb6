package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/lakestream/lakestream/api/inference"
	"github.com/lakestream/lakestream/datastream/kafka/kafkatest"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/lake/laketest"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/serve/loadgen"
	"github.com/lakestream/lakestream/train/publish"
)

// schemaYAML writes s in the --schema file format.
func schemaYAML(t *testing.T, s *arrow.Schema) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("columns:\n")
	for _, f := range s.Fields() {
		var typ string
		switch f.Type.ID() {
		case arrow.STRING:
			typ = "string"
		case arrow.INT64:
			typ = "int64"
		case arrow.INT32:
			typ = "int32"
		case arrow.FLOAT64:
			typ = "float64"
		default:
			t.Fatalf("column %s: type %s not in the schema file format", f.Name, f.Type)
		}
		fmt.Fprintf(&b, "  %s: %s\n", f.Name, typ)
	}
	return b.String()
}

// inferRequest builds a one-row request for model name from row r of rec,
// with the model's inputs.
func inferRequest(name string, inputs []model.Column, rec arrow.Record, r int) *pb.ModelInferRequest {
	req := &pb.ModelInferRequest{ModelName: name}
	for _, in := range inputs {
		col := rec.Column(rec.Schema().FieldIndices(in.Name)[0])
		t := &pb.ModelInferRequest_InferInputTensor{Name: in.Name, Shape: []int64{1}}
		switch c := col.(type) {
		case *array.String:
			t.Datatype, t.Contents = "BYTES", &pb.InferTensorContents{BytesContents: [][]byte{[]byte(c.Value(r))}}
		case *array.Int64:
			t.Datatype, t.Contents = "INT64", &pb.InferTensorContents{Int64Contents: []int64{c.Value(r)}}
		case *array.Int32:
			t.Datatype, t.Contents = "INT32", &pb.InferTensorContents{IntContents: []int32{c.Value(r)}}
		}
		req.Inputs = append(req.Inputs, t)
	}
	return req
}

// TestTrainerStreamServes is continuous publishing end to end on the real
// services: rows flow into a Kafka topic at a steady rate, "trainer stream"
// (its columns typed by a --schema file, its lake on MinIO) publishes a
// version every second, and a "predictor" process following the model
// topic serves them under steady load: at least 5 successive versions
// answer, and no request fails.
func TestTrainerStreamServes(t *testing.T) {
	c := newCluster(t, "logistic") // skips under -short
	brokers := kafkatest.Brokers(t)
	e, bucket := laketest.MinIOBucket(t)
	lakeURI := "s3://" + bucket
	s := &streamRun{cluster: c, brokers: brokers, adm: kafkatest.Admin(t, brokers)}
	s.topic = kafkatest.Topic(t, brokers, 4, nil)
	s.dlq = kafkatest.Topic(t, brokers, 1, nil)
	modelTopic := kafkatest.Topic(t, brokers, 1, nil)
	rows := s.trainingRows()
	schemaFile := filepath.Join(t.TempDir(), "schema.yaml")
	if err := os.WriteFile(schemaFile, []byte(schemaYAML(t, rows[0].Schema())), 0o644); err != nil {
		t.Fatal(err)
	}
	predictorBin := filepath.Join(t.TempDir(), "predictor")
	if out, err := exec.Command("go", "build", "-o", predictorBin, "github.com/lakestream/lakestream/cmd/predictor").CombinedOutput(); err != nil {
		t.Fatalf("go build predictor: %v\n%s", err, out)
	}

	// A steady stream: 5,000 rows every 250 ms until the load below has seen enough versions.
	var parts []arrow.Record
	for _, r := range rows {
		for lo := int64(0); lo < r.NumRows(); lo += 5000 {
			sl := r.NewSlice(lo, min(lo+5000, r.NumRows()))
			t.Cleanup(sl.Release)
			parts = append(parts, sl)
		}
	}
	prodCtx, stopProd := context.WithCancel(context.Background())
	defer stopProd()
	var prodWG sync.WaitGroup
	prodWG.Add(1)
	var prodErr error
	go func() {
		defer prodWG.Done()
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		// Until the load below has seen enough versions (stopProd), at
		// most two minutes: how many versions a second of data yields
		// depends on the machine (each cut is a checkpoint of the whole
		// training state to MinIO), so the test counts versions, not time.
		for i := 0; i < 480; i++ {
			if _, err := s.send(parts[i%len(parts) : i%len(parts)+1]); err != nil {
				prodErr = err
				return
			}
			select {
			case <-prodCtx.Done():
				return
			case <-tick.C:
			}
		}
	}()

	// --max-drop 0.05: the AUC of consecutive versions on ~25,000-example
	// windows moves by a few 0.001 either way; this test is about serving
	// successive versions (the gate's refusals are TestTrainerStreamPublishes').
	// --idle-exit 30s ends the job once the producer stopped; 3 s was
	// shorter than a produce call could stall on a machine running two
	// suites at once, and the job stopped after four versions.
	tr := c.start("stream", "stream", "--lake", lakeURI, "--schema", schemaFile, "--spec", c.spec,
		"--model", "logistic", "--seed", "7", "--topic", s.topic, "--brokers", strings.Join(brokers, ","),
		"--dead-letter-topic", s.dlq, "--output", "ctr", "--publish-every", "1s", "--min-auc", "0.55",
		"--max-drop", "0.05", "--idle-exit", "30s", "--model-topic", modelTopic)

	// The predictor starts once there is a champion to serve.
	ctx := context.Background()
	store, err := lake.Open(ctx, lakeURI, e.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := model.Alias(ctx, store, "ctr", model.Champion); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no champion after a minute\n%s", tr.errb.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	bin := c.bin
	c.bin = predictorBin
	pred := c.start("predictor", "--lake", lakeURI, "--model", "ctr", "--listen", addr, "--metrics-listen", "",
		"--kafka-brokers", strings.Join(brokers, ","), "--model-topic", modelTopic, "--poll", "1s")
	c.bin = bin
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := pb.NewGRPCInferenceServiceClient(conn)
	mf, err := model.ReadManifest(ctx, store, "ctr", 0)
	if err != nil {
		t.Fatal(err)
	}
	reqs := make([]*pb.ModelInferRequest, 64)
	for i := range reqs {
		reqs[i] = inferRequest("ctr", mf.Meta.Inputs, rows[0], i)
	}
	// Wait for the predictor to answer, then load it steadily.
	for deadline := time.Now().Add(30 * time.Second); ; {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := client.ModelInfer(cctx, reqs[0])
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("predictor not answering: %v\n%s", err, pred.errb.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Steady load in rounds of 3 s until the predictor has served six
	// versions (or the data runs out), so that at least five were swapped
	// in under load.
	var failed, total int
	var served []string
	for round := 0; round < 40 && len(served) < 6; round++ {
		results, err := loadgen.Run(ctx, loadgen.Config{Requests: 600, Rate: 200, Workers: 8}, func(ctx context.Context, i int) (string, error) {
			resp, err := client.ModelInfer(ctx, reqs[i%len(reqs)])
			if err != nil {
				return "", err
			}
			return resp.ModelVersion, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		total += len(results)
		for _, r := range results {
			if r.Err != nil {
				failed++
				if failed < 5 {
					t.Errorf("request failed: %v", r.Err)
				}
				continue
			}
			// Distinct versions in the order first answered: around a swap,
			// calls of the 8 concurrent workers finish out of index order.
			if !slices.Contains(served, r.Label) {
				served = append(served, r.Label)
			}
		}
	}
	stopProd()
	prodWG.Wait()
	if prodErr != nil {
		t.Fatal(prodErr)
	}
	if err := waitExit(tr, 2*time.Minute); err != nil {
		t.Fatalf("trainer stream: %v\n%s", err, tr.errb.String())
	}
	t.Logf("served versions in order: %v; %d failed of %d\n%s", served, failed, total, tr.out.String())
	if failed != 0 {
		t.Errorf("%d of %d requests failed", failed, total)
	}
	if len(served) < 5 {
		t.Errorf("the predictor served %d successive versions (%v), want ≥ 5", len(served), served)
	}
	st, err := publish.ReadStatus(ctx, store, "stream-ctr")
	if err != nil || st.State != "stopped" || len(st.Versions) < 5 {
		t.Errorf("status: %+v %v", st, err)
	}
}
