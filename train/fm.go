package train

// fmModel is a factorization machine (Rendle, "Factorization Machines",
// ICDM 2010) of degree 2:
//
//	z = b + Σ_j w_j x_j + Σ_{i<j} ⟨v_i, v_j⟩ x_i x_j
//	  = b + Σ_j w_j x_j + ½ Σ_f [(Σ_j v_jf x_j)² − Σ_j v_jf² x_j²]
//
// computed in O(k·nnz) with the second form. Each row of the sparse table "w"
// holds w_j followed by the k factors v_j (width 1+k); "bias" is 1×1.
type fmModel struct {
	loss Loss
	k    int
	std  float64
	sum  []float64 // Σ_j v_jf x_j of the current row
}

func newFM(c ModelConfig) *fmModel {
	return &fmModel{loss: c.Loss, k: c.Factors, std: c.FactorStd, sum: make([]float64, c.Factors)}
}

func (m *fmModel) Kind() Kind   { return KindFM }
func (m *fmModel) Outputs() int { return 1 }
func (m *fmModel) Tables() []Table {
	return []Table{{Name: TableWeights, Width: 1 + m.k, InitStd: m.std}, {Name: TableBias, Width: 1, Dense: true, Rows: 1}}
}
func (m *fmModel) CheckLabel(y float32) bool { return m.loss.checkLabel(y) }

// score returns z for row r and leaves Σ_j v_jf x_j in m.sum.
func (m *fmModel) score(b *Batch, p *Params, r int) float64 {
	k, w := m.k, 1+m.k
	clear(m.sum)
	z := float64(p.Dense[0][0])
	var sq float64
	for j := b.Indptr[r]; j < b.Indptr[r+1]; j++ {
		row := p.Sparse[int(p.Slot[j])*w : int(p.Slot[j])*w+w]
		x := float64(b.Values[j])
		z += float64(row[0]) * x
		v := row[1 : 1+k]
		for f, vf := range v {
			t := float64(vf) * x
			m.sum[f] += t
			sq += t * t
		}
	}
	var pair float64
	for _, s := range m.sum {
		pair += s * s
	}
	return z + 0.5*(pair-sq)
}

func (m *fmModel) Predict(dst []float64, b *Batch, p *Params) {
	for r := range b.Rows() {
		dst[r] = m.loss.link(m.score(b, p, r))
	}
}

func (m *fmModel) Gradient(g *Params, pred []float64, b *Batch, p *Params) float64 {
	k, w := m.k, 1+m.k
	var total, gb float64
	for r := range b.Rows() {
		z := m.score(b, p, r)
		l, dz, pr := m.loss.lossGrad(z, float64(b.Labels[r]))
		pred[r] = pr
		wt := b.weight(r)
		total += wt * l
		dz *= wt
		gb += dz
		for j := b.Indptr[r]; j < b.Indptr[r+1]; j++ {
			s := int(p.Slot[j]) * w
			row, grow := p.Sparse[s:s+w], g.Sparse[s:s+w]
			x := float64(b.Values[j])
			grow[0] += float32(dz * x)
			// ∂z/∂v_jf = x_j Σ_i v_if x_i − v_jf x_j²
			for f := range k {
				grow[1+f] += float32(dz * x * (m.sum[f] - float64(row[1+f])*x))
			}
		}
	}
	g.Dense[0][0] += float32(gb)
	return total
}
