package eval

import (
	"fmt"
	"math"
)

// Curve is a ROC or precision–recall curve: one point per distinct score,
// from the highest threshold to the lowest. Point i holds the rates when
// every example scoring at least Thresholds[i] is called positive.
type Curve struct {
	// X and Y are FPR and TPR for a ROC curve, recall and precision for a
	// precision–recall curve.
	X, Y []float64
	// Thresholds[i] is the score threshold of point i. A ROC curve starts
	// with (0, 0) at threshold +Inf, as scikit-learn's roc_curve does.
	Thresholds []float64
}

// ROCCurve returns the ROC curve (false positive rate on X, true positive rate
// on Y) with a point for every distinct score, weighted by weights (nil means
// 1). Errors are those of ROCAUC.
func ROCCurve(scores, labels, weights []float64) (Curve, error) {
	if err := checkBinary(scores, labels, weights); err != nil {
		return Curve{}, err
	}
	gs, wp, wn := scoreGroups(scores, labels, weights)
	if len(gs) == 0 {
		return Curve{}, ErrNoData
	}
	if wp == 0 || wn == 0 {
		return Curve{}, ErrOneClass
	}
	return rocFromGroups(gs, wp, wn), nil
}

// PRCurve returns the precision–recall curve (recall on X, precision on Y),
// one point per distinct score from the highest, weighted by weights (nil
// means 1). It needs positive weight in the positive class (else ErrOneClass).
func PRCurve(scores, labels, weights []float64) (Curve, error) {
	if err := checkBinary(scores, labels, weights); err != nil {
		return Curve{}, err
	}
	gs, wp, _ := scoreGroups(scores, labels, weights)
	if len(gs) == 0 {
		return Curve{}, ErrNoData
	}
	if wp == 0 {
		return Curve{}, ErrOneClass
	}
	return prFromGroups(gs, wp), nil
}

func prFromGroups(gs []group, wp float64) Curve {
	c := Curve{
		X:          make([]float64, 0, len(gs)),
		Y:          make([]float64, 0, len(gs)),
		Thresholds: make([]float64, 0, len(gs)),
	}
	var tp, fp float64
	for _, g := range gs {
		tp += g.pos
		fp += g.neg
		c.X = append(c.X, tp/wp)
		c.Y = append(c.Y, tp/(tp+fp))
		c.Thresholds = append(c.Thresholds, g.score)
	}
	return c
}

// AveragePrecision returns the area under the precision–recall curve as
// scikit-learn's average_precision_score defines it: the step-wise sum
//
//	AP = Σₙ (Rₙ − Rₙ₋₁) Pₙ
//
// over the distinct score thresholds in descending order, with R₀ = 0 — no
// trapezoidal interpolation, which would be optimistic. Ties form a single
// threshold. Errors are those of PRCurve.
func AveragePrecision(scores, labels, weights []float64) (float64, error) {
	c, err := PRCurve(scores, labels, weights)
	if err != nil {
		return 0, err
	}
	return apFromCurve(c), nil
}

func apFromCurve(c Curve) float64 {
	var ap, prev float64
	for i := range c.X {
		ap += (c.X[i] - prev) * c.Y[i]
		prev = c.X[i]
	}
	return ap
}

// KS returns the Kolmogorov–Smirnov statistic of the score distributions of
// the two classes: the largest |TPR − FPR| over all thresholds, weighted by
// weights (nil means 1). Errors are those of ROCAUC.
func KS(scores, labels, weights []float64) (float64, error) {
	c, err := ROCCurve(scores, labels, weights)
	if err != nil {
		return 0, err
	}
	return ksFromCurve(c), nil
}

func ksFromCurve(c Curve) float64 {
	var ks float64
	for i := range c.X {
		ks = math.Max(ks, math.Abs(c.Y[i]-c.X[i]))
	}
	return ks
}

// Lift returns the lift in the top fraction of examples ranked by score: the
// positive rate among them divided by the positive rate overall. The top set
// takes whole groups of tied scores, from the highest, until its weight
// reaches fraction of the total weight; so with ties it may hold a little
// more than fraction. fraction must be in (0, 1]. It returns ErrOneClass when
// there is no positive weight.
func Lift(scores, labels, weights []float64, fraction float64) (float64, error) {
	if !(fraction > 0 && fraction <= 1) {
		return 0, fmt.Errorf("lift fraction %v not in (0, 1]: %w", fraction, ErrInvalidConfig)
	}
	if err := checkBinary(scores, labels, weights); err != nil {
		return 0, err
	}
	gs, wp, wn := scoreGroups(scores, labels, weights)
	if len(gs) == 0 {
		return 0, ErrNoData
	}
	if wp == 0 {
		return 0, ErrOneClass
	}
	return liftFromGroups(gs, wp, wn, fraction), nil
}

func liftFromGroups(gs []group, wp, wn, fraction float64) float64 {
	total := wp + wn
	var tp, w float64
	for _, g := range gs {
		tp += g.pos
		w += g.pos + g.neg
		if w >= fraction*total {
			break
		}
	}
	return (tp / w) / (wp / total)
}
