package job

import (
	"context"
	"syscall"
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

// loopCase is a training job over a generated click log, run both by the
// loop the runtime replaced (train.Run over scans) and by train.Fit.
type loopCase struct {
	cfg  Config
	plan *dataset.Plan
}

func newLoopCase(tb testing.TB, rows int, kind train.Kind) *loopCase {
	tb.Helper()
	ctx := context.Background()
	store, err := lake.NewLocal(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	gc := clicklog.DefaultConfig()
	gc.Rows, gc.Days = rows, 2
	if _, err := clicklog.Generate(ctx, store, "clicks", gc); err != nil {
		tb.Fatal(err)
	}
	spec, err := feature.Parse([]byte(clicklog.SpecYAML(20)))
	if err != nil {
		tb.Fatal(err)
	}
	c := DefaultConfig()
	c.Data, c.Spec = "clicks", spec
	c.Model = train.DefaultModelConfig(kind)
	c.Optimizer = optim.DefaultConfig(optim.FTRL)
	p, err := Plan(ctx, store, &c, nil, "training")
	if err != nil {
		tb.Fatal(err)
	}
	return &loopCase{cfg: c, plan: p}
}

// stepper returns a Stepper on a fresh paramserver.Local.
func (lc *loopCase) stepper(tb testing.TB) *train.Stepper {
	m, _, err := NewModel(&lc.cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ps, err := paramserver.NewLocal(TableSpecs(m, lc.cfg.Optimizer, lc.cfg.Seed, false)...)
	if err != nil {
		tb.Fatal(err)
	}
	return train.NewStepper(m, ps, 0)
}

// oldLoop trains with train.Run over record iterators (the loop before the
// runtime).
func (lc *loopCase) oldLoop(tb testing.TB) train.Result {
	c := &lc.cfg
	data := &train.SourceData{Spec: c.Spec, BatchSize: c.BatchSize, Train: func(ctx context.Context, epoch int) (train.Records, error) {
		opts := dataset.ScanOptions{BatchSize: 8192, Seed: c.Seed + uint64(epoch), RecycleBuffers: true}
		return lc.plan.Scan(ctx, lc.plan.Splits(), opts), nil
	}}
	res, err := train.Run(context.Background(), lc.stepper(tb), data, c.Train)
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

// graph trains with train.Fit: the datastream graph.
func (lc *loopCase) graph(tb testing.TB) train.Result {
	c := &lc.cfg
	in := &train.Bounded{Spec: c.Spec, BatchSize: c.BatchSize, Train: sources(c, lc.plan, 0)}
	res, err := train.Fit(context.Background(), []*train.Stepper{lc.stepper(tb)}, in, c.Train)
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

// TestGraphMatchesLoop: one train subtask of the graph trains exactly what
// the replaced loop trained, bit for bit (same records, same mini-batches,
// same store).
func TestGraphMatchesLoop(t *testing.T) {
	for _, kind := range []train.Kind{train.KindLogistic, train.KindFM} {
		t.Run(string(kind), func(t *testing.T) {
			lc := newLoopCase(t, 30000, kind)
			lc.cfg.Train.Epochs = 2
			a, b := lc.oldLoop(t), lc.graph(t)
			if a.Examples != b.Examples || a.Steps != b.Steps {
				t.Fatalf("loop: %d examples %d steps; graph: %d, %d", a.Examples, a.Steps, b.Examples, b.Steps)
			}
			if d := TablesDiff(a.Tables, b.Tables); d != 0 {
				t.Fatalf("tables differ by %g, want bit-identical", d)
			}
		})
	}
}

// BenchmarkLoopVsGraph runs the replaced loop and the graph side by side,
// LR-FTRL and FM k=8, alternating which goes first in each iteration, so
// that both see the same (shared, noisy) machine. It reports each path's
// examples per second of wall time and per CPU-second of the process
// (user + system, GC included; the figure to compare on a loaded machine)
// and the ratios.
func BenchmarkLoopVsGraph(b *testing.B) {
	for _, kind := range []train.Kind{train.KindLogistic, train.KindFM} {
		lc := newLoopCase(b, 200000, kind)
		b.Run(string(kind), func(b *testing.B) {
			var wall, cpu [2]time.Duration
			var n [2]int64
			paths := [2]func(testing.TB) train.Result{lc.oldLoop, lc.graph}
			i := 0
			for b.Loop() {
				for k := range 2 {
					p := (i + k) % 2
					st, sc := time.Now(), cpuTime(b)
					n[p] += paths[p](b).Examples
					wall[p] += time.Since(st)
					cpu[p] += cpuTime(b) - sc
				}
				i++
			}
			rate := func(p int, d time.Duration) float64 { return float64(n[p]) / d.Seconds() }
			b.ReportMetric(rate(0, wall[0]), "loop-examples/s")
			b.ReportMetric(rate(1, wall[1]), "graph-examples/s")
			b.ReportMetric(rate(0, cpu[0]), "loop-examples/cpu-s")
			b.ReportMetric(rate(1, cpu[1]), "graph-examples/cpu-s")
			b.ReportMetric(rate(1, wall[1])/rate(0, wall[0]), "graph/loop-wall")
			b.ReportMetric(rate(1, cpu[1])/rate(0, cpu[0]), "graph/loop-cpu")
		})
	}
}

// cpuTime returns the process's user + system CPU time.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
