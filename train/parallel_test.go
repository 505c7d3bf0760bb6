package train_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/datastream"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/train"
	"github.com/lakestream/lakestream/train/clicklog"
	"github.com/lakestream/lakestream/train/feature"
)

// shardedClicks is the click log's train days as Fit's input whose parts
// deal the Parquet splits round-robin, validated on the test day.
func shardedClicks(t *testing.T, store lake.Store, sum clicklog.Summary, spec *feature.Spec) *train.Bounded {
	t.Helper()
	ds, err := dataset.Open(context.Background(), store, "clicks")
	if err != nil {
		t.Fatal(err)
	}
	cols := append([]string{"click"}, clicklog.FeatureColumns()...)
	p, err := ds.Plan(context.Background(), dataset.Query{Columns: cols, Where: dataset.Filter{
		dataset.Where("dt", dataset.Le, dataset.String(sum.Days[len(sum.Days)-2].DT)),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Splits()) < 2 {
		t.Fatalf("want several splits to deal out, have %d", len(p.Splits()))
	}
	test := sum.Test().DT
	return &train.Bounded{Spec: spec, BatchSize: 256,
		Train: func(ctx context.Context, epoch, part, n int) (datastream.Source, error) {
			return dataset.NewSource(p.Scan(ctx, dataset.AssignSplits(p.Splits(), part, n), dataset.ScanOptions{})), nil
		},
		Validation: func(ctx context.Context) (datastream.Source, error) {
			return scans(scan(t, store, test, test))(ctx, 0, 0, 1)
		},
	}
}

// steppers returns n Steppers of LR, each with its own model, on one store.
func steppers(t *testing.T, n int, spec *feature.Spec, store train.ParamStore) []*train.Stepper {
	t.Helper()
	var ss []*train.Stepper
	for range n {
		c := train.DefaultModelConfig(train.KindLogistic)
		c.Fields = spec.NumFields()
		m, err := train.NewModel(c)
		if err != nil {
			t.Fatal(err)
		}
		ss = append(ss, train.NewStepper(m, store, 0))
	}
	return ss
}

// TestFitParallel: two train subtasks over one in-memory store train every
// row once per epoch, export every key either of them trained, and reach
// the single subtask's quality (asynchronous updates move it only slightly).
func TestFitParallel(t *testing.T) {
	lakeStore, sum, spec := clickLake(t, 60_000)
	data := shardedClicks(t, lakeStore, sum, spec)
	lrOpt, _ := QuickstartOptimizers()
	cfg := train.DefaultConfig()
	cfg.Epochs = 2

	probe := steppers(t, 1, spec, nil)[0].Model()
	one, err := train.Fit(context.Background(), steppers(t, 1, spec, storeFor(t, probe, lrOpt)), data, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ws := steppers(t, 2, spec, storeFor(t, probe, lrOpt))
	two, err := train.Fit(context.Background(), ws, data, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range ws {
		if w.Steps() == 0 {
			t.Errorf("worker %d took no step", i)
		}
	}
	t.Logf("1 worker: AUC %.5f in %d steps; 2 workers: AUC %.5f in %d steps", one.Validation.AUC, one.Steps, two.Validation.AUC, two.Steps)
	if two.Examples != one.Examples {
		t.Errorf("2 workers trained %d examples, 1 worker %d: want every row once per epoch", two.Examples, one.Examples)
	}
	if two.Steps != ws[0].Steps()+ws[1].Steps() {
		t.Errorf("result counts %d steps, the workers took %d and %d", two.Steps, ws[0].Steps(), ws[1].Steps())
	}
	if math.Abs(two.Validation.AUC-one.Validation.AUC) > 0.005 {
		t.Errorf("2 workers: AUC %.5f, 1 worker %.5f", two.Validation.AUC, one.Validation.AUC)
	}
	if !slices.Equal(one.Tables[0].Keys, two.Tables[0].Keys) {
		t.Errorf("2 workers exported %d keys, 1 worker %d: want the same key set (worker 0 takes over the others' keys)",
			len(two.Tables[0].Keys), len(one.Tables[0].Keys))
	}
}

func TestFitParallelErrors(t *testing.T) {
	lakeStore, sum, spec := clickLake(t, 4_000)
	data := shardedClicks(t, lakeStore, sum, spec)
	lrOpt, _ := QuickstartOptimizers()
	probe := steppers(t, 1, spec, nil)[0].Model()
	store := storeFor(t, probe, lrOpt)
	ctx := context.Background()

	shared := train.NewStepper(probe, store, 0)
	if _, err := train.Fit(ctx, []*train.Stepper{shared, train.NewStepper(probe, store, 0)}, data, train.DefaultConfig()); !errors.Is(err, train.ErrBadConfig) {
		t.Errorf("two Steppers on one Model: %v, want ErrBadConfig", err)
	}
	if _, err := train.Fit(ctx, nil, data, train.DefaultConfig()); !errors.Is(err, train.ErrBadConfig) {
		t.Errorf("no Stepper: %v, want ErrBadConfig", err)
	}
	// A part that cannot be opened, or a step that fails in one worker,
	// stops the whole run with that error.
	bad := *data
	bad.Train = func(ctx context.Context, epoch, part, n int) (datastream.Source, error) {
		if part == 1 {
			return nil, errors.New("part 1 is unreadable")
		}
		return data.Train(ctx, epoch, part, n)
	}
	if _, err := train.Fit(ctx, steppers(t, 2, spec, store), &bad, train.DefaultConfig()); err == nil || !strings.Contains(err.Error(), "part 1 is unreadable") {
		t.Errorf("an unreadable part: %v, want its error", err)
	}
	failing := &failAfter{ParamStore: store, pushes: 5}
	if _, err := train.Fit(ctx, steppers(t, 2, spec, failing), data, train.DefaultConfig()); err == nil || !strings.Contains(err.Error(), "injected") {
		t.Errorf("a failing push: %v, want its error", err)
	}
}

// failAfter fails every push after the first pushes.
type failAfter struct {
	train.ParamStore
	mu     sync.Mutex
	pushes int
}

func (f *failAfter) Push(ctx context.Context, table string, keys []uint64, grads []float32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pushes == 0 {
		return errors.New("injected push failure")
	}
	f.pushes--
	return f.ParamStore.Push(ctx, table, keys, grads)
}
