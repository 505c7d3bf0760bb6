package train

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

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
// The sparse parts (pooling, the linear and FM terms and their gradients)
// are hand-written kernels like the other models; the tower and the loss are
// a gorgonia graph, built once per mini-batch size and differentiated
// symbolically. The gradient of the loss with respect to the tower's input
// and to the sparse part's score flows back into the embedding kernels.
type deepModel struct {
	kind   Kind
	loss   Loss
	k, f   int
	std    float64
	width  int // sparse row width
	emb    int // offset of the embedding in a sparse row
	first  int // index in Params.Dense of the first layer's weights
	layers []layerShape

	nets  map[int]*tower
	x     []float32 // B × F·k pooled embeddings
	s     []float32 // B sparse scores
	y, wt []float32
	sum   []float64 // FM Σ_j v_jf x_j of a row
}

type layerShape struct{ in, out int }

// tower is the gorgonia graph for one mini-batch size.
type tower struct {
	g               *G.ExprGraph
	x, s, y, wt     *G.Node
	ws, bs          []*G.Node
	z, cost         *G.Node
	vm              G.VM
	xT, sT, yT, wtT *tensor.Dense
}

func newDeep(c ModelConfig) *deepModel {
	m := &deepModel{kind: c.Kind, loss: c.Loss, k: c.Factors, f: c.Fields, std: c.FactorStd, nets: map[int]*tower{}}
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

// net returns the tower for batch size n, building it on first use.
func (m *deepModel) net(n int) *tower {
	if t := m.nets[n]; t != nil {
		return t
	}
	g := G.NewGraph()
	d := m.f * m.k
	t := &tower{g: g}
	t.x = G.NewMatrix(g, G.Float32, G.WithShape(n, d), G.WithName("x"))
	t.s = G.NewMatrix(g, G.Float32, G.WithShape(n, 1), G.WithName("s"))
	t.y = G.NewMatrix(g, G.Float32, G.WithShape(n, 1), G.WithName("y"))
	t.wt = G.NewMatrix(g, G.Float32, G.WithShape(n, 1), G.WithName("wt"))
	h := t.x
	for l, ly := range m.layers {
		w := G.NewMatrix(g, G.Float32, G.WithShape(ly.in, ly.out), G.WithName(fmt.Sprintf("w%d", l)))
		b := G.NewMatrix(g, G.Float32, G.WithShape(1, ly.out), G.WithName(fmt.Sprintf("b%d", l)))
		h = G.Must(G.BroadcastAdd(G.Must(G.Mul(h, w)), b, nil, []byte{0}))
		if l < len(m.layers)-1 {
			h = G.Must(G.Rectify(h))
		}
		t.ws, t.bs = append(t.ws, w), append(t.bs, b)
	}
	t.z = G.Must(G.Add(h, t.s))
	var per *G.Node
	if m.loss == LossLogistic {
		// log(1+e^z) − y·z, with softplus(z) = relu(z) + log1p(e^−|z|).
		sp := G.Must(G.Add(G.Must(G.Rectify(t.z)), G.Must(G.Log1p(G.Must(G.Exp(G.Must(G.Neg(G.Must(G.Abs(t.z))))))))))
		per = G.Must(G.Sub(sp, G.Must(G.HadamardProd(t.y, t.z))))
	} else {
		diff := G.Must(G.Sub(t.z, t.y))
		per = G.Must(G.HadamardProd(G.Must(G.Square(diff)), G.NewConstant(float32(0.5))))
	}
	t.cost = G.Must(G.Sum(G.Must(G.HadamardProd(per, t.wt))))
	wrt := append(append(append(G.Nodes{}, t.ws...), t.bs...), t.x, t.s)
	if _, err := G.Grad(t.cost, wrt...); err != nil {
		panic(fmt.Sprintf("train: differentiate the %s tower: %v", m.kind, err))
	}
	t.vm = G.NewTapeMachine(g, G.BindDualValues(wrt...))
	t.xT = tensor.New(tensor.WithShape(n, d), tensor.Of(tensor.Float32))
	t.sT = tensor.New(tensor.WithShape(n, 1), tensor.Of(tensor.Float32))
	t.yT = tensor.New(tensor.WithShape(n, 1), tensor.Of(tensor.Float32))
	t.wtT = tensor.New(tensor.WithShape(n, 1), tensor.Of(tensor.Float32))
	m.nets[n] = t
	return t
}

// prepare pools the embeddings and computes the sparse score of every row.
func (m *deepModel) prepare(b *Batch, p *Params) {
	n, d, k := b.Rows(), m.f*m.k, m.k
	m.x = grow(m.x, n*d)
	clear(m.x)
	m.s = grow(m.s, n)
	m.y, m.wt = grow(m.y, n), grow(m.wt, n)
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
		m.y[r] = b.Labels[r]
		m.wt[r] = float32(b.weight(r))
	}
}

