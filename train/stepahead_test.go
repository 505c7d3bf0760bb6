package train

import (
	"context"
	"math/rand/v2"
	"net"
	"slices"
	"testing"

	"github.com/lakestream/lakestream/paramserver"
	"github.com/lakestream/lakestream/train/optim"
)

// pipeStore is the part of paramserver.Local and paramserver.Client that
// StepAhead can use.
type pipeStore interface {
	ParamStore
	tableBatcher
	pushPuller
}

// countingPipe exposes exactly pipeStore (so Local's hinted path is hidden
// and StepAhead pipelines in process) and counts the PushPullTables calls.
type countingPipe struct {
	pipeStore
	pushPulls int
}

func (c *countingPipe) PushPullTables(ctx context.Context, tables []string, pushKeys [][]uint64, grads [][]float32, pullKeys [][]uint64, dst [][]float32) error {
	c.pushPulls++
	return c.pipeStore.PushPullTables(ctx, tables, pushKeys, grads, pullKeys, dst)
}

// psSpecs turns m's tables into parameter-server specs with optimizer opt.
func psSpecs(m Model, opt optim.Config) []paramserver.TableSpec {
	var specs []paramserver.TableSpec
	for _, t := range m.Tables() {
		s := paramserver.TableSpec{Name: t.Name, Width: t.Width, Dense: t.Dense, Rows: t.Rows, Optimizer: t.Optimizer(opt)}
		if t.InitStd > 0 {
			s.Init = paramserver.InitConfig{Kind: paramserver.InitNormal, Std: t.InitStd, Seed: 3}
		}
		specs = append(specs, s)
	}
	return specs
}

// psStore returns m's tables on an asynchronous Local (shards 0) or on that
// many asynchronous shards served over loopback gRPC.
func psStore(t *testing.T, m Model, shards int) pipeStore {
	t.Helper()
	specs := psSpecs(m, optim.DefaultConfig(optim.FTRL))
	if shards == 0 {
		l, err := paramserver.NewLocal(specs...)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make([]string, shards)
	done := make(chan error, shards)
	for i := range shards {
		st, err := paramserver.New(paramserver.Config{Tables: specs, Shard: i, Shards: shards})
		if err != nil {
			t.Fatal(err)
		}
		srv, err := paramserver.NewServer(paramserver.ServerConfig{Store: st})
		if err != nil {
			t.Fatal(err)
		}
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = lis.Addr().String()
		go func() { done <- srv.Serve(ctx, lis) }()
	}
	c, err := paramserver.Dial(ctx, paramserver.ClientConfig{Shards: addrs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		cancel()
		for range shards {
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		}
	})
	return c
}

// aheadBatches returns n mini-batches of 64 rows over 500 keys, so that
// consecutive batches share many rows and a stale pull would show.
func aheadBatches(n int) []*Batch {
	rng := rand.New(rand.NewPCG(9, 9))
	return split(randomBatch(rng, 64*n, 12, 500, 8, func() float32 { return float32(rng.IntN(2)) }), 64)
}

// TestStepAheadMatchesStep: a sequence of StepAhead(b[i], b[i+1]) calls
// gives bit-identical predictions at every step and bit-identical tables
// to the same sequence of Step calls, for LR and FM with FTRL, on Local
// (with its hinted path hidden, so StepAhead pipelines) and on 2 loopback
// gRPC shards; and it did pipeline (one PushPullTables per step but the
// last).
func TestStepAheadMatchesStep(t *testing.T) {
	ctx := context.Background()
	bs := aheadBatches(12)
	for _, k := range []Kind{KindLogistic, KindFM} {
		for _, shards := range []int{0, 2} {
			t.Run(string(k)+"/"+map[int]string{0: "local", 2: "2shards"}[shards], func(t *testing.T) {
				c := DefaultModelConfig(k)
				c.Fields, c.Seed = 8, 1
				m1, _ := NewModel(c)
				m2, _ := NewModel(c)
				seq := NewStepper(m1, &countingPipe{pipeStore: psStore(t, m1, shards)}, 1)
				pipe := &countingPipe{pipeStore: psStore(t, m2, shards)}
				ahead := NewStepper(m2, pipe, 1)
				for i, b := range bs {
					want, err := seq.Step(ctx, b)
					if err != nil {
						t.Fatal(err)
					}
					var next *Batch
					if i+1 < len(bs) {
						next = bs[i+1]
					}
					got, err := ahead.StepAhead(ctx, b, next)
					if err != nil {
						t.Fatal(err)
					}
					if got.Loss != want.Loss || !slices.Equal(got.Predictions, want.Predictions) {
						t.Fatalf("step %d: StepAhead loss %v, Step loss %v (or predictions differ)", i, got.Loss, want.Loss)
					}
				}
				if pipe.pushPulls != len(bs)-1 {
					t.Errorf("StepAhead made %d PushPullTables calls, want %d", pipe.pushPulls, len(bs)-1)
				}
				requireSameTables(t, ctx, seq, ahead)
			})
		}
	}
}

// requireSameTables fails unless both Steppers export bit-identical tables.
func requireSameTables(t *testing.T, ctx context.Context, want, got *Stepper) {
	t.Helper()
	wt, err := want.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	gt, err := got.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range wt {
		if !slices.Equal(wt[i].Keys, gt[i].Keys) || !slices.Equal(wt[i].Values, gt[i].Values) {
			t.Errorf("table %q differs from the sequential run's", wt[i].Name)
		}
	}
}

// TestStepAheadDropsStalePrefetch: the rows prefetched for next are used
// only by a step on next. A Step on another batch, on the same *Batch
// refilled with other rows, after DiscardAhead or after a Predict, pulls afresh and
// matches the sequential run; an invalid next is not prefetched and its
// own step reports the error.
func TestStepAheadDropsStalePrefetch(t *testing.T) {
	ctx := context.Background()
	bs := aheadBatches(6)
	c := DefaultModelConfig(KindFM)
	c.Fields, c.Seed = 8, 1
	m1, _ := NewModel(c)
	m2, _ := NewModel(c)
	seq := NewStepper(m1, psStore(t, m1, 0), 0)
	pipe := &countingPipe{pipeStore: psStore(t, m2, 0)}
	ahead := NewStepper(m2, pipe, 0)
	step := func(i int, got StepResult, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		want, err := seq.Step(ctx, bs[i])
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Predictions, want.Predictions) {
			t.Fatalf("batch %d: predictions differ from the sequential run's", i)
		}
	}
	// Prefetch bs[1], then train bs[2]: the prefetch is stale.
	r, err := ahead.StepAhead(ctx, bs[0], bs[1])
	step(0, r, err)
	r, err = ahead.Step(ctx, bs[2])
	step(2, r, err)
	// Prefetch into a batch value, then refill it with bs[4]'s rows.
	buf := *bs[3]
	r, err = ahead.StepAhead(ctx, bs[1], &buf)
	step(1, r, err)
	buf = *bs[4]
	r, err = ahead.Step(ctx, &buf)
	step(4, r, err)
	// Prefetch bs[5], discard, train bs[5] (pulled again: same rows).
	r, err = ahead.StepAhead(ctx, bs[3], bs[5])
	step(3, r, err)
	ahead.DiscardAhead()
	r, err = ahead.Step(ctx, bs[5])
	step(5, r, err)
	// Prefetch bs[2], Predict bs[0] (which reuses the buffers), train bs[2].
	r, err = ahead.StepAhead(ctx, bs[0], bs[2])
	step(0, r, err)
	if err := ahead.Predict(ctx, bs[0], make([]float64, bs[0].Rows())); err != nil {
		t.Fatal(err)
	}
	r, err = ahead.Step(ctx, bs[2])
	step(2, r, err)
	if pipe.pushPulls != 4 {
		t.Errorf("%d PushPullTables calls, want 4", pipe.pushPulls)
	}
	requireSameTables(t, ctx, seq, ahead)

	bad := *bs[0]
	bad.Labels = slices.Clone(bad.Labels)
	bad.Labels[3] = 7
	if _, err := ahead.StepAhead(ctx, bs[0], &bad); err != nil {
		t.Fatalf("StepAhead with an invalid next: %v, want the step on b to succeed", err)
	}
	if pipe.pushPulls != 4 {
		t.Errorf("an invalid next was prefetched")
	}
	if _, err := ahead.Step(ctx, &bad); err == nil {
		t.Errorf("Step on a batch with label 7 succeeded")
	}
}

