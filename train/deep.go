package train

import (
	"math"

	"github.com/lakestream/lakestream/internal/vec32"
	"github.com/lakestream/lakestream/model"
)

// Deep model kinds.
const (
	// KindMLP is a multilayer perceptron over field embeddings: the
	// embeddings of each field's features (weighted by their values) are
	// summed, the F field vectors concatenated and fed to a ReLU tower whose
	// output is the logit (or value).
	KindMLP Kind = "mlp"
	// KindDeepFM adds a factorization machine sharing the embeddings (Guo et
	// al., "DeepFM: A Factorization-Machine based Neural Network for CTR
	// Prediction", IJCAI 2017): z = b + Σ w_j x_j + FM pairs + MLP.
	KindDeepFM Kind = "deepfm"
)

// deepModel implements KindMLP and KindDeepFM. The sparse table "w" holds, per
// feature, w_j then the k-dimensional embedding for deepfm (width 1+k) and
// the embedding alone for mlp (width k). The dense tables are "bias" (deepfm
// only; the mlp's intercept is its last layer's bias) and the tower's layers,
// "mlp.<l>.w" (in rows × out values: row i is W[i,:]) and "mlp.<l>.b"
// (1 × out); the last layer has out = 1. This is model.LayoutOf's layout.
//
// Everything is a hand-written kernel on float32 slices: the sparse parts
// (pooling, the linear and FM terms and their gradients) and the tower,
// whose forward and backward passes are whole-batch matrix products
// (feature-major, as loops of axpy and dot over the batch: package
// vec32, AVX2 and FMA on amd64) with the ReLUs and the loss in between. The gradient of
// the loss with respect to the tower's input and to the sparse part's score
// flows back into the embedding kernels. The buffers are reused from batch
// to batch: a step allocates nothing once the largest batch was seen.
// towerGraph in tower_test.go builds the same tower as a gorgonia graph, the
// reference the kernels are checked against.
type deepModel struct {
	kind   Kind
	loss   Loss
	k, f   int
	std    float64
	width  int // sparse row width
	emb    int // offset of the embedding in a sparse row
	first  int // index in Params.Dense of the first layer's weights
	layers []layerShape

	x   []float32   // F·k × B pooled embeddings: the tower's input
	s   []float32   // B sparse scores
	z   []float64   // B logits
	dz  []float32   // B weighted ∂loss/∂z
	act [][]float32 // per layer, out × B activations (after the ReLU but the last's)
	dlt [][]float32 // per layer, out × B ∂loss/∂(pre-activation)
	dx  []float32   // F·k × B ∂loss/∂x
	sum []float64   // FM Σ_j v_jf x_j of a row
}

type layerShape struct{ in, out int }

func newDeep(c ModelConfig) *deepModel {
	m := &deepModel{kind: c.Kind, loss: c.Loss, k: c.Factors, f: c.Fields, std: c.FactorStd}
	if c.Kind == KindDeepFM {
		m.width, m.emb, m.first = 1+c.Factors, 1, 1
	} else {
		m.width, m.emb, m.first = c.Factors, 0, 0
	}
	in := c.Fields * c.Factors
	for _, h := range c.Hidden {
		m.layers = append(m.layers, layerShape{in, h})
		in = h
	}
	m.layers = append(m.layers, layerShape{in, 1})
	m.act = make([][]float32, len(m.layers))
	m.dlt = make([][]float32, len(m.layers))
	m.sum = make([]float64, c.Factors)
	return m
}

