package eval

import (
	"errors"
	"fmt"
)

// Sentinel errors. Functions wrap them (usually in a *ValueError naming the
// argument and index) so errors.Is works on every error this package returns.
var (
	// ErrNaN is returned when a score, label, weight or target is NaN.
	ErrNaN = errors.New("eval: NaN input")
	// ErrInvalidLabel is returned when a binary label is not 0 or 1, a class
	// label is outside [0, classes), or a relevance grade is negative or
	// infinite.
	ErrInvalidLabel = errors.New("eval: invalid label")
	// ErrInvalidWeight is returned when a sample weight is negative or
	// infinite.
	ErrInvalidWeight = errors.New("eval: invalid weight")
	// ErrInvalidScore is returned when a score is infinite where a finite
	// value is needed, or outside [0, 1] where a probability is needed.
	ErrInvalidScore = errors.New("eval: invalid score")
	// ErrNoData is returned when a metric is asked for over no examples, or
	// over examples whose weights sum to zero.
	ErrNoData = errors.New("eval: no data")
	// ErrOneClass is returned by ROC AUC, average precision and KS when the
	// (weighted) examples hold only positives or only negatives: the metric
	// is undefined.
	ErrOneClass = errors.New("eval: only one class present")
	// ErrIncompatible is returned by Merge when two accumulators were built
	// with different configurations (bins, threshold, classes, K, windows).
	ErrIncompatible = errors.New("eval: incompatible accumulators")
	// ErrInvalidConfig is returned by Validate methods; the wrapping error
	// names the field.
	ErrInvalidConfig = errors.New("eval: invalid configuration")
	// ErrColumn is returned by the evaluators when a record lacks a needed
	// column or holds it with an unsupported type; the wrapping error names
	// the column.
	ErrColumn = errors.New("eval: bad column")
)

// ValueError reports an invalid input value: which argument, at which index,
// what value, and which sentinel (Err) it violates.
type ValueError struct {
	Arg   string  // "scores", "labels", "weights", "targets", …
	Index int     // position in the argument
	Value float64 // the offending value
	Err   error   // one of the sentinels above
}

func (e *ValueError) Error() string {
	return fmt.Sprintf("%s[%d] = %v: %v", e.Arg, e.Index, e.Value, e.Err)
}

// Unwrap returns the sentinel.
func (e *ValueError) Unwrap() error { return e.Err }
