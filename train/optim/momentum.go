package optim

// momentum is SGD with heavy-ball momentum (Polyak 1964), optionally in
// Nesterov's accelerated form as written by Sutskever et al. 2013, "On the
// importance of initialization and momentum in deep learning" (ICML):
//
//	g ← g + L2·w
//	v ← μ·v + g
//	w ← w − η_t·v            (classic)
//	w ← w − η_t·(g + μ·v)    (Nesterov)
//
// State (Slots 1): the velocity v.
type momentum struct {
	sched    schedule
	l2       float32
	mu       float32
	nesterov bool
}

func (r *momentum) Slots() int { return 1 }

func (r *momentum) Update(w, state, g []float32, step int64) {
	checkShapes(Momentum, w, state, g, 1, step)
	lr := float32(r.sched.rate(step))
	l2, mu := r.l2, r.mu
	g = g[:len(w)]
	v := state[:len(w)]
	if r.nesterov {
		for i := range w {
			gi := g[i] + l2*w[i]
			v[i] = mu*v[i] + gi
			w[i] -= lr * (gi + mu*v[i])
		}
		return
	}
	for i := range w {
		gi := g[i] + l2*w[i]
		v[i] = mu*v[i] + gi
		w[i] -= lr * v[i]
	}
}
