package model

// mlpKernel is the forward pass of mlp and deepfm: field embedding sums,
// concatenated, through dense layers (ReLU on hidden layers). deepfm adds the
// bias and the FM terms of the same embeddings to the tower's output.
type mlpKernel struct {
	w        []float32
	k        int
	fields   int
	offset   int // 1 for deepfm, whose rows start with the linear weight
	deepfm   bool
	bias     float32
	layers   []layer
	maxWidth int
	link     linkFunc
}

type layer struct {
	w, b    []float32 // w is in×out row-major
	in, out int
}

func newMLPKernel(m *Model) *mlpKernel {
	a := m.meta.Arch
	k := &mlpKernel{w: m.w.Values, k: a.Factors, fields: m.spec.NumFields(), link: linkOf(a.Loss)}
	if m.meta.Kind == KindDeepFM {
		k.deepfm, k.offset = true, 1
		k.bias = m.dense(TableBias)[0]
	} else if m.outputs > 1 {
		k.link = linkSoftmax
	}
	in := k.fields * k.k
	k.maxWidth = in
	for i := 0; ; i++ {
		w := m.Table(LayerWeights(i))
		if w == nil {
			break
		}
		k.layers = append(k.layers, layer{w: w.Values, b: m.dense(LayerBias(i)), in: in, out: w.Width})
		in = w.Width
		k.maxWidth = max(k.maxWidth, in)
	}
	return k
}

func (k *mlpKernel) score(s *scorer, r int, dst []float64) {
	width := k.offset + k.k
	in := s.in[:k.fields*k.k]
	clear(in)
	lo, hi := s.b.Indptr[r], s.b.Indptr[r+1]
	for j := lo; j < hi; j++ {
		row := s.rows[j]
		if row < 0 {
			continue
		}
		x := s.b.Values[j]
		f := int(s.b.Fields[j])
		e := in[f*k.k : (f+1)*k.k]
		for i, v := range k.w[int(row)*width+k.offset : int(row)*width+width] {
			e[i] += v * x
		}
	}
	// The tower runs in float32, as it was trained; each layer is a sum of
	// rows of W scaled by the inputs (zero inputs, common after ReLU, are
	// skipped).
	h, next := s.in, s.out
	for li, l := range k.layers {
		o := next[:l.out]
		copy(o, l.b)
		for i, x := range h[:l.in] {
			if x == 0 {
				continue
			}
			w := l.w[i*l.out : (i+1)*l.out]
			w = w[:len(o)]
			for j := range o {
				o[j] += x * w[j]
			}
		}
		if li < len(k.layers)-1 {
			for j, v := range o {
				o[j] = max(v, 0)
			}
		}
		h, next = next, h
	}
	for i := range dst {
		dst[i] = float64(h[i])
	}
	if k.deepfm {
		dst[0] += float64(k.bias) + fmTerms(s, r, k.w, k.k)
	}
	k.link.apply(dst)
}
