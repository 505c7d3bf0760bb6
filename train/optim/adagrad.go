package optim

import "math"

// adagrad is the diagonal AdaGrad of Duchi, Hazan & Singer 2011, "Adaptive
// Subgradient Methods for Online Learning and Stochastic Optimization" (JMLR
// 12): each coordinate's step shrinks with its accumulated squared gradient.
//
//	g ← g + L2·w
//	n ← n + g²
//	w ← w − η_t·g / (√n + ε)
//
// State (Slots 1): the accumulator n.
type adagrad struct {
	sched schedule
	l2    float32
	eps   float32
}

func (r *adagrad) Slots() int { return 1 }

func (r *adagrad) Update(w, state, g []float32, step int64) {
	checkShapes(AdaGrad, w, state, g, 1, step)
	lr := float32(r.sched.rate(step))
	l2, eps := r.l2, r.eps
	g = g[:len(w)]
	n := state[:len(w)]
	for i := range w {
		gi := g[i] + l2*w[i]
		n[i] += gi * gi
		w[i] -= lr * gi / (float32(math.Sqrt(float64(n[i]))) + eps)
	}
}
