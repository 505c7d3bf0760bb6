package eval

import (
	"fmt"
	"math"
)

// Multiclass holds the metrics of a k-class classifier.
type Multiclass struct {
	Accuracy float64 `json:"accuracy"`
	// MacroF1 is the unweighted mean of the per-class F1 scores over the
	// classes that occur among the labels or the predictions (scikit-learn's
	// default label set); MicroF1 is F1 of the pooled counts, which equals
	// accuracy for single-label data.
	MacroF1 float64 `json:"macro_f1"`
	MicroF1 float64 `json:"micro_f1"`
	// LogLoss is the weighted mean of −ln clip(p[label]) with the clipping
	// of LogLoss; rows are not renormalized.
	LogLoss float64 `json:"log_loss"`
	// PerClassF1[c] is the F1 score of class c (0 if c never occurs).
	PerClassF1 []float64 `json:"per_class_f1"`
}

// MulticlassMetrics evaluates probabilities probs, stored row-major with
// classes columns (row i is probs[i*classes:(i+1)*classes]), against integer
// labels in [0, classes). The predicted class is the arg-max of a row, the
// lowest index winning ties. weights may be nil. It panics if len(probs) !=
// len(labels)*classes.
func MulticlassMetrics(probs []float64, labels []int, weights []float64, classes int) (Multiclass, error) {
	acc, err := NewMulticlassAccumulator(classes)
	if err != nil {
		return Multiclass{}, err
	}
	if err := acc.Add(probs, labels, weights); err != nil {
		return Multiclass{}, err
	}
	return acc.Result()
}

// MulticlassAccumulator accumulates a weighted confusion matrix and the log
// loss of a k-class classifier. Its memory is k² float64. Merge combines
// accumulators of workers; it is not safe for concurrent use.
type MulticlassAccumulator struct {
	k          int
	confusion  []float64 // [true*k + predicted]
	loss, wsum float64
}

// NewMulticlassAccumulator returns an empty accumulator for classes ≥ 2
// classes.
func NewMulticlassAccumulator(classes int) (*MulticlassAccumulator, error) {
	if classes < 2 {
		return nil, fmt.Errorf("classes %d < 2: %w", classes, ErrInvalidConfig)
	}
	return &MulticlassAccumulator{k: classes, confusion: make([]float64, classes*classes)}, nil
}

// Add accumulates a batch (see MulticlassMetrics for the layout). It checks
// the whole batch before adding any of it.
func (a *MulticlassAccumulator) Add(probs []float64, labels []int, weights []float64) error {
	k := a.k
	if len(probs) != len(labels)*k {
		panic(fmt.Sprintf("eval: len(probs) = %d, want len(labels)*classes = %d", len(probs), len(labels)*k))
	}
	if weights != nil {
		checkLen("weights", len(weights), len(labels))
	}
	if err := checkProbs("probs", probs); err != nil {
		return err
	}
	for i, y := range labels {
		if y < 0 || y >= k {
			return &ValueError{"labels", i, float64(y), ErrInvalidLabel}
		}
	}
	if err := checkWeights(weights); err != nil {
		return err
	}
	for i, y := range labels {
		row := probs[i*k : (i+1)*k]
		best := 0
		for c := 1; c < k; c++ {
			if row[c] > row[best] {
				best = c
			}
		}
		w := weightAt(weights, i)
		a.confusion[y*k+best] += w
		a.loss += w * -math.Log(clip(row[y]))
		a.wsum += w
	}
	return nil
}

// Merge adds o's counts into a.
func (a *MulticlassAccumulator) Merge(o *MulticlassAccumulator) error {
	if o.k != a.k {
		return fmt.Errorf("merge %d-class into %d-class accumulator: %w", o.k, a.k, ErrIncompatible)
	}
	for i, v := range o.confusion {
		a.confusion[i] += v
	}
	a.loss += o.loss
	a.wsum += o.wsum
	return nil
}

// Result returns the metrics so far, or ErrNoData.
func (a *MulticlassAccumulator) Result() (Multiclass, error) {
	if a.wsum == 0 {
		return Multiclass{}, ErrNoData
	}
	k := a.k
	m := Multiclass{PerClassF1: make([]float64, k), LogLoss: a.loss / a.wsum}
	var correct, present float64
	for c := range k {
		tp := a.confusion[c*k+c]
		var rowSum, colSum float64
		for j := range k {
			rowSum += a.confusion[c*k+j]
			colSum += a.confusion[j*k+c]
		}
		correct += tp
		m.PerClassF1[c] = ratio(2*tp, rowSum+colSum)
		if rowSum > 0 || colSum > 0 {
			m.MacroF1 += m.PerClassF1[c]
			present++
		}
	}
	m.Accuracy = correct / a.wsum
	m.MicroF1 = m.Accuracy
	m.MacroF1 = ratio(m.MacroF1, present)
	return m, nil
}
