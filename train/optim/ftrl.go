package optim

import "math"

// ftrl is FTRL-Proximal with per-coordinate learning rates, L1 and L2
// (McMahan et al. 2013, "Ad Click Prediction: a View from the Trenches",
// KDD, Algorithm 1). Per coordinate, with the current weight w:
//
//	σ = (√(n + g²) − √n) / α
//	z ← z + g − σ·w
//	n ← n + g²
//	w ← 0                                            if |z| ≤ λ1
//	w ← −(z − sgn(z)·λ1) / ((β + √n)/α + λ2)         otherwise
//
// with α = Config.Alpha, β = Config.Beta, λ1 = Config.L1, λ2 = Config.L2.
// The weight is a closed-form function of the state, which Update writes back
// into w. Zero state gives w = 0.
//
// A parameter that starts at a nonzero w₀ (a random embedding) starts from
// the state InitState writes, z₀ = −(w₀·β/α + sgn(w₀)·λ1), n₀ = 0. This
// centres the β term of the proximal objective on w₀ instead of 0 (L1 and
// L2 still pull towards 0): the weight minimizes
//
//	z·w + ½·Σσ_s·(w − w_s)² + ½·(β/α)·(w − w₀)² + ½·λ2·w² + λ1·|w|
//
// whose value before any gradient is w₀·(β/α)/(β/α + λ2), w₀ when λ2 = 0.
// From zero state instead, the closed form after the first update shrinks
// w₀ by |g|/(β + |g|): the factors of a factorization machine restart from
// near zero, a saddle point, and what they grow into then depends heavily
// on the order of the rows. With β = 0 there is no such term and the state
// stays zero.
//
// State (Slots 2): z then n, interleaved per parameter.
type ftrl struct {
	alpha, beta, l1, l2 float32
}

func (r *ftrl) Slots() int { return 2 }

func (r *ftrl) Update(w, state, g []float32, step int64) {
	checkShapes(FTRL, w, state, g, 2, step)
	invAlpha := 1 / r.alpha
	beta, l1, l2 := r.beta, r.l1, r.l2
	g = g[:len(w)]
	state = state[:2*len(w)]
	for i := range w {
		gi := g[i]
		z, n := state[2*i], state[2*i+1]
		sqrtOld := float32(math.Sqrt(float64(n)))
		n += gi * gi
		sqrtNew := float32(math.Sqrt(float64(n)))
		z += gi - (sqrtNew-sqrtOld)*invAlpha*w[i]
		state[2*i], state[2*i+1] = z, n
		w[i] = ftrlWeight(z, sqrtNew, invAlpha, beta, l1, l2)
	}
}

func (r *ftrl) initState(w, state []float32) {
	c := r.beta / r.alpha
	if c == 0 {
		return
	}
	state = state[:2*len(w)]
	for i, wi := range w {
		switch {
		case wi > 0:
			state[2*i] = -(wi*c + r.l1)
		case wi < 0:
			state[2*i] = -(wi*c - r.l1)
		}
	}
}

// ftrlWeight is the closed-form FTRL-Proximal weight; Update and FTRLWeight
// share it so both give bit-identical results.
func ftrlWeight(z, sqrtN, invAlpha, beta, l1, l2 float32) float32 {
	switch {
	case z > l1:
		return -(z - l1) / ((beta+sqrtN)*invAlpha + l2)
	case z < -l1:
		return -(z + l1) / ((beta+sqrtN)*invAlpha + l2)
	}
	return 0
}

// FTRLWeight returns the FTRL-Proximal weight of a coordinate whose state is
// (z, n) under c (which must be a valid ftrl Config). Readers of an FTRL table
// snapshot use it to materialize weights; it is the same closed form Update
// writes.
func FTRLWeight(c Config, z, n float32) float32 {
	sqrtN := float32(math.Sqrt(float64(n)))
	return ftrlWeight(z, sqrtN, 1/float32(c.Alpha), float32(c.Beta), float32(c.L1), float32(c.L2))
}
