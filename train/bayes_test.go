package train

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestBayesLinearConjugate: with one-hot features on distinct keys the
// diagonal posterior is exact, so after n observations of a key the mean and
// variance must equal the conjugate Gaussian posterior
// σ_n² = 1/(1/σ₀² + n/σ²), μ_n = σ_n² Σy/σ². The intercept is held out of
// the comparison by giving it a tiny prior: the batch keeps it near zero.
func TestBayesLinearConjugate(t *testing.T) {
	c := DefaultModelConfig(KindBayesLinear)
	c.PriorVariance, c.NoiseVariance = 2, 0.5
	m, _ := NewModel(c)
	bm := m.(*bayesModel)
	rng := rand.New(rand.NewPCG(1, 1))
	ys := []float32{}
	b := &Batch{Indptr: []int32{0}}
	for range 50 {
		y := float32(1.5 + rng.NormFloat64()*0.7)
		ys = append(ys, y)
		b.Indices = append(b.Indices, 42)
		b.Values = append(b.Values, 1)
		b.Fields = append(b.Fields, 0)
		b.Indptr = append(b.Indptr, int32(len(b.Indices)))
		b.Labels = append(b.Labels, y)
	}
	// Params with the intercept's variance offset at −prior+1e-12, i.e.
	// an intercept pinned at 0.
	p := &Params{Slot: make([]int32, len(b.Indices)), Sparse: make([]float32, 2), Dense: [][]float32{{0, float32(-c.PriorVariance + 1e-9)}}}
	g := zeroLike(p)
	pred := make([]float64, b.Rows())
	bm.Gradient(g, pred, b, p)
	mean := float64(p.Sparse[0] - g.Sparse[0])
	vr := c.PriorVariance + float64(p.Sparse[1]-g.Sparse[1])
	var sum float64
	for _, y := range ys {
		sum += float64(y)
	}
	n := float64(len(ys))
	wantVar := 1 / (1/c.PriorVariance + n/c.NoiseVariance)
	wantMean := wantVar * sum / c.NoiseVariance
	// float32 storage: relative error ~1e-6 per update, 50 updates.
	if math.Abs(mean-wantMean) > 1e-4 || math.Abs(vr-wantVar)/wantVar > 1e-3 {
		t.Errorf("posterior N(%.6f, %.6f), want conjugate N(%.6f, %.6f)", mean, vr, wantMean, wantVar)
	}
}

// TestAdPredictorUpdate checks one update against Graepel et al.'s equations
// computed by hand for two active features and the intercept.
func TestAdPredictorUpdate(t *testing.T) {
	c := DefaultModelConfig(KindAdPredictor)
	c.PriorVariance, c.NoiseVariance = 1, 1
	m, _ := NewModel(c)
	b := &Batch{Indptr: []int32{0, 2}, Indices: []uint64{1, 2}, Values: []float32{1, 1}, Fields: []int32{0, 1}, Labels: []float32{1}}
	// Means 0.3 and −0.1, variances 1 + (−0.5) and 1 + 0; intercept 0.2, var 1.
	p := &Params{Slot: []int32{0, 1}, Sparse: []float32{0.3, -0.5, -0.1, 0}, Dense: [][]float32{{0.2, 0}}}
	g := zeroLike(p)
	pred := make([]float64, 1)
	m.Gradient(g, pred, b, p)
	// By hand: Σ² = β² + Σσ² = 1 + 0.5 + 1 + 1 = 3.5; m = 0.4; t = m/Σ.
	s2 := 3.5
	sd := math.Sqrt(s2)
	tt := 0.4 / sd
	phi := math.Exp(-tt*tt/2) / math.Sqrt(2*math.Pi)
	Phi := 0.5 * math.Erfc(-tt/math.Sqrt2)
	v := phi / Phi
	w := v * (v + tt)
	wantMean0 := 0.3 + 0.5/sd*v
	wantVar0 := 0.5 * (1 - 0.5/s2*w)
	if got := float64(p.Sparse[0] - g.Sparse[0]); math.Abs(got-wantMean0) > 1e-6 {
		t.Errorf("mean of key 1: %.7f, want %.7f", got, wantMean0)
	}
	if got := 1 + float64(p.Sparse[1]-g.Sparse[1]); math.Abs(got-wantVar0) > 1e-6 {
		t.Errorf("variance of key 1: %.7f, want %.7f", got, wantVar0)
	}
	if math.Abs(pred[0]-Phi) > 1e-6 { // inputs are float32
		t.Errorf("prediction %.7f, want Φ(t) = %.7f", pred[0], Phi)
	}
}
