package train_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/lakestream/lakestream/train"
	"github.com/lakestream/lakestream/train/feature"
	"github.com/lakestream/lakestream/train/optim"
)

func TestCheckSpecAndMetric(t *testing.T) {
	clicks, err := feature.Parse([]byte("label: {column: click, type: binary}\ncategorical: [{column: a}, {column: b}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	ratings, err := feature.Parse([]byte("label: {column: rating, type: real}\ncategorical: [{column: user}, {column: item}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		kind    train.Kind
		spec    *feature.Spec
		metric  train.Metric
		refused string // in the error; "" when accepted
	}{
		{train.KindBayesLinear, clicks, "", "use adpredictor"},
		{train.KindBayesLinear, ratings, train.MetricRMSE, ""},
		{train.KindBayesLinear, ratings, train.MetricAUC, "reports [rmse]"},
		{train.KindAdPredictor, clicks, train.MetricAUC, ""},
		{train.KindAdPredictor, clicks, train.MetricLogLoss, ""},
		{train.KindAdPredictor, clicks, train.MetricRMSE, "reports [auc logloss]"},
		{train.KindAdPredictor, ratings, "", "needs a binary label"},
		{train.KindLogistic, ratings, "", "needs a binary label"},
		{train.KindLogistic, clicks, train.MetricAccuracy, "reports [auc logloss]"},
		{train.KindMF, ratings, train.MetricRMSE, ""},
	} {
		t.Run(string(tc.kind)+"/"+tc.spec.Label.Type+"/"+string(tc.metric), func(t *testing.T) {
			c := train.DefaultModelConfig(tc.kind)
			c.Fields = tc.spec.NumFields()
			if tc.kind == train.KindMF {
				c.Loss = train.LossSquared
			}
			err := train.CheckSpec(c, tc.spec)
			if err == nil {
				m, merr := train.NewModel(c)
				if merr != nil {
					t.Fatal(merr)
				}
				err = train.CheckMetric(m, tc.metric)
				if err != nil {
					// Fit refuses it too, before training (no source is opened).
					st := train.NewStepper(m, storeFor(t, m, optim.DefaultConfig(optim.AdaGrad)), 0)
					_, rerr := train.Fit(context.Background(), []*train.Stepper{st}, &train.Bounded{Spec: tc.spec}, train.Config{Epochs: 1, Metric: tc.metric})
					if !errors.Is(rerr, train.ErrBadConfig) {
						t.Errorf("Fit with metric %s: %v, want ErrBadConfig", tc.metric, rerr)
					}
				}
			}
			switch {
			case tc.refused == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.refused != "" && (err == nil || !strings.Contains(err.Error(), tc.refused) || !errors.Is(err, train.ErrBadConfig)):
				t.Errorf("got %v, want ErrBadConfig mentioning %q", err, tc.refused)
			}
		})
	}
}
