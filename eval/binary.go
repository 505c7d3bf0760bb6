package eval

import (
	"fmt"
	"math"
)

// LogLossEpsilon is the clipping bound of LogLoss: probabilities are clipped
// to [ε, 1−ε] with ε = 2⁻⁵² (the float64 machine epsilon), exactly as
// scikit-learn's log_loss does (since 1.5, eps = np.finfo(float64).eps), so a
// confident mistake costs at most −ln ε ≈ 36.04 nats.
const LogLossEpsilon = 0x1p-52

// LogLoss returns the weighted mean binary cross-entropy, in nats, of
// probabilities probs against labels (0 or 1):
//
//	−Σ wᵢ [yᵢ ln clip(pᵢ) + (1−yᵢ) ln clip(1−pᵢ)] / Σ wᵢ
//
// where clip clamps to [LogLossEpsilon, 1−LogLossEpsilon]. probs must lie in
// [0, 1] (else a *ValueError wrapping ErrInvalidScore).
func LogLoss(probs, labels, weights []float64) (float64, error) {
	if err := checkBinary(probs, labels, weights); err != nil {
		return 0, err
	}
	if err := checkProbs("probs", probs); err != nil {
		return 0, err
	}
	var sum, wsum float64
	for i, p := range probs {
		w := weightAt(weights, i)
		sum += w * binaryLogLoss(p, labels[i])
		wsum += w
	}
	if wsum == 0 {
		return 0, ErrNoData
	}
	return sum / wsum, nil
}

// binaryLogLoss is the loss of one example; p and 1−p are clipped separately,
// as scikit-learn clips both columns of [1−p, p].
func binaryLogLoss(p, y float64) float64 {
	if y == 1 {
		return -math.Log(clip(p))
	}
	return -math.Log(clip(1 - p))
}

func clip(p float64) float64 {
	return min(max(p, LogLossEpsilon), 1-LogLossEpsilon)
}

// Confusion holds the weighted confusion matrix of a binary classifier at
// one threshold.
type Confusion struct {
	Threshold      float64
	TP, FP, TN, FN float64
}

// ConfusionAt classifies an example as positive when its score is at least
// threshold and returns the weighted counts (weights nil means 1).
func ConfusionAt(scores, labels, weights []float64, threshold float64) (Confusion, error) {
	if err := checkBinary(scores, labels, weights); err != nil {
		return Confusion{}, err
	}
	c := Confusion{Threshold: threshold}
	for i, s := range scores {
		c.add(s, labels[i], weightAt(weights, i))
	}
	if c.Total() == 0 {
		return c, ErrNoData
	}
	return c, nil
}

func (c *Confusion) add(s, y, w float64) {
	switch pred := s >= c.Threshold; {
	case pred && y == 1:
		c.TP += w
	case pred:
		c.FP += w
	case y == 1:
		c.FN += w
	default:
		c.TN += w
	}
}

// Total returns the total weight.
func (c Confusion) Total() float64 { return c.TP + c.FP + c.TN + c.FN }

// Accuracy returns (TP+TN)/total, or 0 for no weight.
func (c Confusion) Accuracy() float64 { return ratio(c.TP+c.TN, c.Total()) }

// Precision returns TP/(TP+FP), or 0 when nothing is predicted positive
// (scikit-learn's zero_division default).
func (c Confusion) Precision() float64 { return ratio(c.TP, c.TP+c.FP) }

// Recall returns TP/(TP+FN), or 0 when there are no positives.
func (c Confusion) Recall() float64 { return ratio(c.TP, c.TP+c.FN) }

// F1 returns the harmonic mean of precision and recall, 2TP/(2TP+FP+FN), or 0
// when that is 0/0.
func (c Confusion) F1() float64 { return ratio(2*c.TP, 2*c.TP+c.FP+c.FN) }

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// ReliabilityBin is one bin of a reliability diagram.
type ReliabilityBin struct {
	Lo, Hi float64 // the bin covers (Lo, Hi], the first one [0, Hi]
	// Weight is the total weight of the examples in the bin.
	Weight float64
	// MeanPredicted is their weighted mean probability, FractionPositive their
	// weighted positive rate. Both are 0 for an empty bin.
	MeanPredicted, FractionPositive float64
}

// Calibration is a reliability diagram with its expected calibration error.
type Calibration struct {
	Bins []ReliabilityBin
	// ECE is Σ_b (W_b/W) |MeanPredicted_b − FractionPositive_b|, the expected
	// calibration error over equal-width bins (Naeini et al. 2015).
	ECE float64
	// MCE is the largest |MeanPredicted_b − FractionPositive_b| over
	// non-empty bins.
	MCE float64
}

// Calibrate bins the probabilities into bins equal-width bins over [0, 1] and
// returns the reliability diagram. The bin edges and the assignment of a
// probability lying exactly on an edge (to the lower bin) are those of
// scikit-learn's calibration_curve(strategy="uniform"), whose prob_true and
// prob_pred are FractionPositive and MeanPredicted of the non-empty bins.
func Calibrate(probs, labels, weights []float64, bins int) (Calibration, error) {
	if err := checkBinary(probs, labels, weights); err != nil {
		return Calibration{}, err
	}
	if err := checkProbs("probs", probs); err != nil {
		return Calibration{}, err
	}
	h, err := newCalibrationHist(bins)
	if err != nil {
		return Calibration{}, err
	}
	for i, p := range probs {
		h.add(p, labels[i], weightAt(weights, i))
	}
	return h.result()
}

// calibrationHist accumulates per-bin weight, weighted probability and
// weighted positives. It is a view: BinaryState holds the same slices.
type calibrationHist struct {
	w, wp, wy []float64
}

func newCalibrationHist(bins int) (*calibrationHist, error) {
	if bins < 1 {
		return nil, fmt.Errorf("calibration bins %d < 1: %w", bins, ErrInvalidConfig)
	}
	return &calibrationHist{w: make([]float64, bins), wp: make([]float64, bins), wy: make([]float64, bins)}, nil
}

// calibBin returns the bin of probability p among bins equal-width bins:
// the number of inner edges below p, where inner edge i is (i+1)·(1/bins),
// the value numpy.linspace(0, 1, bins+1) computes. The first guess is off by
// at most one bin either way.
func calibBin(bins int, p float64) int {
	step := 1 / float64(bins)
	b := min(int(p*float64(bins)), bins-1)
	for b > 0 && p <= float64(b)*step {
		b--
	}
	for b < bins-1 && p > float64(b+1)*step {
		b++
	}
	return b
}

func (h *calibrationHist) add(p, y, w float64) {
	b := calibBin(len(h.w), p)
	h.w[b] += w
	h.wp[b] += w * p
	h.wy[b] += w * y
}

func (h *calibrationHist) result() (Calibration, error) {
	n := len(h.w)
	var total float64
	for _, w := range h.w {
		total += w
	}
	if total == 0 {
		return Calibration{}, ErrNoData
	}
	c := Calibration{Bins: make([]ReliabilityBin, n)}
	for i := range n {
		b := ReliabilityBin{Lo: float64(i) / float64(n), Hi: float64(i+1) / float64(n), Weight: h.w[i]}
		if h.w[i] > 0 {
			b.MeanPredicted = h.wp[i] / h.w[i]
			b.FractionPositive = h.wy[i] / h.w[i]
			gap := math.Abs(b.MeanPredicted - b.FractionPositive)
			c.ECE += h.w[i] / total * gap
			c.MCE = math.Max(c.MCE, gap)
		}
		c.Bins[i] = b
	}
	return c, nil
}
