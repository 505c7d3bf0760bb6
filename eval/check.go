package eval

import (
	"fmt"
	"math"
)

// checkLen panics when a slice does not have the length of the scores: a
// shape mismatch is a programmer error (see the package documentation).
func checkLen(name string, got, want int) {
	if got != want {
		panic(fmt.Sprintf("eval: len(%s) = %d, want %d (len(scores))", name, got, want))
	}
}

// checkBinary validates binary-classification inputs. weights may be nil.
func checkBinary(scores, labels, weights []float64) error {
	checkLen("labels", len(labels), len(scores))
	if weights != nil {
		checkLen("weights", len(weights), len(scores))
	}
	for i, s := range scores {
		if math.IsNaN(s) {
			return &ValueError{"scores", i, s, ErrNaN}
		}
	}
	for i, y := range labels {
		if err := checkBinaryLabel(i, y); err != nil {
			return err
		}
	}
	return checkWeights(weights)
}

func checkBinaryLabel(i int, y float64) error {
	if math.IsNaN(y) {
		return &ValueError{"labels", i, y, ErrNaN}
	}
	if y != 0 && y != 1 {
		return &ValueError{"labels", i, y, ErrInvalidLabel}
	}
	return nil
}

func checkWeights(weights []float64) error {
	for i, w := range weights {
		if err := checkWeight(i, w); err != nil {
			return err
		}
	}
	return nil
}

func checkWeight(i int, w float64) error {
	if math.IsNaN(w) {
		return &ValueError{"weights", i, w, ErrNaN}
	}
	if w < 0 || math.IsInf(w, 0) {
		return &ValueError{"weights", i, w, ErrInvalidWeight}
	}
	return nil
}

// checkProbs validates that every score is a probability in [0, 1].
func checkProbs(arg string, p []float64) error {
	for i, v := range p {
		if math.IsNaN(v) {
			return &ValueError{arg, i, v, ErrNaN}
		}
		if v < 0 || v > 1 {
			return &ValueError{arg, i, v, ErrInvalidScore}
		}
	}
	return nil
}

// weightAt returns weights[i], or 1 when weights is nil.
func weightAt(weights []float64, i int) float64 {
	if weights == nil {
		return 1
	}
	return weights[i]
}