// run binds the inputs and parameters and executes the tower (forward and
// backward).
func (m *deepModel) run(t *tower, p *Params) {
	copy(t.xT.Data().([]float32), m.x)
	copy(t.sT.Data().([]float32), m.s)
	copy(t.yT.Data().([]float32), m.y)
	copy(t.wtT.Data().([]float32), m.wt)
	must := func(err error) {
		if err != nil {
			panic(fmt.Sprintf("train: %s tower: %v", m.kind, err))
		}
	}
	must(G.Let(t.x, t.xT))
	must(G.Let(t.s, t.sT))
	must(G.Let(t.y, t.yT))
	must(G.Let(t.wt, t.wtT))
	for l, ly := range m.layers {
		must(G.Let(t.ws[l], tensor.New(tensor.WithShape(ly.in, ly.out), tensor.WithBacking(p.Dense[m.first+2*l]))))
		must(G.Let(t.bs[l], tensor.New(tensor.WithShape(1, ly.out), tensor.WithBacking(p.Dense[m.first+2*l+1]))))
	}
	t.vm.Reset()
	must(t.vm.RunAll())
}

func (m *deepModel) Predict(dst []float64, b *Batch, p *Params) {
	n := b.Rows()
	if n == 0 {
		return
	}
	m.prepare(b, p)
	t := m.net(n)
	m.run(t, p)
	for r, z := range t.z.Value().Data().([]float32) {
		dst[r] = m.loss.link(float64(z))
	}
	m.resetGrads(t)
}

// resetGrads zeroes the gradients gorgonia keeps on the bound nodes: its
// tape machine adds each run's gradients to them rather than overwriting.
func (m *deepModel) resetGrads(t *tower) {
	for _, nd := range append(append(append(G.Nodes{}, t.ws...), t.bs...), t.x, t.s) {
		if v, err := nd.Grad(); err == nil {
			clear(v.Data().([]float32))
		}
	}
}

func (m *deepModel) Gradient(g *Params, pred []float64, b *Batch, p *Params) float64 {
	n := b.Rows()
	if n == 0 {
		return 0
	}
	m.prepare(b, p)
	t := m.net(n)
	m.run(t, p)
	for r, z := range t.z.Value().Data().([]float32) {
		pred[r] = m.loss.link(float64(z))
	}
	grad := func(nd *G.Node) []float32 {
		v, err := nd.Grad()
		if err != nil {
			panic(fmt.Sprintf("train: %s tower gradient of %s: %v", m.kind, nd.Name(), err))
		}
		return v.Data().([]float32)
	}
	for l := range m.layers {
		for i, v := range grad(t.ws[l]) {
			g.Dense[m.first+2*l][i] += v
		}
		for i, v := range grad(t.bs[l]) {
			g.Dense[m.first+2*l+1][i] += v
		}
	}
	dx, dz := grad(t.x), grad(t.s)
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
	m.resetGrads(t)
	return float64(t.cost.Value().Data().(float32))
}