func (m *deepModel) Kind() Kind   { return m.kind }
func (m *deepModel) Outputs() int { return 1 }
func (m *deepModel) Tables() []Table {
	t := []Table{{Name: TableWeights, Width: m.width, InitStd: m.std}}
	if m.kind == KindDeepFM {
		t = append(t, Table{Name: TableBias, Width: 1, Dense: true, Rows: 1})
	}
	for l, ly := range m.layers {
		// He initialization for the ReLU layers.
		t = append(t,
			Table{Name: model.LayerWeights(l), Width: ly.out, Dense: true, Rows: ly.in, InitStd: math.Sqrt(2 / float64(ly.in))},
			Table{Name: model.LayerBias(l), Width: ly.out, Dense: true, Rows: 1})
	}
	return t
}
func (m *deepModel) CheckLabel(y float32) bool { return m.loss.checkLabel(y) }

// The tower works on feature-major matrices: a layer's input, activations
// and deltas are (width × n), row i holding feature i of every example of
// the batch. Every product is then a loop of axpy or dot calls over vectors
// of n (the batch size) elements, long enough that the call overhead does
// not count, and the loops run on the calling goroutine without allocating.

// input returns layer l's input for n rows, feature-major: the pooled
// embeddings or the previous layer's activations.
func (m *deepModel) input(l, n int) []float32 {
	if l == 0 {
		return m.x[:n*m.layers[0].in]
	}
	return m.act[l-1][:n*m.layers[l].in]
}

// forward runs the tower over the n rows prepared in m.x and m.s and sets
// m.z: per layer, actᵀ = relu(Wᵀ·inᵀ + b) (no ReLU on the last, whose single
// output plus the sparse score is the logit).
func (m *deepModel) forward(p *Params, n int) {
	for l, ly := range m.layers {
		m.act[l] = grow(m.act[l], n*ly.out)
		a, in := m.act[l], m.input(l, n)
		w, bias := p.Dense[m.first+2*l], p.Dense[m.first+2*l+1]
		for o := range ly.out {
			row := a[o*n : (o+1)*n]
			for r := range row {
				row[r] = bias[o]
			}
			for i := range ly.in {
				if wi := w[i*ly.out+o]; wi != 0 {
					vec32.Axpy(wi, in[i*n:(i+1)*n], row)
				}
			}
			if l < len(m.layers)-1 {
				for r, v := range row {
					if v < 0 {
						row[r] = 0
					}
				}
			}
		}
	}
	m.z = grow(m.z, n)
	for r, v := range m.act[len(m.layers)-1][:n] {
		m.z[r] = float64(v) + float64(m.s[r])
	}
}

// backward propagates m.dz (∂loss/∂z per row) through the tower: it adds
// the layers' gradients to g and leaves ∂loss/∂x, feature-major, in m.dx.
func (m *deepModel) backward(g, p *Params, n int) {
	last := len(m.layers) - 1
	m.dlt[last] = grow(m.dlt[last], n)
	copy(m.dlt[last], m.dz[:n])
	for l := last; l >= 0; l-- {
		ly := m.layers[l]
		d, in := m.dlt[l][:n*ly.out], m.input(l, n)
		w := p.Dense[m.first+2*l]
		gw, gb := g.Dense[m.first+2*l], g.Dense[m.first+2*l+1]
		// ∂W[i,o] = Σ_r in[r,i]·δ[r,o] and ∂b[o] = Σ_r δ[r,o].
		for o := range ly.out {
			var sum float32
			for _, v := range d[o*n : (o+1)*n] {
				sum += v
			}
			gb[o] += sum
		}
		for i := range ly.in {
			xi := in[i*n : (i+1)*n]
			for o := range ly.out {
				gw[i*ly.out+o] += vec32.Dot(xi, d[o*n:(o+1)*n])
			}
		}
		// ∂in[r,i] = Σ_o W[i,o]·δ[r,o], then through the previous layer's
		// ReLU.
		var din []float32
		if l == 0 {
			m.dx = grow(m.dx, n*ly.in)
			din = m.dx
		} else {
			m.dlt[l-1] = grow(m.dlt[l-1], n*ly.in)
			din = m.dlt[l-1]
		}
		clear(din)
		for i := range ly.in {
			row := din[i*n : (i+1)*n]
			for o := range ly.out {
				if wi := w[i*ly.out+o]; wi != 0 {
					vec32.Axpy(wi, d[o*n:(o+1)*n], row)
				}
			}
			if l > 0 {
				for r, a := range in[i*n : (i+1)*n] {
					if a <= 0 {
						row[r] = 0
					}
				}
			}
		}
	}
}

