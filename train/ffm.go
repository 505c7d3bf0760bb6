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

// checkFields panics when a field number of row r is outside [0, F): the
// kernels then index factor blocks without checking each pair.
func (m *ffmModel) checkFields(b *Batch, r int) {
	for _, f := range b.Fields[b.Indptr[r]:b.Indptr[r+1]] {
		if int(f) >= m.f || f < 0 {
			panic("train: ffm: batch field number beyond ModelConfig.Fields")
		}
	}
}

// score returns row r's z. The factor block v_{j,f} of batch entry j starts
// at Slot[j]·width + 1 + f·k; each pair reads two blocks of k contiguous
// values.
func (m *ffmModel) score(b *Batch, p *Params, r int) float64 {
	m.checkFields(b, r)
	z := float64(p.Dense[0][0])
	lo, hi := b.Indptr[r], b.Indptr[r+1]
	k, tab := m.k, p.Sparse
	for a := lo; a < hi; a++ {
		ra := int(p.Slot[a])*m.width + 1
		xa := float64(b.Values[a])
		z += float64(tab[ra-1]) * xa
		fa := int(b.Fields[a]) * k
		for c := a + 1; c < hi; c++ {
			rc := int(p.Slot[c])*m.width + 1
			oa := ra + int(b.Fields[c])*k
			va := tab[oa : oa+k]
			vc := tab[rc+fa : rc+fa+k][:len(va)]
			var dot float32
			for f, v := range va {
				dot += v * vc[f]
			}
			z += float64(dot) * xa * float64(b.Values[c])
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
		k, tab, gt := m.k, p.Sparse, g.Sparse
		for a := lo; a < hi; a++ {
			ra := int(p.Slot[a])*m.width + 1
			xa := float64(b.Values[a])
			gt[ra-1] += float32(dz * xa)
			fa := int(b.Fields[a]) * k
			for c := a + 1; c < hi; c++ {
				s := float32(dz * xa * float64(b.Values[c]))
				rc := int(p.Slot[c])*m.width + 1
				oa, oc := ra+int(b.Fields[c])*k, rc+fa
				va, vc := tab[oa:oa+k], tab[oc:oc+k]
				ga, gc := gt[oa:oa+k], gt[oc:oc+k]
				vc, ga, gc = vc[:len(va)], ga[:len(va)], gc[:len(va)]
				for f, v := range va {
					ga[f] += s * vc[f]
					gc[f] += s * v
				}
			}
		}
	}
	g.Dense[0][0] += float32(gb)
	return total
}
