// Command serve benchmarks the predictor over gRPC on loopback, side by side
// with MLServer (a Python Open Inference Protocol server) serving a
// scikit-learn logistic regression, both driven by the same open-loop load
// generator (serve/loadgen). Run it from the repository root:
//
//	go run ./bench/serve -mlserver ~/.cache/lakestream/venv-mlserver/bin
//
// It generates a click log, builds an LR model over its 21 feature columns,
// starts the real predictor binary on it, and prints a markdown table: QPS
// at saturation for batch 1 and 256, and p50/p99 at a fixed 5k QPS.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/lakestream/lakestream/api/inference"
	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/serve/loadgen"
	"github.com/lakestream/lakestream/serve/swaptest"
	"github.com/lakestream/lakestream/train/clicklog"
	"github.com/lakestream/lakestream/train/feature"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/serve:", err)
		os.Exit(1)
	}
}

type scenario struct {
	name    string
	batch   int
	rate    float64 // 0: saturate
	workers int
}

func run() error {
	mlserverBin := flag.String("mlserver", "", "folder holding the mlserver executable (its venv's bin); empty skips the peer")
	duration := flag.Duration("duration", 10*time.Second, "length of each scenario")
	workers := flag.Int("workers", 16, "concurrent client calls when saturating")
	swap := flag.Bool("swap", false, "run the swap-under-load scenario (serve/swaptest) against the Kafka broker in LAKESTREAM_KAFKA_BROKERS instead")
	flag.Parse()
	ctx := context.Background()
	if *swap {
		return runSwap(ctx)
	}

	dir, err := os.MkdirTemp("", "lakestream-bench-serve-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	store, err := lake.NewLocal(filepath.Join(dir, "lake"))
	if err != nil {
		return err
	}
	recs, schema, err := clickRecords(ctx, store)
	if err != nil {
		return err
	}
	if err := buildModel(ctx, store, recs, schema); err != nil {
		return err
	}

	scenarios := []scenario{
		{"batch 1, saturated", 1, 0, *workers},
		{"batch 1, fixed 5k QPS", 1, 5000, 64},
		{"batch 256, saturated", 256, 0, 4},
	}
	fmt.Printf("machine: %d cores (GOMAXPROCS %d), %s\n\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), cpuModel())
	fmt.Println("| server | scenario | requests | failed | QPS | examples/s | p50 | p99 | p99 from schedule |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|")

	addr, stop, err := startPredictor(ctx, dir)
	if err != nil {
		return err
	}
	ours := map[string]loadgen.Summary{}
	for _, sc := range scenarios {
		reqs := lakestreamRequests(recs, sc.batch)
		s, err := drive(ctx, addr, reqs, sc, *duration)
		if err != nil {
			stop()
			return err
		}
		ours[sc.name] = s
		printRow("lakestream predictor", sc, s)
	}
	stop()

	if *mlserverBin == "" {
		return nil
	}
	addr, stop, err = startMLServer(ctx, dir, *mlserverBin)
	if err != nil {
		return err
	}
	defer stop()
	for _, sc := range scenarios {
		reqs := mlserverRequests(21, sc.batch)
		s, err := drive(ctx, addr, reqs, sc, *duration)
		if err != nil {
			return err
		}
		printRow("MLServer 1.7.1 (sklearn)", sc, s)
		if sc.rate == 0 && s.QPS > 0 {
			fmt.Printf("|  | ratio | | | %.1f× | | | | |\n", ours[sc.name].QPS/s.QPS)
		}
	}
	return nil
}

func printRow(server string, sc scenario, s loadgen.Summary) {
	sched := "–" // a saturated run has no schedule to measure against
	if sc.rate > 0 {
		sched = s.P99Scheduled.Round(time.Microsecond).String()
	}
	fmt.Printf("| %s | %s | %d | %d | %.0f | %.0f | %v | %v | %s |\n", server, sc.name, s.Requests, s.Failed, s.QPS,
		s.QPS*float64(sc.batch), s.P50.Round(time.Microsecond), s.P99.Round(time.Microsecond), sched)
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range splitLines(string(b)) {
		if len(line) > 10 && line[:10] == "model name" {
			for i := range line {
				if line[i] == ':' {
					return line[i+2:]
				}
			}
		}
	}
	return "unknown CPU"
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := range s {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

// clickRecords generates a small click log and reads it back.
func clickRecords(ctx context.Context, store lake.Store) ([]arrow.Record, *arrow.Schema, error) {
	cfg := clicklog.DefaultConfig()
	cfg.Rows, cfg.Days = 20_000, 2
	if _, err := clicklog.Generate(ctx, store, "clicks", cfg); err != nil {
		return nil, nil, err
	}
	ds, err := dataset.Open(ctx, store, "clicks")
	if err != nil {
		return nil, nil, err
	}
	p, err := ds.Plan(ctx, dataset.Query{})
	if err != nil {
		return nil, nil, err
	}
	sc := p.Scan(ctx, p.Splits(), dataset.ScanOptions{BatchSize: 4096})
	defer sc.Close()
	var recs []arrow.Record
	for sc.Next() {
		r := sc.At()
		r.Retain()
		recs = append(recs, r)
	}
	return recs, p.Schema(), sc.Err()
}

// buildModel saves an LR model over every feature key of recs, with random
// weights, as champion "ctr".
func buildModel(ctx context.Context, store lake.Store, recs []arrow.Record, schema *arrow.Schema) error {
	spec, err := feature.Parse([]byte(clicklog.SpecYAML(20)))
	if err != nil {
		return err
	}
	fz, err := feature.NewFeaturizer(spec)
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(1, 1))
	w := model.Table{Name: model.TableWeights, Width: 1}
	seen := map[uint64]bool{}
	var b feature.Batch
	for _, rec := range recs {
		if err := fz.Featurize(rec, &b); err != nil {
			return err
		}
		for _, k := range b.Indices {
			if !seen[k] {
				seen[k] = true
				w.Keys = append(w.Keys, k)
				w.Values = append(w.Values, float32(r.NormFloat64()*0.1))
			}
		}
	}
	inputs, err := model.InputsOf(schema, spec)
	if err != nil {
		return err
	}
	m, err := model.New(model.Metadata{Kind: model.KindLogistic, Inputs: inputs}, spec,
		[]model.Table{w, {Name: model.TableBias, Width: 1, Dense: true, Values: []float32{-1}}})
	if err != nil {
		return err
	}
	v, err := m.Save(ctx, store, "ctr")
	if err != nil {
		return err
	}
	_, err = model.SetAlias(ctx, store, "ctr", model.Champion, v, nil)
	return err
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitReady(ctx context.Context, addr string, timeout time.Duration) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	cl := pb.NewGRPCInferenceServiceClient(conn)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		c, cancel := context.WithTimeout(ctx, time.Second)
		r, err := cl.ServerReady(c, &pb.ServerReadyRequest{})
		cancel()
		if err == nil && r.Ready {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("server at %s not ready after %v", addr, timeout)
}

func startPredictor(ctx context.Context, dir string) (string, func(), error) {
	bin := filepath.Join(dir, "predictor")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/predictor").CombinedOutput(); err != nil {
		return "", nil, fmt.Errorf("go build ./cmd/predictor (run from the repository root): %v\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(bin, "--lake", filepath.Join(dir, "lake"), "--model", "ctr", "--listen", addr, "--metrics-listen", "", "--poll", "1h")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }
	if err := waitReady(ctx, addr, 30*time.Second); err != nil {
		stop()
		return "", nil, err
	}
	return addr, stop, nil
}

func startMLServer(ctx context.Context, dir, binDir string) (string, func(), error) {
	mdir := filepath.Join(dir, "mlserver")
	grpcPort, err := freePort()
	if err != nil {
		return "", nil, err
	}
	httpPort, err := freePort()
	if err != nil {
		return "", nil, err
	}
	py := filepath.Join(binDir, "python")
	if out, err := exec.Command(py, "bench/serve/mlserver_model.py", mdir, "21", strconv.Itoa(grpcPort), strconv.Itoa(httpPort)).CombinedOutput(); err != nil {
		return "", nil, fmt.Errorf("mlserver_model.py: %v\n%s", err, out)
	}
	cmd := exec.Command(filepath.Join(binDir, "mlserver"), "start", mdir)
	cmd.Env = append(os.Environ(), "PATH="+binDir+":"+os.Getenv("PATH"))
	logf, _ := os.Create(filepath.Join(dir, "mlserver.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { cmd.Process.Signal(os.Interrupt); cmd.Wait(); logf.Close() }
	addr := "127.0.0.1:" + strconv.Itoa(grpcPort)
	if err := waitReady(ctx, addr, 90*time.Second); err != nil {
		stop()
		b, _ := os.ReadFile(filepath.Join(dir, "mlserver.log"))
		return "", nil, fmt.Errorf("%w\n%s", err, b)
	}
	return addr, stop, nil
}

// lakestreamRequests turns rows of recs into requests of batch rows, one
// typed tensor per feature column.
func lakestreamRequests(recs []arrow.Record, batch int) []*pb.ModelInferRequest {
	var reqs []*pb.ModelInferRequest
	for _, rec := range recs {
		for off := 0; off+batch <= int(rec.NumRows()) && len(reqs) < 512; off += batch {
			req := &pb.ModelInferRequest{ModelName: "ctr"}
			for _, name := range clicklog.FeatureColumns() {
				col := rec.Column(rec.Schema().FieldIndices(name)[0])
				t := &pb.ModelInferRequest_InferInputTensor{Name: name, Shape: []int64{int64(batch)}, Contents: &pb.InferTensorContents{}}
				switch c := col.(type) {
				case *array.Int64:
					t.Datatype = "INT64"
					t.Contents.Int64Contents = append([]int64(nil), c.Int64Values()[off:off+batch]...)
				case *array.String:
					t.Datatype = "BYTES"
					for i := off; i < off+batch; i++ {
						t.Contents.BytesContents = append(t.Contents.BytesContents, []byte(c.Value(i)))
					}
				case *array.Dictionary:
					t.Datatype = "BYTES"
					dict := c.Dictionary().(*array.String)
					for i := off; i < off+batch; i++ {
						t.Contents.BytesContents = append(t.Contents.BytesContents, []byte(dict.Value(c.GetValueIndex(i))))
					}
				default:
					panic(fmt.Sprintf("column %s: unexpected %T", name, col))
				}
				req.Inputs = append(req.Inputs, t)
			}
			reqs = append(reqs, req)
		}
	}
	return reqs
}

// mlserverRequests are FP64 [batch, n] tensors, the input the sklearn
// runtime decodes into a numpy array.
func mlserverRequests(n, batch int) []*pb.ModelInferRequest {
	r := rand.New(rand.NewPCG(2, 2))
	reqs := make([]*pb.ModelInferRequest, 64)
	for i := range reqs {
		vals := make([]float64, n*batch)
		for j := range vals {
			vals[j] = r.NormFloat64()
		}
		reqs[i] = &pb.ModelInferRequest{ModelName: "sk", Inputs: []*pb.ModelInferRequest_InferInputTensor{
			{Name: "input-0", Datatype: "FP64", Shape: []int64{int64(batch), int64(n)}, Contents: &pb.InferTensorContents{Fp64Contents: vals}},
		}}
	}
	return reqs
}

func drive(ctx context.Context, addr string, reqs []*pb.ModelInferRequest, sc scenario, d time.Duration) (loadgen.Summary, error) {
	conns := make([]pb.GRPCInferenceServiceClient, 4)
	for i := range conns {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return loadgen.Summary{}, err
		}
		defer conn.Close()
		conns[i] = pb.NewGRPCInferenceServiceClient(conn)
	}
	call := func(ctx context.Context, i int) (string, error) {
		resp, err := conns[i%len(conns)].ModelInfer(ctx, reqs[i%len(reqs)])
		if err != nil {
			return "", err
		}
		return resp.ModelVersion, nil
	}
	// Warm up both sides.
	if _, err := loadgen.Run(ctx, loadgen.Config{Requests: 200, Rate: 1e6, Workers: 4}, call); err != nil {
		return loadgen.Summary{}, err
	}
	rate := sc.rate
	requests := int(rate * d.Seconds())
	if rate == 0 {
		rate, requests = 1e7, 2_000_000 // the run ends at d; this only bounds the result buffer
	}
	runCtx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	res, err := loadgen.Run(runCtx, loadgen.Config{Requests: requests, Rate: rate, Workers: sc.workers}, call)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return loadgen.Summary{}, err
	}
	// Calls cut off by the end of the run are not failures of the server.
	kept := res[:0]
	for _, r := range res {
		if r.Err == nil || runCtx.Err() == nil || r.Start.Add(r.Latency).Before(time.Now().Add(-time.Second)) {
			kept = append(kept, r)
		}
	}
	return loadgen.Summarize(kept), nil
}

// runSwap runs serve/swaptest's acceptance scenario and prints its figures.
func runSwap(ctx context.Context) error {
	brokers := os.Getenv("LAKESTREAM_KAFKA_BROKERS")
	if brokers == "" {
		return errors.New("-swap needs LAKESTREAM_KAFKA_BROKERS (deploy/local/up.sh)")
	}
	dir, err := os.MkdirTemp("", "lakestream-bench-swap-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	store, err := lake.NewLocal(dir)
	if err != nil {
		return err
	}
	topic := fmt.Sprintf("lakestream-bench-swap-%d", time.Now().UnixNano())
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		return err
	}
	defer adm.DeleteTopics(context.WithoutCancel(ctx), topic)
	// The scenario's predictor runs in this process: give it the predictor
	// binary's GC setting (cmd/predictor --gc-percent).
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	cfg := swaptest.DefaultConfig()
	cfg.Store, cfg.Brokers, cfg.Topic = store, strings.Split(brokers, ","), topic
	rep, err := swaptest.Run(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Printf("machine: %d cores, %s\n\n", runtime.NumCPU(), cpuModel())
	fmt.Printf("%d requests at %.0f/s (batch 1, %d client workers, client and server in one process) in %d alternating blocks; %d promotions in the odd blocks, a corrupt version after #%d\n\n",
		cfg.Requests, cfg.Rate, cfg.Workers, cfg.Blocks, cfg.Promotions, cfg.CorruptAt)
	fmt.Println("| phase | requests | failed | p50 | p90 | p99 | max |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, ph := range []struct {
		name string
		s    loadgen.Summary
	}{{"blocks without swaps", rep.Baseline}, {"blocks with swaps", rep.Swapping}} {
		fmt.Printf("| %s | %d | %d | %v | %v | %v | %v |\n", ph.name, ph.s.Requests, ph.s.Failed,
			ph.s.P50.Round(time.Microsecond), ph.s.P90.Round(time.Microsecond), ph.s.P99.Round(time.Microsecond), ph.s.Max.Round(time.Microsecond))
	}
	fmt.Printf("\np99 ratio (swaps / no swaps): %.2f\n", float64(rep.Swapping.P99)/float64(rep.Baseline.P99))
	fmt.Printf("freshness, promotion → first response from it: p50 %v, p99 %v, max %v (%d of %d versions answered)\n",
		rep.FreshnessQuantile(0.5).Round(time.Millisecond), rep.FreshnessQuantile(0.99).Round(time.Millisecond),
		rep.FreshnessQuantile(1).Round(time.Millisecond), rep.Served, rep.Promoted)
	fmt.Printf("promotion → swap: p50 %v, p99 %v; corrupt version served %d times; violations %d\n",
		loadgen.Quantile(rep.SwapLag, 0.5).Round(time.Millisecond), loadgen.Quantile(rep.SwapLag, 0.99).Round(time.Millisecond),
		rep.CorruptServed, len(rep.Violations))
	return nil
}
