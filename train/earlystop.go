package train

// EarlyStopping applies Config.Patience and MinDelta epoch by epoch for a
// trainer that validates outside Fit (the coordinator of a distributed job):
// which epoch's parameters are the best so far, and when to stop. It decides
// as Fit does: an epoch is the best when its metric improves on the best by
// more than MinDelta (or it is the first, or it has no metrics); with
// Patience 0 every epoch is the best (the last one is kept) and training
// never stops early.
type EarlyStopping struct {
	// Metric is the metric compared (DefaultMetric of the model, unless
	// the job names one). Required.
	Metric   Metric
	Patience int
	MinDelta float64

	history   []*Metrics // per epoch
	bestEpoch int
}

// Observe records epoch's validation metrics (nil when there are none) and
// reports whether epoch is now the best and whether training should stop.
// Epochs are observed in order from 0; observing an earlier epoch again (a
// job that recovered to an earlier checkpoint) forgets the epochs after it.
func (e *EarlyStopping) Observe(epoch int, m *Metrics) (best, stop bool) {
	e.history = append(e.history[:min(epoch, len(e.history))], m)
	var top float64
	since := 0
	for i, h := range e.history {
		improved := true
		if h != nil {
			v := h.Get(e.Metric)
			switch {
			case i == 0:
			case e.Metric.higherIsBetter():
				improved = v > top+e.MinDelta
			default:
				improved = v < top-e.MinDelta
			}
			if improved {
				top = v
			}
		}
		if improved || e.Patience == 0 {
			since, e.bestEpoch = 0, i
		} else {
			since++
		}
	}
	return e.bestEpoch == len(e.history)-1, e.Patience > 0 && since >= e.Patience
}

// BestEpoch returns the best epoch observed so far.
func (e *EarlyStopping) BestEpoch() int { return e.bestEpoch }
