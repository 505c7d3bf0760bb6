package train

import "math"

// softmaxModel is multinomial logistic regression: z_c = b_c + Σ_j w_jc x_j,
// p = softmax(z), loss −log p_y. Parameters: "w" with one weight per class
// (width C) and "bias" (1×C).
type softmaxModel struct {
	classes int
	z       []float64
}

func newSoftmax(classes int) *softmaxModel {
	return &softmaxModel{classes: classes, z: make([]float64, classes)}
}

func (m *softmaxModel) Kind() Kind   { return KindSoftmax }
func (m *softmaxModel) Outputs() int { return m.classes }
func (m *softmaxModel) Tables() []Table {
	return []Table{{Name: TableWeights, Width: m.classes}, {Name: TableBias, Width: m.classes, Dense: true, Rows: 1}}
}
func (m *softmaxModel) CheckLabel(y float32) bool {
	return y >= 0 && y < float32(m.classes) && y == float32(int(y))
}

// probs writes the class probabilities of row r into out.
func (m *softmaxModel) probs(out []float64, b *Batch, p *Params, r int) {
	c := m.classes
	for k := range c {
		m.z[k] = float64(p.Dense[0][k])
	}
	for j := b.Indptr[r]; j < b.Indptr[r+1]; j++ {
		row := p.Sparse[int(p.Slot[j])*c : int(p.Slot[j])*c+c]
		x := float64(b.Values[j])
		for k, w := range row {
			m.z[k] += float64(w) * x
		}
	}
	mx := m.z[0]
	for _, v := range m.z[1:] {
		mx = max(mx, v)
	}
	var sum float64
	for k, v := range m.z {
		e := math.Exp(v - mx)
		out[k] = e
		sum += e
	}
	for k := range out[:c] {
		out[k] /= sum
	}
}

func (m *softmaxModel) Predict(dst []float64, b *Batch, p *Params) {
	c := m.classes
	for r := range b.Rows() {
		m.probs(dst[r*c:r*c+c], b, p, r)
	}
}

func (m *softmaxModel) Gradient(g *Params, pred []float64, b *Batch, p *Params) float64 {
	c := m.classes
	var total float64
	for r := range b.Rows() {
		pr := pred[r*c : r*c+c]
		m.probs(pr, b, p, r)
		y := int(b.Labels[r])
		wt := b.weight(r)
		total -= wt * math.Log(max(pr[y], 1e-300))
		for k := range c {
			d := pr[k]
			if k == y {
				d--
			}
			m.z[k] = d * wt // reuse z as dL/dz
			g.Dense[0][k] += float32(m.z[k])
		}
		for j := b.Indptr[r]; j < b.Indptr[r+1]; j++ {
			row := g.Sparse[int(p.Slot[j])*c : int(p.Slot[j])*c+c]
			x := float64(b.Values[j])
			for k := range row {
				row[k] += float32(m.z[k] * x)
			}
		}
	}
	return total
}
