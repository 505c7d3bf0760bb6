package train

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/lakestream/lakestream/eval"
)

// Metric names a validation metric. Each has a direction: AUC and accuracy
// improve upward, the losses downward.
type Metric string

// Validation metrics.
const (
	MetricAUC      Metric = "auc"
	MetricLogLoss  Metric = "logloss"
	MetricRMSE     Metric = "rmse"
	MetricAccuracy Metric = "accuracy"
)

// higherIsBetter reports the metric's direction.
func (m Metric) higherIsBetter() bool { return m == MetricAUC || m == MetricAccuracy }

// DefaultMetric returns the early-stopping metric for a model: AUC for binary
// targets, accuracy for softmax, RMSE for regression.
func DefaultMetric(m Model) Metric {
	switch {
	case m.Kind() == KindSoftmax:
		return MetricAccuracy
	case m.CheckLabel(0.5):
		return MetricRMSE
	}
	return MetricAUC
}

// Metrics are a model's figures on a held-out set. Fields that do not apply to
// the model's target type are zero.
type Metrics struct {
	Examples int64
	AUC      float64 // binary
	LogLoss  float64 // binary and softmax, mean over examples (nats)
	RMSE     float64 // regression
	MAE      float64 // regression
	Accuracy float64 // softmax
}

// Get returns the value of metric m.
func (r Metrics) Get(m Metric) float64 {
	switch m {
	case MetricAUC:
		return r.AUC
	case MetricLogLoss:
		return r.LogLoss
	case MetricRMSE:
		return r.RMSE
	case MetricAccuracy:
		return r.Accuracy
	}
	return math.NaN()
}

// Batches iterates over featurized mini-batches, like sql.Rows:
//
//	for bs.Next(ctx) { b := bs.At() … }
//	if err := bs.Err(); err != nil { … }
//
// At returns a batch valid until the next call of Next; the iterator owns and
// reuses it.
type Batches interface {
	Next(ctx context.Context) bool
	At() *Batch
	Err() error
}

// Evaluate scores every batch of bs with the Stepper's current parameters
// (nothing is updated) and computes the metrics for its model's target type
// with package eval.
func Evaluate(ctx context.Context, s *Stepper, bs Batches) (Metrics, error) {
	var ev evaluator
	for bs.Next(ctx) {
		if err := ev.add(ctx, s, bs.At()); err != nil {
			return Metrics{}, err
		}
	}
	if err := bs.Err(); err != nil {
		return Metrics{}, err
	}
	return ev.metrics(s.model)
}

// evaluator accumulates a Stepper's predictions and the labels of the
// batches it scores.
type evaluator struct {
	preds, labels, weights []float64
	pred                   []float64
	weighted               bool
	n                      int64
}

// add scores b with s's current parameters.
func (e *evaluator) add(ctx context.Context, s *Stepper, b *Batch) error {
	m := s.model
	e.pred = grow(e.pred, b.Rows()*m.Outputs())
	if err := s.Predict(ctx, b, e.pred); err != nil {
		return err
	}
	for r, y := range b.Labels {
		if !m.CheckLabel(y) {
			return &LabelError{Row: r, Value: y, Kind: m.Kind()}
		}
		e.labels = append(e.labels, float64(y))
		e.weights = append(e.weights, b.weight(r))
	}
	e.weighted = e.weighted || b.Weights != nil
	e.preds = append(e.preds, e.pred...)
	e.n += int64(b.Rows())
	return nil
}

// metrics computes the metrics of m's target type over what add saw.
func (e *evaluator) metrics(m Model) (Metrics, error) {
	if e.n == 0 {
		return Metrics{}, fmt.Errorf("evaluate: %w", ErrNoData)
	}
	preds, labels, weights := e.preds, e.labels, e.weights
	if !e.weighted {
		weights = nil
	}
	res := Metrics{Examples: e.n}
	var err error
	switch DefaultMetric(m) {
	case MetricAUC:
		// Validation rows of one class leave the AUC undefined: NaN, which
		// the caller reports (job.QualityWarnings), not a failed run.
		if res.AUC, err = eval.ROCAUC(preds, labels, weights); errors.Is(err, eval.ErrOneClass) {
			res.AUC = math.NaN()
		} else if err != nil {
			return res, fmt.Errorf("evaluate auc: %w", err)
		}
		if res.LogLoss, err = eval.LogLoss(preds, labels, weights); err != nil {
			return res, fmt.Errorf("evaluate log loss: %w", err)
		}
	case MetricAccuracy:
		cls := make([]int, len(labels))
		for i, y := range labels {
			cls[i] = int(y)
		}
		mc, err := eval.MulticlassMetrics(preds, cls, weights, m.Outputs())
		if err != nil {
			return res, fmt.Errorf("evaluate: %w", err)
		}
		res.Accuracy, res.LogLoss = mc.Accuracy, mc.LogLoss
	case MetricRMSE:
		rm, err := eval.RegressionMetrics(preds, labels, weights)
		if err != nil {
			return res, fmt.Errorf("evaluate: %w", err)
		}
		res.RMSE, res.MAE = rm.RMSE, rm.MAE
	}
	return res, nil
}

// logValue is x for a log line; an undefined metric (NaN, the AUC of one
// class) is written as "undefined", which a JSON log can hold.
func logValue(x float64) any {
	if math.IsNaN(x) {
		return "undefined"
	}
	return x
}
