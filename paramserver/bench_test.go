package paramserver

import (
	"context"
	"fmt"
	"testing"

	"github.com/lakestream/lakestream/train/optim"
)

// benchKeys returns n distinct pseudo-random keys, as a feature hasher would
// produce them.
func benchKeys(n int, seed uint64) []uint64 {
	keys := make([]uint64, n)
	for i := range keys {
		keys[i] = mix64(seed + uint64(i))
	}
	return keys
}

func BenchmarkLocal(b *testing.B) {
	ctx := context.Background()
	for _, width := range []int{1, 16} {
		for _, n := range []int{1000, 10000, 100000} {
			l := mustLocal(b, Config{Tables: []TableSpec{{Name: "t", Width: width, Optimizer: optim.DefaultConfig(optim.AdaGrad)}}})
			keys := benchKeys(n, 1)
			vals := make([]float32, n*width)
			if err := l.Push(ctx, "t", keys, vals); err != nil { // create the rows
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("Pull/width=%d/keys=%d", width, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := l.Pull(ctx, "t", keys, vals); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "keys/s")
			})
			b.Run(fmt.Sprintf("Push/width=%d/keys=%d", width, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := l.Push(ctx, "t", keys, vals); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "keys/s")
			})
		}
	}
}

// BenchmarkRemote measures push and pull throughput of one shard over
// loopback gRPC, by keys per call. keys/s is per shard.
func BenchmarkRemote(b *testing.B) {
	ctx := context.Background()
	specs := []TableSpec{{Name: "t", Width: 1, Optimizer: optim.DefaultConfig(optim.AdaGrad)}}
	addrs, _ := startShards(b, 1, specs, shardOpts{})
	c := dial(b, ClientConfig{Shards: addrs})
	for _, n := range []int{1000, 10000, 100000} {
		keys := benchKeys(n, 7)
		vals := make([]float32, n)
		if err := c.Push(ctx, "t", keys, vals); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("Pull/keys=%d", n), func(b *testing.B) {
			b.SetBytes(int64(n) * 12)
			for b.Loop() {
				if err := c.Pull(ctx, "t", keys, vals); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "keys/s")
		})
		b.Run(fmt.Sprintf("Push/keys=%d", n), func(b *testing.B) {
			b.SetBytes(int64(n) * 12)
			for b.Loop() {
				if err := c.Push(ctx, "t", keys, vals); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "keys/s")
		})
	}
}
