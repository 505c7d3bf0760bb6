package train

import (
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"

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
// (gemm) with the ReLUs and the loss in between. The gradient of
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

	x   []float32   // B × F·k pooled embeddings: the tower's input
	s   []float32   // B sparse scores
	z   []float64   // B logits
	dz  []float32   // B weighted ∂loss/∂z
	act [][]float32 // per layer, B × out activations (after the ReLU but the last's)
	dlt [][]float32 // per layer, B × out ∂loss/∂(pre-activation)
	dx  []float32   // B × F·k ∂loss/∂x
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

// gemm computes C = alpha·op(A)·op(B) + beta·C (row-major, op = transpose
// when the flag says so) with gonum's pure-Go Sgemm, whose float32 kernels
// use SSE on amd64. Sgemm splits a product of four or more 64×64 blocks of C
// across goroutines, which allocates and competes with the other training
// workers for the cores; gemm hands it tiles of C of at most 64×128, which
// it computes serially and without allocating.
func gemm(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	const tm, tn = 64, 128
	opA, opB := blas.NoTrans, blas.NoTrans
	if tA {
		opA = blas.Trans
	}
	if tB {
		opB = blas.Trans
	}
	for i := 0; i < m; i += tm {
		mi := min(tm, m-i)
		ai := a[i*lda:] // rows i… of A
		if tA {
			ai = a[i:] // columns i… of the stored k×m A
		}
		for j := 0; j < n; j += tn {
			nj := min(tn, n-j)
			bj := b[j:] // columns j… of B
			if tB {
				bj = b[j*ldb:] // rows j… of the stored n×k B
			}
			gonum.Implementation{}.Sgemm(opA, opB, mi, nj, k, alpha, ai, lda, bj, ldb, beta, c[i*ldc+j:], ldc)
		}
	}
}

// input returns layer l's input for n rows: the pooled embeddings or the
// previous layer's activations.
func (m *deepModel) input(l, n int) []float32 {
	if l == 0 {
		return m.x[:n*m.layers[0].in]
	}
	return m.act[l-1][:n*m.layers[l].in]
}

// forward runs the tower over the n rows prepared in m.x and m.s and sets
// m.z: per layer, act = relu(in·W + b) (no ReLU on the last, whose single
// output plus the sparse score is the logit).
func (m *deepModel) forward(p *Params, n int) {
	for l, ly := range m.layers {
		m.act[l] = grow(m.act[l], n*ly.out)
		a := m.act[l]
		bias := p.Dense[m.first+2*l+1]
		for r := range n {
			copy(a[r*ly.out:(r+1)*ly.out], bias)
		}
		gemm(false, false, n, ly.out, ly.in, 1, m.input(l, n), ly.in, p.Dense[m.first+2*l], ly.out, 1, a, ly.out)
		if l < len(m.layers)-1 {
			for i, v := range a {
				if v < 0 {
					a[i] = 0
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
// the layers' gradients to g and leaves ∂loss/∂x in m.dx.
func (m *deepModel) backward(g, p *Params, n int) {
	last := len(m.layers) - 1
	m.dlt[last] = grow(m.dlt[last], n)
	copy(m.dlt[last], m.dz[:n])
	for l := last; l >= 0; l-- {
		ly := m.layers[l]
		d := m.dlt[l][:n*ly.out]
		// ∂W = inᵀ·δ and ∂b = Σ_rows δ.
		gemm(true, false, ly.in, ly.out, n, 1, m.input(l, n), ly.in, d, ly.out, 1, g.Dense[m.first+2*l], ly.out)
		gb := g.Dense[m.first+2*l+1]
		for r := range n {
			for o, v := range d[r*ly.out : (r+1)*ly.out] {
				gb[o] += v
			}
		}
		// ∂in = δ·Wᵀ, then through the previous layer's ReLU.
		var din []float32
		if l == 0 {
			m.dx = grow(m.dx, n*ly.in)
			din = m.dx
		} else {
			m.dlt[l-1] = grow(m.dlt[l-1], n*ly.in)
			din = m.dlt[l-1]
		}
		gemm(false, true, n, ly.in, ly.out, 1, d, ly.out, p.Dense[m.first+2*l], ly.out, 0, din, ly.in)
		if l > 0 {
			for i, a := range m.act[l-1][:n*ly.in] {
				if a <= 0 {
					din[i] = 0
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
		xr := m.x[r*d : r*d+d]
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
				xr[f*k+c] += v[c] * x
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
	d, k := m.f*m.k, m.k
	var gb float64
	for r := range n {
		gb += float64(dz[r])
		dxr := dx[r*d : r*d+d]
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
				gr[m.emb+c] += x * dxr[f*k+c]
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
