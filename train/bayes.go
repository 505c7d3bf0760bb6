package train

import "math"

// Both Bayesian models keep a Gaussian posterior N(μ_j, σ_j²) per weight,
// assumed independent (a diagonal posterior, which is what makes them scale to
// hashed features), and update it one example at a time by moment matching.
// A row of "w" is (μ_j, σ_j² − σ₀²) and "bias" (1×2) the same for the
// intercept: storing the variance as an offset from the prior σ₀² lets the
// parameter store start every row at zero, i.e. at the prior.
//
// The tables are Posterior: Gradient replays the batch's examples in order on
// a private copy of the pulled rows (exact sequential updates, since each key
// appears once in the copy) and returns old−new, which the store applies with
// plain SGD at rate 1.
type bayesModel struct {
	kind  Kind
	prior float64 // σ₀²
	noise float64 // σ² (bayes-linear) or β² (adpredictor)
	w     []float32
	bias  [2]float32
}

func newBayesLinear(c ModelConfig) *bayesModel {
	return &bayesModel{kind: KindBayesLinear, prior: c.PriorVariance, noise: c.NoiseVariance}
}

func newAdPredictor(c ModelConfig) *bayesModel {
	return &bayesModel{kind: KindAdPredictor, prior: c.PriorVariance, noise: c.NoiseVariance}
}

func (m *bayesModel) Kind() Kind   { return m.kind }
func (m *bayesModel) Outputs() int { return 1 }
func (m *bayesModel) Tables() []Table {
	return []Table{
		{Name: TableWeights, Width: 2, Posterior: true},
		{Name: TableBias, Width: 2, Dense: true, Rows: 1, Posterior: true},
	}
}

func (m *bayesModel) CheckLabel(y float32) bool {
	if m.kind == KindAdPredictor {
		return y == 0 || y == 1
	}
	return LossSquared.checkLabel(y)
}

// moments returns the mean and variance of the score x·w of row r under the
// posterior held in w and bias (variance including the noise).
func (m *bayesModel) moments(b *Batch, slot []int32, w []float32, bias []float32, r int) (mean, vr float64) {
	mean = float64(bias[0])
	vr = m.noise + m.prior + float64(bias[1])
	for j := b.Indptr[r]; j < b.Indptr[r+1]; j++ {
		row := w[2*slot[j] : 2*slot[j]+2]
		x := float64(b.Values[j])
		mean += float64(row[0]) * x
		vr += (m.prior + float64(row[1])) * x * x
	}
	return mean, vr
}

func (m *bayesModel) predict(mean, vr float64) float64 {
	if m.kind == KindAdPredictor {
		return normCDF(mean / math.Sqrt(vr))
	}
	return mean
}

func (m *bayesModel) Predict(dst []float64, b *Batch, p *Params) {
	for r := range b.Rows() {
		mean, vr := m.moments(b, p.Slot, p.Sparse, p.Dense[0], r)
		dst[r] = m.predict(mean, vr)
	}
}

// Gradient updates a copy of the posterior example by example and returns
// old−new in g. The loss is the negative log predictive likelihood before
// each update: Gaussian for bayes-linear, log loss for adpredictor.
func (m *bayesModel) Gradient(g *Params, pred []float64, b *Batch, p *Params) float64 {
	m.w = append(m.w[:0], p.Sparse...)
	copy(m.bias[:], p.Dense[0])
	var total float64
	for r := range b.Rows() {
		mean, vr := m.moments(b, p.Slot, m.w, m.bias[:], r)
		pred[r] = m.predict(mean, vr)
		y := float64(b.Labels[r])
		wt := b.weight(r)
		// gain(s²) is the mean step for a coefficient of variance s²·x, and
		// shrink(s²) the factor variance s² is multiplied by.
		var meanStep, varStep float64
		switch m.kind {
		case KindBayesLinear:
			// Kalman update of a linear-Gaussian model: μ += s²x (y−m)/v,
			// s² −= s⁴x²/v.
			res := y - mean
			total += wt * (0.5*math.Log(2*math.Pi*vr) + res*res/(2*vr))
			meanStep, varStep = res/vr, 1/vr
		case KindAdPredictor:
			// Graepel et al., "Web-Scale Bayesian Click-Through Rate
			// Prediction …", ICML 2010, eq. 6–7 with y ∈ {−1,+1}:
			// μ += y s²x/Σ · v(t), s² *= 1 − s²x²/Σ² · w(t), t = y m/Σ.
			sd := math.Sqrt(vr)
			sgn := 2*y - 1
			t := sgn * mean / sd
			total -= wt * logNormCDF(t)
			v := vGauss(t)
			meanStep, varStep = sgn*v/sd, v*(v+t)/vr
		}
		// Example weights scale the update, as if the example were seen
		// wt times (to first order).
		meanStep *= wt
		varStep *= wt
		apply := func(row []float32, x float64) {
			s2 := m.prior + float64(row[1])
			row[0] += float32(s2 * x * meanStep)
			s2 *= 1 - min(s2*x*x*varStep, 1-1e-6)
			row[1] = float32(s2 - m.prior)
		}
		apply(m.bias[:], 1)
		for j := b.Indptr[r]; j < b.Indptr[r+1]; j++ {
			apply(m.w[2*p.Slot[j]:2*p.Slot[j]+2], float64(b.Values[j]))
		}
	}
	for i, old := range p.Sparse {
		g.Sparse[i] += old - m.w[i]
	}
	g.Dense[0][0] += p.Dense[0][0] - m.bias[0]
	g.Dense[0][1] += p.Dense[0][1] - m.bias[1]
	return total
}

// normCDF is Φ(t).
func normCDF(t float64) float64 { return 0.5 * math.Erfc(-t/math.Sqrt2) }

// logNormCDF is log Φ(t), accurate in the far left tail.
func logNormCDF(t float64) float64 {
	if t > -30 {
		return math.Log(normCDF(t))
	}
	// Φ(t) ≈ φ(t)/(−t) for t → −∞.
	return -0.5*t*t - math.Log(-t) - 0.5*math.Log(2*math.Pi)
}

// vGauss is v(t) = φ(t)/Φ(t), the mean correction of a truncated Gaussian.
func vGauss(t float64) float64 {
	if t < -30 {
		return -t - 1/t
	}
	return math.Exp(-0.5*t*t-0.5*math.Log(2*math.Pi)) / normCDF(t)
}
