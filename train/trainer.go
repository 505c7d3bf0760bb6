package train

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"time"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/lakestream/lakestream/train/feature"
)

// Config controls a training run. The zero value is not valid; start from
// DefaultConfig.
type Config struct {
	// Epochs is the number of passes over the training data (default 1).
	Epochs int
	// ClipNorm > 0 clips each step's gradient to that L2 norm.
	ClipNorm float64
	// Patience > 0 stops training after that many epochs without the
	// validation metric improving by more than MinDelta; the result then
	// holds the parameters of the best epoch. 0 trains every epoch.
	Patience int
	MinDelta float64
	// Metric is the validation metric; empty means DefaultMetric(model).
	Metric Metric
	// ExpectedExamples is the number of training examples per epoch if
	// known (0 if not); it gives the progress bar its percentage and ETA.
	ExpectedExamples int64
	// Logger receives a line per epoch and, when Progress is nil, a
	// progress line every LogEvery (default 10s). nil discards.
	Logger   *slog.Logger
	LogEvery time.Duration
	// Progress, when set (a terminal's stderr), receives a progress bar
	// redrawn in place at most every 200ms.
	Progress io.Writer
	// Now is the clock (default time.Now); tests inject a fake one.
	Now func() time.Time
	// Checkpoint, when its Every is set, makes Fit checkpoint the training
	// state and resume from the latest checkpoint.
	Checkpoint Checkpointing
	// Observe, when set, is the test half of test-then-train: the train
	// operator calls it after each record with the record, the predictions
	// the model made for its rows before learning from them and the
	// featurized rows (labels, weights, event times), as Sink.Observe. Fit
	// refuses it with more than one Stepper or more than one epoch, where
	// a prediction would not precede the only update from its row. The
	// slices are reused after it returns.
	Observe func(ctx context.Context, rec arrow.Record, preds []float64, b *feature.Batch) error
}

// DefaultConfig returns one epoch, no clipping, no early stopping, logs every
// 10s.
func DefaultConfig() Config {
	return Config{Epochs: 1, LogEvery: 10 * time.Second}
}

// Validate reports the first setting out of range.
func (c Config) Validate() error {
	switch {
	case c.Epochs < 1:
		return fmt.Errorf("%w: epochs = %d, want ≥ 1", ErrBadConfig, c.Epochs)
	case c.ClipNorm < 0 || math.IsNaN(c.ClipNorm):
		return fmt.Errorf("%w: clip norm = %v, want ≥ 0", ErrBadConfig, c.ClipNorm)
	case c.Patience < 0:
		return fmt.Errorf("%w: patience = %d, want ≥ 0", ErrBadConfig, c.Patience)
	case c.MinDelta < 0:
		return fmt.Errorf("%w: min delta = %v, want ≥ 0", ErrBadConfig, c.MinDelta)
	case c.Checkpoint.Every < 0:
		return fmt.Errorf("%w: checkpoint interval %v, want ≥ 0", ErrBadConfig, c.Checkpoint.Every)
	}
	switch c.Metric {
	case "", MetricAUC, MetricLogLoss, MetricRMSE, MetricAccuracy:
	default:
		return fmt.Errorf("%w: metric %q, want auc, logloss, rmse or accuracy", ErrBadConfig, c.Metric)
	}
	return nil
}

// EpochReport describes one finished epoch.
type EpochReport struct {
	Epoch    int // 0-based
	Examples int64
	// Positives counts the examples whose label is not 0: for a binary
	// label, the positive class. 0 or Examples means the epoch's labels
	// held one class only.
	Positives  int64
	TrainLoss  float64 // mean weighted loss over the epoch, measured before each update
	Validation *Metrics
	Duration   time.Duration
}

// Result is the outcome of Fit.
type Result struct {
	Epochs    []EpochReport
	BestEpoch int // epoch whose parameters Tables holds
	Stopped   bool
	Examples  int64 // training examples over all epochs
	Steps     int64
	Duration  time.Duration // the whole run, validation included
	// TrainTime is the time spent in training passes (validation excluded).
	TrainTime time.Duration
	// Tables are the trained parameters (those of BestEpoch).
	Tables []TableData
	// Validation is BestEpoch's validation metrics, if any.
	Validation *Metrics
}
