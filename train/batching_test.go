package train

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/paramserver"
	"github.com/lakestream/lakestream/train/feature"
	"github.com/lakestream/lakestream/train/optim"
)

// batchingStore is a paramserver.Local seen through Pull and Push only
// (not its hinted and multi-table paths), with a multi-table capability of
// its own. It
// counts every call, one per round trip a remote store would make, and can
// fail the multi-table calls.
type batchingStore struct {
	ps                     *paramserver.Local
	pulls, pushes          int // single-table calls
	pullTables, pushTables int // multi-table calls
	failPull, failPush     error
	lastPulled, lastPushed []string
}

func (s *batchingStore) Pull(ctx context.Context, table string, keys []uint64, dst []float32) error {
	s.pulls++
	return s.ps.Pull(ctx, table, keys, dst)
}

func (s *batchingStore) Push(ctx context.Context, table string, keys []uint64, grads []float32) error {
	s.pushes++
	return s.ps.Push(ctx, table, keys, grads)
}

func (s *batchingStore) PullTables(ctx context.Context, tables []string, keys [][]uint64, dst [][]float32) error {
	s.pullTables++
	s.lastPulled = append(s.lastPulled[:0], tables...)
	if s.failPull != nil {
		return s.failPull
	}
	for i, name := range tables {
		if err := s.ps.Pull(ctx, name, keys[i], dst[i]); err != nil {
			return fmt.Errorf("pull %q: %w", name, err)
		}
	}
	return nil
}

func (s *batchingStore) PushTables(ctx context.Context, tables []string, keys [][]uint64, grads [][]float32) error {
	s.pushTables++
	s.lastPushed = append(s.lastPushed[:0], tables...)
	if s.failPush != nil {
		return s.failPush
	}
	for i, name := range tables {
		if err := s.ps.Push(ctx, name, keys[i], grads[i]); err != nil {
			return fmt.Errorf("push %q: %w", name, err)
		}
	}
	return nil
}

// TestStepperBatchesTables: with a store that has PullTables/PushTables, a
// step makes exactly two calls (one multi-table pull, one multi-table push)
// instead of two per table, and trains bit-identically to the per-table
// calls on a store without the capability.
func TestStepperBatchesTables(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []Kind{KindLogistic, KindFM, KindFFM} {
		t.Run(string(kind), func(t *testing.T) {
			c := DefaultModelConfig(kind)
			c.Fields = 8
			mb, err := NewModel(c)
			if err != nil {
				t.Fatal(err)
			}
			mp, _ := NewModel(c)
			opt := optim.DefaultConfig(optim.FTRL)
			batched := &batchingStore{ps: newStore(t, mb, opt, 3)}
			plain := newStore(t, mp, opt, 3)
			sb, sp := NewStepper(mb, batched, 1), NewStepper(mp, plain, 1)
			tables := mb.Tables()
			if len(tables) < 2 {
				t.Fatalf("%s has %d tables; the test needs a dense table", kind, len(tables))
			}
			rng := rand.New(rand.NewPCG(11, 12))
			const steps = 20
			for step := range steps {
				b := randomBatch(rng, 64, 8, 500, 8, func() float32 { return float32(rng.IntN(2)) })
				rb, err := sb.Step(ctx, b)
				if err != nil {
					t.Fatal(err)
				}
				rp, err := sp.Step(ctx, b)
				if err != nil {
					t.Fatal(err)
				}
				if rb.Loss != rp.Loss || !slices.Equal(rb.Predictions, rp.Predictions) {
					t.Fatalf("step %d: batched loss %v, per-table loss %v (predictions equal: %v)", step, rb.Loss, rp.Loss, slices.Equal(rb.Predictions, rp.Predictions))
				}
				if got, want := batched.pullTables+batched.pushTables+batched.pulls+batched.pushes, 2*(step+1); got != want {
					t.Fatalf("after %d steps: %d store calls (%d PullTables, %d PushTables, %d Pull, %d Push), want %d",
						step+1, got, batched.pullTables, batched.pushTables, batched.pulls, batched.pushes, want)
				}
			}
			if batched.pullTables != steps || batched.pushTables != steps {
				t.Errorf("%d PullTables and %d PushTables in %d steps, want one each per step", batched.pullTables, batched.pushTables, steps)
			}
			var names []string
			for _, tab := range tables {
				names = append(names, tab.Name)
			}
			if !slices.Equal(batched.lastPulled, names) || !slices.Equal(batched.lastPushed, names) {
				t.Errorf("tables pulled %q and pushed %q, want all of %q", batched.lastPulled, batched.lastPushed, names)
			}
			eb, err := sb.Export(ctx)
			if err != nil {
				t.Fatal(err)
			}
			ep, err := sp.Export(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for i := range ep {
				if !slices.Equal(eb[i].Keys, ep[i].Keys) || !slices.Equal(eb[i].Values, ep[i].Values) {
					t.Errorf("table %s differs between batched and per-table training", ep[i].Name)
				}
			}
		})
	}
}

// TestStepperBatchErrorsNameTables: a failing multi-table call is reported
// with the operation and the tables, and wraps the store's error.
func TestStepperBatchErrorsNameTables(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("shard 1 unreachable")
	for _, tc := range []struct {
		name, prefix string
		set          func(*batchingStore)
	}{
		{"pull", "pull w, bias: ", func(s *batchingStore) { s.failPull = boom }},
		{"push", "push w, bias: ", func(s *batchingStore) { s.failPush = boom }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := NewModel(DefaultModelConfig(KindLogistic))
			s := &batchingStore{ps: newStore(t, m, optim.DefaultConfig(optim.SGD), 1)}
			tc.set(s)
			st := NewStepper(m, s, 0)
			b := &Batch{Indptr: []int32{0, 2}, Indices: []uint64{1, 2}, Values: []float32{1, 1}, Fields: []int32{0, 1}, Labels: []float32{1}}
			_, err := st.Step(ctx, b)
			if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), tc.prefix) {
				t.Fatalf("Step: %v, want an error starting %q wrapping %v", err, tc.prefix, boom)
			}
		})
	}
}