// prepare pools the embeddings and computes the sparse score of every row.
func (m *deepModel) prepare(b *Batch, p *Params) {
	n, d, k := b.Rows(), m.f*m.k, m.k
	m.x = grow(m.x, n*d)
	clear(m.x)
	m.s = grow(m.s, n)
	for r := range n {
		var z float64
		if m.kind == KindDeepFM {
			z = float64(p.Dense[0][0])
		}
		clear(m.sum)
		var sq float64
		for j := b.Indptr[r]; j < b.Indptr[r+1]; j++ {
			f := int(b.Fields[j])
			if f < 0 || f >= m.f {
				panic("train: deep model: batch field number beyond ModelConfig.Fields")
			}
			row := p.Sparse[int(p.Slot[j])*m.width : int(p.Slot[j])*m.width+m.width]
			x := b.Values[j]
			v := row[m.emb:]
			for c := range k {
				m.x[(f*k+c)*n+r] += v[c] * x
			}
			if m.kind == KindDeepFM {
				z += float64(row[0] * x)
				for c := range k {
					t := float64(v[c] * x)
					m.sum[c] += t
					sq += t * t
				}
			}
		}
		if m.kind == KindDeepFM {
			var pair float64
			for _, s := range m.sum {
				pair += s * s
			}
			z += 0.5 * (pair - sq)
		}
		m.s[r] = float32(z)
	}
}

func (m *deepModel) Predict(dst []float64, b *Batch, p *Params) {
	n := b.Rows()
	if n == 0 {
		return
	}
	m.prepare(b, p)
	m.forward(p, n)
	for r, z := range m.z[:n] {
		dst[r] = m.loss.link(z)
	}
}

func (m *deepModel) Gradient(g *Params, pred []float64, b *Batch, p *Params) float64 {
	n := b.Rows()
	if n == 0 {
		return 0
	}
	m.prepare(b, p)
	m.forward(p, n)
	m.dz = grow(m.dz, n)
	var total float64
	for r, z := range m.z[:n] {
		l, dz, pr := m.loss.lossGrad(z, float64(b.Labels[r]))
		pred[r] = pr
		wt := b.weight(r)
		total += wt * l
		m.dz[r] = float32(dz * wt)
	}
	m.backward(g, p, n)
	dx, dz := m.dx, m.dz
	k := m.k
	var gb float64
	for r := range n {
		gb += float64(dz[r])
		if m.kind == KindDeepFM {
			clear(m.sum)
			for j := b.Indptr[r]; j < b.Indptr[r+1]; j++ {
				row := p.Sparse[int(p.Slot[j])*m.width : int(p.Slot[j])*m.width+m.width]
				for c := range k {
					m.sum[c] += float64(row[1+c] * b.Values[j])
				}
			}
		}
		for j := b.Indptr[r]; j < b.Indptr[r+1]; j++ {
			f := int(b.Fields[j])
			s := int(p.Slot[j]) * m.width
			row, gr := p.Sparse[s:s+m.width], g.Sparse[s:s+m.width]
			x := b.Values[j]
			for c := range k {
				gr[m.emb+c] += x * dx[(f*k+c)*n+r]
			}
			if m.kind == KindDeepFM {
				gr[0] += dz[r] * x
				xf := float64(x)
				for c := range k {
					gr[1+c] += float32(float64(dz[r]) * xf * (m.sum[c] - float64(row[1+c])*xf))
				}
			}
		}
	}
	if m.kind == KindDeepFM {
		g.Dense[0][0] += float32(gb)
	}
	return total
}
