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
// into w; a weight that was initialized to a nonzero value (a random
// embedding) takes part in the first z update and is then replaced by the
// closed form. Zero state gives w = 0.
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
