package paramserver

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/lakestream/lakestream/lake/laketest"
)

// TestFenceRefusesStalePushes: after a fence and a restore, a push of the
// old generation (Push, PushPull and a multi-table Exchange) is refused
// with ErrFenced across gRPC and leaves every shard's tables bit-identical;
// a push of the new generation is applied. Before any fence, generation 0
// pushes as it always did.
func TestFenceRefusesStalePushes(t *testing.T) {
	ctx := context.Background()
	addrs, stores := startShards(t, 2, remoteSpecs(), shardOpts{lake: laketest.NewMemory()})
	c := dial(t, ClientConfig{Shards: addrs})
	keys := []uint64{1, 2, 3, 4, 5, 6, 7, 8}
	grads := []float32{1, 2, 3, 4, 5, 6, 7, 8}
	vgrads := make([]float32, 8*len(keys))
	for i := range vgrads {
		vgrads[i] = 0.5
	}
	pull := func() []uint32 {
		t.Helper()
		w, v := make([]float32, len(keys)), make([]float32, 8*len(keys))
		if err := c.PullTables(ctx, []string{"w", "v"}, [][]uint64{keys, keys}, [][]float32{w, v}); err != nil {
			t.Fatal(err)
		}
		var bits []uint32
		for _, x := range append(w, v...) {
			bits = append(bits, math.Float32bits(x))
		}
		return bits
	}
	// Generation 0, no fence: a job without a coordinator.
	if err := c.Push(ctx, "w", keys, grads); err != nil {
		t.Fatalf("generation 0 push before any fence: %v", err)
	}
	if _, err := c.Snapshot(ctx, "ckpt-1"); err != nil {
		t.Fatal(err)
	}
	if err := c.Push(ctx, "w", keys, grads); err != nil {
		t.Fatal(err)
	}
	if g, err := c.Fence(ctx, 1); err != nil || g != 1 {
		t.Fatalf("fence 1: %d, %v", g, err)
	}
	if err := c.Restore(ctx, "ckpt-1"); err != nil {
		t.Fatal(err)
	}
	restored := pull()
	rows := func() (n int) {
		for _, st := range stores {
			for _, tb := range []string{"w", "v", "d"} {
				m, _ := st.Len(tb)
				n += m
			}
		}
		return n
	}
	rowsBefore := rows()

	// The zombie still pushes under generation 0.
	for name, push := range map[string]func() error{
		"push":      func() error { return c.Push(ctx, "w", keys, grads) },
		"push-pull": func() error { return c.PushPull(ctx, "w", keys, grads, keys, make([]float32, len(keys))) },
		"exchange": func() error {
			return c.PushTables(ctx, []string{"w", "v"}, [][]uint64{keys, keys}, [][]float32{grads, vgrads})
		},
		"dense": func() error { return c.Push(ctx, "d", []uint64{3}, []float32{1, 1, 1, 1}) },
	} {
		if err := push(); !errors.Is(err, ErrFenced) {
			t.Errorf("%s of generation 0 after fence 1: %v, want ErrFenced", name, err)
		}
	}
	if got := pull(); !slices.Equal(got, restored) {
		t.Error("a refused push changed the restored tables")
	}
	if got := rows(); got != rowsBefore {
		t.Errorf("a refused push created rows: %d, want %d", got, rowsBefore)
	}

	// The fence never goes down; the current generation pushes.
	if g, err := c.Fence(ctx, 0); err != nil || g != 1 {
		t.Fatalf("fence 0 after fence 1: %d, %v; want the fence kept at 1", g, err)
	}
	c.SetGeneration(1)
	if err := c.PushTables(ctx, []string{"w", "v"}, [][]uint64{keys, keys}, [][]float32{grads, vgrads}); err != nil {
		t.Fatalf("push of generation 1 after fence 1: %v", err)
	}
	if got := pull(); slices.Equal(got, restored) {
		t.Error("the push of the current generation changed nothing")
	}
}

// TestPushAtAllocatesLikePush: the fence costs a compare per call, no
// allocation: a fenced push of existing rows allocates no more than Push.
func TestPushAtAllocatesLikePush(t *testing.T) {
	ctx := context.Background()
	l := mustLocal(t, Config{Tables: remoteSpecs()})
	l.Fence(2)
	keys, grads := []uint64{1, 2, 3}, []float32{1, 1, 1}
	if err := l.PushAt(ctx, 2, "w", keys, grads); err != nil {
		t.Fatal(err)
	}
	plain := testing.AllocsPerRun(200, func() { _ = l.Push(ctx, "w", keys, grads) })
	fenced := testing.AllocsPerRun(200, func() {
		if err := l.PushAt(ctx, 2, "w", keys, grads); err != nil {
			t.Fatal(err)
		}
	})
	if fenced > plain {
		t.Errorf("PushAt allocates %.1f per call, Push %.1f", fenced, plain)
	}
}
