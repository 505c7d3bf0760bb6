package train

// ffmModel is a field-aware factorization machine (Juan, Zhuang, Chin and
// Lin, "Field-aware Factorization Machines for CTR Prediction", RecSys 2016):
// each feature has one k-vector per field it may meet,
//
//	z = b + Σ_j w_j x_j + Σ_{i<j} ⟨v_{i,f_j}, v_{j,f_i}⟩ x_i x_j,
//
// at O(k·nnz²) per example. A row of "w" holds w_j then F vectors of k
// factors, v_{j,f} at offset 1+f·k (width 1+F·k); "bias" is 1×1.
type ffmModel struct {
	loss  Loss
	k, f  int
	std   float64
	width int
}

func newFFM(c ModelConfig) *ffmModel {
	return &ffmModel{loss: c.Loss, k: c.Factors, f: c.Fields, std: c.FactorStd, width: 1 + c.Fields*c.Factors}
}

func (m *ffmModel) Kind() Kind   { return KindFFM }
func (m *ffmModel) Outputs() int { return 1 }
func (m *ffmModel) Tables() []Table {
	return []Table{{Name: TableWeights, Width: m.width, InitStd: m.std}, {Name: TableBias, Width: 1, Dense: true, Rows: 1}}
}
func (m *ffmModel) CheckLabel(y float32) bool { return m.loss.checkLabel(y) }

// factors returns v_{j,f} for batch entry j.
func (m *ffmModel) factors(tab []float32, p *Params, j int32, field int32) []float32 {
	if int(field) >= m.f || field < 0 {
		panic("train: ffm: batch field number beyond ModelConfig.Fields")
	}
	o := int(p.Slot[j])*m.width + 1 + int(field)*m.k
	return tab[o : o+m.k]
}

func (m *ffmModel) score(b *Batch, p *Params, r int) float64 {
	z := float64(p.Dense[0][0])
	lo, hi := b.Indptr[r], b.Indptr[r+1]
	for a := lo; a < hi; a++ {
		z += float64(p.Sparse[int(p.Slot[a])*m.width]) * float64(b.Values[a])
		for c := a + 1; c < hi; c++ {
			va := m.factors(p.Sparse, p, a, b.Fields[c])
			vc := m.factors(p.Sparse, p, c, b.Fields[a])
			var dot float32
			for f := range va {
				dot += va[f] * vc[f]
			}
			z += float64(dot) * float64(b.Values[a]) * float64(b.Values[c])
		}
	}
	return z
}

func (m *ffmModel) Predict(dst []float64, b *Batch, p *Params) {
	for r := range b.Rows() {
		dst[r] = m.loss.link(m.score(b, p, r))
	}
}

func (m *ffmModel) Gradient(g *Params, pred []float64, b *Batch, p *Params) float64 {
	var total, gb float64
	for r := range b.Rows() {
		z := m.score(b, p, r)
		l, dz, pr := m.loss.lossGrad(z, float64(b.Labels[r]))
		pred[r] = pr
		wt := b.weight(r)
		total += wt * l
		dz *= wt
		gb += dz
		lo, hi := b.Indptr[r], b.Indptr[r+1]
		for a := lo; a < hi; a++ {
			xa := float64(b.Values[a])
			g.Sparse[int(p.Slot[a])*m.width] += float32(dz * xa)
			for c := a + 1; c < hi; c++ {
				s := float32(dz * xa * float64(b.Values[c]))
				va := m.factors(p.Sparse, p, a, b.Fields[c])
				vc := m.factors(p.Sparse, p, c, b.Fields[a])
				ga := m.factors(g.Sparse, p, a, b.Fields[c])
				gc := m.factors(g.Sparse, p, c, b.Fields[a])
				for f := range va {
					ga[f] += s * vc[f]
					gc[f] += s * va[f]
				}
			}
		}
	}
	g.Dense[0][0] += float32(gb)
	return total
}
