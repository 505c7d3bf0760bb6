package model

import (
	"fmt"
	"math"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/lakestream/lakestream/train/feature"
)

// scorer is the per-goroutine scratch of Score, pooled by the Model.
type scorer struct {
	fz   *feature.Featurizer
	b    feature.Batch
	rows []int32   // row of "w" of each batch entry, −1 when absent
	sum  []float64 // per-factor sums
	in   []float32 // mlp input, then hidden activations
	out  []float32
}

func (m *Model) newScorer() any {
	fz, err := feature.NewFeaturizer(m.spec, feature.WithoutLabels())
	if err != nil {
		// New validated the spec, so this cannot fail.
		panic(fmt.Sprintf("model: featurizer for a validated spec: %v", err))
	}
	s := &scorer{fz: fz, sum: make([]float64, max(m.meta.Arch.Factors, 1))}
	if k, ok := m.kernel.(*mlpKernel); ok {
		s.in = make([]float32, k.maxWidth)
		s.out = make([]float32, k.maxWidth)
	}
	return s
}

// Score featurizes rec with the model's spec and writes Outputs() scores per
// row into dst, which must have len rec.NumRows()·Outputs(): for multi-output
// models row r's scores are dst[r·Outputs() : (r+1)·Outputs()]. The label and
// weight columns need not be present. Errors name the column and row of a bad
// value (see feature.ValueError) or the schema problem. Score is safe for
// concurrent use and allocates nothing per example.
func (m *Model) Score(rec arrow.Record, dst []float64) error {
	n := int(rec.NumRows())
	if len(dst) != n*m.outputs {
		return fmt.Errorf("model %s: score %d rows × %d outputs into %d values", m.meta.Kind, n, m.outputs, len(dst))
	}
	s, err := m.featurize(rec)
	if err != nil {
		return err
	}
	defer m.pool.Put(s)
	out := m.outputs
	for r := range n {
		m.kernel.score(s, r, dst[r*out:(r+1)*out])
	}
	return nil
}

// Predictive writes the posterior predictive mean and variance of the score
// (the linear predictor, observation noise included) of each row of rec, for
// the Bayesian kinds: bayes-linear, whose Score is the mean, and adpredictor,
// whose Score is Φ(mean/√variance). The variance is what exploration
// (Thompson sampling, upper confidence bounds) needs. Other kinds return an
// error wrapping ErrIncompatible. mean and variance must have
// rec.NumRows() values each.
func (m *Model) Predictive(rec arrow.Record, mean, variance []float64) error {
	k, ok := m.kernel.(*bayesKernel)
	if !ok {
		return fmt.Errorf("%w: model %s has no posterior; Predictive is for %s and %s", ErrIncompatible, m.meta.Kind, KindBayesLinear, KindAdPredictor)
	}
	n := int(rec.NumRows())
	if len(mean) != n || len(variance) != n {
		return fmt.Errorf("model %s: predictive of %d rows into %d means and %d variances", m.meta.Kind, n, len(mean), len(variance))
	}
	s, err := m.featurize(rec)
	if err != nil {
		return err
	}
	defer m.pool.Put(s)
	for r := range n {
		mean[r], variance[r] = k.moments(s, r)
	}
	return nil
}

// featurize takes a scorer from the pool and fills it from rec: the batch and
// each entry's row of "w". The caller returns s to the pool.
func (m *Model) featurize(rec arrow.Record) (*scorer, error) {
	s := m.pool.Get().(*scorer)
	if err := s.fz.Featurize(rec, &s.b); err != nil {
		m.pool.Put(s)
		return nil, fmt.Errorf("model %s: %w", m.meta.Kind, err)
	}
	s.rows = grow(s.rows, len(s.b.Indices))
	for j, key := range s.b.Indices {
		s.rows[j] = m.index.lookup(key)
	}
	return s, nil
}

func grow[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]T, n, n+n/4)
}

// kernel computes one row's scores from the featurized batch in s.
type kernel interface {
	score(s *scorer, r int, dst []float64)
}

