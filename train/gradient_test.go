package train

import (
	"math"
	"math/rand/v2"
	"testing"
)

// randomBatch returns a batch of n rows with up to nnz entries each, keys in
// [0, keys), fields in [0, fields), values in [0.5, 1.5) and labels drawn by
// label.
func randomBatch(rng *rand.Rand, n, nnz, keys, fields int, label func() float32) *Batch {
	b := &Batch{Indptr: []int32{0}}
	for range n {
		m := 1 + rng.IntN(nnz)
		for f := range m {
			b.Indices = append(b.Indices, uint64(rng.IntN(keys)))
			b.Values = append(b.Values, float32(0.5+rng.Float64()))
			b.Fields = append(b.Fields, int32(f%fields))
		}
		b.Indptr = append(b.Indptr, int32(len(b.Indices)))
		b.Labels = append(b.Labels, label())
		b.Weights = append(b.Weights, float32(0.5+rng.Float64()))
	}
	return b
}

// paramsFor pulls random parameters for b: it deduplicates b's keys like the
// Stepper and fills every row with N(0, std²).
func paramsFor(rng *rand.Rand, m Model, b *Batch, std float64) *Params {
	var idx keyIndex
	idx.reset(len(b.Indices))
	p := &Params{Slot: make([]int32, len(b.Indices))}
	for j, k := range b.Indices {
		p.Slot[j] = idx.add(k)
	}
	tabs := m.Tables()
	p.Sparse = make([]float32, len(idx.uniq)*tabs[0].Width)
	for i := range p.Sparse {
		p.Sparse[i] = float32(rng.NormFloat64() * std)
	}
	for _, t := range tabs[1:] {
		d := make([]float32, t.Rows*t.Width)
		for i := range d {
			d[i] = float32(rng.NormFloat64() * std)
		}
		p.Dense = append(p.Dense, d)
	}
	return p
}

func zeroLike(p *Params) *Params {
	g := &Params{Slot: p.Slot, Sparse: make([]float32, len(p.Sparse))}
	for _, d := range p.Dense {
		g.Dense = append(g.Dense, make([]float32, len(d)))
	}
	return g
}

// TestGradientFiniteDifferences checks every gradient-trained model's
// analytic gradient against central differences of its loss.
func TestGradientFiniteDifferences(t *testing.T) {
	binary := func(rng *rand.Rand) func() float32 {
		return func() float32 { return float32(rng.IntN(2)) }
	}
	real := func(rng *rand.Rand) func() float32 {
		return func() float32 { return float32(rng.NormFloat64()) }
	}
	classes := func(rng *rand.Rand) func() float32 {
		return func() float32 { return float32(rng.IntN(4)) }
	}
	cfg := func(k Kind, edit func(*ModelConfig)) ModelConfig {
		c := DefaultModelConfig(k)
		c.Factors = 3
		c.Fields = 4
		if edit != nil {
			edit(&c)
		}
		return c
	}
	tests := []struct {
		name  string
		cfg   ModelConfig
		label func(*rand.Rand) func() float32
	}{
		{"logistic", cfg(KindLogistic, nil), binary},
		{"linear", cfg(KindLinear, nil), real},
		{"softmax", cfg(KindSoftmax, func(c *ModelConfig) { c.Classes = 4 }), classes},
		{"fm/binary", cfg(KindFM, nil), binary},
		{"fm/regression", cfg(KindFM, func(c *ModelConfig) { c.Loss = LossSquared }), real},
		{"ffm/binary", cfg(KindFFM, nil), binary},
		{"ffm/regression", cfg(KindFFM, func(c *ModelConfig) { c.Loss = LossSquared }), real},
		{"mf/explicit", cfg(KindMF, nil), real},
		{"mf/implicit-loss", cfg(KindMF, func(c *ModelConfig) { c.Loss = LossLogistic }), binary},
		{"mlp/binary", cfg(KindMLP, func(c *ModelConfig) { c.Hidden = []int{5, 3} }), binary},
		{"mlp/regression", cfg(KindMLP, func(c *ModelConfig) { c.Loss = LossSquared; c.Hidden = []int{4} }), real},
		{"deepfm/binary", cfg(KindDeepFM, func(c *ModelConfig) { c.Hidden = []int{5, 3} }), binary},
		{"deepfm/regression", cfg(KindDeepFM, func(c *ModelConfig) { c.Loss = LossSquared; c.Hidden = []int{4} }), real},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			m, err := NewModel(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			// Few keys so that rows share parameters and the
			// accumulation across rows is exercised too.
			b := randomBatch(rng, 6, 4, 7, 4, tc.label(rng))
			p := paramsFor(rng, m, b, 0.5)
			pred := make([]float64, b.Rows()*m.Outputs())
			// A first call, discarded: a kernel must not carry state from
			// one batch into the next (the deep towers reuse their
			// activation and gradient buffers from batch to batch).
			m.Gradient(zeroLike(p), pred, b, p)
			g := zeroLike(p)
			m.Gradient(g, pred, b, p)

			loss := func() float64 {
				return m.Gradient(zeroLike(p), make([]float64, len(pred)), b, p)
			}
			// Parameters are float32, so the step cannot be tiny; with
			// eps=1e-2 the central difference's truncation error is
			// O(eps²)·|f'''| ≈ 1e-4 and float32 rounding ≈ 1e-7/eps = 1e-5.
			// The deep towers are piecewise linear (ReLU), so a large step
			// may cross a kink: they use 1e-3, where their float32 loss
			// (≈ 4, rounding 5e-7) still gives differences good to 3e-4.
			eps := float32(1e-2)
			if tc.cfg.Kind == KindMLP || tc.cfg.Kind == KindDeepFM {
				eps = 1e-3
			}
			check := func(where string, i int, vals, grads []float32) {
				old := vals[i]
				vals[i] = old + eps
				up := loss()
				vals[i] = old - eps
				down := loss()
				vals[i] = old
				num := (up - down) / (2 * float64(eps))
				ana := float64(grads[i])
				if math.Abs(num-ana) > 2e-3+5e-3*math.Abs(num) {
					t.Errorf("%s[%d]: analytic %.6f, numeric %.6f", where, i, ana, num)
				}
			}
			for i := range p.Sparse {
				check("w", i, p.Sparse, g.Sparse)
			}
			for d := range p.Dense {
				for i := range p.Dense[d] {
					check(m.Tables()[d+1].Name, i, p.Dense[d], g.Dense[d])
				}
			}
		})
	}
}
