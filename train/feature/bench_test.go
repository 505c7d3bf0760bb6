package feature_test

import (
	"fmt"
	"testing"

	"github.com/lakestream/lakestream/train/feature"
	"github.com/lakestream/lakestream/train/feature/featuretest"
)

// BenchmarkFeaturize featurizes the 24-column click log (22 hashed fields)
// and reports ns per row; allocations are per Featurize call.
func BenchmarkFeaturize(b *testing.B) {
	for _, rows := range []int{256, 4096} {
		for _, crosses := range []bool{false, true} {
			name := fmt.Sprintf("clicklog24/rows=%d", rows)
			spec := featuretest.ClickLogSpec(20)
			if crosses {
				name += "/crosses=2"
				spec.Crosses = []feature.Cross{
					{Columns: []string{"site_id", "device_model"}},
					{Columns: []string{"app_id", "banner_pos", "hour"}},
				}
			}
			b.Run(name, func(b *testing.B) {
				rec := featuretest.ClickLog(mem, rows, 7)
				defer rec.Release()
				f, err := feature.NewFeaturizer(spec)
				if err != nil {
					b.Fatal(err)
				}
				var batch feature.Batch
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if err := f.Featurize(rec, &batch); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
			})
		}
	}
}
