package train

import "math/rand/v2"

// mfModel is matrix factorization of a user × item matrix (Koren, Bell and
// Volinsky, "Matrix Factorization Techniques for Recommender Systems", 2009):
//
//	z = μ + b_u + b_i + ⟨p_u, q_i⟩
//
// Each example carries one entry in the user field and one in the item field
// (ModelConfig.UserField, ItemField); other entries are ignored, and a row
// missing one of them scores with a zero vector for it (cold start). Users
// and items share the sparse table "w" (the featurizer salts keys by field):
// a row is the bias b followed by the k factors (width 1+k); "bias" holds μ.
//
// Explicit feedback uses the squared loss on ratings. Implicit feedback
// (Negatives > 0) treats every example as a positive and adds Negatives
// examples per positive whose item is drawn from the items of recent batches
// (so by popularity, as in word2vec's negative sampling), with label 0 and
// the logistic loss.
//
// BiasL2 and FactorL2 penalize the biases and the factors separately at
// each rating (the loss Gradient returns includes the penalty). The global
// bias μ is not penalized; a job starts it at the mean training rating
// (job.Run).
type mfModel struct {
	loss       Loss
	k          int
	std        float64
	user, item int32
	negatives  int
	biasL2     float32
	factorL2   float32
	rng        *rand.Rand
	pool       []uint64 // ring of recent item keys
	poolNext   int
	aug        Batch
}

func newMF(c ModelConfig) *mfModel {
	return &mfModel{
		loss: c.Loss, k: c.Factors, std: c.FactorStd,
		user: int32(c.UserField), item: int32(c.ItemField), negatives: c.Negatives,
		biasL2: float32(c.BiasL2), factorL2: float32(c.FactorL2),
		rng: rand.New(rand.NewPCG(c.Seed, 0x6d66)),
	}
}

func (m *mfModel) Kind() Kind   { return KindMF }
func (m *mfModel) Outputs() int { return 1 }
func (m *mfModel) Tables() []Table {
	return []Table{{Name: TableWeights, Width: 1 + m.k, InitStd: m.std}, {Name: TableBias, Width: 1, Dense: true, Rows: 1}}
}
func (m *mfModel) CheckLabel(y float32) bool { return m.loss.checkLabel(y) }

// entries returns the batch entries of row r holding the user and the item,
// or -1.
func (m *mfModel) entries(b *Batch, r int) (u, i int32) {
	u, i = -1, -1
	for j := b.Indptr[r]; j < b.Indptr[r+1]; j++ {
		switch b.Fields[j] {
		case m.user:
			if u < 0 {
				u = j
			}
		case m.item:
			if i < 0 {
				i = j
			}
		}
	}
	return u, i
}

func (m *mfModel) score(b *Batch, p *Params, r int) (z float64, u, i int32) {
	w := 1 + m.k
	z = float64(p.Dense[0][0])
	u, i = m.entries(b, r)
	var pu, qi []float32
	if u >= 0 {
		pu = p.Sparse[int(p.Slot[u])*w : int(p.Slot[u])*w+w]
		z += float64(pu[0])
	}
	if i >= 0 {
		qi = p.Sparse[int(p.Slot[i])*w : int(p.Slot[i])*w+w]
		z += float64(qi[0])
	}
	if u >= 0 && i >= 0 {
		var dot float32
		for f := 1; f < w; f++ {
			dot += pu[f] * qi[f]
		}
		z += float64(dot)
	}
	return z, u, i
}

func (m *mfModel) Predict(dst []float64, b *Batch, p *Params) {
	for r := range b.Rows() {
		z, _, _ := m.score(b, p, r)
		dst[r] = m.loss.link(z)
	}
}

