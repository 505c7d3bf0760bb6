package job

import (
	"math"
	"strings"
	"testing"

	"github.com/lakestream/lakestream/train"
)

func TestQualityWarnings(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    *train.Metrics
		warn bool
	}{
		{"no validation", nil, false},
		{"good", &train.Metrics{AUC: 0.74, LogLoss: 0.4}, false},
		{"chance", &train.Metrics{AUC: 0.5, LogLoss: 0.69}, true},
		{"single-class training label", &train.Metrics{AUC: 0.48, LogLoss: 3}, true},
		{"nan", &train.Metrics{AUC: math.NaN()}, true},
		{"regression", &train.Metrics{RMSE: 1.2}, false},
		{"multiclass", &train.Metrics{Accuracy: 0.3, LogLoss: 1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := QualityWarnings(train.Result{Validation: tc.v})
			if (len(w) > 0) != tc.warn || tc.warn && !strings.Contains(w[0], "label column") {
				t.Fatalf("QualityWarnings = %q, want a warning: %v", w, tc.warn)
			}
		})
	}
}
