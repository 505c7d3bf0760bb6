package main

import (
	"context"
	"math"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/lakestream/lakestream/api/inference"
	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/paramserver"
	"github.com/lakestream/lakestream/serve"
)

var evalAUC = regexp.MustCompile(`AUC ([0-9.]+)`)

// TestDistributedSavesModel is the acceptance test of --output on a
// distributed job: 2 shards and 3 workers (real processes, sync) train
// logistic regression with --output and --promote on the coordinating
// shard; a model version appears whose "trainer eval" AUC on the
// validation day is within 0.002 of "trainer train"'s on the same job, the
// gate makes it the champion, and a "predictor" process following the
// champion serves it with the scores model.Load gives.
func TestDistributedSavesModel(t *testing.T) {
	c := newCluster(t, "logistic") // skips under -short
	single := c.singleProcess()
	predictorBin := filepath.Join(t.TempDir(), "predictor")
	if out, err := exec.Command("go", "build", "-o", predictorBin, "github.com/lakestream/lakestream/cmd/predictor").CombinedOutput(); err != nil {
		t.Fatalf("go build predictor: %v\n%s", err, out)
	}
	// No announcement: the test must not write to the shared model topic
	// (the predictor polls the registry).
	addrs := c.startShards(2, paramserver.Sync, "--output", "distlr", "--promote", "--min-auc", "0.7", "--kafka-brokers=")
	var ws []*proc
	for i := range 3 {
		ws = append(ws, c.startWorker(i, addrs))
	}
	for _, w := range ws {
		c.waitWorker(w, 5*time.Minute)
	}
	ctx := context.Background()
	store, err := lake.NewLocal(c.lake)
	if err != nil {
		t.Fatal(err)
	}
	// The coordinator saves after the last worker's split: wait for the
	// manifest, which model.Save writes last.
	var mf *model.Manifest
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if mf, err = model.ReadManifest(ctx, store, "distlr", 1); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no models/distlr/1 two minutes after the workers ended: %v\nps0 stderr:\n%s", err, tail(c.procs[0].errb.String(), 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The coordinator judges and promotes after the manifest.
	for deadline := time.Now().Add(time.Minute); ; {
		rec, err := model.Alias(ctx, store, "distlr", model.Champion)
		if err == nil && rec.Version == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("distlr@champion: %+v %v, want version 1\nps0 stderr:\n%s", rec, err, tail(c.procs[0].errb.String(), 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	trainRows := int64(0)
	for _, d := range c.days[:len(c.days)-1] {
		trainRows += int64(d.Rows)
	}
	if mf.Meta.Rows != trainRows || mf.Meta.Kind != "logistic" || mf.Meta.Metrics["validation_auc"] == 0 || len(mf.Meta.Inputs) == 0 {
		t.Errorf("manifest meta %+v: want the %d training rows once, kind logistic, a validation AUC and the input columns", mf.Meta, trainRows)
	}

	evalDir := t.TempDir()
	out, err := exec.Command(c.bin, "eval", "--lake", c.lake, "--data", "clicks", "--dt", c.days[len(c.days)-1].DT,
		"--model", "distlr@1", "--out", evalDir).CombinedOutput()
	if err != nil {
		t.Fatalf("trainer eval: %v\n%s", err, out)
	}
	m := evalAUC.FindSubmatch(out)
	if m == nil {
		t.Fatalf("trainer eval printed no AUC:\n%s", out)
	}
	auc, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("trainer eval of the distributed model: AUC %.4f; the coordinator's validation %.5f; trainer train %.5f",
		auc, mf.Meta.Metrics["validation_auc"], single)
	// 0.002: the bound for sync. eval prints 4 decimals.
	if math.Abs(auc-single) > 0.002 {
		t.Errorf("trainer eval AUC %.4f of the distributed model differs from trainer train's %.5f by more than 0.002", auc, single)
	}

	// A predictor serves the version, with the scores of model.Load.
	loaded, err := model.Load(ctx, store, "distlr", 1)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := dataset.Open(ctx, store, c.days[len(c.days)-1].Key)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ds.Plan(ctx, dataset.Query{})
	if err != nil {
		t.Fatal(err)
	}
	sc := p.Scan(ctx, p.Splits()[:1], dataset.ScanOptions{BatchSize: 16})
	defer sc.Close()
	if !sc.Next() {
		t.Fatalf("no validation rows: %v", sc.Err())
	}
	rec := sc.At()
	want := make([]float64, rec.NumRows())
	if err := loaded.Score(rec, want); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	bin := c.bin
	c.bin = predictorBin
	pred := c.start("predictor", "--lake", c.lake, "--model", "distlr", "--listen", addr, "--metrics-listen", "", "--kafka-brokers", "")
	c.bin = bin
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := pb.NewGRPCInferenceServiceClient(conn)
	for r := range int(rec.NumRows()) {
		req := inferRequest("distlr", mf.Meta.Inputs, rec, r)
		var resp *pb.ModelInferResponse
		for deadline := time.Now().Add(30 * time.Second); ; {
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			resp, err = client.ModelInfer(cctx, req)
			cancel()
			if err == nil || r > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("predictor not answering: %v\n%s", err, tail(pred.errb.String(), 3000))
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("row %d: %v", r, err)
		}
		got, err := serve.OutputFP64(resp, "score")
		if err != nil || len(got) != 1 || resp.ModelVersion != "1" || math.Abs(got[0]-want[r]) > 1e-12 {
			t.Fatalf("row %d: predictor answered version %q scores %v (%v), model.Load scores %v", r, resp.ModelVersion, got, err, want[r])
		}
	}
}
