package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
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

// cpus pins the harness's processes: the server under test on one core,
// this load generator on another, so neither steals the other's cycles.
var cpus struct{ server, client string }

func run() error {
	mlserverBin := flag.String("mlserver", "", "folder holding the mlserver executable (its venv's bin); empty skips the peer")
	duration := flag.Duration("duration", 10*time.Second, "length of each scenario")
	workers := flag.Int("workers", 16, "concurrent client calls when saturating")
	repeats := flag.Int("repeats", 3, "rounds; systems alternate within each round and figures are medians [min–max] over rounds")
	flag.StringVar(&cpus.server, "server-cpu", "0", "core (taskset list) the server under test is pinned to")
	flag.StringVar(&cpus.client, "client-cpu", "1", "core (taskset list) this load generator is pinned to; empty: no pinning")
	swap := flag.Bool("swap", false, "run the swap-under-load scenario (serve/swaptest) against the Kafka broker in LAKESTREAM_KAFKA_BROKERS instead")
	promotions := flag.Int("promotions", swaptest.DefaultConfig().Promotions, "with -swap: versions promoted during the run (the corrupt one comes after half of them)")
	flag.Parse()
	ctx := context.Background()
	if pinned, err := pinSelf(cpus.client); err != nil || pinned {
		return err // pinned: the re-executed child has run
	}
	if *swap {
		if *promotions < 2 {
			return fmt.Errorf("-promotions %d: promote at least 2 versions", *promotions)
		}
		return runSwap(ctx, *promotions)
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
		{"batch 1, fixed 1k QPS", 1, 1000, 64},
		{"batch 1, fixed 3k QPS", 1, 3000, 64},
		{"batch 1, fixed 5k QPS", 1, 5000, 64},
		{"batch 1, saturated", 1, 0, *workers},
		{"batch 256, saturated", 256, 0, 4},
	}
	type system struct {
		name  string
		start func() (string, func(), error)
		reqs  func(batch int) []*pb.ModelInferRequest
	}
	systems := []system{{"lakestream predictor",
		func() (string, func(), error) { return startPredictor(ctx, dir) },
		func(b int) []*pb.ModelInferRequest { return lakestreamRequests(recs, b) }}}
	if *mlserverBin != "" {
		systems = append(systems, system{"MLServer 1.7.1 (sklearn)",
			func() (string, func(), error) { return startMLServer(ctx, dir, *mlserverBin) },
			func(b int) []*pb.ModelInferRequest { return mlserverRequests(21, b) }})
	}
	fmt.Printf("machine: %d cores, %s; server pinned to CPU %s, generator to CPU %s; load average %s\n\n",
		machineCores(), cpuModel(), cpus.server, cpus.client, loadAverage())
	results := map[string]map[string][]loadgen.Summary{}
	for round := range *repeats {
		for k := range systems {
			// Alternate which system goes first, so a drift in the
			// machine's load does not favour one of them.
			sys := systems[(k+round)%len(systems)]
			addr, stop, err := sys.start()
			if err != nil {
				return err
			}
			for _, sc := range scenarios {
				s, err := drive(ctx, addr, sys.reqs(sc.batch), sc, *duration)
				if err != nil {
					stop()
					return err
				}
				if results[sys.name] == nil {
					results[sys.name] = map[string][]loadgen.Summary{}
				}
				results[sys.name][sc.name] = append(results[sys.name][sc.name], s)
				fmt.Fprintf(os.Stderr, "round %d %s %s: %.0f QPS p99 %v\n", round+1, sys.name, sc.name, s.QPS, s.P99)
			}
			stop()
		}
	}
	fmt.Printf("%d rounds, medians [min–max]; load average after: %s\n\n", *repeats, loadAverage())
	fmt.Println("| server | scenario | failed | QPS | examples/s | p50 | p99 | p99 from schedule |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, sys := range systems {
		for _, sc := range scenarios {
			printRow(sys.name, sc, results[sys.name][sc.name])
		}
	}
	if len(systems) == 2 {
		fmt.Println()
		for _, sc := range scenarios {
			ours, peer := results[systems[0].name][sc.name], results[systems[1].name][sc.name]
			fmt.Printf("- %s: QPS ratio %.1f×, p99 ratio %.2f\n", sc.name,
				median(ours, func(s loadgen.Summary) float64 { return s.QPS })/median(peer, func(s loadgen.Summary) float64 { return s.QPS }),
				median(peer, p99)/median(ours, p99))
		}
	}
	return nil
}

