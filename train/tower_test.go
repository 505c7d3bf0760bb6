package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// towerGraph is the deep models' tower and loss as a gorgonia graph for n
// rows, differentiated symbolically: the reference the hand-written kernels
// of deep.go are checked against. It was the training path until the
// kernels replaced it (DESIGN.md, "Deep models"). With grad false the
// graph ends at the logits z: the tape machine runs the loss's operations
// in place, so z's value in the full graph is not the logit after a run.
type towerGraph struct {
	x, s, y, wt *G.Node
	ws, bs      []*G.Node
	z, cost     *G.Node
	vm          G.VM
}

func newTowerGraph(m *deepModel, n int, grad bool) (*towerGraph, error) {
	g := G.NewGraph()
	t := &towerGraph{}
	t.x = G.NewMatrix(g, G.Float32, G.WithShape(n, m.f*m.k), G.WithName("x"))
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
	if !grad {
		t.vm = G.NewTapeMachine(g)
		return t, nil
	}
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
		return nil, err
	}
	t.vm = G.NewTapeMachine(g, G.BindDualValues(wrt...))
	return t, nil
}

// transpose returns the rows × cols row-major matrix a as cols × rows.
func transpose(a []float32, rows, cols int) []float32 {
	t := make([]float32, rows*cols)
	for i := range rows {
		for j := range cols {
			t[j*rows+i] = a[i*cols+j]
		}
	}
	return t
}

// TestTowerMatchesGorgonia runs the hand-written tower and the gorgonia
// graph on the same pooled inputs and parameters and compares the logits,
// the loss and every gradient (layers, tower input, sparse score).
func TestTowerMatchesGorgonia(t *testing.T) {
	for _, tc := range []struct {
		kind          Kind
		loss          Loss
		hidden        []int
		factors, rows int
	}{
		{KindDeepFM, LossLogistic, []int{16, 8}, 4, 37},
		{KindMLP, LossLogistic, []int{12}, 4, 37},
		{KindMLP, LossSquared, []int{7, 5, 3}, 4, 37},
		// Wider layers and a larger batch.
		{KindDeepFM, LossLogistic, []int{130, 3}, 30, 150},
	} {
		t.Run(fmt.Sprintf("%s/%s/k=%d/%v", tc.kind, tc.loss, tc.factors, tc.hidden), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			c := DefaultModelConfig(tc.kind)
			c.Loss, c.Factors, c.Fields, c.Hidden = tc.loss, tc.factors, 5, tc.hidden
			mod, err := NewModel(c)
			if err != nil {
				t.Fatal(err)
			}
			m := mod.(*deepModel)
			label := func() float32 { return float32(rng.IntN(2)) }
			if tc.loss == LossSquared {
				label = func() float32 { return float32(rng.NormFloat64()) }
			}
			b := randomBatch(rng, tc.rows, 6, 50, 5, label)
			p := paramsFor(rng, m, b, 0.5)
			g := zeroLike(p)
			pred := make([]float64, b.Rows())
			loss := m.Gradient(g, pred, b, p)
			n := b.Rows()

			ref, err := newTowerGraph(m, n, true)
			if err != nil {
				t.Fatal(err)
			}
			fwd, err := newTowerGraph(m, n, false)
			if err != nil {
				t.Fatal(err)
			}
			yv, wv := make([]float32, n), make([]float32, n)
			for r := range n {
				yv[r], wv[r] = b.Labels[r], float32(b.weight(r))
			}
			let := func(nd *G.Node, rows, cols int, v []float32) {
				if err := G.Let(nd, tensor.New(tensor.WithShape(rows, cols), tensor.WithBacking(append([]float32(nil), v...)))); err != nil {
					t.Fatal(err)
				}
			}
			for _, gr := range []*towerGraph{ref, fwd} {
				let(gr.x, n, m.f*m.k, transpose(m.x, m.f*m.k, n))
				let(gr.s, n, 1, m.s[:n])
				let(gr.y, n, 1, yv)
				let(gr.wt, n, 1, wv)
				for l, ly := range m.layers {
					let(gr.ws[l], ly.in, ly.out, p.Dense[m.first+2*l])
					let(gr.bs[l], 1, ly.out, p.Dense[m.first+2*l+1])
				}
				if err := gr.vm.RunAll(); err != nil {
					t.Fatal(err)
				}
			}
			near := func(what string, got, want float64) {
				t.Helper()
				if math.Abs(got-want) > 1e-4+1e-4*math.Abs(want) {
					t.Errorf("%s: kernel %.7g, gorgonia %.7g", what, got, want)
				}
			}
			grad := func(nd *G.Node) []float32 {
				v, err := nd.Grad()
				if err != nil {
					t.Fatal(err)
				}
				return v.Data().([]float32)
			}
			near("loss", loss, float64(ref.cost.Value().Data().(float32)))
			for r, z := range fwd.z.Value().Data().([]float32) {
				near(fmt.Sprintf("z[%d]", r), m.z[r], float64(z))
			}
			for l := range m.layers {
				for i, v := range grad(ref.ws[l]) {
					near(fmt.Sprintf("∂w%d[%d]", l, i), float64(g.Dense[m.first+2*l][i]), float64(v))
				}
				for i, v := range grad(ref.bs[l]) {
					near(fmt.Sprintf("∂b%d[%d]", l, i), float64(g.Dense[m.first+2*l+1][i]), float64(v))
				}
			}
			for i, v := range grad(ref.x) {
				near(fmt.Sprintf("∂x[%d]", i), float64(transpose(m.dx, m.f*m.k, n)[i]), float64(v))
			}
			for i, v := range grad(ref.s) {
				near(fmt.Sprintf("∂s[%d]", i), float64(m.dz[i]), float64(v))
			}
		})
	}
}
