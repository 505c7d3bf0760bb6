package main

import (
	"context"
	"fmt"
	"math"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/lakestream/lakestream/api/inference"
	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/internal/predictortest"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/paramserver"
	"github.com/lakestream/lakestream/serve"
	"github.com/lakestream/lakestream/train"
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
	predictorBin := predictortest.Build(t)
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
	_, addr := predictortest.Start(t, predictorBin, "--lake", c.lake, "--model", "distlr", "--listen", "127.0.0.1:0", "--metrics-listen", "")
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
				t.Fatalf("predictor not answering: %v", err)
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

var epochLine = regexp.MustCompile(`epoch ([0-9]+) validation: auc ([0-9.]+)  logloss ([0-9.]+)`)

// TestDistributedPatience: --patience on the coordinator. FM (k = 8) for up
// to 6 epochs with --metric logloss --patience 1: the coordinator validates
// every epoch, stops at the first epoch whose log loss does not improve,
// restores the best epoch's checkpoint on every shard and saves that. The
// version records the best epoch, its metrics and rows; the workers' last
// validation and trainer eval agree with the best epoch's figures. With
// seed 7 the log loss was 0.37629, 0.36572, 0.36593 on a quiet machine: a
// stop after epoch 3 and a restore of epoch 2. Under load one run gave
// 0.37629, 0.36572, 0.36522, 0.37271 (a stop after epoch 4, restoring 3):
// a shard sums a step's pushes in arrival order, and FTRL's L1 threshold
// can turn that float rounding into a different weight, so the third
// epoch is not reproducible to its 2e-4 margin. So the job may run up to 6
// epochs and the test requires an early stop before the last with a best
// epoch before the stop, whichever epochs those are.
func TestDistributedPatience(t *testing.T) {
	c := newCluster(t, "fm", "--epochs", "6", "--metric", "logloss", "--patience", "1")
	addrs := c.startShards(2, paramserver.Sync, "--output", "distfm")
	var ws []*proc
	for i := range 3 {
		ws = append(ws, c.startWorker(i, addrs))
	}
	var workerAUC []float64
	for _, w := range ws {
		workerAUC = append(workerAUC, c.waitWorker(w, 5*time.Minute))
	}
	ctx := context.Background()
	store, err := lake.NewLocal(c.lake)
	if err != nil {
		t.Fatal(err)
	}
	var mf *model.Manifest
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if mf, err = model.ReadManifest(ctx, store, "distfm", 1); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no models/distfm/1: %v\nps0 stderr:\n%s", err, tail(c.procs[0].errb.String(), 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// ps0 serves on after saving: stop it to read its output.
	terminate(c.procs[:1])
	<-c.procs[0].done
	out := c.procs[0].out.String()
	t.Logf("coordinator:\n%s", out)
	lines := epochLine.FindAllStringSubmatch(out, -1)
	es := train.EarlyStopping{Metric: train.MetricLogLoss, Patience: 1}
	var aucs, lls []float64
	stopped := false
	for i, l := range lines {
		auc, _ := strconv.ParseFloat(l[2], 64)
		ll, _ := strconv.ParseFloat(l[3], 64)
		aucs, lls = append(aucs, auc), append(lls, ll)
		_, stopped = es.Observe(i, &train.Metrics{AUC: auc, LogLoss: ll})
	}
	best := es.BestEpoch()
	if !stopped || len(lines) >= 6 || best == len(lines)-1 {
		t.Fatalf("log losses %v: want an early stop before epoch 6 with a best epoch before the last (the restore)", lls)
	}
	if want := fmt.Sprintf("early stopping after epoch %d: the best is epoch %d", len(lines), best+1); !strings.Contains(out, want) {
		t.Errorf("coordinator output lacks %q", want)
	}
	if mf.Meta.Hyperparameters["best_epoch"] != strconv.Itoa(best+1) || math.Abs(mf.Meta.Metrics["validation_logloss"]-lls[best]) > 1e-6 {
		t.Errorf("version meta %+v: want best_epoch %d and its log loss %v", mf.Meta, best+1, lls[best])
	}
	trainRows := int64(0)
	for _, d := range c.days[:len(c.days)-1] {
		trainRows += int64(d.Rows)
	}
	if want := int64(best+1) * trainRows; mf.Meta.Rows != want || mf.Meta.Lineage == nil || mf.Meta.Lineage.Examples != want {
		t.Errorf("version rows %d, lineage %+v: want the %d rows of epochs 1..%d", mf.Meta.Rows, mf.Meta.Lineage, want, best+1)
	}
	// The workers validate after the restore: the best epoch's tables.
	for i, a := range workerAUC {
		if math.Abs(a-aucs[best]) > 1e-6 {
			t.Errorf("worker %d validation AUC %v, want epoch %d's %v", i, a, best+1, aucs[best])
		}
	}
	evalOut, err := exec.Command(c.bin, "eval", "--lake", c.lake, "--data", "clicks", "--dt", c.days[len(c.days)-1].DT,
		"--model", "distfm@1", "--out", t.TempDir()).CombinedOutput()
	if err != nil {
		t.Fatalf("trainer eval: %v\n%s", err, evalOut)
	}
	m := evalAUC.FindSubmatch(evalOut)
	if m == nil {
		t.Fatalf("trainer eval printed no AUC:\n%s", evalOut)
	}
	// eval prints 4 decimals.
	if auc, _ := strconv.ParseFloat(string(m[1]), 64); math.Abs(auc-aucs[best]) > 1e-4 {
		t.Errorf("trainer eval AUC %v of the saved version, want epoch %d's %v", auc, best+1, aucs[best])
	}
}

// TestDistributedWarmStart: --warm-start base@1 on a distributed job of one
// worker and 2 shards (sync): each shard loads its share of the base model
// and holds the change from it, as "trainer train --warm-start" holds it in
// process, so the validation AUC equals trainer train's to the printed 6
// decimals; the version the coordinator saves records its parent and
// scores as trainer train's does.
func TestDistributedWarmStart(t *testing.T) {
	c := newCluster(t, "fm")
	if out, err := exec.Command(c.bin, append([]string{"train", "--output", "base"}, c.jobArg...)...).CombinedOutput(); err != nil {
		t.Fatalf("trainer train --output base: %v\n%s", err, out)
	}
	c.jobArg = append(c.jobArg, "--warm-start", "base@1")
	single := c.singleProcess()
	c.workers = "1"
	addrs := c.startShards(2, paramserver.Sync, "--output", "warm")
	auc := c.waitWorker(c.startWorker(0, addrs), 3*time.Minute)
	t.Logf("warm-started: distributed AUC %.6f, trainer train %.6f", auc, single)
	if math.Abs(auc-single) > 1e-6 {
		t.Fatalf("warm-started one-worker distributed AUC %.6f, trainer train --warm-start %.6f: want equal", auc, single)
	}
	ctx := context.Background()
	store, err := lake.NewLocal(c.lake)
	if err != nil {
		t.Fatal(err)
	}
	var mf *model.Manifest
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if mf, err = model.ReadManifest(ctx, store, "warm", 1); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no models/warm/1: %v\nps0 stderr:\n%s", err, tail(c.procs[0].errb.String(), 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if mf.Meta.Hyperparameters["warm_start"] != "base@1" {
		t.Errorf("version hyperparameters %v: want warm_start base@1", mf.Meta.Hyperparameters)
	}
	out, err := exec.Command(c.bin, "eval", "--lake", c.lake, "--data", "clicks", "--dt", c.days[len(c.days)-1].DT,
		"--model", "warm@1", "--out", t.TempDir()).CombinedOutput()
	if err != nil {
		t.Fatalf("trainer eval: %v\n%s", err, out)
	}
	m := evalAUC.FindSubmatch(out)
	if m == nil {
		t.Fatalf("trainer eval printed no AUC:\n%s", out)
	}
	if e, _ := strconv.ParseFloat(string(m[1]), 64); math.Abs(e-single) > 1e-4 { // eval prints 4 decimals
		t.Errorf("trainer eval AUC %v of the warm-started version, trainer train's %v", e, single)
	}
}
