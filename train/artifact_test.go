package train_test

import (
	"context"
	"math"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/paramserver"
	"github.com/lakestream/lakestream/train"
	"github.com/lakestream/lakestream/train/feature"
	"github.com/lakestream/lakestream/train/job"
	"github.com/lakestream/lakestream/train/optim"
)

// TestArtifactScoresLikeTrainer trains each kind briefly on the click log,
// builds its artifact (NewArtifact → package model's layout checks) and
// compares model.Score, the serving path, with the trainer's own predictions
// on the test day: the layouts and kernels of the two packages must agree.
func TestArtifactScoresLikeTrainer(t *testing.T) {
	store, sum, spec := clickLake(t, 20_000)
	ctx := context.Background()
	adam := optim.DefaultConfig(optim.Adam)
	adam.LearningRate = 0.01
	multiclass, err := feature.Parse([]byte("label: {column: C18, type: multiclass, classes: ['0', '1', '2', '3']}\ncategorical: [{column: site_id}, {column: app_id}, {column: device_type}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	pairs, err := feature.Parse([]byte("label: {column: click, type: binary}\ncategorical: [{column: site_id}, {column: device_model}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		kind train.Kind
		opt  optim.Config
		edit func(*train.ModelConfig)
		spec *feature.Spec
	}{
		{train.KindLogistic, optim.DefaultConfig(optim.FTRL), nil, nil},
		{train.KindLinear, optim.DefaultConfig(optim.AdaGrad), nil, nil},
		{train.KindFM, optim.DefaultConfig(optim.FTRL), nil, nil},
		{train.KindFFM, optim.DefaultConfig(optim.AdaGrad), func(c *train.ModelConfig) { c.Factors = 2 }, nil},
		{train.KindAdPredictor, optim.Config{}, nil, nil},
		{train.KindBayesLinear, optim.Config{}, nil, nil},
		{train.KindMLP, adam, func(c *train.ModelConfig) { c.Factors, c.Hidden = 4, []int{8} }, nil},
		{train.KindDeepFM, adam, func(c *train.ModelConfig) { c.Factors, c.Hidden = 4, []int{8, 4} }, nil},
		{train.KindSoftmax, optim.DefaultConfig(optim.AdaGrad), func(c *train.ModelConfig) { c.Classes = 4 }, multiclass},
		{train.KindMF, optim.DefaultConfig(optim.AdaGrad), func(c *train.ModelConfig) { c.Loss = train.LossLogistic }, pairs},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			spec := spec
			if tc.spec != nil {
				spec = tc.spec
			}
			c := train.DefaultModelConfig(tc.kind)
			if tc.edit != nil {
				tc.edit(&c)
			}
			c.Fields = spec.NumFields()
			m, err := train.NewModel(c)
			if err != nil {
				t.Fatal(err)
			}
			st := train.NewStepper(m, storeFor(t, m, tc.opt), 0)
			day0 := sum.Days[0].DT
			data := &train.Bounded{Spec: spec, Train: scans(scan(t, store, day0, day0))}
			res, err := fitOne(ctx, st, data, train.DefaultConfig())
			if err != nil {
				t.Fatal(err)
			}
			art, err := train.NewArtifact(c, spec, res.Tables, model.Metadata{Rows: res.Examples})
			if err != nil {
				t.Fatalf("NewArtifact: %v", err)
			}
			fz := mustFeaturizer(t, spec)
			recs, _ := scan(t, store, sum.Test().DT, sum.Test().DT)(ctx, 0)
			defer recs.Close()
			var n int
			var worst float64
			for recs.Next() {
				rec := recs.At()
				rows := int(rec.NumRows())
				out := m.Outputs()
				served := make([]float64, rows*out)
				if err := art.Score(rec, served); err != nil {
					t.Fatal(err)
				}
				bs := train.NewSourceBatches(&oneRecord{rec: rec}, fz, rows)
				if !bs.Next(ctx) {
					t.Fatal(bs.Err())
				}
				trained := make([]float64, rows*out)
				if err := st.Predict(ctx, bs.At(), trained); err != nil {
					t.Fatal(err)
				}
				for i := range served {
					worst = max(worst, math.Abs(served[i]-trained[i]))
				}
				n += rows
			}
			// Both sides compute in float32 parameters with float64 or
			// float32 sums in different orders: agreement to 1e-4.
			if worst > 1e-4 || n == 0 {
				t.Errorf("%d rows: model.Score and the trainer differ by up to %.2g", n, worst)
			}
		})
	}
}

