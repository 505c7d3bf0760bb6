package train

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/lakestream/lakestream/eval"
	"github.com/lakestream/lakestream/train/optim"
)

// plantedLogistic draws n examples of fields one-hot categorical fields
// (card values each) labelled by a planted logistic model, and returns them
// with the true click probabilities.
func plantedLogistic(rng *rand.Rand, truth map[uint64]float64, n, fields, card int) (*Batch, []float64) {
	b := &Batch{Indptr: []int32{0}}
	probs := make([]float64, 0, n)
	for range n {
		z := -1.0
		for f := range fields {
			key := uint64(f)<<32 | uint64(rng.IntN(card))
			w, ok := truth[key]
			if !ok {
				w = rng.NormFloat64() * 0.8
				truth[key] = w
			}
			z += w
			b.Indices = append(b.Indices, key)
			b.Values = append(b.Values, 1)
			b.Fields = append(b.Fields, int32(f))
		}
		b.Indptr = append(b.Indptr, int32(len(b.Indices)))
		p := sigmoid(z)
		probs = append(probs, p)
		y := float32(0)
		if rng.Float64() < p {
			y = 1
		}
		b.Labels = append(b.Labels, y)
	}
	return b, probs
}

func labels64(b *Batch) []float64 {
	out := make([]float64, len(b.Labels))
	for i, y := range b.Labels {
		out[i] = float64(y)
	}
	return out
}

// TestFitLogisticNearBayesAUC trains LR with FTRL on a planted logistic model
// and expects the held-out AUC within 0.01 of the Bayes-optimal AUC (the AUC
// of the true probabilities on the same examples).
func TestFitLogisticNearBayesAUC(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	truth := map[uint64]float64{}
	tr, _ := plantedLogistic(rng, truth, 60000, 8, 40)
	te, probs := plantedLogistic(rng, truth, 20000, 8, 40)
	m, _ := NewModel(DefaultModelConfig(KindLogistic))
	st := NewStepper(m, newStore(t, m, optim.DefaultConfig(optim.FTRL), 1), 0)
	cfg := DefaultConfig()
	cfg.Epochs = 2
	in := memInput{spec: fieldSpec(t, 8, false), batchSize: 256, train: asRecords(t, tr, 8, false, 4096), val: asRecords(t, te, 8, false, 4096)}
	res, err := Fit(context.Background(), []*Stepper{st}, in.bounded(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	bayes, err := eval.ROCAUC(probs, labels64(te), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := res.Validation.AUC
	t.Logf("LR AUC %.4f, Bayes-optimal %.4f, train loss %.4f", got, bayes, res.Epochs[1].TrainLoss)
	if got < bayes-0.01 {
		t.Errorf("AUC %.4f is more than 0.01 below the Bayes-optimal %.4f", got, bayes)
	}
	if len(res.Tables) != 2 || len(res.Tables[0].Keys) != 8*40 {
		t.Errorf("exported %d tables, first with %d keys; want 2 tables, 320 keys", len(res.Tables), len(res.Tables[0].Keys))
	}
}

// lowRankRatings draws ratings r = 3 + b_u + b_i + ⟨p_u, q_i⟩ + N(0, noise²)
// of users × items at the given density, user in field 0 and item in field 1.
func lowRankRatings(rng *rand.Rand, users, items, rank int, density, noise float64) *Batch {
	vec := func(n int) [][]float64 {
		out := make([][]float64, n)
		for i := range out {
			out[i] = make([]float64, rank+1)
			for j := range out[i] {
				out[i][j] = rng.NormFloat64() * 0.5
			}
		}
		return out
	}
	u, it := vec(users), vec(items)
	b := &Batch{Indptr: []int32{0}}
	for a := range users {
		for c := range items {
			if rng.Float64() >= density {
				continue
			}
			r := 3 + u[a][0] + it[c][0]
			for f := 1; f <= rank; f++ {
				r += u[a][f] * it[c][f]
			}
			r += rng.NormFloat64() * noise
			b.Indices = append(b.Indices, uint64(a), 1<<40|uint64(c))
			b.Values = append(b.Values, 1, 1)
			b.Fields = append(b.Fields, 0, 1)
			b.Indptr = append(b.Indptr, int32(len(b.Indices)))
			b.Labels = append(b.Labels, float32(r))
		}
	}
	// Shuffle rows so mini-batches mix users.
	n := b.Rows()
	perm := rng.Perm(n)
	s := &Batch{Indptr: []int32{0}}
	for _, r := range perm {
		s.Indices = append(s.Indices, b.Indices[2*r], b.Indices[2*r+1])
		s.Values = append(s.Values, 1, 1)
		s.Fields = append(s.Fields, 0, 1)
		s.Indptr = append(s.Indptr, int32(len(s.Indices)))
		s.Labels = append(s.Labels, b.Labels[r])
	}
	return s
}

// TestMFReachesNoiseFloor: explicit matrix factorization on a rank-3 ratings
// matrix with noise σ = 0.5 must reach a held-out RMSE within 0.03 of σ, the
// RMSE of the true ratings (the noise floor).
func TestMFReachesNoiseFloor(t *testing.T) {
	const noise = 0.5
	rng := rand.New(rand.NewPCG(3, 4))
	all := lowRankRatings(rng, 400, 300, 3, 0.35, noise)
	n := all.Rows()
	parts := split(all, n*9/10)
	c := DefaultModelConfig(KindMF)
	c.Factors = 3
	c.FactorStd = 0.1
	c.BiasL2, c.FactorL2 = 0, 0 // the optimizer's L2 below regularizes
	m, _ := NewModel(c)
	opt := optim.DefaultConfig(optim.Adam)
	opt.LearningRate = 0.01
	opt.L2 = 0.02
	st := NewStepper(m, newStore(t, m, opt, 5), 0)
	cfg := DefaultConfig()
	cfg.Epochs = 30
	cfg.Patience = 3
	in := memInput{spec: fieldSpec(t, 2, true), batchSize: 128, train: asRecords(t, parts[0], 2, true, 4096), val: asRecords(t, parts[1], 2, true, 4096)}
	res, err := Fit(context.Background(), []*Stepper{st}, in.bounded(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := res.Validation.RMSE
	t.Logf("MF RMSE %.4f after %d epochs (best %d), noise floor %.4f, %d ratings", got, len(res.Epochs), res.BestEpoch+1, noise, n)
	if got > noise+0.03 {
		t.Errorf("held-out RMSE %.4f, want ≤ noise floor %.2f + 0.03", got, noise)
	}
}