func p99(s loadgen.Summary) float64 { return float64(s.P99) }

// median returns the median of f over ss.
func median(ss []loadgen.Summary, f func(loadgen.Summary) float64) float64 {
	v := make([]float64, len(ss))
	for i, s := range ss {
		v[i] = f(s)
	}
	slices.Sort(v)
	if len(v) == 0 {
		return 0
	}
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// spread formats the median and range of f over ss.
func spread(ss []loadgen.Summary, f func(loadgen.Summary) float64, format func(float64) string) string {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range ss {
		lo, hi = min(lo, f(s)), max(hi, f(s))
	}
	return fmt.Sprintf("%s [%s–%s]", format(median(ss, f)), format(lo), format(hi))
}

// pinSelf re-executes this program under taskset on cpu unless it already
// runs on exactly that CPU set; pinned reports that the child ran.
func pinSelf(cpu string) (pinned bool, err error) {
	if cpu == "" || os.Getenv("LAKESTREAM_BENCH_PINNED") == cpu {
		return false, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return false, err
	}
	cmd := exec.Command("taskset", append([]string{"-c", cpu, exe}, os.Args[1:]...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "LAKESTREAM_BENCH_PINNED="+cpu)
	if err := cmd.Run(); err != nil {
		return true, fmt.Errorf("taskset -c %s (install util-linux, or pass -client-cpu ''): %w", cpu, err)
	}
	return true, nil
}

// pinned prefixes a server command with taskset on the server's core.
func pinned(name string, args ...string) *exec.Cmd {
	if cpus.server == "" {
		return exec.Command(name, args...)
	}
	return exec.Command("taskset", append([]string{"-c", cpus.server, name}, args...)...)
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

func printRow(server string, sc scenario, ss []loadgen.Summary) {
	dur := func(v float64) string { return time.Duration(v).Round(time.Microsecond).String() }
	num := func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }
	sched := "–" // a saturated run has no schedule to measure against
	if sc.rate > 0 {
		sched = spread(ss, func(s loadgen.Summary) float64 { return float64(s.P99Scheduled) }, dur)
	}
	failed := 0
	for _, s := range ss {
		failed += s.Failed
	}
	fmt.Printf("| %s | %s | %d | %s | %s | %s | %s | %s |\n", server, sc.name, failed,
		spread(ss, func(s loadgen.Summary) float64 { return s.QPS }, num),
		spread(ss, func(s loadgen.Summary) float64 { return s.QPS * float64(sc.batch) }, num),
		spread(ss, func(s loadgen.Summary) float64 { return float64(s.P50) }, dur),
		spread(ss, p99, dur), sched)
}

// machineCores counts the machine's processors; runtime.NumCPU counts only
// those this (pinned) process may use.
func machineCores() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.NumCPU()
	}
	n := 0
	for _, line := range splitLines(string(b)) {
		if strings.HasPrefix(line, "processor") {
			n++
		}
	}
	return max(n, 1)
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
	cmd := pinned(bin, "--lake", filepath.Join(dir, "lake"), "--model", "ctr", "--listen", addr, "--metrics-listen", "", "--poll", "1h")
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
	cmd := pinned(filepath.Join(binDir, "mlserver"), "start", mdir)
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
func runSwap(ctx context.Context, promotions int) error {
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
	cfg.Promotions, cfg.CorruptAt = promotions, promotions/2
	rep, err := swaptest.Run(ctx, cfg)
	if err != nil {
		return err
	}
	where := "not pinned"
	if cpus.client != "" {
		where = "pinned to CPU " + cpus.client
	}
	fmt.Printf("machine: %d cores, %s; client and predictor in one process, %s; load average %s\n\n",
		machineCores(), cpuModel(), where, loadAverage())
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
