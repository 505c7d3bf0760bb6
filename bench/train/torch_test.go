package train

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/paramserver"
	"github.com/lakestream/lakestream/train"
	"github.com/lakestream/lakestream/train/clicklog"
	"github.com/lakestream/lakestream/train/feature"
	"github.com/lakestream/lakestream/train/optim"
)

// torchPython returns the interpreter of the PyTorch environment:
// $LAKESTREAM_TORCH_PYTHON, else the one deploy/local/python-torch.sh makes.
func torchPython(tb testing.TB) string {
	tb.Helper()
	py := os.Getenv("LAKESTREAM_TORCH_PYTHON")
	if py == "" {
		home, _ := os.UserHomeDir()
		py = filepath.Join(home, ".cache", "lakestream", "venv-torch", "bin", "python")
	}
	if _, err := os.Stat(py); err != nil {
		tb.Fatalf("PyTorch interpreter %s: %v (run deploy/local/python-torch.sh, or set LAKESTREAM_TORCH_PYTHON)", py, err)
	}
	return py
}

// sliceBatches iterates over mini-batches held in memory.
type sliceBatches struct {
	bs []train.Batch
	i  int
}

func (s *sliceBatches) Next(context.Context) bool { s.i++; return s.i <= len(s.bs) }
func (s *sliceBatches) At() *train.Batch          { return &s.bs[s.i-1] }
func (s *sliceBatches) Err() error                { return nil }

// featurizedDay reads one day's file through the spec's featurizer into
// in-memory mini-batches of train.DefaultBatchSize rows and writes the rows'
// keys (rows × fields uint64) and labels (float32), little-endian, to
// dir/name-keys.bin and dir/name-labels.bin for the PyTorch script.
func featurizedDay(tb testing.TB, store lake.Store, key string, spec *feature.Spec, dir, name string) []train.Batch {
	tb.Helper()
	ctx := context.Background()
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
	fields := spec.NumFields()
	var batches []train.Batch
	var keys, labels []byte
	bs := train.NewSourceBatches(p.Scan(ctx, p.Splits(), dataset.ScanOptions{}), fz, train.DefaultBatchSize)
	for bs.Next(ctx) {
		x := bs.At()
		for r := range x.Rows() {
			lo, hi := x.Indptr[r], x.Indptr[r+1]
			if int(hi-lo) != fields {
				tb.Fatalf("%s row %d has %d features, want one per field (%d): the comparison needs one-hot categorical fields", name, r, hi-lo, fields)
			}
			for j := lo; j < hi; j++ {
				if x.Fields[j] != j-lo || x.Values[j] != 1 {
					tb.Fatalf("%s row %d: feature %d is field %d value %g, want field %d value 1", name, r, j-lo, x.Fields[j], x.Values[j], j-lo)
				}
				keys = binary.LittleEndian.AppendUint64(keys, x.Indices[j])
			}
			labels = binary.LittleEndian.AppendUint32(labels, math.Float32bits(x.Labels[r]))
		}
		batches = append(batches, train.Batch{
			Indptr: append([]int32(nil), x.Indptr...), Indices: append([]uint64(nil), x.Indices...),
			Values: append([]float32(nil), x.Values...), Fields: append([]int32(nil), x.Fields...),
			Labels: append([]float32(nil), x.Labels...), Weights: append([]float32(nil), x.Weights...),
		})
	}
	if err := bs.Err(); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+"-keys.bin"), keys, 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+"-labels.bin"), labels, 0o644); err != nil {
		tb.Fatal(err)
	}
	return batches
}

// goEpoch trains a fresh model of config c with optimizer opt for one epoch
// over the in-memory batches, one core, and returns the examples per CPU-
// and per wall-second of the training loop and the AUC on test.
func goEpoch(tb testing.TB, c train.ModelConfig, opt optim.Config, batches, test []train.Batch) (cpu, wall, auc float64) {
	tb.Helper()
	ctx := context.Background()
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
	st := train.NewStepper(m, ps, 0)
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	var n int
	t0, c0 := time.Now(), cpuSeconds()
	for i := range batches {
		r, err := st.Step(ctx, &batches[i])
		if err != nil {
			tb.Fatal(err)
		}
		n += r.Examples
	}
	wall = float64(n) / time.Since(t0).Seconds()
	if d := cpuSeconds() - c0; d > 0 {
		cpu = float64(n) / d
	}
	met, err := train.Evaluate(ctx, st, &sliceBatches{bs: test})
	if err != nil {
		tb.Fatal(err)
	}
	return cpu, wall, met.AUC
}

func examples(bs []train.Batch) (n int) {
	for i := range bs {
		n += bs[i].Rows()
	}
	return n
}

