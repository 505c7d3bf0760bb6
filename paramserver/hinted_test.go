package paramserver

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/lakestream/lakestream/train/optim"
)

// TestBatchedMatchesPerKey checks the two fast paths of sparse tables
// against the plain one: a large call (grouped by stripe, one lock per
// stripe) and PullHinted/PushHinted (whose hints skip lookups) must leave a
// store exactly as the same keys pulled and pushed one call per key, also
// when hints went stale because Expire compacted the rows or Reset dropped
// them between the pull and the push, and with admission, expiry and
// deferred updates.
func TestBatchedMatchesPerKey(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		spec     TableSpec
		deferred bool
	}{
		{"ftrl", TableSpec{Width: 1, Optimizer: optim.DefaultConfig(optim.FTRL)}, false},
		{"adam-width3-init", TableSpec{Width: 3, Optimizer: optim.DefaultConfig(optim.Adam), Init: InitConfig{Kind: InitNormal, Std: 0.1, Seed: 3}}, false},
		{"admit", TableSpec{Width: 2, Optimizer: sgd(0.5), AdmitAfter: 2}, false},
		{"ttl", TableSpec{Width: 1, Optimizer: optim.DefaultConfig(optim.AdaGrad), TTL: time.Hour}, false},
		{"deferred", TableSpec{Width: 2, Optimizer: optim.DefaultConfig(optim.FTRL)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.Name = "w"
			clk := &fakeClock{now: time.Unix(1_700_000_000, 0)}
			newStore := func() *Local {
				return mustLocal(t, Config{Now: clk.Now, Tables: []TableSpec{tc.spec}, Deferred: tc.deferred})
			}
			ref, plain, hinted := newStore(), newStore(), newStore()
			w := tc.spec.Width
			rng := rand.New(rand.NewPCG(7, 8))
			for step := range 55 { // the last Reset is at step 39
				// Distinct keys, more than groupMin, from a space small enough
				// that most are seen again in later steps.
				n := groupMin + rng.IntN(400)
				seen := map[uint64]bool{}
				keys := make([]uint64, 0, n)
				for len(keys) < n {
					k := uint64(rng.IntN(2000)) << uint(rng.IntN(3)*20)
					if !seen[k] {
						seen[k] = true
						keys = append(keys, k)
					}
				}
				grads := make([]float32, n*w)
				for i := range grads {
					grads[i] = float32(rng.NormFloat64())
				}
				want := make([]float32, n*w)
				for i, k := range keys {
					if err := ref.Pull(ctx, "w", []uint64{k}, want[i*w:(i+1)*w]); err != nil {
						t.Fatal(err)
					}
				}
				got := make([]float32, n*w)
				if err := plain.Pull(ctx, "w", keys, got); err != nil {
					t.Fatal(err)
				}
				if !equalFloats(got, want) {
					t.Fatalf("step %d: batched pull differs from per-key pull", step)
				}
				hints := make([]int32, n)
				if err := hinted.PullHinted(ctx, "w", keys, got, hints); err != nil {
					t.Fatal(err)
				}
				if !equalFloats(got, want) {
					t.Fatalf("step %d: hinted pull differs from per-key pull", step)
				}
				// Stale hints: rows move or vanish between pull and push.
				switch step % 20 {
				case 9:
					clk.Advance(50 * time.Minute)
					for _, l := range []*Local{ref, plain, hinted} {
						if _, err := l.Expire(ctx); err != nil {
							t.Fatal(err)
						}
					}
				case 19:
					for _, l := range []*Local{ref, plain, hinted} {
						if err := l.Reset(); err != nil {
							t.Fatal(err)
						}
					}
				}
				for i, k := range keys {
					if err := ref.Push(ctx, "w", []uint64{k}, grads[i*w:(i+1)*w]); err != nil {
						t.Fatal(err)
					}
				}
				if err := plain.Push(ctx, "w", keys, grads); err != nil {
					t.Fatal(err)
				}
				if err := hinted.PushHinted(ctx, "w", keys, grads, hints); err != nil {
					t.Fatal(err)
				}
				for _, l := range []*Local{ref, plain, hinted} {
					if err := l.Flush(ctx, -1); err != nil {
						t.Fatal(err)
					}
				}
				clk.Advance(time.Minute)
			}
			// Every key of the space, in one batched pull of each store.
			var all []uint64
			for k := range uint64(2000) {
				all = append(all, k, k<<20, k<<40)
			}
			want := make([]float32, len(all)*w)
			if err := ref.Pull(ctx, "w", all, want); err != nil {
				t.Fatal(err)
			}
			for name, l := range map[string]*Local{"batched": plain, "hinted": hinted} {
				got := make([]float32, len(all)*w)
				if err := l.Pull(ctx, "w", all, got); err != nil {
					t.Fatal(err)
				}
				if !equalFloats(got, want) {
					t.Errorf("%s store differs from the per-key store", name)
				}
				nr, _ := ref.Len("w")
				if ng, _ := l.Len("w"); ng != nr {
					t.Errorf("%s store holds %d rows, per-key store %d", name, ng, nr)
				}
			}
			if n, _ := ref.Len("w"); n == 0 {
				t.Fatal("no rows: the test trained nothing")
			}
		})
	}
}

// TestBatchedRepeatedKey checks that a large push repeating a key updates it
// once per occurrence, in order, like a push of one key at a time.
func TestBatchedRepeatedKey(t *testing.T) {
	ctx := context.Background()
	spec := TableSpec{Name: "w", Width: 1, Optimizer: optim.DefaultConfig(optim.FTRL)}
	ref, batched := mustLocal(t, Config{Tables: []TableSpec{spec}}), mustLocal(t, Config{Tables: []TableSpec{spec}})
	keys := make([]uint64, 3*groupMin)
	grads := make([]float32, len(keys))
	for i := range keys {
		keys[i] = uint64(i % 5)
		grads[i] = float32(i%7) - 3
	}
	for i, k := range keys {
		if err := ref.Push(ctx, "w", []uint64{k}, grads[i:i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := batched.Push(ctx, "w", keys, grads); err != nil {
		t.Fatal(err)
	}
	a, b := make([]float32, 5), make([]float32, 5)
	five := []uint64{0, 1, 2, 3, 4}
	if err := ref.Pull(ctx, "w", five, a); err != nil {
		t.Fatal(err)
	}
	if err := batched.Pull(ctx, "w", five, b); err != nil {
		t.Fatal(err)
	}
	if !equalFloats(a, b) {
		t.Fatalf("batched push %v, per-key %v", b, a)
	}
}
