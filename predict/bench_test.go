package predict_test

import (
	"context"
	"math/rand/v2"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/lake/laketest"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/predict"
	"github.com/lakestream/lakestream/train/feature"
	"github.com/lakestream/lakestream/train/feature/featuretest"
)

// BenchmarkPredictLR scores 2^18 rows of the 24-column click log (22 hashed
// fields) with logistic regression from an in-memory lake, side by side
// with its parts measured in the same run: "scan" reads the model's input
// columns only, "scan+score" also scores every batch (model.Score), and
// "predict" is predict.Run: scan, score, and write id plus the score as a
// Parquet partition with its _SUCCESS marker. Run with -cpu 1 for rows/s
// per core.
func BenchmarkPredictLR(b *testing.B) {
	const rows = 1 << 18
	ctx := context.Background()
	store := laketest.NewMemory()
	rec := featuretest.ClickLog(memory.DefaultAllocator, rows, 21)
	defer rec.Release()
	if err := dataset.WriteFile(ctx, store, "clicks/dt=2026-11-01/part-0.parquet", rec.Schema(), []arrow.Record{rec}, dataset.WriteOptions{}); err != nil {
		b.Fatal(err)
	}
	if err := lake.Commit(ctx, store, "clicks/dt=2026-11-01"); err != nil {
		b.Fatal(err)
	}
	spec := featuretest.ClickLogSpec(20)
	saveModel(b, store, model.KindLogistic, spec, []arrow.Record{rec})
	m, err := model.Load(ctx, store, "ctr", 1)
	if err != nil {
		b.Fatal(err)
	}
	ds, err := dataset.Open(ctx, store, "clicks")
	if err != nil {
		b.Fatal(err)
	}
	plan, err := ds.Plan(ctx, dataset.Query{Columns: append(spec.InputColumns(false), "id")})
	if err != nil {
		b.Fatal(err)
	}
	// The machine is shared: rows per CPU-second of the process (GC and
	// the upload goroutine included) is the steady per-core figure.
	var cpu0 time.Duration
	start := func(b *testing.B) { b.Helper(); cpu0 = cpuTime(b) }
	perRow := func(b *testing.B) {
		b.ReportMetric(float64(b.N)*rows/b.Elapsed().Seconds(), "rows/s")
		b.ReportMetric(float64(b.N)*rows/(cpuTime(b)-cpu0).Seconds(), "rows/cpu-s")
	}
	scan := func(b *testing.B, score bool) {
		dst := make([]float64, dataset.DefaultBatchSize)
		start(b)
		for b.Loop() {
			sc := plan.Scan(ctx, plan.Splits(), dataset.ScanOptions{})
			for sc.Next() {
				if score {
					rec := sc.At()
					if err := m.Score(rec, dst[:rec.NumRows()]); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := sc.Err(); err != nil {
				b.Fatal(err)
			}
			sc.Close()
		}
		perRow(b)
	}
	b.Run("rows=256Ki/scan", func(b *testing.B) { scan(b, false) })
	b.Run("rows=256Ki/scan+score", func(b *testing.B) { scan(b, true) })
	b.Run("rows=256Ki/predict", func(b *testing.B) {
		cfg := predict.DefaultConfig()
		cfg.Data, cfg.Model, cfg.Output, cfg.Keep, cfg.Overwrite = "clicks", "ctr@1", "scores", []string{"id"}, true
		start(b)
		for b.Loop() {
			if _, err := predict.Run(ctx, store, cfg); err != nil {
				b.Fatal(err)
			}
		}
		perRow(b)
	})
}

// cpuTime is the user and system CPU time of the process so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkTopN writes the top 10 unseen items of 1,000 users over a
// catalogue of 2,000 items (20 interactions each) with an mf model of 16
// factors: users × items = 2M scores per run. Run with -cpu 1.
func BenchmarkTopN(b *testing.B) {
	const users, items, perUser = 1000, 2000, 20
	ctx := context.Background()
	store := laketest.NewMemory()
	schema := arrow.NewSchema([]arrow.Field{{Name: "user", Type: arrow.BinaryTypes.String}, {Name: "item", Type: arrow.BinaryTypes.String}}, nil)
	rb := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer rb.Release()
	rng := rand.New(rand.NewPCG(1, 2))
	for u := range users {
		for range perUser {
			rb.Field(0).(*array.StringBuilder).Append("u" + strconv.Itoa(u))
			rb.Field(1).(*array.StringBuilder).Append("i" + strconv.Itoa(rng.IntN(items)))
		}
	}
	for i := range items { // every item once, so the catalogue is complete
		rb.Field(0).(*array.StringBuilder).Append("u0")
		rb.Field(1).(*array.StringBuilder).Append("i" + strconv.Itoa(i))
	}
	rec := rb.NewRecord()
	defer rec.Release()
	if err := dataset.WriteFile(ctx, store, "events/part-0.parquet", schema, []arrow.Record{rec}, dataset.WriteOptions{}); err != nil {
		b.Fatal(err)
	}
	spec := &feature.Spec{Version: 1, Label: feature.Label{Column: "clicked", Type: feature.Binary},
		Categorical: []feature.Categorical{{Column: "user"}, {Column: "item"}}}
	saveMF(b, store, spec, rec, 16)
	cfg := predict.DefaultTopNConfig()
	cfg.Data, cfg.Model, cfg.Output, cfg.Overwrite = "events", "rec", "recs", true
	cpu0 := cpuTime(b)
	for b.Loop() {
		if _, err := predict.TopN(ctx, store, cfg); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*users*items/(cpuTime(b)-cpu0).Seconds(), "scores/cpu-s")
}

// saveMF saves an mf model "rec" with random rows for every key of rec.
func saveMF(b *testing.B, store lake.Store, spec *feature.Spec, rec arrow.Record, factors int) {
	fz, err := feature.NewFeaturizer(spec, feature.WithoutLabels())
	if err != nil {
		b.Fatal(err)
	}
	var batch feature.Batch
	if err := fz.Featurize(rec, &batch); err != nil {
		b.Fatal(err)
	}
	seen := map[uint64]bool{}
	w := model.Table{Name: model.TableWeights, Width: 1 + factors}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, k := range batch.Indices {
		if !seen[k] {
			seen[k] = true
			w.Keys = append(w.Keys, k)
			for range 1 + factors {
				w.Values = append(w.Values, float32(rng.NormFloat64()*0.3))
			}
		}
	}
	inputs, err := model.InputsOf(rec.Schema(), spec)
	if err != nil {
		b.Fatal(err)
	}
	m, err := model.New(model.Metadata{Kind: model.KindMF, Inputs: inputs,
		Arch: model.Arch{Factors: factors, Loss: model.LossLogistic, UserField: 0, ItemField: 1}},
		spec, []model.Table{w, {Name: model.TableBias, Width: 1, Dense: true, Values: []float32{0}}})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := m.Save(context.Background(), store, "rec"); err != nil {
		b.Fatal(err)
	}
}