// BenchmarkDeepVersusPyTorch trains DeepFM (and MLP, Lakestream only) for
// one epoch on the same featurized rows of one click-log day — Lakestream's
// Stepper on the in-process parameter server with GOMAXPROCS=1, and a
// PyTorch CPU DeepFM of the same architecture, initialization and optimizer
// (AdaGrad, the same update in both, and Adam; deepfm_torch.py) with
// torch.set_num_threads(1) — and scores both on the next day. Each round
// runs both for each optimizer, Lakestream first; the metrics are
// the best round's examples per CPU-second of the training loop (rows in
// memory, featurized) and the test AUCs. Lakestream end to end (decode +
// featurize + step) is reported too. Needs deploy/local/python-torch.sh:
//
//	go test ./bench/train -run '^$' -bench DeepVersusPyTorch -benchtime 3x
func BenchmarkDeepVersusPyTorch(b *testing.B) {
	py := torchPython(b)
	const rows = 200_000 // per day
	dir := b.TempDir()
	store, err := lake.NewLocal(dir)
	if err != nil {
		b.Fatal(err)
	}
	gc := clicklog.DefaultConfig()
	gc.Rows, gc.Days = 2*rows, 2
	sum, err := clicklog.Generate(context.Background(), store, "clicks", gc)
	if err != nil {
		b.Fatal(err)
	}
	spec, err := feature.Parse([]byte(clicklog.SpecYAML(20)))
	if err != nil {
		b.Fatal(err)
	}
	out := b.TempDir()
	trainB := featurizedDay(b, store, sum.Days[0].Key, spec, out, "train")
	testB := featurizedDay(b, store, sum.Days[1].Key, spec, out, "test")

	deep := train.DefaultModelConfig(train.KindDeepFM)
	deep.Fields = spec.NumFields()
	mlp := train.DefaultModelConfig(train.KindMLP)
	mlp.Fields = spec.NumFields()
	hidden := make([]string, len(deep.Hidden))
	for i, h := range deep.Hidden {
		hidden[i] = strconv.Itoa(h)
	}
	type best struct{ deepCPU, deepAUC, mlpCPU, mlpAUC, e2eCPU, torchCPU, torchAUC float64 }
	opts := []optim.Config{optim.DefaultConfig(optim.AdaGrad), optim.DefaultConfig(optim.Adam)}
	bests := make([]best, len(opts))
	for b.Loop() {
		for i, opt := range opts {
			r := &bests[i]
			cpu, wall, auc := goEpoch(b, deep, opt, trainB, testB)
			b.Logf("%s lakestream DeepFM step: %.0f examples/cpu-s (%.0f/s wall), test AUC %.4f", opt.Name, cpu, wall, auc)
			if cpu > r.deepCPU {
				r.deepCPU, r.deepAUC = cpu, auc
			}
			cpu, wall, auc = goEpoch(b, mlp, opt, trainB, testB)
			b.Logf("%s lakestream MLP step:    %.0f examples/cpu-s (%.0f/s wall), test AUC %.4f", opt.Name, cpu, wall, auc)
			if cpu > r.mlpCPU {
				r.mlpCPU, r.mlpAUC = cpu, auc
			}
			prev := runtime.GOMAXPROCS(1)
			c0 := cpuSeconds()
			n := pass(b, store, sum.Days[0].Key, train.KindDeepFM, opt)
			runtime.GOMAXPROCS(prev)
			if d := cpuSeconds() - c0; d > 0 {
				b.Logf("%s lakestream DeepFM end to end: %.0f examples/cpu-s", opt.Name, float64(n)/d)
				r.e2eCPU = max(r.e2eCPU, float64(n)/d)
			}

			cmd := exec.Command(py, "deepfm_torch.py", out, strconv.Itoa(deep.Fields), strconv.Itoa(deep.Factors),
				strings.Join(hidden, ","), fmt.Sprint(deep.FactorStd), opt.Name, fmt.Sprint(opt.LearningRate), strconv.Itoa(train.DefaultBatchSize))
			cmd.Stderr = os.Stderr
			raw, err := cmd.Output()
			if err != nil {
				b.Fatalf("deepfm_torch.py: %v", err)
			}
			var ref struct {
				CPU float64 `json:"examples_per_cpu_s"`
				AUC float64 `json:"test_auc"`
			}
			if err := json.Unmarshal(raw, &ref); err != nil {
				b.Fatalf("deepfm_torch.py printed %q: %v", raw, err)
			}
			b.Logf("%s pytorch DeepFM: %s", opt.Name, raw)
			if ref.CPU > r.torchCPU {
				r.torchCPU, r.torchAUC = ref.CPU, ref.AUC
			}
		}
	}
	b.Logf("best of the rounds, %d training rows, %d test rows, DeepFM k=%d tower %d→%s→1, batch %d:",
		examples(trainB), examples(testB), deep.Factors, deep.Fields*deep.Factors, strings.Join(hidden, "→"), train.DefaultBatchSize)
	for i, opt := range opts {
		r := bests[i]
		b.Logf("%s lr %g: lakestream DeepFM %.0f examples/cpu-s (end to end %.0f), test AUC %.4f; MLP %.0f, AUC %.4f; pytorch DeepFM %.0f, AUC %.4f",
			opt.Name, opt.LearningRate, r.deepCPU, r.e2eCPU, r.deepAUC, r.mlpCPU, r.mlpAUC, r.torchCPU, r.torchAUC)
		b.ReportMetric(r.deepCPU, opt.Name+"-deepfm-examples/cpu-s")
		b.ReportMetric(r.torchCPU, opt.Name+"-torch-examples/cpu-s")
		b.ReportMetric(r.deepAUC, opt.Name+"-deepfm-auc")
		b.ReportMetric(r.torchAUC, opt.Name+"-torch-auc")
	}
}
