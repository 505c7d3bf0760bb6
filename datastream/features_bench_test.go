package datastream_test

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/lakestream/lakestream/datastream"
	"github.com/lakestream/lakestream/datastream/datastreamtest"
)

// windowBenchRecords returns 2^18 events over 24 hours (8192-row records,
// in time order) of 50,000 users drawn with a Zipf law.
func windowBenchRecords() []arrow.Record {
	const n, size = 1 << 18, 8192
	r := rand.New(rand.NewPCG(1, 2))
	z := rand.NewZipf(r, 1.2, 1, 49_999)
	var recs []arrow.Record
	for i := 0; i < n; i += size {
		evs := make([]event, size)
		for j := range evs {
			k := i + j
			evs[j] = event{ts: int64(k) * 86_400_000 / n, user: "u" + strconv.FormatUint(z.Uint64(), 10), click: int64(r.IntN(2)), site: "s" + strconv.Itoa(r.IntN(300))}
		}
		recs = append(recs, eventRecord(evs))
	}
	return recs
}

// BenchmarkWindowFeatures measures the window operator (a count and a ratio
// per user over 1 h at 1-minute resolution, and a distinct count of sites)
// beside a pass-through Map over the same records in the same run.
func BenchmarkWindowFeatures(b *testing.B) {
	recs := windowBenchRecords()
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	run := func(b *testing.B, windows bool) {
		var steps []datastreamtest.Step
		for _, r := range recs {
			steps = append(steps, datastreamtest.Step{Batch: datastream.Batch{Record: r}})
		}
		rows := 0
		for b.Loop() {
			job := datastream.NewJob("bench")
			src := job.Source("events", datastreamtest.NewSource(nil, steps...))
			out := src.Map("pass", func(in arrow.Record) (arrow.Record, error) { in.Retain(); return in, nil })
			if windows {
				out = datastream.WindowFeatures(out, "features", datastream.FeatureWindows{TimeColumn: "ts", Windows: []datastream.FeatureWindow{
					{Name: "n_1h", Key: "user", Agg: datastream.WindowCount, Over: time.Hour, Resolution: time.Minute},
					{Name: "ctr_1h", Key: "user", Agg: datastream.WindowRatio, Column: "click", Over: time.Hour, Resolution: time.Minute},
					{Name: "sites_1h", Key: "user", Agg: datastream.WindowDistinct, Column: "site", Over: time.Hour, Resolution: time.Minute},
				}})
			}
			out.To("out", &discard{})
			if _, err := job.Run(context.Background()); err != nil {
				b.Fatal(err)
			}
			rows += 1 << 18
		}
		b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	}
	b.Run("map", func(b *testing.B) { run(b, false) })
	b.Run("windows", func(b *testing.B) { run(b, true) })
}