func (m *mfModel) Gradient(g *Params, pred []float64, b *Batch, p *Params) float64 {
	w := 1 + m.k
	var total, gb float64
	for r := range b.Rows() {
		z, u, i := m.score(b, p, r)
		l, dz, pr := m.loss.lossGrad(z, float64(b.Labels[r]))
		pred[r] = pr
		wt := b.weight(r)
		total += wt * l
		dz *= wt
		gb += dz
		var pu, qi, gu, gi []float32
		if u >= 0 {
			s := int(p.Slot[u]) * w
			pu, gu = p.Sparse[s:s+w], g.Sparse[s:s+w]
			total += m.regularize(gu, pu)
			gu[0] += float32(dz)
		}
		if i >= 0 {
			s := int(p.Slot[i]) * w
			qi, gi = p.Sparse[s:s+w], g.Sparse[s:s+w]
			total += m.regularize(gi, qi)
			gi[0] += float32(dz)
		}
		if u >= 0 && i >= 0 {
			d := float32(dz)
			for f := 1; f < w; f++ {
				gu[f] += d * qi[f]
				gi[f] += d * pu[f]
			}
		}
	}
	g.Dense[0][0] += float32(gb)
	return total
}

// regularize adds the L2 penalties' gradient for one rating of a user or
// item with row x (bias, then factors) to its gradient row g, and returns
// the penalty ½·BiasL2·b² + ½·FactorL2·|p|², which Gradient adds to the
// loss it returns (the objective the gradient is of).
func (m *mfModel) regularize(g, x []float32) float64 {
	var pen float32
	if m.biasL2 != 0 {
		g[0] += m.biasL2 * x[0]
		pen += m.biasL2 * x[0] * x[0]
	}
	if m.factorL2 != 0 {
		var sq float32
		for f := 1; f < len(x); f++ {
			g[f] += m.factorL2 * x[f]
			sq += x[f] * x[f]
		}
		pen += m.factorL2 * sq
	}
	return 0.5 * float64(pen)
}

// augment implements augmenter: for implicit feedback it returns b followed
// by sampled negatives, in a batch the model owns and reuses. Explicit
// feedback returns b unchanged.
func (m *mfModel) augment(b *Batch) *Batch {
	if m.negatives == 0 {
		return b
	}
	const poolSize = 1 << 14
	n := b.Rows()
	// Remember this batch's items first, so even the first batch can sample.
	for r := range n {
		if _, i := m.entries(b, r); i >= 0 {
			if len(m.pool) < poolSize {
				m.pool = append(m.pool, b.Indices[i])
			} else {
				m.pool[m.poolNext] = b.Indices[i]
				m.poolNext = (m.poolNext + 1) % poolSize
			}
		}
	}
	a := &m.aug
	a.Indptr = append(a.Indptr[:0], b.Indptr...)
	a.Indices = append(a.Indices[:0], b.Indices...)
	a.Values = append(a.Values[:0], b.Values...)
	a.Fields = append(a.Fields[:0], b.Fields...)
	a.Labels = a.Labels[:0]
	for range n {
		a.Labels = append(a.Labels, 1)
	}
	a.Weights = a.Weights[:0]
	if b.Weights != nil {
		a.Weights = append(a.Weights, b.Weights...)
	}
	if len(m.pool) == 0 {
		if b.Weights == nil {
			a.Weights = nil
		}
		return a
	}
	for r := range n {
		u, _ := m.entries(b, r)
		if u < 0 {
			continue
		}
		for range m.negatives {
			a.Indices = append(a.Indices, b.Indices[u], m.pool[m.rng.IntN(len(m.pool))])
			a.Values = append(a.Values, 1, 1)
			a.Fields = append(a.Fields, m.user, m.item)
			a.Indptr = append(a.Indptr, int32(len(a.Indices)))
			a.Labels = append(a.Labels, 0)
			if b.Weights != nil {
				a.Weights = append(a.Weights, b.Weights[r])
			}
		}
	}
	if b.Weights == nil {
		a.Weights = nil
	}
	return a
}

// augmenter is implemented by models that add examples to a mini-batch
// before its keys are pulled (negative sampling).
type augmenter interface {
	augment(b *Batch) *Batch
}
