package train

import (
	"errors"
	"fmt"
)

// Sentinel errors.
var (
	// ErrCheckpointMismatch is returned by Fit when the checkpoint it would
	// resume from was taken by a job with other settings, or is not a
	// training state.
	ErrCheckpointMismatch = errors.New("train: checkpoint does not belong to this job")
	// ErrBadBatch is returned when a mini-batch's slices disagree in length.
	ErrBadBatch = errors.New("train: malformed mini-batch")
	// ErrUnknownModel is returned by New for a model kind it does not know.
	ErrUnknownModel = errors.New("train: unknown model kind")
	// ErrBadConfig is returned by Validate for out-of-range settings.
	ErrBadConfig = errors.New("train: invalid configuration")
	// ErrBadLabel is returned when a label is outside the model's target
	// type (not 0/1 for a binary model, not a class number for softmax,
	// not finite for regression).
	ErrBadLabel = errors.New("train: label outside the model's target type")
	// ErrNoData is returned when a training run sees no example at all, for
	// instance because a partition filter matched nothing.
	ErrNoData = errors.New("train: no training examples")
)

// DivergenceError reports a non-finite loss, gradient or parameter: training
// stops at the first one rather than publishing a broken model.
type DivergenceError struct {
	Step  int64  // 1-based mini-batch number in the run
	Table string // the table whose gradient or value was not finite, or "" for the loss
	Row   int    // example row in the batch, or -1
	Value float64
}

func (e *DivergenceError) Error() string {
	if e.Table == "" {
		return fmt.Sprintf("train: diverged at step %d: loss is %v (row %d); lower the learning rate or enable gradient clipping", e.Step, e.Value, e.Row)
	}
	return fmt.Sprintf("train: diverged at step %d: table %q has a %v gradient; lower the learning rate or enable gradient clipping", e.Step, e.Table, e.Value)
}
