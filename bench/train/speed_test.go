package train

import (
	"context"
	"encoding/json"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/internal/pyref"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/paramserver"
	"github.com/lakestream/lakestream/train"
	"github.com/lakestream/lakestream/train/clicklog"
	"github.com/lakestream/lakestream/train/feature"
	"github.com/lakestream/lakestream/train/optim"
)

// oneDay writes one day of the click log with rows rows and returns the
// store, the file's key and the local path.
func oneDay(tb testing.TB, rows int) (lake.Store, string, string) {
	tb.Helper()
	dir := tb.TempDir()
	store, err := lake.NewLocal(dir)
	if err != nil {
		tb.Fatal(err)
	}
	c := clicklog.DefaultConfig()
	c.Rows, c.Days = rows*2, 2 // day 0 is the benchmark file
	sum, err := clicklog.Generate(context.Background(), store, "clicks", c)
	if err != nil {
		tb.Fatal(err)
	}
	key := sum.Days[0].Key
	return store, key, filepath.Join(dir, filepath.FromSlash(key))
}

// pass trains model kind over the file once (decode + featurize + step with
// the in-process parameter server) and returns the examples trained.
func pass(tb testing.TB, store lake.Store, key string, kind train.Kind, opt optim.Config) int64 {
	tb.Helper()
	ctx := context.Background()
	spec, err := feature.Parse([]byte(clicklog.SpecYAML(20)))
	if err != nil {
		tb.Fatal(err)
	}
	c := train.DefaultModelConfig(kind)
	c.Fields = spec.NumFields()
	if kind == train.KindFFM {
		c.Factors = 4
	}
	m, err := train.NewModel(c)
	if err != nil {
		tb.Fatal(err)
	}
	var specs []paramserver.TableSpec
	for _, t := range m.Tables() {
		s := paramserver.TableSpec{Name: t.Name, Width: t.Width, Dense: t.Dense, Rows: t.Rows, Optimizer: t.Optimizer(opt)}
		if t.InitStd > 0 {
			s.Init = paramserver.InitConfig{Kind: paramserver.InitNormal, Std: t.InitStd, Seed: 1}
		}
		specs = append(specs, s)
	}
	ps, err := paramserver.NewLocal(specs...)
	if err != nil {
		tb.Fatal(err)
	}
	ds, err := dataset.Open(ctx, store, key)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := ds.Plan(ctx, dataset.Query{Columns: append([]string{"click"}, clicklog.FeatureColumns()...)})
	if err != nil {
		tb.Fatal(err)
	}
	fz, err := feature.NewFeaturizer(spec)
	if err != nil {
		tb.Fatal(err)
	}
	st := train.NewStepper(m, ps, 0)
	// The scan options of `trainer train`: records of 8192 rows whose value
	// buffers go back to the decoder's pool once featurized.
	opts := dataset.ScanOptions{BatchSize: 8192, RecycleBuffers: true}
	bs := train.NewSourceBatches(p.Scan(ctx, p.Splits(), opts), fz, train.DefaultBatchSize)
	var n int64
	for bs.Next(ctx) {
		r, err := st.Step(ctx, bs.At())
		if err != nil {
			tb.Fatal(err)
		}
		n += int64(r.Examples)
	}
	if err := bs.Err(); err != nil {
		tb.Fatal(err)
	}
	return n
}

func ftrl() optim.Config { return optim.DefaultConfig(optim.FTRL) }

func fmOpt() optim.Config {
	o := optim.DefaultConfig(optim.FTRL)
	o.Alpha, o.L2 = 0.1, 1
	return o
}

// TestSpeedVersusScikitLearn measures, in one run on the same 500k-row
// Parquet file of the 24-column click log, the end-to-end examples/s of
// Lakestream (LR with FTRL and FM k=8, GOMAXPROCS=1) and of scikit-learn's
// SGDClassifier (pyarrow read + FeatureHasher + one epoch, single-threaded).
// It asserts only that Lakestream is faster than scikit-learn; the absolute
// targets (1.5M/s LR, 400k/s FM) are reported, not asserted, because shared
// CI machines vary.
func TestSpeedVersusScikitLearn(t *testing.T) {
	pyref.Python(t)
	const rows = 500_000
	store, key, path := oneDay(t, rows)
	// measure returns the best examples/s of five passes by wall clock and
	// by CPU time (the process's, all threads): on a shared machine the best
	// pass is the one least disturbed by other processes, and CPU time does
	// not count the time the scheduler gave to them.
	measure := func(kind train.Kind, opt optim.Config) (wall, cpu float64) {
		prev := runtime.GOMAXPROCS(1)
		defer runtime.GOMAXPROCS(prev)
		pass(t, store, key, kind, opt) // warm the page cache and code paths
		for range 5 {
			t0, c0 := time.Now(), cpuSeconds()
			n := pass(t, store, key, kind, opt)
			wall = max(wall, float64(n)/time.Since(t0).Seconds())
			if c := cpuSeconds() - c0; c > 0 {
				cpu = max(cpu, float64(n)/c)
			}
		}
		return wall, cpu
	}
	lr, lrCPU := measure(train.KindLogistic, ftrl())
	fm, fmCPU := measure(train.KindFM, fmOpt())
	var ref struct {
		Rows                            int
		ReadS, FeaturizeS, FitS, TotalS float64 `json:"-"`
		ExamplesPerS                    float64 `json:"examples_per_s"`
		FitExamplesPerS                 float64 `json:"fit_examples_per_s"`
	}
	raw := pyref.Run(t, "sgd_reference.py", path)
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatalf("reference output %q: %v", raw, err)
	}
	t.Logf("file: %s (%d rows, 24 columns)", key, rows)
	t.Logf("lakestream LR+FTRL end to end, 1 core:  %9.0f examples/s, %9.0f per CPU-second (target 1.5M)", lr, lrCPU)
	t.Logf("lakestream FM k=8 end to end, 1 core:   %9.0f examples/s, %9.0f per CPU-second (target 400k)", fm, fmCPU)
	t.Logf("scikit-learn SGDClassifier end to end:  %9.0f examples/s (fit alone %.0f/s)\n%s", ref.ExamplesPerS, ref.FitExamplesPerS, raw)
	if lr < ref.ExamplesPerS {
		t.Errorf("LR end to end %.0f examples/s is slower than scikit-learn's %.0f", lr, ref.ExamplesPerS)
	}
}

