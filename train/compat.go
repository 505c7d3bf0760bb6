package train

import (
	"fmt"

	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/train/feature"
)

// CheckSpec reports, before any training, whether a model of config c can
// train on spec's label and fields and save its artifact: the layout checks
// of package model (a logistic model needs a binary label, softmax a
// multiclass one, mf two fields …), plus the refusals that layouts do not
// express. bayes-linear is Bayesian linear regression: on a binary label it
// would fit 0/1 as real numbers and report no AUC or log loss, so it is
// refused in favour of adpredictor, its probit counterpart for clicks.
func CheckSpec(c ModelConfig, spec *feature.Spec) error {
	if c.Kind == KindBayesLinear && spec.Label.Type == feature.Binary {
		return fmt.Errorf("%w: model bayes-linear is a regression model (Gaussian likelihood) and gives no click probabilities; for the spec's binary label use adpredictor", ErrBadConfig)
	}
	c.Fields = spec.NumFields()
	if c.Kind == KindSoftmax {
		c.Classes = spec.NumClasses()
	}
	if _, err := model.LayoutOf(model.Kind(c.Kind), c.Arch(), spec); err != nil {
		return fmt.Errorf("%w: %v", ErrBadConfig, err)
	}
	return nil
}

// Metrics a model reports on held-out data, by target type (Evaluate
// computes exactly these).
var (
	binaryMetrics     = []Metric{MetricAUC, MetricLogLoss}
	multiclassMetrics = []Metric{MetricAccuracy, MetricLogLoss}
	regressionMetrics = []Metric{MetricRMSE}
)

// ReportedMetrics lists the validation metrics Evaluate computes for m:
// AUC and log loss for binary targets, accuracy and log loss for softmax,
// RMSE for regression.
func ReportedMetrics(m Model) []Metric {
	switch DefaultMetric(m) {
	case MetricAccuracy:
		return multiclassMetrics
	case MetricRMSE:
		return regressionMetrics
	}
	return binaryMetrics
}

// CheckMetric returns an error naming the metrics m reports when metric is
// not one of them: a metric a model cannot report is refused, never
// silently read as zero. An empty metric means DefaultMetric and passes.
func CheckMetric(m Model, metric Metric) error {
	if metric == "" {
		return nil
	}
	for _, r := range ReportedMetrics(m) {
		if r == metric {
			return nil
		}
	}
	return fmt.Errorf("%w: metric %s: a %s model reports %v on held-out data", ErrBadConfig, metric, m.Kind(), ReportedMetrics(m))
}
