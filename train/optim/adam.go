package optim

import "math"

// adam is Adam with bias correction (Kingma & Ba 2015, "Adam: A Method for
// Stochastic Optimization", ICLR, Algorithm 1):
//
//	g ← g + L2·w
//	m ← β1·m + (1 − β1)·g
//	v ← β2·v + (1 − β2)·g²
//	m̂ = m / (1 − β1^t),  v̂ = v / (1 − β2^t)
//	w ← w − η_t·m̂ / (√v̂ + ε)
//
// State (Slots 2): m then v, interleaved per parameter.
type adam struct {
	sched        schedule
	l2           float32
	beta1, beta2 float64
	// lnBeta1 and lnBeta2 let Update compute 1 − β^t as −expm1(t·ln β),
	// which is cheaper than math.Pow (Update is often called per sparse row)
	// and exact for small t.
	lnBeta1, lnBeta2 float64
	eps              float32
}

func (r *adam) Slots() int { return 2 }

func (r *adam) Update(w, state, g []float32, step int64) {
	checkShapes(Adam, w, state, g, 2, step)
	t := float64(step)
	lr := float32(r.sched.rate(step))
	c1 := float32(1 / -math.Expm1(t*r.lnBeta1))
	c2 := float32(1 / -math.Expm1(t*r.lnBeta2))
	b1, b2 := float32(r.beta1), float32(r.beta2)
	l2, eps := r.l2, r.eps
	g = g[:len(w)]
	state = state[:2*len(w)]
	for i := range w {
		gi := g[i] + l2*w[i]
		m := b1*state[2*i] + (1-b1)*gi
		v := b2*state[2*i+1] + (1-b2)*gi*gi
		state[2*i], state[2*i+1] = m, v
		w[i] -= lr * (m * c1) / (float32(math.Sqrt(float64(v*c2))) + eps)
	}
}
