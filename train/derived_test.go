package train_test

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/lakestream/lakestream/datastream"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/train"
	"github.com/lakestream/lakestream/train/feature"
	"github.com/lakestream/lakestream/train/optim"
)

// hourLog generates days of click rows whose planted click probability
// depends on a site and on the hour of day, which the rows carry only
// inside an Avazu-style YYMMDDHH integer. It returns one record per day.
func hourLog(t *testing.T, days, perDay int, seed uint64) []arrow.Record {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	siteEffect := make([]float64, 50)
	for i := range siteEffect {
		siteEffect[i] = rng.NormFloat64() * 0.5
	}
	// Evenings click more, nights less: a shape no single linear term in
	// the raw YYMMDDHH number can follow.
	hourEffect := func(h int) float64 {
		switch {
		case h >= 18:
			return 1.5
		case h < 6:
			return -1.5
		}
		return 0
	}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "click", Type: arrow.PrimitiveTypes.Int64},
		{Name: "hour", Type: arrow.PrimitiveTypes.Int64},
		{Name: "site", Type: arrow.BinaryTypes.String},
	}, nil)
	var out []arrow.Record
	start := time.Date(2014, 10, 21, 0, 0, 0, 0, time.UTC)
	for d := range days {
		b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
		for range perDay {
			h := rng.IntN(24)
			site := rng.IntN(len(siteEffect))
			z := siteEffect[site] + hourEffect(h) - 1
			click := int64(0)
			if rng.Float64() < 1/(1+math.Exp(-z)) {
				click = 1
			}
			ts := start.Add(time.Duration(d*24+h) * time.Hour)
			yymmddhh := int64(ts.Year()%100)*1000000 + int64(ts.Month())*10000 + int64(ts.Day())*100 + int64(ts.Hour())
			b.Field(0).(*array.Int64Builder).Append(click)
			b.Field(1).(*array.Int64Builder).Append(yymmddhh)
			b.Field(2).(*array.StringBuilder).Append("s" + string(rune('A'+site%26)) + string(rune('a'+site/26)))
		}
		out = append(out, b.NewRecord())
		b.Release()
	}
	t.Cleanup(func() {
		for _, r := range out {
			r.Release()
		}
	})
	return out
}

// records is train.Records over records it does not own.
// TestDerivedHourOfDayBeatsRaw is the acceptance of derived columns on a
// click log whose label depends on the hour of day hidden in a YYMMDDHH
// column: LR with hour_of_day taken out of it by the spec beats LR on the
// same columns without it, on a held-out day; and the saved model (the
// predictor's and stream scoring's path, model.Score) scores exactly as the
// trainer does, from the raw column alone.
func TestDerivedHourOfDayBeatsRaw(t *testing.T) {
	days := hourLog(t, 4, 40_000, 1)
	trainDays, testDay := days[:3], days[3:]
	without, err := feature.Parse([]byte("label: {column: click, type: binary}\ncategorical: [{column: site}, {column: hour}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	with, err := feature.Parse([]byte(`
label: {expr: "click == 1"}
derived:
  - {name: hour_of_day, expr: "hour(hour, \"YYMMDDHH\")"}
categorical: [{column: site}, {column: hour_of_day}]
`))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	run := func(spec *feature.Spec) (train.Metrics, *train.Stepper, train.ModelConfig, train.Result) {
		c := train.DefaultModelConfig(train.KindLogistic)
		c.Fields = spec.NumFields()
		m, err := train.NewModel(c)
		if err != nil {
			t.Fatal(err)
		}
		st := train.NewStepper(m, storeFor(t, m, optim.DefaultConfig(optim.FTRL)), 0)
		data := &train.Bounded{
			Spec: spec,
			Train: func(context.Context, int, int, int) (datastream.Source, error) {
				return &memSource{recs: trainDays}, nil
			},
			Validation: func(context.Context) (datastream.Source, error) { return &memSource{recs: testDay}, nil },
		}
		res, err := fitOne(ctx, st, data, train.DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		return *res.Validation, st, c, res
	}
	base, _, _, _ := run(without)
	got, st, c, res := run(with)
	// The planted hour effect (±1.5 logits on a third of the day each) is
	// worth about 0.1 AUC; the raw YYMMDDHH values of the test day were
	// never seen in training, so without the derived column LR has only
	// the site. 0.05 leaves room for sampling noise (±0.003 at 40k rows).
	t.Logf("test-day AUC: site + raw hour %.4f, site + hour_of_day %.4f", base.AUC, got.AUC)
	if got.AUC < base.AUC+0.05 {
		t.Errorf("AUC with hour_of_day %.4f, want ≥ %.4f + 0.05 (without)", got.AUC, base.AUC)
	}

	inputs, err := model.InputsOf(testDay[0].Schema(), with)
	if err != nil {
		t.Fatal(err)
	}
	if want := []model.Column{{Name: "site", Type: "string"}, {Name: "hour", Type: "int64"}}; !slices.Equal(inputs, want) {
		t.Errorf("model inputs %v, want %v", inputs, want)
	}
	art, err := train.NewArtifact(c, with, res.Tables, model.Metadata{Rows: res.Examples, Inputs: inputs})
	if err != nil {
		t.Fatal(err)
	}
	// Score from the input columns only, as the predictor decodes them.
	rec := testDay[0]
	inputOnly := array.NewRecord(arrow.NewSchema([]arrow.Field{rec.Schema().Field(2), rec.Schema().Field(1)}, nil),
		[]arrow.Array{rec.Column(2), rec.Column(1)}, rec.NumRows())
	defer inputOnly.Release()
	served := make([]float64, rec.NumRows())
	if err := art.Score(inputOnly, served); err != nil {
		t.Fatal(err)
	}
	fz := mustFeaturizer(t, with)
	bs := train.NewSourceBatches(&oneRecord{rec: rec}, fz, int(rec.NumRows()))
	if !bs.Next(ctx) {
		t.Fatal(bs.Err())
	}
	trained := make([]float64, rec.NumRows())
	if err := st.Predict(ctx, bs.At(), trained); err != nil {
		t.Fatal(err)
	}
	for i := range served {
		// float32 parameters summed in different orders: 1e-6.
		if math.Abs(served[i]-trained[i]) > 1e-6 {
			t.Fatalf("row %d: model.Score %v, trainer %v", i, served[i], trained[i])
		}
	}
}
