package train

import "testing"

// TestEarlyStopping: AUC rises, then stalls; with patience 2 the best
// epoch is the peak and the stop comes two epochs after it; a loss metric
// goes the other way; patience 0 keeps the last epoch and never stops; an
// epoch observed again forgets the later ones.
func TestEarlyStopping(t *testing.T) {
	auc := func(v float64) *Metrics { return &Metrics{AUC: v} }
	ll := func(v float64) *Metrics { return &Metrics{LogLoss: v} }
	type step struct {
		m          *Metrics
		best, stop bool
	}
	for _, tc := range []struct {
		name     string
		es       EarlyStopping
		steps    []step
		bestLast int
	}{
		{"auc patience 2", EarlyStopping{Metric: MetricAUC, Patience: 2}, []step{
			{auc(0.70), true, false}, {auc(0.75), true, false}, {auc(0.74), false, false}, {auc(0.75), false, true}}, 1},
		{"auc min delta", EarlyStopping{Metric: MetricAUC, Patience: 1, MinDelta: 0.01}, []step{
			{auc(0.70), true, false}, {auc(0.705), false, true}}, 0},
		{"logloss", EarlyStopping{Metric: MetricLogLoss, Patience: 1}, []step{
			{ll(0.5), true, false}, {ll(0.4), true, false}, {ll(0.45), false, true}}, 1},
		{"patience 0", EarlyStopping{Metric: MetricAUC}, []step{
			{auc(0.8), true, false}, {auc(0.7), true, false}, {auc(0.6), true, false}}, 2},
		{"no metrics", EarlyStopping{Metric: MetricAUC, Patience: 1}, []step{
			{nil, true, false}, {nil, true, false}}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es := tc.es
			for i, s := range tc.steps {
				best, stop := es.Observe(i, s.m)
				if best != s.best || stop != s.stop {
					t.Fatalf("epoch %d: best %v stop %v, want %v %v", i, best, stop, s.best, s.stop)
				}
			}
			if es.BestEpoch() != tc.bestLast {
				t.Fatalf("best epoch %d, want %d", es.BestEpoch(), tc.bestLast)
			}
		})
	}
	es := EarlyStopping{Metric: MetricAUC, Patience: 1}
	es.Observe(0, auc(0.7))
	es.Observe(1, auc(0.8))
	if best, stop := es.Observe(1, auc(0.6)); best || !stop || es.BestEpoch() != 0 {
		t.Fatalf("epoch 1 observed again: best %v stop %v best epoch %d, want the replay to forget the first epoch 1", best, stop, es.BestEpoch())
	}
}