func newKernel(m *Model) kernel {
	a := m.meta.Arch
	w := m.w.Values
	link := linkOf(a.Loss)
	switch m.meta.Kind {
	case KindLogistic:
		return &linearKernel{w: w, bias: m.dense(TableBias), link: linkSigmoid}
	case KindLinear:
		return &linearKernel{w: w, bias: m.dense(TableBias), link: linkIdentity}
	case KindSoftmax:
		return &linearKernel{w: w, bias: m.dense(TableBias), link: linkSoftmax}
	case KindFM:
		return &fmKernel{w: w, k: a.Factors, bias: m.dense(TableBias)[0], link: link}
	case KindFFM:
		return &ffmKernel{w: w, k: a.Factors, fields: m.spec.NumFields(), bias: m.dense(TableBias)[0], link: link}
	case KindMF:
		return &mfKernel{w: w, k: a.Factors, user: int32(a.UserField), item: int32(a.ItemField), mu: m.dense(TableBias)[0], link: link}
	case KindBayesLinear, KindAdPredictor:
		return &bayesKernel{w: w, bias: m.dense(TableBias), prior: a.PriorVariance, noise: a.NoiseVariance, probit: m.meta.Kind == KindAdPredictor}
	case KindMLP, KindDeepFM:
		return newMLPKernel(m)
	}
	panic("model: newKernel: kind not in LayoutOf")
}

type linkFunc int

const (
	linkIdentity linkFunc = iota
	linkSigmoid
	linkSoftmax
)

func linkOf(loss string) linkFunc {
	if loss == LossLogistic {
		return linkSigmoid
	}
	return linkIdentity
}

