package paramserver_test

import (
	"context"
	"fmt"

	"github.com/lakestream/lakestream/paramserver"
	"github.com/lakestream/lakestream/train/optim"
)

// A hashed sparse table of 2-wide rows updated by SGD: rows start at zero,
// the store applies w ← w − η·g to the pushed gradients.
func ExampleNewLocal() {
	opt := optim.DefaultConfig(optim.SGD)
	opt.LearningRate = 0.5
	store, err := paramserver.NewLocal(paramserver.TableSpec{Name: "emb", Width: 2, Optimizer: opt})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	keys := []uint64{42, 7}
	if err := store.Push(ctx, "emb", keys, []float32{1, 2, -4, 0}); err != nil {
		panic(err)
	}
	dst := make([]float32, len(keys)*2)
	if err := store.Pull(ctx, "emb", keys, dst); err != nil {
		panic(err)
	}
	fmt.Println(dst)
	// Output: [-0.5 -1 2 0]
}

// Keys are spread over shards by a hash that every client and shard of a job
// computes identically.
func ExampleShardOf() {
	counts := make([]int, 3)
	for k := range uint64(30000) {
		counts[paramserver.ShardOf(k, 3)]++
	}
	for s, n := range counts {
		fmt.Printf("shard %d: about a third: %v\n", s, n > 9500 && n < 10500)
	}
	// Output:
	// shard 0: about a third: true
	// shard 1: about a third: true
	// shard 2: about a third: true
}
