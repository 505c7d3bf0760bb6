package train

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/lakestream/lakestream/train/optim"
)

func TestStepRejectsBadLabels(t *testing.T) {
	tests := []struct {
		name  string
		cfg   ModelConfig
		label float32
	}{
		{"logistic/2", DefaultModelConfig(KindLogistic), 2},
		{"logistic/-1", DefaultModelConfig(KindLogistic), -1},
		{"fm/0.5", DefaultModelConfig(KindFM), 0.5},
		{"softmax/4-of-4", func() ModelConfig { c := DefaultModelConfig(KindSoftmax); c.Classes = 4; return c }(), 4},
		{"softmax/1.5", func() ModelConfig { c := DefaultModelConfig(KindSoftmax); c.Classes = 4; return c }(), 1.5},
		{"linear/NaN", DefaultModelConfig(KindLinear), float32(math.NaN())},
		{"linear/+Inf", DefaultModelConfig(KindLinear), float32(math.Inf(1))},
		{"adpredictor/3", DefaultModelConfig(KindAdPredictor), 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := NewModel(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			st := NewStepper(m, newStore(t, m, optim.DefaultConfig(optim.SGD), 1), 0)
			b := &Batch{Indptr: []int32{0, 1, 2}, Indices: []uint64{1, 2}, Values: []float32{1, 1}, Fields: []int32{0, 1}, Labels: []float32{0, tc.label}}
			_, err = st.Step(context.Background(), b)
			var le *LabelError
			if !errors.Is(err, ErrBadLabel) || !errors.As(err, &le) || le.Row != 1 {
				t.Fatalf("Step: %v, want a *LabelError for row 1 wrapping ErrBadLabel", err)
			}
			if !strings.Contains(err.Error(), "row 1") {
				t.Errorf("message %q does not name the row", err)
			}
		})
	}
}

func TestStepRejectsMalformedBatch(t *testing.T) {
	m, _ := NewModel(DefaultModelConfig(KindLogistic))
	st := NewStepper(m, newStore(t, m, optim.DefaultConfig(optim.SGD), 1), 0)
	b := &Batch{Indptr: []int32{0, 2}, Indices: []uint64{1, 2}, Values: []float32{1}, Fields: []int32{0, 1}, Labels: []float32{0}}
	if _, err := st.Step(context.Background(), b); !errors.Is(err, ErrBadBatch) {
		t.Fatalf("Step: %v, want ErrBadBatch", err)
	}
}

// TestDivergenceNamesStep: linear regression with an absurd learning rate
// overflows within a few steps; the error must name the step and stop
// before pushing a non-finite gradient.
func TestDivergenceNamesStep(t *testing.T) {
	m, _ := NewModel(DefaultModelConfig(KindLinear))
	opt := optim.DefaultConfig(optim.SGD)
	opt.LearningRate = 1e6
	store := newStore(t, m, opt, 1)
	st := NewStepper(m, store, 0)
	b := &Batch{Indptr: []int32{0, 2}, Indices: []uint64{1, 2}, Values: []float32{10, 10}, Fields: []int32{0, 1}, Labels: []float32{100}}
	var err error
	for i := 0; i < 50 && err == nil; i++ {
		_, err = st.Step(context.Background(), b)
	}
	var de *DivergenceError
	if !errors.As(err, &de) {
		t.Fatalf("after 50 steps: %v, want a *DivergenceError", err)
	}
	if de.Step < 2 || !strings.Contains(err.Error(), "step") || !strings.Contains(err.Error(), "learning rate") {
		t.Errorf("error %q (step %d) should name the step and suggest a remedy", err, de.Step)
	}
	// Nothing non-finite reached the store (it refuses such pushes too).
	w := make([]float32, 2)
	if err := store.Pull(context.Background(), TableWeights, []uint64{1, 2}, w); err != nil {
		t.Fatal(err)
	}
	for _, v := range w {
		if math.IsNaN(float64(v)) {
			t.Errorf("store holds NaN after divergence: %v", w)
		}
	}
}

