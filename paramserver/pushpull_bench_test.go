package paramserver

import (
	"context"
	"fmt"
	"testing"

	"github.com/lakestream/lakestream/train/optim"
)

// BenchmarkStepLRPipelined is BenchmarkStepLR's step as the pipelined
// trainer makes it: one PushPullTables that pushes the batch's gradients
// and pulls the next batch's rows (the same keys here), against
// PullTables then PushTables. ns/op is the step's communication latency.
func BenchmarkStepLRPipelined(b *testing.B) {
	ftrl := optim.DefaultConfig(optim.FTRL)
	specs := []TableSpec{
		{Name: "w", Width: 1, Optimizer: ftrl},
		{Name: "bias", Width: 1, Dense: true, Rows: 1, Optimizer: ftrl},
	}
	ctx := context.Background()
	names := []string{"w", "bias"}
	for _, shards := range []int{1, 2} {
		c := dial(b, ClientConfig{Shards: serveStores(b, newShards(b, shards, specs, false), 0)})
		for _, n := range []int{1, 1500, 5000} {
			keys := [][]uint64{benchKeys(n, 9), {0}}
			vals := [][]float32{make([]float32, n), make([]float32, 1)}
			grads := [][]float32{make([]float32, n), {0.1}}
			for i := range grads[0] {
				grads[0][i] = 0.01
			}
			if err := c.PushTables(ctx, names, keys, grads); err != nil { // create the rows
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("Tables/shards=%d/keys=%d", shards, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := c.PullTables(ctx, names, keys, vals); err != nil {
						b.Fatal(err)
					}
					if err := c.PushTables(ctx, names, keys, grads); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(fmt.Sprintf("PushPull/shards=%d/keys=%d", shards, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := c.PushPullTables(ctx, names, keys, grads, keys, vals); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
