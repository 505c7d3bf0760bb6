package optim

import "math"

// rmsprop divides the step by a running root mean square of recent gradients
// (Tieleman & Hinton 2012, "Lecture 6.5 — RMSProp: Divide the gradient by a
// running average of its recent magnitude", COURSERA: Neural Networks for
// Machine Learning):
//
//	g ← g + L2·w
//	v ← ρ·v + (1 − ρ)·g²
//	w ← w − η_t·g / (√v + ε)
//
// State (Slots 1): the mean square v.
type rmsprop struct {
	sched schedule
	l2    float32
	rho   float32
	eps   float32
}

func (r *rmsprop) Slots() int { return 1 }

func (r *rmsprop) Update(w, state, g []float32, step int64) {
	checkShapes(RMSProp, w, state, g, 1, step)
	lr := float32(r.sched.rate(step))
	l2, rho, eps := r.l2, r.rho, r.eps
	g = g[:len(w)]
	v := state[:len(w)]
	for i := range w {
		gi := g[i] + l2*w[i]
		v[i] = rho*v[i] + (1-rho)*gi*gi
		w[i] -= lr * gi / (float32(math.Sqrt(float64(v[i]))) + eps)
	}
}