// TestClipNorm: with SGD at rate 1 the change of the parameters is the pushed
// gradient, whose norm must not exceed the clipping norm.
func TestClipNorm(t *testing.T) {
	m, _ := NewModel(DefaultModelConfig(KindLinear))
	opt := optim.DefaultConfig(optim.SGD)
	opt.LearningRate = 1
	store := newStore(t, m, opt, 1)
	const clip = 0.25
	st := NewStepper(m, store, clip)
	b := &Batch{Indptr: []int32{0, 2}, Indices: []uint64{1, 2}, Values: []float32{3, 4}, Fields: []int32{0, 1}, Labels: []float32{10}}
	if _, err := st.Step(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	w, bias := make([]float32, 2), make([]float32, 1)
	_ = store.Pull(context.Background(), TableWeights, []uint64{1, 2}, w)
	_ = store.Pull(context.Background(), TableBias, []uint64{0}, bias)
	norm := math.Sqrt(float64(w[0]*w[0] + w[1]*w[1] + bias[0]*bias[0]))
	// Unclipped, the gradient is −10·(3, 4, 1): norm ≈ 51.
	if math.Abs(norm-clip) > 1e-6 {
		t.Errorf("update norm %.6f, want the clipping norm %.2f", norm, clip)
	}
}

func TestFitNoData(t *testing.T) {
	m, _ := NewModel(DefaultModelConfig(KindLogistic))
	st := NewStepper(m, newStore(t, m, optim.DefaultConfig(optim.FTRL), 1), 0)
	_, err := Fit(context.Background(), []*Stepper{st}, memInput{spec: fieldSpec(t, 1, false)}.bounded(), DefaultConfig())
	if !errors.Is(err, ErrNoData) {
		t.Fatalf("Fit on no data: %v, want ErrNoData", err)
	}
}

func TestEarlyStoppingKeepsBestEpoch(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	truth := map[uint64]float64{}
	tr, _ := plantedLogistic(rng, truth, 8000, 6, 20)
	va, _ := plantedLogistic(rng, truth, 4000, 6, 20)
	fl := *tr
	fl.Labels = make([]float32, len(tr.Labels))
	for i, y := range tr.Labels {
		fl.Labels[i] = 1 - y
	}
	// Correct labels in epoch 0, inverted afterwards, so validation gets
	// worse after the first epoch.
	spec := fieldSpec(t, 6, false)
	good, flipped := asRecords(t, tr, 6, false, 4096), asRecords(t, &fl, 6, false, 4096)
	val := asRecords(t, va, 6, false, 4096)
	in := memInput{spec: spec, batchSize: 200, val: val, trainOf: func(epoch int) []arrow.Record {
		if epoch == 0 {
			return good
		}
		return flipped
	}}
	m, _ := NewModel(DefaultModelConfig(KindLogistic))
	st := NewStepper(m, newStore(t, m, optim.DefaultConfig(optim.FTRL), 1), 0)
	cfg := DefaultConfig()
	cfg.Epochs, cfg.Patience = 10, 2
	res, err := Fit(context.Background(), []*Stepper{st}, in.bounded(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Stopped || len(res.Epochs) != 3 || res.BestEpoch != 0 {
		t.Fatalf("stopped %v after %d epochs, best %d; want stopped after 3, best 0", res.Stopped, len(res.Epochs), res.BestEpoch)
	}
	// The returned tables are epoch 0's: scoring the validation set with
	// them must give epoch 0's AUC, not the last epoch's.
	if res.Validation.AUC != res.Epochs[0].Validation.AUC || res.Epochs[2].Validation.AUC >= res.Epochs[0].Validation.AUC {
		t.Errorf("best validation %.4f, epochs %.4f %.4f %.4f", res.Validation.AUC,
			res.Epochs[0].Validation.AUC, res.Epochs[1].Validation.AUC, res.Epochs[2].Validation.AUC)
	}
	auc := aucOfTables(t, m, res.Tables, featurized(t, spec, val, 1000))
	if math.Abs(auc-res.Epochs[0].Validation.AUC) > 1e-9 {
		t.Errorf("AUC of the returned tables %.6f, want epoch 0's %.6f", auc, res.Epochs[0].Validation.AUC)
	}
}

// aucOfTables scores batches with exported tables loaded into a fresh store.
func aucOfTables(t *testing.T, m Model, tables []TableData, bs []*Batch) float64 {
	t.Helper()
	opt := optim.DefaultConfig(optim.SGD)
	opt.LearningRate = 1
	store := newStore(t, m, opt, 1)
	ctx := context.Background()
	for _, td := range tables {
		// Push −value with SGD at rate 1 from zero: the row becomes value.
		neg := make([]float32, len(td.Values))
		for i, v := range td.Values {
			neg[i] = -v
		}
		if err := store.Push(ctx, td.Name, td.Keys, neg); err != nil {
			t.Fatal(err)
		}
	}
	st := NewStepper(m, store, 0)
	res, err := Evaluate(ctx, st, &sliceBatches{bs: bs})
	if err != nil {
		t.Fatal(err)
	}
	return res.AUC
}

// nopStore serves zeros and drops pushes: it isolates the Stepper's own cost.
type nopStore struct{}

func (nopStore) Pull(_ context.Context, _ string, _ []uint64, dst []float32) error {
	clear(dst)
	return nil
}
func (nopStore) Push(context.Context, string, []uint64, []float32) error { return nil }

// TestStepDoesNotAllocate: once buffers have grown, a training step of the
// sparse models allocates nothing (the hot loop has no per-example
// allocation).
func TestStepDoesNotAllocate(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	b := randomBatch(rng, 512, 24, 1<<20, 24, func() float32 { return float32(rng.IntN(2)) })
	for _, k := range []Kind{KindLogistic, KindFM, KindFFM, KindSoftmax, KindAdPredictor} {
		c := DefaultModelConfig(k)
		c.Fields = 24
		c.Classes = 2
		m, _ := NewModel(c)
		st := NewStepper(m, nopStore{}, 1)
		ctx := context.Background()
		for range 3 {
			if _, err := st.Step(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
		if n := testing.AllocsPerRun(10, func() { _, _ = st.Step(ctx, b) }); n > 0 {
			t.Errorf("%s: %.1f allocations per step, want 0", k, n)
		}
	}
}
