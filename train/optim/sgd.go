package optim

// sgd is plain stochastic gradient descent (Robbins & Monro 1951):
//
//	w ← w − η_t·(g + L2·w)
//
// It keeps no state (Slots 0).
type sgd struct {
	sched schedule
	l2    float32
}

func (r *sgd) Slots() int { return 0 }

func (r *sgd) Update(w, state, g []float32, step int64) {
	checkShapes(SGD, w, state, g, 0, step)
	lr := float32(r.sched.rate(step))
	l2 := r.l2
	g = g[:len(w)]
	for i := range w {
		w[i] -= lr * (g[i] + l2*w[i])
	}
}
