package optim_test

import (
	"errors"
	"math"
	"testing"

	"github.com/lakestream/lakestream/train/optim"
)

// tol is the absolute tolerance for one or two updates of values near 1:
// float32 has a relative precision of 2^-24 ≈ 6e-8 and each update rounds a
// handful of times, so 1e-6 leaves a margin of ~10× while still catching any
// wrong term (the smallest term checked below is ~3e-4).
const tol = 1e-6

func cfg(name string, edit func(*optim.Config)) optim.Config {
	c := optim.DefaultConfig(name)
	if edit != nil {
		edit(&c)
	}
	return c
}

// step is one Update call: its inputs and the expected weight and state after.
type step struct {
	t         int64
	g         float32
	wantW     float32
	wantState []float32
}

func TestUpdateHandComputed(t *testing.T) {
	tests := []struct {
		name  string
		c     optim.Config
		w0    float32
		s0    []float32
		steps []step
	}{
		{
			name: "sgd constant",
			c:    cfg("sgd", func(c *optim.Config) { c.LearningRate = 0.1 }),
			w0:   1,
			// w = 1 − 0.1·0.5
			steps: []step{{t: 1, g: 0.5, wantW: 0.95}},
		},
		{
			name: "sgd l2",
			c:    cfg("sgd", func(c *optim.Config) { c.LearningRate = 0.1; c.L2 = 0.1 }),
			w0:   1,
			// w = 1 − 0.1·(0.5 + 0.1·1)
			steps: []step{{t: 1, g: 0.5, wantW: 0.94}},
		},
		{
			name: "sgd inverse-time",
			c: cfg("sgd", func(c *optim.Config) {
				c.LearningRate, c.Schedule, c.Decay = 0.1, optim.ScheduleInverseTime, 1
			}),
			w0: 1,
			// η_3 = 0.1/(1+1·2) = 1/30; w = 1 − 0.5/30
			steps: []step{{t: 3, g: 0.5, wantW: 1 - 0.5/30}},
		},
		{
			name: "sgd step schedule",
			c: cfg("sgd", func(c *optim.Config) {
				c.LearningRate, c.Schedule, c.Decay, c.DecaySteps = 0.1, optim.ScheduleStep, 0.5, 2
			}),
			w0: 1,
			// η_5 = 0.1·0.5^⌊4/2⌋ = 0.025; then η_2 = 0.1·0.5^0 = 0.1
			steps: []step{{t: 5, g: 0.5, wantW: 0.9875}, {t: 2, g: 0.5, wantW: 0.9375}},
		},
		{
			name: "momentum classic",
			c:    cfg("momentum", func(c *optim.Config) { c.LearningRate = 0.1 }),
			w0:   1, s0: []float32{0.2},
			// v = 0.9·0.2 + 0.5 = 0.68; w = 1 − 0.1·0.68
			steps: []step{{t: 1, g: 0.5, wantW: 0.932, wantState: []float32{0.68}}},
		},
		{
			name: "momentum nesterov",
			c:    cfg("momentum", func(c *optim.Config) { c.LearningRate = 0.1; c.Nesterov = true }),
			w0:   1, s0: []float32{0.2},
			// v = 0.68; w = 1 − 0.1·(0.5 + 0.9·0.68) = 1 − 0.1112
			steps: []step{{t: 1, g: 0.5, wantW: 0.8888, wantState: []float32{0.68}}},
		},
		{
			name: "adagrad",
			c:    cfg("adagrad", func(c *optim.Config) { c.LearningRate = 0.1 }),
			w0:   1, s0: []float32{0},
			// n = 9, w = 1 − 0.1·3/3; n = 25, w = 0.9 − 0.1·4/5 (ε = 1e-8 is below tol)
			steps: []step{
				{t: 1, g: 3, wantW: 0.9, wantState: []float32{9}},
				{t: 2, g: 4, wantW: 0.82, wantState: []float32{25}},
			},
		},
		{
			name: "rmsprop",
			c:    cfg("rmsprop", func(c *optim.Config) { c.LearningRate = 0.01 }),
			w0:   1, s0: []float32{0},
			// v = 0.1·4 = 0.4; w = 1 − 0.01·2/√0.4 = 1 − 0.0316228
			steps: []step{{t: 1, g: 2, wantW: 0.9683772, wantState: []float32{0.4}}},
		},
		{
			name: "adam",
			c:    cfg("adam", nil),
			w0:   1, s0: []float32{0, 0},
			steps: []step{
				// m = 0.05, v = 0.00025, m̂ = 0.5, v̂ = 0.25: the first step is η·sign(g).
				{t: 1, g: 0.5, wantW: 0.999, wantState: []float32{0.05, 0.00025}},
				// m = 0.045 − 0.1 = −0.055, v = 0.00024975 + 0.001 = 0.00124975,
				// m̂ = −0.055/0.19, v̂ = 0.00124975/0.001999; w = 0.999 + 0.001·0.28947/0.79069
				{t: 2, g: -1, wantW: 0.9993661, wantState: []float32{-0.055, 0.00124975}},
			},
		},
		{
			name: "ftrl",
			c:    cfg("ftrl", func(c *optim.Config) { c.Alpha, c.Beta, c.L1, c.L2 = 0.1, 1, 1, 1 }),
			w0:   0, s0: []float32{0, 0},
			steps: []step{
				// σ = 2/0.1 = 20, z = 2 − 20·0 = 2, n = 4; w = −(2−1)/((1+2)/0.1 + 1) = −1/31
				{t: 1, g: 2, wantW: -1.0 / 31, wantState: []float32{2, 4}},
				// σ = (√5−2)/0.1 = 2.36068, z = 2 − 1 + 2.36068/31 = 1.0761510, n = 5;
				// w = −0.0761510/((1+√5)/0.1 + 1) = −0.0761510/33.36068
				{t: 2, g: -1, wantW: -0.0022826561, wantState: []float32{1.0761510, 5}},
			},
		},
		{
			name: "ftrl l1 gives exact zero",
			c:    cfg("ftrl", func(c *optim.Config) { c.Alpha, c.Beta, c.L1, c.L2 = 0.1, 1, 1, 1 }),
			w0:   0, s0: []float32{0, 0},
			// z = 0.5 ≤ λ1 = 1, so w = 0 exactly; n = 0.25
			steps: []step{{t: 1, g: 0.5, wantW: 0, wantState: []float32{0.5, 0.25}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := optim.New(tt.c)
			if err != nil {
				t.Fatal(err)
			}
			if len(tt.s0) != r.Slots() {
				t.Fatalf("test state has %d slots, rule has %d", len(tt.s0), r.Slots())
			}
			w := []float32{tt.w0}
			state := append([]float32(nil), tt.s0...)
			for i, s := range tt.steps {
				r.Update(w, state, []float32{s.g}, s.t)
				if d := math.Abs(float64(w[0] - s.wantW)); d > tol {
					t.Errorf("step %d: w = %.9g, want %.9g", i, w[0], s.wantW)
				}
				for j := range s.wantState {
					if d := math.Abs(float64(state[j] - s.wantState[j])); d > tol {
						t.Errorf("step %d: state[%d] = %.9g, want %.9g", i, j, state[j], s.wantState[j])
					}
				}
			}
		})
	}
}

// TestBlockIsPerCoordinate checks that updating a block equals updating each
// coordinate alone, i.e. that the state layout state[i*Slots():(i+1)*Slots()]
// is honoured. Equality is exact: the same float32 operations run either way.
func TestBlockIsPerCoordinate(t *testing.T) {
	g := []float32{0.3, -1.2, 2.5, 0, -0.01}
	w0 := []float32{0.1, -0.2, 0.3, 0.4, -0.5}
	for _, name := range optim.Names() {
		t.Run(name, func(t *testing.T) {
			c := optim.DefaultConfig(name)
			if name == optim.FTRL {
				c.L1 = 0.5
			}
			r, err := optim.New(c)
			if err != nil {
				t.Fatal(err)
			}
			k := r.Slots()
			wb := append([]float32(nil), w0...)
			sb := make([]float32, len(w0)*k)
			for step := int64(1); step <= 3; step++ {
				r.Update(wb, sb, g, step)
			}
			for i := range w0 {
				wi := []float32{w0[i]}
				si := make([]float32, k)
				for step := int64(1); step <= 3; step++ {
					r.Update(wi, si, g[i:i+1], step)
				}
				if wi[0] != wb[i] {
					t.Errorf("coordinate %d: block %v, alone %v", i, wb[i], wi[0])
				}
				for j := range k {
					if si[j] != sb[i*k+j] {
						t.Errorf("coordinate %d slot %d: block %v, alone %v", i, j, sb[i*k+j], si[j])
					}
				}
			}
		})
	}
}

// TestMinimizesQuadratic runs every rule with its defaults (learning rate
// raised where the default is tuned for noisy deep-learning gradients) on
// f(w) = ½·Σ(w_i − c_i)², whose minimum is w = c.
func TestMinimizesQuadratic(t *testing.T) {
	target := []float32{3, -2, 0.5}
	for _, name := range optim.Names() {
		t.Run(name, func(t *testing.T) {
			c := optim.DefaultConfig(name)
			switch name {
			case optim.SGD, optim.Momentum:
				c.LearningRate = 0.1
			case optim.AdaGrad:
				c.LearningRate = 1
			case optim.RMSProp, optim.Adam:
				c.LearningRate = 0.01
			case optim.FTRL:
				c.Alpha = 1
			}
			r, err := optim.New(c)
			if err != nil {
				t.Fatal(err)
			}
			w := make([]float32, len(target))
			state := make([]float32, len(w)*r.Slots())
			g := make([]float32, len(w))
			for step := int64(1); step <= 3000; step++ {
				for i := range w {
					g[i] = w[i] - target[i]
				}
				r.Update(w, state, g, step)
			}
			for i := range w {
				// 0.02: RMSProp with a constant rate oscillates around the
				// optimum with amplitude ≈ η = 0.01; the others are far closer.
				if math.Abs(float64(w[i]-target[i])) > 0.02 {
					t.Errorf("w[%d] = %v, want %v", i, w[i], target[i])
				}
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name  string
		c     optim.Config
		field string // "" means valid
	}{
		{"sgd default", optim.DefaultConfig("sgd"), ""},
		{"momentum default", optim.DefaultConfig("momentum"), ""},
		{"adagrad default", optim.DefaultConfig("adagrad"), ""},
		{"rmsprop default", optim.DefaultConfig("rmsprop"), ""},
		{"adam default", optim.DefaultConfig("adam"), ""},
		{"ftrl default", optim.DefaultConfig("ftrl"), ""},
		{"zero lr", cfg("sgd", func(c *optim.Config) { c.LearningRate = 0 }), "LearningRate"},
		{"nan lr", cfg("adam", func(c *optim.Config) { c.LearningRate = math.NaN() }), "LearningRate"},
		{"momentum 1", cfg("momentum", func(c *optim.Config) { c.Momentum = 1 }), "Momentum"},
		{"adagrad eps", cfg("adagrad", func(c *optim.Config) { c.Epsilon = 0 }), "Epsilon"},
		{"rmsprop rho", cfg("rmsprop", func(c *optim.Config) { c.Rho = -0.1 }), "Rho"},
		{"adam beta1", cfg("adam", func(c *optim.Config) { c.Beta1 = 1 }), "Beta1"},
		{"adam beta2", cfg("adam", func(c *optim.Config) { c.Beta2 = 1.5 }), "Beta2"},
		{"adam eps", cfg("adam", func(c *optim.Config) { c.Epsilon = -1 }), "Epsilon"},
		{"sgd l1", cfg("sgd", func(c *optim.Config) { c.L1 = 0.1 }), "L1"},
		{"negative l2", cfg("adam", func(c *optim.Config) { c.L2 = -1 }), "L2"},
		{"bad schedule", cfg("sgd", func(c *optim.Config) { c.Schedule = "cosine" }), "Schedule"},
		{"step decay 0", cfg("sgd", func(c *optim.Config) { c.Schedule = optim.ScheduleStep }), "Decay"},
		{"inverse decay negative", cfg("sgd", func(c *optim.Config) {
			c.Schedule, c.Decay = optim.ScheduleInverseTime, -1
		}), "Decay"},
		{"decay steps negative", cfg("sgd", func(c *optim.Config) { c.DecaySteps = -1 }), "DecaySteps"},
		{"ftrl alpha", cfg("ftrl", func(c *optim.Config) { c.Alpha = 0; c.LearningRate = 0.1 }), "Alpha"},
		{"ftrl beta", cfg("ftrl", func(c *optim.Config) { c.Beta = -1 }), "Beta"},
		{"ftrl l1", cfg("ftrl", func(c *optim.Config) { c.L1 = math.Inf(1) }), "L1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var ce *optim.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("Validate() = %v, want a *ConfigError for %s", err, tt.field)
			}
			if ce.Field != tt.field {
				t.Errorf("Validate() names field %s (%v), want %s", ce.Field, err, tt.field)
			}
			if _, err := optim.New(tt.c); err == nil {
				t.Error("New accepted a config Validate rejects")
			}
		})
	}
}

func TestUnknownOptimizer(t *testing.T) {
	for _, name := range []string{"", "lbfgs"} {
		if _, err := optim.New(optim.DefaultConfig(name)); !errors.Is(err, optim.ErrUnknownOptimizer) {
			t.Errorf("New(%q) = %v, want ErrUnknownOptimizer", name, err)
		}
	}
}

func TestSlots(t *testing.T) {
	want := map[string]int{"sgd": 0, "momentum": 1, "adagrad": 1, "rmsprop": 1, "adam": 2, "ftrl": 2}
	for _, name := range optim.Names() {
		r, err := optim.New(optim.DefaultConfig(name))
		if err != nil {
			t.Fatal(err)
		}
		if r.Slots() != want[name] {
			t.Errorf("%s: Slots() = %d, want %d", name, r.Slots(), want[name])
		}
	}
}

func TestUpdatePanicsOnShapeMismatch(t *testing.T) {
	r, err := optim.New(optim.DefaultConfig("adam"))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(){
		"short state": func() { r.Update(make([]float32, 2), make([]float32, 3), make([]float32, 2), 1) },
		"short grad":  func() { r.Update(make([]float32, 2), make([]float32, 4), make([]float32, 1), 1) },
		"step 0":      func() { r.Update(make([]float32, 2), make([]float32, 4), make([]float32, 2), 0) },
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("Update did not panic")
				}
			}()
			f()
		})
	}
}

