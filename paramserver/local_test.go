package paramserver

import (
	"bytes"
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/lakestream/lakestream/train/optim"
)

func sgd(lr float64) optim.Config {
	c := optim.DefaultConfig(optim.SGD)
	c.LearningRate = lr
	return c
}

func mustLocal(t testing.TB, c Config) *Local {
	t.Helper()
	l, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestSpecValidate(t *testing.T) {
	good := TableSpec{Name: "w", Width: 1, Optimizer: sgd(0.1)}
	tests := []struct {
		name  string
		edit  func(*TableSpec)
		field string
	}{
		{"ok", func(*TableSpec) {}, ""},
		{"empty name", func(s *TableSpec) { s.Name = "" }, "name"},
		{"zero width", func(s *TableSpec) { s.Width = 0 }, "width"},
		{"dense without rows", func(s *TableSpec) { s.Dense = true }, "rows"},
		{"negative admission", func(s *TableSpec) { s.AdmitAfter = -1 }, "admit_after"},
		{"dense admission", func(s *TableSpec) { s.Dense, s.Rows, s.AdmitAfter = true, 3, 2 }, "admit_after"},
		{"negative ttl", func(s *TableSpec) { s.TTL = -time.Second }, "ttl"},
		{"bad init", func(s *TableSpec) { s.Init.Kind = "uniform" }, "init.kind"},
		{"nan std", func(s *TableSpec) { s.Init = InitConfig{Kind: InitNormal, Std: math.NaN()} }, "init.std"},
		{"bad optimizer", func(s *TableSpec) { s.Optimizer.Name = "lion" }, "optimizer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := good
			tt.edit(&s)
			err := s.Validate()
			var se *SpecError
			switch {
			case tt.field == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.field != "" && !errors.As(err, &se):
				t.Fatalf("Validate = %v, want *SpecError for %s", err, tt.field)
			case tt.field != "" && se.Field != tt.field:
				t.Fatalf("Validate field = %q, want %q (%v)", se.Field, tt.field, err)
			}
		})
	}
	if _, err := NewLocal(good, good); err == nil {
		t.Fatal("NewLocal accepted a table declared twice")
	}
}

