package train

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"time"
)

// Data opens the mini-batches of a bounded training run. TrainBatches is
// called once per epoch (0-based) and should shuffle with a seed derived from
// the epoch, so a run is reproducible; ValidationBatches is called after each
// epoch, or never when HasValidation is false.
type Data interface {
	TrainBatches(ctx context.Context, epoch int) (Batches, error)
	ValidationBatches(ctx context.Context) (Batches, error)
	HasValidation() bool
}

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
	Epoch      int // 0-based
	Examples   int64
	TrainLoss  float64 // mean weighted loss over the epoch, measured before each update
	Validation *Metrics
	Duration   time.Duration
}

// Result is the outcome of Run.
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

// Run trains s's model on data for cfg.Epochs epochs with validation, early
// stopping and progress reporting, and returns the trained parameters. It
// stops at the first step error (a *DivergenceError names the step and
// table). A run that sees no training example returns an error wrapping
// ErrNoData.
func Run(ctx context.Context, s *Stepper, data Data, cfg Config) (Result, error) {
	return run(ctx, []*Stepper{s}, data, cfg)
}

// run is Run with the Steppers of RunWorkers (checked there); ss[0]
// validates and exports.
func run(ctx context.Context, ss []*Stepper, data Data, cfg Config) (Result, error) {
	s := ss[0]
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := CheckMetric(s.model, cfg.Metric); err != nil {
		return Result{}, err
	}
	metric := cfg.Metric
	if metric == "" {
		metric = DefaultMetric(s.model)
	}
	start := now()
	var res Result
	best := math.Inf(1)
	if metric.higherIsBetter() {
		best = math.Inf(-1)
	}
	sinceBest := 0
	for epoch := range cfg.Epochs {
		var rep EpochReport
		var err error
		if len(ss) == 1 {
			rep, err = runEpoch(ctx, s, data, cfg, epoch, log, now)
		} else {
			rep, err = runEpochParallel(ctx, ss, data.(ShardedData), cfg, epoch, log, now)
		}
		if err != nil {
			return res, err
		}
		res.Examples += rep.Examples
		res.TrainTime += rep.Duration
		if rep.Examples == 0 {
			return res, fmt.Errorf("epoch %d: %w (check the data path and partition filters)", epoch, ErrNoData)
		}
		if data.HasValidation() {
			vb, err := data.ValidationBatches(ctx)
			if err != nil {
				return res, fmt.Errorf("open validation data: %w", err)
			}
			m, err := Evaluate(ctx, s, vb)
			if err != nil {
				return res, fmt.Errorf("validate epoch %d: %w", epoch, err)
			}
			rep.Validation = &m
		}
		res.Epochs = append(res.Epochs, rep)
		attrs := []any{"epoch", epoch + 1, "examples", rep.Examples, "train_loss", rep.TrainLoss, "duration", rep.Duration.Round(time.Millisecond)}
		if rep.Validation != nil {
			attrs = append(attrs, "val_"+string(metric), rep.Validation.Get(metric))
		}
		log.Info("epoch done", attrs...)

		improved := true
		if rep.Validation != nil {
			v := rep.Validation.Get(metric)
			if metric.higherIsBetter() {
				improved = v > best+cfg.MinDelta
			} else {
				improved = v < best-cfg.MinDelta
			}
			if improved {
				best = v
			}
		}
		if improved || epoch == 0 {
			sinceBest = 0
			res.BestEpoch = epoch
			res.Validation = rep.Validation
			// Keep the best parameters only when a later epoch may be
			// rolled back; otherwise export once at the end.
			if cfg.Patience > 0 && epoch+1 < cfg.Epochs {
				if res.Tables, err = s.Export(ctx); err != nil {
					return res, err
				}
			} else {
				res.Tables = nil
			}
			continue
		}
		sinceBest++
		if cfg.Patience > 0 && sinceBest >= cfg.Patience {
			log.Info("early stopping", "best_epoch", res.BestEpoch+1, "metric", metric, "best", best)
			res.Stopped = true
			break
		}
		if cfg.Patience == 0 {
			res.BestEpoch = epoch
			res.Validation = rep.Validation
			res.Tables = nil
		}
	}
	if res.Tables == nil {
		var err error
		if res.Tables, err = s.Export(ctx); err != nil {
			return res, err
		}
	}
	for _, w := range ss {
		res.Steps += w.steps
	}
	res.Duration = now().Sub(start)
	return res, nil
}

// runEpoch makes one pass over the training batches.
func runEpoch(ctx context.Context, s *Stepper, data Data, cfg Config, epoch int, log *slog.Logger, now func() time.Time) (EpochReport, error) {
	rep := EpochReport{Epoch: epoch}
	bs, err := data.TrainBatches(ctx, epoch)
	if err != nil {
		return rep, fmt.Errorf("open training data for epoch %d: %w", epoch, err)
	}
	pr := newProgress(cfg, epoch, log, now)
	var loss, weight float64
	for bs.Next(ctx) {
		r, err := s.Step(ctx, bs.At())
		if err != nil {
			pr.finish()
			return rep, err
		}
		rep.Examples += int64(r.Examples)
		loss += r.Loss
		weight += r.Weight
		pr.update(rep.Examples, r.Loss/max(r.Weight, 1e-12))
	}
	pr.finish()
	if err := bs.Err(); err != nil {
		return rep, fmt.Errorf("read training data: %w", err)
	}
	if weight > 0 {
		rep.TrainLoss = loss / weight
	}
	rep.Duration = now().Sub(pr.start)
	return rep, nil
}
