package optim_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/lakestream/lakestream/train/optim"
)

// BenchmarkUpdate measures one Update over a block of n coordinates and
// reports ns per coordinate update.
func BenchmarkUpdate(b *testing.B) {
	for _, name := range optim.Names() {
		for _, n := range []int{8, 1024} {
			b.Run(fmt.Sprintf("%s/%d", name, n), func(b *testing.B) {
				r, err := optim.New(optim.DefaultConfig(name))
				if err != nil {
					b.Fatal(err)
				}
				rng := rand.New(rand.NewPCG(1, 2))
				w, g := make([]float32, n), make([]float32, n)
				for i := range g {
					g[i] = float32(rng.NormFloat64())
				}
				s := make([]float32, n*r.Slots())
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					r.Update(w, s, g, int64(i+1))
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/coord")
			})
		}
	}
}