func TestPullPushSGD(t *testing.T) {
	ctx := context.Background()
	for _, dense := range []bool{false, true} {
		name := map[bool]string{false: "sparse", true: "dense"}[dense]
		t.Run(name, func(t *testing.T) {
			l := mustLocal(t, Config{Tables: []TableSpec{{Name: "emb", Width: 2, Dense: dense, Rows: 100, Optimizer: sgd(0.5)}}})
			keys := []uint64{3, 7, 99}
			dst := make([]float32, 6)
			if err := l.Pull(ctx, "emb", keys, dst); err != nil {
				t.Fatal(err)
			}
			for i, v := range dst {
				if v != 0 {
					t.Fatalf("zero init: dst[%d] = %v", i, v)
				}
			}
			grads := []float32{1, 2, -1, -2, 4, 0}
			for range 2 {
				if err := l.Push(ctx, "emb", keys, grads); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.Pull(ctx, "emb", []uint64{99, 3, 7, 5}, make([]float32, 8)); err != nil {
				t.Fatal(err)
			}
			dst = make([]float32, 8)
			if err := l.Pull(ctx, "emb", []uint64{99, 3, 7, 5}, dst); err != nil {
				t.Fatal(err)
			}
			// Two SGD steps of rate 0.5: w = -2·0.5·g = -g, exact in float32.
			want := []float32{-4, 0, -1, -2, 1, 2, 0, 0}
			for i := range want {
				if dst[i] != want[i] {
					t.Fatalf("dst = %v, want %v", dst, want)
				}
			}
			n, err := l.Len("emb")
			if err != nil {
				t.Fatal(err)
			}
			if wantLen := map[bool]int{false: 3, true: 100}[dense]; n != wantLen {
				t.Fatalf("Len = %d, want %d", n, wantLen)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	l := mustLocal(t, Config{Tables: []TableSpec{{Name: "d", Width: 1, Dense: true, Rows: 4, Optimizer: sgd(1)}}})
	if err := l.Pull(ctx, "nope", []uint64{1}, make([]float32, 1)); !errors.Is(err, ErrUnknownTable) {
		t.Fatalf("unknown table: %v", err)
	}
	var kre *KeyRangeError
	if err := l.Push(ctx, "d", []uint64{4}, make([]float32, 1)); !errors.As(err, &kre) || kre.Key != 4 || kre.Rows != 4 {
		t.Fatalf("dense out of range: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := l.Pull(cctx, "d", []uint64{1}, make([]float32, 1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("shape mismatch did not panic")
		}
	}()
	_ = l.Pull(ctx, "d", []uint64{1, 2}, make([]float32, 1))
}

// TestInitDeterministic checks that "normal" initialization depends only on
// (seed, key, j): the same across stores, independent of push order, and
// with roughly the requested standard deviation.
func TestInitDeterministic(t *testing.T) {
	ctx := context.Background()
	spec := TableSpec{Name: "e", Width: 8, Optimizer: sgd(1), Init: InitConfig{Kind: InitNormal, Std: 0.1, Seed: 42}}
	a, b := mustLocal(t, Config{Tables: []TableSpec{spec}}), mustLocal(t, Config{Tables: []TableSpec{spec}})
	const n = 5000
	keys := make([]uint64, n)
	for i := range keys {
		keys[i] = uint64(i) * 7919
	}
	// b creates its rows in reverse order through pushes of zero gradients.
	rev := make([]uint64, n)
	for i := range rev {
		rev[i] = keys[n-1-i]
	}
	if err := b.Push(ctx, "e", rev, make([]float32, n*8)); err != nil {
		t.Fatal(err)
	}
	da, db := make([]float32, n*8), make([]float32, n*8)
	if err := a.Pull(ctx, "e", keys, da); err != nil {
		t.Fatal(err)
	}
	if err := b.Pull(ctx, "e", keys, db); err != nil {
		t.Fatal(err)
	}
	var sum, sq float64
	for i := range da {
		if da[i] != db[i] {
			t.Fatalf("value %d: %v (pulled) != %v (created by push)", i, da[i], db[i])
		}
		sum += float64(da[i])
		sq += float64(da[i]) * float64(da[i])
	}
	mean := sum / float64(len(da))
	std := math.Sqrt(sq/float64(len(da)) - mean*mean)
	// 40000 draws: the standard error of the mean is 0.1/200 = 5e-4 and of
	// the std about 0.1/283 ≈ 3.5e-4; 10 standard errors leave no flakiness.
	if math.Abs(mean) > 5e-3 || math.Abs(std-0.1) > 3.5e-3 {
		t.Fatalf("normal init: mean %v std %v, want 0 and 0.1", mean, std)
	}
	other := spec
	other.Init.Seed = 43
	c := mustLocal(t, Config{Tables: []TableSpec{other}})
	dc := make([]float32, 8)
	if err := c.Pull(ctx, "e", keys[:1], dc); err != nil {
		t.Fatal(err)
	}
	if dc[0] == da[0] && dc[1] == da[1] {
		t.Fatal("another seed gave the same initial row")
	}
}

func TestAdmission(t *testing.T) {
	ctx := context.Background()
	l := mustLocal(t, Config{Tables: []TableSpec{{Name: "w", Width: 1, Optimizer: sgd(1), AdmitAfter: 3}}})
	g := []float32{1}
	for push := 1; push <= 4; push++ {
		if err := l.Push(ctx, "w", []uint64{12345}, g); err != nil {
			t.Fatal(err)
		}
		dst := make([]float32, 1)
		if err := l.Pull(ctx, "w", []uint64{12345}, dst); err != nil {
			t.Fatal(err)
		}
		// The third push admits the key and applies its gradient.
		want := map[int]float32{1: 0, 2: 0, 3: -1, 4: -2}[push]
		if dst[0] != want {
			t.Fatalf("after push %d: w = %v, want %v", push, dst[0], want)
		}
	}
	// Many distinct keys seen once each stay out (a few may collide in the
	// sketch and enter early; the sketch is sized for far more keys).
	keys := make([]uint64, 10000)
	for i := range keys {
		keys[i] = uint64(i) + 1<<40
	}
	if err := l.Push(ctx, "w", keys, make([]float32, len(keys))); err != nil {
		t.Fatal(err)
	}
	if n, _ := l.Len("w"); n > 1+10 {
		t.Fatalf("after one sighting of 10000 keys the table holds %d rows", n)
	}
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestExpiry(t *testing.T) {
	ctx := context.Background()
	clk := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	l := mustLocal(t, Config{Now: clk.Now, Tables: []TableSpec{{Name: "w", Width: 1, Optimizer: sgd(1), TTL: time.Hour}}})
	push := func(keys ...uint64) {
		if err := l.Push(ctx, "w", keys, make([]float32, len(keys))); err != nil {
			t.Fatal(err)
		}
	}
	push(1, 2, 3, 4)
	clk.Advance(40 * time.Minute)
	push(2)
	if err := l.Pull(ctx, "w", []uint64{3}, make([]float32, 1)); err != nil { // a pull also counts as seen
		t.Fatal(err)
	}
	clk.Advance(30 * time.Minute)
	n, err := l.Expire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("Expire dropped %d rows, want 2 (keys 1 and 4)", n)
	}
	// The survivors keep their values and stay findable after compaction.
	push(2, 3)
	dst := make([]float32, 2)
	if err := l.Pull(ctx, "w", []uint64{2, 3}, dst); err != nil {
		t.Fatal(err)
	}
	if rows, _ := l.Len("w"); rows != 2 {
		t.Fatalf("Len = %d, want 2", rows)
	}
	clk.Advance(2 * time.Hour)
	if n, _ := l.Expire(ctx); n != 2 {
		t.Fatalf("second Expire dropped %d, want 2", n)
	}
}

// TestOptimizerState checks that the store keeps per-row optimizer state and
// step counts exactly as an in-process rule applied row by row would.
func TestOptimizerState(t *testing.T) {
	ctx := context.Background()
	for _, name := range optim.Names() {
		t.Run(name, func(t *testing.T) {
			cfg := optim.DefaultConfig(name)
			rule, err := optim.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			const width = 3
			l := mustLocal(t, Config{Tables: []TableSpec{{Name: "t", Width: width, Optimizer: cfg}}})
			w := make([]float32, width)
			state := make([]float32, width*rule.Slots())
			for step := int64(1); step <= 5; step++ {
				g := []float32{float32(step), -0.5, 0.25 * float32(step)}
				rule.Update(w, state, g, step)
				if err := l.Push(ctx, "t", []uint64{77}, g); err != nil {
					t.Fatal(err)
				}
			}
			got := make([]float32, width)
			if err := l.Pull(ctx, "t", []uint64{77}, got); err != nil {
				t.Fatal(err)
			}
			for i := range w {
				if got[i] != w[i] {
					t.Fatalf("w = %v, want %v", got, w)
				}
			}
		})
	}
}

func TestConcurrentPush(t *testing.T) {
	ctx := context.Background()
	l := mustLocal(t, Config{Tables: []TableSpec{{Name: "w", Width: 1, Optimizer: sgd(1)}}})
	const workers, keys, rounds = 4, 3000, 20
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ks := make([]uint64, keys)
			for i := range ks {
				ks[i] = uint64(i*workers + w%2) // half the keys shared by two workers
			}
			g, dst := make([]float32, keys), make([]float32, keys)
			for i := range g {
				g[i] = -1
			}
			for range rounds {
				if err := l.Push(ctx, "w", ks, g); err != nil {
					t.Error(err)
					return
				}
				if err := l.Pull(ctx, "w", ks, dst); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	dst := make([]float32, 1)
	if err := l.Pull(ctx, "w", []uint64{0}, dst); err != nil {
		t.Fatal(err)
	}
	// Key 0 is pushed by workers 0 and 2, rounds times each, gradient -1, rate 1.
	if dst[0] != 2*rounds {
		t.Fatalf("w[0] = %v, want %v (lost update)", dst[0], 2*rounds)
	}
	if n, _ := l.Len("w"); n != 2*keys {
		t.Fatalf("Len = %d, want %d", n, 2*keys)
	}
}

// TestDeferred checks bulk-synchronous aggregation: pushes accumulate, Flush
// applies one optimizer step per row to their sum, once per clock.
func TestDeferred(t *testing.T) {
	ctx := context.Background()
	for _, dense := range []bool{false, true} {
		t.Run(map[bool]string{false: "sparse", true: "dense"}[dense], func(t *testing.T) {
			cfg := optim.DefaultConfig(optim.Adam)
			rule, err := optim.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			l := mustLocal(t, Config{Deferred: true, Tables: []TableSpec{{Name: "t", Width: 2, Dense: dense, Rows: 10, Optimizer: cfg}}})
			w := make([]float32, 2)
			state := make([]float32, 2*rule.Slots())
			for step := int64(1); step <= 3; step++ {
				// Two workers push for keys 3 and 4 in the same step.
				g1 := []float32{1, -2, 0.5, 0.5}
				g2 := []float32{float32(step), 1, 0, 0}
				if err := l.Push(ctx, "t", []uint64{3, 4}, g1); err != nil {
					t.Fatal(err)
				}
				if err := l.Push(ctx, "t", []uint64{3}, g2[:2]); err != nil {
					t.Fatal(err)
				}
				before := make([]float32, 2)
				if err := l.Pull(ctx, "t", []uint64{3}, before); err != nil {
					t.Fatal(err)
				}
				if !equalFloats(before, w) {
					t.Fatalf("step %d: pull before the flush saw %v, want the previous step's %v", step, before, w)
				}
				for range 2 { // the second call of the same clock is a no-op
					if err := l.Flush(ctx, step); err != nil {
						t.Fatal(err)
					}
				}
				rule.Update(w, state, []float32{g1[0] + g2[0], g1[1] + g2[1]}, step)
				got := make([]float32, 2)
				if err := l.Pull(ctx, "t", []uint64{3}, got); err != nil {
					t.Fatal(err)
				}
				if !equalFloats(got, w) {
					t.Fatalf("step %d: w = %v, want one Adam step on the summed gradient: %v", step, got, w)
				}
			}
			// Pending pushes are not in a snapshot until flushed.
			if err := l.Push(ctx, "t", []uint64{5}, []float32{1, 1}); err != nil {
				t.Fatal(err)
			}
			if err := l.Flush(ctx, -1); err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := l.WriteSnapshot(ctx, &buf); err != nil {
				t.Fatal(err)
			}
			m := mustLocal(t, Config{Deferred: true, Tables: l.Tables()})
			if err := m.ReadSnapshot(ctx, &buf); err != nil {
				t.Fatal(err)
			}
			sameTables(t, l, m)
		})
	}
}

// TestDeferredMatchesImmediate: a deferred store flushed after every push
// is the immediate store, for every optimizer, with normal initialization.
func TestDeferredMatchesImmediate(t *testing.T) {
	ctx := context.Background()
	for _, name := range optim.Names() {
		for _, dense := range []bool{false, true} {
			spec := TableSpec{Name: "t", Width: 9, Dense: dense, Rows: 40, Optimizer: optim.DefaultConfig(name),
				Init: InitConfig{Kind: InitNormal, Std: 0.1, Seed: 5}}
			imm := mustLocal(t, Config{Tables: []TableSpec{spec}})
			def := mustLocal(t, Config{Tables: []TableSpec{spec}, Deferred: true})
			for step := range 5 {
				keys := []uint64{uint64(step % 3), 7, 30}
				g := make([]float32, len(keys)*9)
				for i := range g {
					g[i] = float32((i*7+step)%11) - 5
				}
				for _, l := range []*Local{imm, def} {
					if err := l.Push(ctx, "t", keys, g); err != nil {
						t.Fatal(err)
					}
				}
				if err := def.Flush(ctx, int64(step+1)); err != nil {
					t.Fatal(err)
				}
				a, b := make([]float32, len(g)), make([]float32, len(g))
				if err := imm.Pull(ctx, "t", keys, a); err != nil {
					t.Fatal(err)
				}
				if err := def.Pull(ctx, "t", keys, b); err != nil {
					t.Fatal(err)
				}
				if !equalFloats(a, b) {
					t.Fatalf("%s dense=%v step %d: deferred %v, immediate %v", name, dense, step, b[:9], a[:9])
				}
			}
		}
	}
}
