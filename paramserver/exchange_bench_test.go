package paramserver

import (
	"context"
	"fmt"
	"testing"

	"github.com/lakestream/lakestream/train/optim"
)

// BenchmarkStepLR measures one training step's parameter traffic for a
// logistic-regression mini-batch over loopback gRPC: the batch's distinct
// sparse keys of "w" and the single row of the dense "bias", pulled then
// pushed. 5000 keys is a 256-row batch of ≈20 features per row; 1500 is
// what a 256-row batch of bench/paramserver's click log holds (its wire
// bytes per example); 1 key measures the round trips alone. PerTable makes
// the four calls the trainer used to make (Pull w, Pull bias, Push w, Push
// bias); Tables makes one PullTables and one PushTables; PushPull makes
// one PushPullTables, as a pipelined async worker does. ns/op is the
// step's communication latency.
func BenchmarkStepLR(b *testing.B) {
	ftrl := optim.DefaultConfig(optim.FTRL)
	specs := []TableSpec{
		{Name: "w", Width: 1, Optimizer: ftrl},
		{Name: "bias", Width: 1, Dense: true, Rows: 1, Optimizer: ftrl},
	}
	for _, shards := range []int{1, 2} {
		c := dial(b, ClientConfig{Shards: serveStores(b, newShards(b, shards, specs, false), 0)})
		for _, n := range []int{1, 1500, 5000} {
			benchStepLR(b, c, shards, n)
		}
	}
}

func benchStepLR(b *testing.B, c *Client, shards, n int) {
	ctx := context.Background()
	names := []string{"w", "bias"}
	keys := [][]uint64{benchKeys(n, 9), {0}}
	vals := [][]float32{make([]float32, n), make([]float32, 1)}
	grads := [][]float32{make([]float32, n), {0.1}}
	for i := range grads[0] {
		grads[0][i] = 0.01
	}
	if err := c.PushTables(ctx, names, keys, grads); err != nil { // create the rows
		b.Fatal(err)
	}
	b.Run(fmt.Sprintf("PerTable/shards=%d/keys=%d", shards, n), func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for i, name := range names {
				if err := c.Pull(ctx, name, keys[i], vals[i]); err != nil {
					b.Fatal(err)
				}
			}
			for i, name := range names {
				if err := c.Push(ctx, name, keys[i], grads[i]); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
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
	// The pipelined step of an async worker: one call pushes the batch's
	// gradients and pulls the next batch's rows (the same keys here).
	b.Run(fmt.Sprintf("PushPull/shards=%d/keys=%d", shards, n), func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := c.PushPullTables(ctx, names, keys, grads, keys, vals); err != nil {
				b.Fatal(err)
			}
		}
	})
}
