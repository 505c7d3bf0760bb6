package train

// linearModel is logistic or linear regression on hashed sparse features:
// z = b + Σ_j w_j x_j, with the sigmoid link for the logistic loss.
// Parameters: the sparse table "w" (width 1) and the dense "bias" (1×1).
type linearModel struct {
	kind Kind
	loss Loss
}

func (m *linearModel) Kind() Kind   { return m.kind }
func (m *linearModel) Outputs() int { return 1 }
func (m *linearModel) Tables() []Table {
	return []Table{{Name: TableWeights, Width: 1}, {Name: TableBias, Width: 1, Dense: true, Rows: 1}}
}
func (m *linearModel) CheckLabel(y float32) bool { return m.loss.checkLabel(y) }

func (m *linearModel) score(b *Batch, p *Params, r int) float64 {
	z := float64(p.Dense[0][0])
	w, slot, x := p.Sparse, p.Slot, b.Values
	for j := b.Indptr[r]; j < b.Indptr[r+1]; j++ {
		z += float64(w[slot[j]] * x[j])
	}
	return z
}

func (m *linearModel) Predict(dst []float64, b *Batch, p *Params) {
	for r := range b.Rows() {
		dst[r] = m.loss.link(m.score(b, p, r))
	}
}

func (m *linearModel) Gradient(g *Params, pred []float64, b *Batch, p *Params) float64 {
	var total, gb float64
	gw, slot, x := g.Sparse, p.Slot, b.Values
	for r := range b.Rows() {
		z := m.score(b, p, r)
		l, dz, pr := m.loss.lossGrad(z, float64(b.Labels[r]))
		pred[r] = pr
		wt := b.weight(r)
		total += wt * l
		dz *= wt
		gb += dz
		d := float32(dz)
		for j := b.Indptr[r]; j < b.Indptr[r+1]; j++ {
			gw[slot[j]] += d * x[j]
		}
	}
	g.Dense[0][0] += float32(gb)
	return total
}