// BenchmarkEndToEnd trains one pass over a 100k-row file per op: Parquet
// decode + featurization + training step, reported as examples/s. Allocations
// per op are per pass (per record batch of the decoder), not per example.
func BenchmarkEndToEnd(b *testing.B) {
	const rows = 100_000
	store, key, _ := oneDay(b, rows)
	for _, bc := range []struct {
		name string
		kind train.Kind
		opt  optim.Config
	}{
		{"LR-FTRL/rows=100k", train.KindLogistic, ftrl()},
		{"FM-k8/rows=100k", train.KindFM, fmOpt()},
		{"FFM-k4/rows=100k", train.KindFFM, fmOpt()},
		{"DeepFM-k8-64-32/rows=100k", train.KindDeepFM, ftrl()},
		{"MLP-k8-64-32/rows=100k", train.KindMLP, ftrl()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var n int64
			cpu0 := cpuSeconds()
			for b.Loop() {
				n += pass(b, store, key, bc.kind, bc.opt)
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "examples/s")
			if cpu := cpuSeconds() - cpu0; cpu > 0 {
				b.ReportMetric(float64(n)/cpu, "examples/cpu-s")
			}
		})
	}
}

// BenchmarkStep measures the training step alone (dedup, pull, kernel,
// push to the in-process parameter server) on featurized click-log
// mini-batches of 512 rows held in memory; op = one mini-batch. allocs/op
// must be 0: the hot loop allocates nothing per example.
func BenchmarkStep(b *testing.B) {
	store, key, _ := oneDay(b, 50_000)
	ctx := context.Background()
	spec, _ := feature.Parse([]byte(clicklog.SpecYAML(20)))
	ds, err := dataset.Open(ctx, store, key)
	if err != nil {
		b.Fatal(err)
	}
	p, err := ds.Plan(ctx, dataset.Query{Columns: append([]string{"click"}, clicklog.FeatureColumns()...)})
	if err != nil {
		b.Fatal(err)
	}
	fz, _ := feature.NewFeaturizer(spec)
	// Copy the mini-batches out of the iterator, which reuses its buffers.
	var batches []train.Batch
	bs := train.NewSourceBatches(p.Scan(ctx, p.Splits(), dataset.ScanOptions{}), fz, train.DefaultBatchSize)
	for bs.Next(ctx) {
		x := bs.At()
		batches = append(batches, train.Batch{
			Indptr: append([]int32(nil), x.Indptr...), Indices: append([]uint64(nil), x.Indices...),
			Values: append([]float32(nil), x.Values...), Fields: append([]int32(nil), x.Fields...),
			Labels: append([]float32(nil), x.Labels...), Weights: append([]float32(nil), x.Weights...),
		})
	}
	for _, bc := range []struct {
		name string
		kind train.Kind
		opt  optim.Config
	}{
		{"LR-FTRL/batch=512", train.KindLogistic, ftrl()},
		{"FM-k8/batch=512", train.KindFM, fmOpt()},
		{"FFM-k4/batch=512", train.KindFFM, fmOpt()},
		{"DeepFM-k8-64-32/batch=512", train.KindDeepFM, ftrl()},
		{"MLP-k8-64-32/batch=512", train.KindMLP, ftrl()},
		{"AdPredictor/batch=512", train.KindAdPredictor, ftrl()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := train.DefaultModelConfig(bc.kind)
			c.Fields = spec.NumFields()
			if bc.kind == train.KindFFM {
				c.Factors = 4
			}
			m, _ := train.NewModel(c)
			var specs []paramserver.TableSpec
			for _, t := range m.Tables() {
				specs = append(specs, paramserver.TableSpec{Name: t.Name, Width: t.Width, Dense: t.Dense, Rows: t.Rows, Optimizer: t.Optimizer(bc.opt)})
			}
			ps, err := paramserver.NewLocal(specs...)
			if err != nil {
				b.Fatal(err)
			}
			st := train.NewStepper(m, ps, 0)
			for i := range batches { // create every row once
				if _, err := st.Step(ctx, &batches[i]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			var n int
			i := 0
			cpu0 := cpuSeconds()
			for b.Loop() {
				r, err := st.Step(ctx, &batches[i])
				if err != nil {
					b.Fatal(err)
				}
				n += r.Examples
				i = (i + 1) % len(batches)
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "examples/s")
			if cpu := cpuSeconds() - cpu0; cpu > 0 {
				b.ReportMetric(float64(n)/cpu, "examples/cpu-s")
			}
		})
	}
}