// apply maps the raw scores z to predictions in place.
func (l linkFunc) apply(z []float64) {
	switch l {
	case linkSigmoid:
		z[0] = sigmoid(z[0])
	case linkSoftmax:
		mx := z[0]
		for _, v := range z[1:] {
			mx = max(mx, v)
		}
		var sum float64
		for i, v := range z {
			z[i] = math.Exp(v - mx)
			sum += z[i]
		}
		for i := range z {
			z[i] /= sum
		}
	}
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

// linearKernel: z_c = b_c + Σ_j w_jc x_j (logistic, linear, softmax).
type linearKernel struct {
	w, bias []float32
	link    linkFunc
}

func (k *linearKernel) score(s *scorer, r int, dst []float64) {
	c := len(k.bias)
	for i, b := range k.bias {
		dst[i] = float64(b)
	}
	lo, hi := s.b.Indptr[r], s.b.Indptr[r+1]
	for j := lo; j < hi; j++ {
		row := s.rows[j]
		if row < 0 {
			continue
		}
		x := float64(s.b.Values[j])
		for i, w := range k.w[int(row)*c : int(row)*c+c] {
			dst[i] += float64(w) * x
		}
	}
	k.link.apply(dst)
}

// fmKernel: z = b + Σ w_j x_j + ½ Σ_f [(Σ_j v_jf x_j)² − Σ_j v_jf² x_j²].
type fmKernel struct {
	w    []float32
	k    int
	bias float32
	link linkFunc
}

func (k *fmKernel) score(s *scorer, r int, dst []float64) {
	dst[0] = float64(k.bias) + fmTerms(s, r, k.w, k.k)
	k.link.apply(dst)
}

// fmTerms returns the linear and pairwise terms of an FM whose "w" rows are
// (w_j, v_j1…v_jk), leaving Σ_j v_jf x_j in s.sum.
func fmTerms(s *scorer, r int, w []float32, k int) float64 {
	width := 1 + k
	sum := s.sum[:k]
	clear(sum)
	var lin, sq float64
	lo, hi := s.b.Indptr[r], s.b.Indptr[r+1]
	for j := lo; j < hi; j++ {
		row := s.rows[j]
		if row < 0 {
			continue
		}
		x := float64(s.b.Values[j])
		p := w[int(row)*width : int(row)*width+width]
		lin += float64(p[0]) * x
		for f, v := range p[1:] {
			t := float64(v) * x
			sum[f] += t
			sq += t * t
		}
	}
	var pair float64
	for _, t := range sum {
		pair += t * t
	}
	return lin + 0.5*(pair-sq)
}

// ffmKernel: z = b + Σ w_j x_j + Σ_{i<j} ⟨v_{i,f_j}, v_{j,f_i}⟩ x_i x_j.
type ffmKernel struct {
	w      []float32
	k      int
	fields int
	bias   float32
	link   linkFunc
}

func (k *ffmKernel) score(s *scorer, r int, dst []float64) {
	width := 1 + k.fields*k.k
	z := float64(k.bias)
	lo, hi := s.b.Indptr[r], s.b.Indptr[r+1]
	for a := lo; a < hi; a++ {
		ra := s.rows[a]
		if ra < 0 {
			continue
		}
		pa := k.w[int(ra)*width : int(ra)*width+width]
		xa := float64(s.b.Values[a])
		z += float64(pa[0]) * xa
		fa := int(s.b.Fields[a])
		for c := a + 1; c < hi; c++ {
			rc := s.rows[c]
			if rc < 0 {
				continue
			}
			pc := k.w[int(rc)*width : int(rc)*width+width]
			fc := int(s.b.Fields[c])
			va := pa[1+fc*k.k : 1+fc*k.k+k.k]
			vc := pc[1+fa*k.k : 1+fa*k.k+k.k]
			var dot float64
			for f, v := range va {
				dot += float64(v) * float64(vc[f])
			}
			z += dot * xa * float64(s.b.Values[c])
		}
	}
	dst[0] = z
	k.link.apply(dst)
}

// mfKernel: z = μ + b_u + b_i + ⟨p_u, q_i⟩ over the first entry of the user
// field and of the item field; a missing or unknown one contributes zero.
type mfKernel struct {
	w          []float32
	k          int
	user, item int32
	mu         float32
	link       linkFunc
}

func (k *mfKernel) score(s *scorer, r int, dst []float64) {
	width := 1 + k.k
	u, i := int32(-1), int32(-1)
	lo, hi := s.b.Indptr[r], s.b.Indptr[r+1]
	for j := lo; j < hi; j++ {
		switch s.b.Fields[j] {
		case k.user:
			if u < 0 {
				u = s.rows[j]
			}
		case k.item:
			if i < 0 {
				i = s.rows[j]
			}
		}
	}
	z := float64(k.mu)
	var pu, qi []float32
	if u >= 0 {
		pu = k.w[int(u)*width : int(u)*width+width]
		z += float64(pu[0])
	}
	if i >= 0 {
		qi = k.w[int(i)*width : int(i)*width+width]
		z += float64(qi[0])
	}
	if u >= 0 && i >= 0 {
		for f := 1; f < width; f++ {
			z += float64(pu[f]) * float64(qi[f])
		}
	}
	dst[0] = z
	k.link.apply(dst)
}

// bayesKernel scores with the posterior mean m = μ_b + Σ μ_j x_j and
// variance v = noise + σ_b² + Σ σ_j² x_j², where σ² = σ₀² + the stored
// offset: bayes-linear predicts m, adpredictor Φ(m/√v).
type bayesKernel struct {
	w, bias      []float32
	prior, noise float64
	probit       bool
}

func (k *bayesKernel) score(s *scorer, r int, dst []float64) {
	mean, vr := k.moments(s, r)
	if !k.probit {
		dst[0] = mean
		return
	}
	dst[0] = 0.5 * math.Erfc(-mean/math.Sqrt(vr)/math.Sqrt2)
}

// moments returns the predictive mean and variance of row r's score.
func (k *bayesKernel) moments(s *scorer, r int) (mean, vr float64) {
	mean = float64(k.bias[0])
	vr = k.noise + k.prior + float64(k.bias[1])
	lo, hi := s.b.Indptr[r], s.b.Indptr[r+1]
	for j := lo; j < hi; j++ {
		x := float64(s.b.Values[j])
		row := s.rows[j]
		if row < 0 {
			vr += k.prior * x * x
			continue
		}
		p := k.w[2*row : 2*row+2]
		mean += float64(p[0]) * x
		vr += (k.prior + float64(p[1])) * x * x
	}
	return mean, vr
}
