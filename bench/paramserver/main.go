package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/paramserver"
	"github.com/lakestream/lakestream/train"
	"github.com/lakestream/lakestream/train/clicklog"
	"github.com/lakestream/lakestream/train/feature"
	"github.com/lakestream/lakestream/train/optim"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/mem"
)

func main() {
	rows := flag.Int("rows", 200_000, "click-log rows to generate (3/4 are trained on)")
	kind := flag.String("model", "logistic", "model kind")
	batch := flag.Int("batch-size", 256, "rows per mini-batch")
	reps := flag.Int("reps", 3, "runs per configuration; the fastest is reported (the machine is shared)")
	only := flag.String("only", "", "run only these workers×shards configurations, e.g. 1x2,2x2 (0 shards: in process); the in-process 1×0 base always runs")
	profile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	readAhead := flag.Int("read-ahead", 2, "with -pipeline, decode and featurize up to this many mini-batches ahead in a goroutine per worker (train.StartLookahead, as trainer worker does under async); 0 reads in the worker's goroutine")
	pipeline := flag.Bool("pipeline", true, "pull each step's next batch in the round trip of its push (Stepper.StepAhead; the shards here are asynchronous)")
	finePool := flag.Bool("fine-buffer-pool", false, "give gRPC (both ends) a buffer pool with a tier at every power of two, as the Client has; the default pool zeroes 1 MiB for every message between 32 KiB and 1 MiB")
	flag.Parse()
	if *finePool {
		var exps []uint8
		for e := uint8(8); e <= 22; e++ {
			exps = append(exps, e)
		}
		pool, err := mem.NewBinaryTieredBufferPool(exps...)
		if err != nil {
			log.Fatal(err)
		}
		experimental.SetDefaultBufferPool(pool) // before any gRPC use
	}
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(*rows, *kind, *batch, *reps, *only, *pipeline, *readAhead); err != nil {
		log.Fatal(err)
	}
}

// countingListener counts the bytes read and written on accepted connections.
type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{Conn: c, n: l.n}, nil
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (c countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.n.Add(int64(n))
	return n, err
}

func run(rows int, kind string, batch, reps int, only string, pipeline bool, readAhead int) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "psbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	store, err := lake.NewLocal(dir)
	if err != nil {
		return err
	}
	cfg := clicklog.DefaultConfig()
	cfg.Rows, cfg.RowGroupRows = rows, 10_000
	sum, err := clicklog.Generate(ctx, store, "clicks", cfg)
	if err != nil {
		return err
	}
	spec, err := feature.Parse([]byte(clicklog.SpecYAML(20)))
	if err != nil {
		return err
	}
	ds, err := dataset.Open(ctx, store, "clicks")
	if err != nil {
		return err
	}
	cols := append([]string{"click"}, clicklog.FeatureColumns()...)
	last := sum.Days[len(sum.Days)-2].DT
	plan, err := ds.Plan(ctx, dataset.Query{Columns: cols, Where: dataset.Filter{dataset.Where("dt", dataset.Le, dataset.String(last))}})
	if err != nil {
		return err
	}
	mc := train.DefaultModelConfig(train.Kind(kind))
	mc.Fields, mc.Seed = spec.NumFields(), 1
	probe, err := train.NewModel(mc)
	if err != nil {
		return err
	}
	opt := optim.DefaultConfig(optim.FTRL)
	var specs []paramserver.TableSpec
	for _, t := range probe.Tables() {
		s := paramserver.TableSpec{Name: t.Name, Width: t.Width, Dense: t.Dense, Rows: t.Rows, Optimizer: t.Optimizer(opt)}
		if t.InitStd > 0 {
			s.Init = paramserver.InitConfig{Kind: paramserver.InitNormal, Std: t.InitStd, Seed: 1}
		}
		specs = append(specs, s)
	}
	fmt.Printf("model %s, %d training rows in %d splits, batch %d, pipelined %v, read-ahead %d\n\n", kind, plan.Rows(), len(plan.Splits()), batch, pipeline, readAhead)
	fmt.Println("| store | workers | shards | examples/s | ratio to in-process (1 worker) | wire bytes/example |")
	fmt.Println("|---|---|---|---|---|---|")
	var base float64
	for _, c := range []struct{ workers, shards int }{{1, 0}, {2, 0}, {1, 1}, {1, 2}, {2, 1}, {2, 2}} {
		if name := fmt.Sprintf("%dx%d", c.workers, c.shards); only != "" && name != "1x0" && !slices.Contains(strings.Split(only, ","), name) {
			continue
		}
		var eps float64
		var n, wireBytes int64
		for range reps {
			var ps train.ParamStore
			var wire atomic.Int64
			var stop func()
			if c.shards == 0 {
				if ps, err = paramserver.NewLocal(specs...); err != nil {
					return err
				}
				stop = func() {}
			} else {
				client, closeAll, err := serve(ctx, specs, c.shards, &wire)
				if err != nil {
					return err
				}
				ps, stop = client, closeAll
			}
			got, d, err := trainAll(ctx, plan, spec, mc, ps, c.workers, batch, pipeline, readAhead)
			stop()
			if err != nil {
				return err
			}
			n, wireBytes = got, wire.Load()
			eps = max(eps, float64(got)/d.Seconds())
		}
		if c.shards == 0 && c.workers == 1 {
			base = eps
		}
		label, shards := "in-process", "-"
		if c.shards > 0 {
			label, shards = "gRPC loopback", fmt.Sprint(c.shards)
		}
		perEx := "0"
		if c.shards > 0 {
			perEx = fmt.Sprintf("%.0f", float64(wireBytes)/float64(n))
		}
		fmt.Printf("| %s | %d | %s | %.0f | %.2f | %s |\n", label, c.workers, shards, eps, eps/base, perEx)
	}
	return nil
}

