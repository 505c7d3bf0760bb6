package eval

import (
	"math"
)

// Regression holds the metrics of a regression model.
type Regression struct {
	RMSE float64 `json:"rmse"`
	MAE  float64 `json:"mae"`
	// R2 is the coefficient of determination 1 − SS_res/SS_tot around the
	// weighted mean of the targets. When the targets are constant
	// (SS_tot = 0) it is 1 for a perfect fit and 0 otherwise, as
	// scikit-learn's r2_score(force_finite=True).
	R2 float64 `json:"r2"`
}

// RegressionMetrics evaluates predictions against targets with weights (nil
// means 1). NaN or infinite predictions and targets are a *ValueError.
func RegressionMetrics(preds, targets, weights []float64) (Regression, error) {
	var a RegressionAccumulator
	if err := a.Add(preds, targets, weights); err != nil {
		return Regression{}, err
	}
	return a.Result()
}

// RegressionAccumulator accumulates regression metrics in O(1) memory. The
// spread of the targets is kept as a weighted mean and sum of squared
// deviations (West 1979; Chan et al. 1979 for Merge), not as raw power sums,
// which cancel catastrophically. The zero value is ready to use; it is not
// safe for concurrent use.
type RegressionAccumulator struct {
	w, se, ae float64 // weight, Σw e², Σw |e|
	mean, m2  float64 // weighted mean of targets and Σw (y − mean)²
}

// Add accumulates a batch after checking all of it.
func (a *RegressionAccumulator) Add(preds, targets, weights []float64) error {
	checkLen("targets", len(targets), len(preds))
	if weights != nil {
		checkLen("weights", len(weights), len(preds))
	}
	for _, c := range []struct {
		name string
		v    []float64
	}{{"preds", preds}, {"targets", targets}} {
		for i, x := range c.v {
			if math.IsNaN(x) {
				return &ValueError{c.name, i, x, ErrNaN}
			}
			if math.IsInf(x, 0) {
				return &ValueError{c.name, i, x, ErrInvalidScore}
			}
		}
	}
	if err := checkWeights(weights); err != nil {
		return err
	}
	for i, p := range preds {
		w := weightAt(weights, i)
		if w == 0 {
			continue
		}
		y := targets[i]
		e := p - y
		a.se += w * e * e
		a.ae += w * math.Abs(e)
		a.w += w
		d := y - a.mean
		a.mean += d * w / a.w
		a.m2 += w * d * (y - a.mean)
	}
	return nil
}

// Merge adds o into a.
func (a *RegressionAccumulator) Merge(o *RegressionAccumulator) {
	if o.w == 0 {
		return
	}
	w := a.w + o.w
	d := o.mean - a.mean
	a.m2 += o.m2 + d*d*a.w*o.w/w
	a.mean += d * o.w / w
	a.w = w
	a.se += o.se
	a.ae += o.ae
}

// Result returns the metrics so far, or ErrNoData.
func (a *RegressionAccumulator) Result() (Regression, error) {
	if a.w == 0 {
		return Regression{}, ErrNoData
	}
	r := Regression{RMSE: math.Sqrt(a.se / a.w), MAE: a.ae / a.w}
	switch {
	case a.m2 > 0:
		r.R2 = 1 - a.se/a.m2
	case a.se == 0:
		r.R2 = 1
	}
	return r, nil
}