// oneRecord is train.Records over a single record it does not own.
type oneRecord struct {
	rec  arrow.Record
	done bool
}

func (o *oneRecord) Next() bool {
	if o.done {
		return false
	}
	o.done = true
	return true
}
func (o *oneRecord) At() arrow.Record { return o.rec }
func (o *oneRecord) Err() error       { return nil }
func (o *oneRecord) Close() error     { return nil }

func mustFeaturizer(t *testing.T, spec *feature.Spec) *feature.Featurizer {
	t.Helper()
	fz, err := feature.NewFeaturizer(spec)
	if err != nil {
		t.Fatal(err)
	}
	return fz
}

// TestWarmStartContinuesFromModel: a Stepper warm-started from an artifact
// predicts exactly what the artifact scores before any step, trains on, and
// exports every key of the base model.
func TestWarmStartContinuesFromModel(t *testing.T) {
	store, sum, spec := clickLake(t, 20_000)
	ctx := context.Background()
	c := train.DefaultModelConfig(train.KindFM)
	c.Fields = spec.NumFields()
	m, _ := train.NewModel(c)
	opt := optim.DefaultConfig(optim.FTRL)
	st := train.NewStepper(m, storeFor(t, m, opt), 0)
	day0, day1 := sum.Days[0].DT, sum.Days[1].DT
	res, err := fitOne(ctx, st, &train.Bounded{Spec: spec, Train: scans(scan(t, store, day0, day0))}, train.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	base, err := train.NewArtifact(c, spec, res.Tables, model.Metadata{})
	if err != nil {
		t.Fatal(err)
	}
	m2, _ := train.NewModel(c)
	ws, err := paramserver.NewLocal(job.TableSpecs(m2, opt, 1, true)...) // warm start: rows start at zero
	if err != nil {
		t.Fatal(err)
	}
	warm := train.NewStepper(m2, ws, 0)
	if err := warm.WarmStart(base); err != nil {
		t.Fatal(err)
	}
	recs, _ := scan(t, store, day1, day1)(ctx, 0)
	defer recs.Close()
	if !recs.Next() {
		t.Fatal(recs.Err())
	}
	rec := recs.At()
	n := int(rec.NumRows())
	want := make([]float64, n)
	if err := base.Score(rec, want); err != nil {
		t.Fatal(err)
	}
	bs := train.NewSourceBatches(&oneRecord{rec: rec}, mustFeaturizer(t, spec), n)
	if !bs.Next(ctx) {
		t.Fatal(bs.Err())
	}
	got := make([]float64, n)
	if err := warm.Predict(ctx, bs.At(), got); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > 1e-5 {
			t.Fatalf("row %d: warm-started prediction %.6f, base model %.6f", i, got[i], want[i])
		}
	}
	res2, err := fitOne(ctx, warm, &train.Bounded{Spec: spec, Train: scans(scan(t, store, day1, day1))}, train.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if got, min := len(res2.Tables[0].Keys), len(res.Tables[0].Keys); got < min {
		t.Errorf("warm-started export has %d keys, fewer than the base's %d", got, min)
	}
	other, _ := train.NewModel(train.DefaultModelConfig(train.KindLogistic))
	if err := train.NewStepper(other, storeFor(t, other, opt), 0).WarmStart(base); err == nil {
		t.Error("warm start of a logistic model from an fm succeeded")
	}
}