// serve starts n shards on loopback and returns a client to them.
func serve(ctx context.Context, specs []paramserver.TableSpec, n int, wire *atomic.Int64) (*paramserver.Client, func(), error) {
	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	addrs := make([]string, n)
	for i := range n {
		st, err := paramserver.New(paramserver.Config{Tables: specs, Shard: i, Shards: n})
		if err != nil {
			cancel()
			return nil, nil, err
		}
		srv, err := paramserver.NewServer(paramserver.ServerConfig{Store: st})
		if err != nil {
			cancel()
			return nil, nil, err
		}
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			cancel()
			return nil, nil, err
		}
		addrs[i] = lis.Addr().String()
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = srv.Serve(sctx, countingListener{Listener: lis, n: wire})
		}()
	}
	c, err := paramserver.Dial(ctx, paramserver.ClientConfig{Shards: addrs})
	if err != nil {
		cancel()
		return nil, nil, err
	}
	wire.Store(0)
	return c, func() { c.Close(); cancel(); wg.Wait() }, nil
}

// trainAll trains one epoch with w goroutine workers, each on its share of
// the splits with its own Stepper, and returns examples and wall time.
// Pipelined, a worker holds the next mini-batch (train.Lookahead) and
// pulls its rows in the round trip that pushes the current one's
// gradients (Stepper.StepAhead): one round trip per step. That is exact
// here because the shards are asynchronous (a push applies at once).
// With readAhead > 0 a goroutine per worker reads the batches after the
// next one meanwhile.
func trainAll(ctx context.Context, plan *dataset.Plan, spec *feature.Spec, mc train.ModelConfig, ps train.ParamStore, w, batch int, pipeline bool, readAhead int) (int64, time.Duration, error) {
	var total atomic.Int64
	errs := make([]error, w)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := train.NewModel(mc)
			if err != nil {
				errs[i] = err
				return
			}
			fz, err := feature.NewFeaturizer(spec)
			if err != nil {
				errs[i] = err
				return
			}
			st := train.NewStepper(m, ps, 0)
			sc := plan.Scan(ctx, dataset.AssignSplits(plan.Splits(), i, w), dataset.ScanOptions{BatchSize: 8192})
			bs := train.NewSourceBatches(sc, fz, batch)
			defer bs.Close()
			if !pipeline {
				for bs.Next(ctx) {
					r, err := st.Step(ctx, bs.At())
					if err != nil {
						errs[i] = err
						return
					}
					total.Add(int64(r.Examples))
				}
				errs[i] = bs.Err()
				return
			}
			la := train.NewLookahead(bs)
			if readAhead > 0 {
				la = train.StartLookahead(ctx, bs, readAhead)
			}
			defer la.Close()
			for la.Next(ctx) {
				r, err := st.StepAhead(ctx, la.At(), la.Peek())
				if err != nil {
					errs[i] = err
					return
				}
				total.Add(int64(r.Examples))
			}
			errs[i] = la.Err()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return 0, 0, err
		}
	}
	return total.Load(), time.Since(start), nil
}