func TestFTRLWeightMatchesUpdate(t *testing.T) {
	c := cfg("ftrl", func(c *optim.Config) { c.L1, c.L2 = 0.3, 0.2 })
	r, err := optim.New(c)
	if err != nil {
		t.Fatal(err)
	}
	w := []float32{0}
	s := []float32{0, 0}
	for i, g := range []float32{1.5, -0.2, 0.7, -3} {
		r.Update(w, s, []float32{g}, int64(i+1))
		if got := optim.FTRLWeight(c, s[0], s[1]); got != w[0] {
			t.Errorf("after step %d: FTRLWeight = %v, Update wrote %v", i+1, got, w[0])
		}
	}
}

func TestUpdateDoesNotAllocate(t *testing.T) {
	for _, name := range optim.Names() {
		r, err := optim.New(optim.DefaultConfig(name))
		if err != nil {
			t.Fatal(err)
		}
		w, g := make([]float32, 64), make([]float32, 64)
		s := make([]float32, 64*r.Slots())
		if n := testing.AllocsPerRun(10, func() { r.Update(w, s, g, 7) }); n != 0 {
			t.Errorf("%s: %v allocations per Update", name, n)
		}
	}
}

// TestInitState: every rule but FTRL starts from zero state; FTRL's start
// state maps to the initial weights (shrunk by L2, as documented), so a
// random embedding survives a zero gradient instead of collapsing to 0.
func TestInitState(t *testing.T) {
	w0 := []float32{0.02, -0.013, 0, 0.5}
	for _, name := range optim.Names() {
		c := optim.DefaultConfig(name)
		r, err := optim.New(c)
		if err != nil {
			t.Fatal(err)
		}
		state := make([]float32, len(w0)*r.Slots())
		for i := range state {
			state[i] = 9 // InitState must overwrite whatever was there
		}
		optim.InitState(r, w0, state)
		if name != optim.FTRL {
			for i, v := range state {
				if v != 0 {
					t.Errorf("%s: state[%d] = %v, want zero state", name, i, v)
				}
			}
			continue
		}
		for i, want := range w0 {
			if got := optim.FTRLWeight(c, state[2*i], state[2*i+1]); math.Abs(float64(got-want)) > 1e-7 {
				t.Errorf("ftrl: start weight %d = %v, want %v", i, got, want)
			}
		}
		w := append([]float32(nil), w0...)
		r.Update(w, state, make([]float32, len(w)), 1)
		for i := range w {
			if math.Abs(float64(w[i]-w0[i])) > 1e-7 {
				t.Errorf("ftrl: a zero gradient moved weight %d from %v to %v", i, w0[i], w[i])
			}
		}
	}
	tests := []struct {
		name       string
		l1, l2     float64
		beta       float64
		w0, wantW0 float32
	}{
		{"l2 shrinks the start", 0, 10, 1, 0.5, 0.25},  // β/α = 10: 0.5·10/20
		{"l1 keeps the start", 0.3, 0, 1, -0.5, -0.5},  // z₀ = 5 + 0.3
		{"beta 0 has no start state", 0, 0, 0, 0.5, 0}, // nothing maps to w₀
		{"l1 and l2", 1, 10, 1, 0.2, 0.1},              // 0.2·10/20
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg("ftrl", func(c *optim.Config) { c.Alpha, c.Beta, c.L1, c.L2 = 0.1, tc.beta, tc.l1, tc.l2 })
			r, err := optim.New(c)
			if err != nil {
				t.Fatal(err)
			}
			state := make([]float32, 2)
			optim.InitState(r, []float32{tc.w0}, state)
			if got := optim.FTRLWeight(c, state[0], state[1]); math.Abs(float64(got-tc.wantW0)) > 1e-6 {
				t.Errorf("start weight %v, want %v (state %v)", got, tc.wantW0, state)
			}
		})
	}
}