// hintedBatchingStore has both capabilities, like an in-process store that
// also batches: the hinted path wins.
type hintedBatchingStore struct {
	batchingStore
	hinted int
}

func (s *hintedBatchingStore) PullHinted(ctx context.Context, table string, keys []uint64, dst []float32, hints []int32) error {
	s.hinted++
	return s.ps.Pull(ctx, table, keys, dst)
}

func (s *hintedBatchingStore) PushHinted(ctx context.Context, table string, keys []uint64, grads []float32, hints []int32) error {
	s.hinted++
	return s.ps.Push(ctx, table, keys, grads)
}

func TestStepperPrefersHinted(t *testing.T) {
	m, _ := NewModel(DefaultModelConfig(KindLogistic))
	s := &hintedBatchingStore{batchingStore: batchingStore{ps: newStore(t, m, optim.DefaultConfig(optim.SGD), 1)}}
	st := NewStepper(m, s, 0)
	b := &Batch{Indptr: []int32{0, 2}, Indices: []uint64{1, 2}, Values: []float32{1, 1}, Fields: []int32{0, 1}, Labels: []float32{1}}
	if _, err := st.Step(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if s.hinted != 2 || s.pullTables != 0 || s.pushTables != 0 {
		t.Errorf("%d hinted calls and %d/%d multi-table calls, want the hinted path only", s.hinted, s.pullTables, s.pushTables)
	}
}

// TestBatchedStepDoesNotAllocate: the multi-table path keeps the Stepper's
// promise that a step allocates nothing once its buffers have grown (the
// double's own calls allocate nothing either).
func TestBatchedStepDoesNotAllocate(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	b := randomBatch(rng, 256, 16, 1<<20, 16, func() float32 { return float32(rng.IntN(2)) })
	c := DefaultModelConfig(KindLogistic)
	c.Fields = 16
	m, _ := NewModel(c)
	st := NewStepper(m, nopBatcher{}, 1)
	ctx := context.Background()
	for range 3 {
		if _, err := st.Step(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if n := testing.AllocsPerRun(10, func() { _, _ = st.Step(ctx, b) }); n > 0 {
		t.Errorf("%.1f allocations per step, want 0", n)
	}
}

// nopBatcher is nopStore with the multi-table capability.
type nopBatcher struct{ nopStore }

func (nopBatcher) PullTables(_ context.Context, _ []string, _ [][]uint64, dst [][]float32) error {
	for _, d := range dst {
		clear(d)
	}
	return nil
}

func (nopBatcher) PushTables(context.Context, []string, [][]uint64, [][]float32) error { return nil }

// TestWarmStartUsesNoFastPath: WarmStart wraps the store after NewStepper;
// neither the hinted path nor the multi-table calls of the wrapped store
// may bypass the wrapper, so every store trains the warm-started model
// exactly as a plain store does.
func TestWarmStartUsesNoFastPath(t *testing.T) {
	ctx := context.Background()
	spec, err := feature.Parse([]byte("label: {column: click, type: binary}\ncategorical: [{column: a}, {column: b}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	c := DefaultModelConfig(KindLogistic)
	c.Fields = spec.NumFields()
	opt := optim.DefaultConfig(optim.FTRL)
	rng := rand.New(rand.NewPCG(21, 22))
	var bs []*Batch
	for range 8 {
		bs = append(bs, randomBatch(rng, 32, 2, 200, 2, func() float32 { return float32(rng.IntN(2)) }))
	}
	m0, _ := NewModel(c)
	st0 := NewStepper(m0, newStore(t, m0, opt, 1), 0)
	for _, b := range bs {
		if _, err := st0.Step(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	tables, err := st0.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	base, err := NewArtifact(c, spec, tables, model.Metadata{})
	if err != nil {
		t.Fatal(err)
	}
	run := func(wrap func(*paramserver.Local) ParamStore) (preds []float64, losses []float64) {
		m, _ := NewModel(c)
		st := NewStepper(m, wrap(newStore(t, m, opt, 1)), 0)
		if err := st.WarmStart(base); err != nil {
			t.Fatal(err)
		}
		preds = make([]float64, bs[0].Rows())
		if err := st.Predict(ctx, bs[0], preds); err != nil {
			t.Fatal(err)
		}
		for _, b := range bs {
			r, err := st.Step(ctx, b)
			if err != nil {
				t.Fatal(err)
			}
			losses = append(losses, r.Loss)
		}
		return preds, losses
	}
	wantP, wantL := run(func(s *paramserver.Local) ParamStore { return s })
	if slices.Equal(wantP, make([]float64, len(wantP))) {
		t.Fatal("warm-started predictions are all zero: the base model has no weights")
	}
	for _, tc := range []struct {
		name string
		wrap func(*paramserver.Local) ParamStore
	}{
		{"multi-table", func(s *paramserver.Local) ParamStore { return &batchingStore{ps: s} }},
		{"hinted", func(s *paramserver.Local) ParamStore {
			return &hintedBatchingStore{batchingStore: batchingStore{ps: s}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, l := run(tc.wrap)
			if !slices.Equal(p, wantP) || !slices.Equal(l, wantL) {
				t.Errorf("warm start over a store with the %s path: predictions %v…, losses %v; want %v…, %v", tc.name, p[:2], l, wantP[:2], wantL)
			}
		})
	}
}
