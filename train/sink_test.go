package train_test

import (
	"context"
	"testing"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/datastream"
	"github.com/lakestream/lakestream/train"
	"github.com/lakestream/lakestream/train/feature"
	"github.com/lakestream/lakestream/train/optim"
)

// TestSinkTrainsOnTheRuntime runs the training operator in a datastream job
// over a Parquet scan of three days of click log (dataset.NewSource), then
// scores the fourth day: the model must have learned (AUC well above 0.5)
// from every training row exactly once.
func TestSinkTrainsOnTheRuntime(t *testing.T) {
	store, sum, spec := clickLake(t, 40_000)
	ctx := context.Background()
	ds, err := dataset.Open(ctx, store, "clicks")
	if err != nil {
		t.Fatal(err)
	}
	days := sum.Days
	p, err := ds.Plan(ctx, dataset.Query{Where: dataset.Filter{dataset.Where("dt", dataset.Lt, dataset.String(sum.Test().DT))}})
	if err != nil {
		t.Fatal(err)
	}
	c := train.DefaultModelConfig(train.KindLogistic)
	m, _ := train.NewModel(c)
	opt := optim.DefaultConfig(optim.FTRL)
	opt.Alpha = 0.2
	st := train.NewStepper(m, storeFor(t, m, opt), 0)
	fz, err := feature.NewFeaturizer(spec)
	if err != nil {
		t.Fatal(err)
	}
	sink := train.NewSink(st, fz, 256)
	job := datastream.NewJob("train-sink-test")
	job.Source("clicks", dataset.NewSource(p.Scan(ctx, p.Splits(), dataset.ScanOptions{BatchSize: 4096}))).To("train", sink)
	if _, err := job.Run(ctx); err != nil {
		t.Fatal(err)
	}
	stats := sink.Stats()
	want := int64(days[0].Rows + days[1].Rows + days[2].Rows)
	if stats.Examples != want {
		t.Fatalf("trained on %d examples, want %d", stats.Examples, want)
	}
	test := scan(t, store, sum.Test().DT, sum.Test().DT)
	recs, _ := test(ctx, 0)
	met, err := train.Evaluate(ctx, st, train.NewSourceBatches(recs, fz, 1024))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("one pass over %d rows on the runtime: test AUC %.4f (mean train loss %.4f)", stats.Examples, met.AUC, stats.Loss/stats.Weight)
	if met.AUC < 0.75 {
		t.Errorf("test AUC %.4f after training on the runtime, want ≥ 0.75", met.AUC)
	}
}