// TestStepAheadFallsBack: StepAhead is Step, without PushPullTables, for
// a model that adds examples to the batch (MF's negative sampling) and for
// a store without PushPullTables or with the in-process hinted path.
func TestStepAheadFallsBack(t *testing.T) {
	ctx := context.Background()
	bs := aheadBatches(4)
	cases := []struct {
		name  string
		kind  Kind
		store func(m Model) ParamStore
	}{
		{"mf", KindMF, func(m Model) ParamStore { return &countingPipe{pipeStore: psStore(t, m, 0)} }},
		{"no PushPullTables", KindLogistic, func(m Model) ParamStore { return newStore(t, m, optim.DefaultConfig(optim.FTRL), 3) }},
		{"hinted Local", KindLogistic, func(m Model) ParamStore { return psStore(t, m, 0) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultModelConfig(tc.kind)
			c.Fields, c.Seed = 8, 1
			if tc.kind == KindMF {
				c.Negatives, c.Loss = 2, LossLogistic
			}
			m1, err := NewModel(c)
			if err != nil {
				t.Fatal(err)
			}
			m2, _ := NewModel(c)
			seq := NewStepper(m1, tc.store(m1), 0)
			st := tc.store(m2)
			ahead := NewStepper(m2, st, 0)
			for i, b := range bs {
				want, err := seq.Step(ctx, b)
				if err != nil {
					t.Fatal(err)
				}
				got, err := ahead.StepAhead(ctx, b, bs[min(i+1, len(bs)-1)])
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got.Predictions, want.Predictions) {
					t.Fatalf("step %d: predictions differ", i)
				}
			}
			if cp, ok := st.(*countingPipe); ok && cp.pushPulls != 0 {
				t.Errorf("%d PushPullTables calls, want none", cp.pushPulls)
			}
			requireSameTables(t, ctx, seq, ahead)
		})
	}
}

// TestStepAheadDoesNotAllocate: once buffers have grown, a pipelined step
// (in process, so the store allocates nothing either) allocates nothing.
func TestStepAheadDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector (its sync.Pool drops items)")
	}
	ctx := context.Background()
	bs := aheadBatches(2)
	for _, k := range []Kind{KindLogistic, KindFM} {
		c := DefaultModelConfig(k)
		c.Fields, c.Seed = 8, 1
		m, _ := NewModel(c)
		pipe := &countingPipe{pipeStore: psStore(t, m, 0)}
		st := NewStepper(m, pipe, 1)
		i := 0
		run := func() {
			if _, err := st.StepAhead(ctx, bs[i%2], bs[(i+1)%2]); err != nil {
				t.Fatal(err)
			}
			i++
		}
		for range 4 {
			run()
		}
		before := pipe.pushPulls
		if n := testing.AllocsPerRun(20, run); n > 0 {
			t.Errorf("%s: StepAhead allocates %.1f times per step", k, n)
		}
		if pipe.pushPulls == before {
			t.Errorf("%s: StepAhead did not pipeline", k)
		}
	}
}
