package train

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/lakestream/lakestream/train/optim"
)

// TestMFImplicitNegativeSampling: with Negatives = 2 each positive gains two
// rows pairing its user with sampled items, labelled 0; trained on
// interactions where each user only clicks items of its own group, the model
// must rank a user's group items above other items.
func TestMFImplicitNegativeSampling(t *testing.T) {
	c := DefaultModelConfig(KindMF)
	c.Loss, c.Negatives, c.Factors, c.FactorStd, c.Seed = LossLogistic, 2, 4, 0.1, 3
	m, err := NewModel(c)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(2, 2))
	const users, items, groups = 200, 100, 4
	pos := &Batch{Indptr: []int32{0}}
	for range 20000 {
		u := rng.IntN(users)
		i := (u%groups)*(items/groups) + rng.IntN(items/groups) // own group
		pos.Indices = append(pos.Indices, uint64(u), 1<<40|uint64(i))
		pos.Values = append(pos.Values, 1, 1)
		pos.Fields = append(pos.Fields, 0, 1)
		pos.Indptr = append(pos.Indptr, int32(len(pos.Indices)))
		pos.Labels = append(pos.Labels, 1)
	}
	aug := m.(*mfModel).augment(split(pos, 10)[0])
	if aug.Rows() != 30 || aug.Labels[10] != 0 || aug.Fields[20] != 0 || aug.Fields[21] != 1 || aug.Indices[20] != pos.Indices[0] {
		t.Fatalf("augmented batch: %d rows, labels %v, fields %v", aug.Rows(), aug.Labels, aug.Fields[18:24])
	}
	if err := aug.Validate(); err != nil {
		t.Fatal(err)
	}
	opt := optim.DefaultConfig(optim.AdaGrad)
	opt.LearningRate = 0.1
	st := NewStepper(m, newStore(t, m, opt, 1), 0)
	spec := fieldSpec(t, 2, false)
	in := memInput{spec: spec, batchSize: 100, train: asRecords(t, pos, 2, false, 4096)}
	res, err := Fit(context.Background(), []*Stepper{st}, in.bounded(), DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if res.Examples != 3*20000 {
		t.Errorf("%d examples trained, want 60000 (positives and two negatives each)", res.Examples)
	}
	// Score every user against one own-group and one other-group item.
	probe := &Batch{Indptr: []int32{0}}
	for u := range users {
		own := (u % groups) * (items / groups)
		other := ((u%groups + 1) % groups) * (items / groups)
		for _, i := range []int{own, other} {
			probe.Indices = append(probe.Indices, uint64(u), 1<<40|uint64(i))
			probe.Values = append(probe.Values, 1, 1)
			probe.Fields = append(probe.Fields, 0, 1)
			probe.Indptr = append(probe.Indptr, int32(len(probe.Indices)))
			probe.Labels = append(probe.Labels, 0)
		}
	}
	// Through the spec, as training saw the pairs.
	probeBatch := featurized(t, spec, asRecords(t, probe, 2, false, probe.Rows()), probe.Rows())[0]
	pred := make([]float64, probe.Rows())
	if err := st.Predict(context.Background(), probeBatch, pred); err != nil {
		t.Fatal(err)
	}
	wins := 0
	for u := range users {
		if pred[2*u] > pred[2*u+1] {
			wins++
		}
	}
	if wins < users*9/10 {
		t.Errorf("own-group item ranked first for %d of %d users, want ≥ 90%%", wins, users)
	}
}
