package datastream

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors.
var (
	// ErrEndOfInput is returned by Source.ReadBatch when a bounded source has
	// no more rows. The runtime then advances that source's watermark to
	// MaxWatermark.
	ErrEndOfInput = errors.New("datastream: end of input")

	// ErrNoCheckpoint is returned by Job.Run with restore enabled and by
	// LatestCheckpoint when no complete checkpoint exists for the job.
	ErrNoCheckpoint = errors.New("datastream: no complete checkpoint")

	// ErrBadManifest is returned (wrapped, with the reason) when a checkpoint
	// manifest or state file does not decode or fails its checksum.
	ErrBadManifest = errors.New("datastream: invalid checkpoint")

	// ErrJobNotRunning is returned by StopWithSavepoint and TriggerCheckpoint
	// when the job is not running or has checkpoints disabled.
	ErrJobNotRunning = errors.New("datastream: job not running with checkpoints")

	// ErrGraph is returned (wrapped, naming the operator) by Job.Run when the
	// job graph is invalid: duplicate or empty names, a stream with no sink,
	// a parallelism below 1.
	ErrGraph = errors.New("datastream: invalid job graph")
)

// LateDataError describes one row that arrived after the watermark had
// passed the end of every window it belongs to plus the allowed lateness.
// Such rows go to the window's late side output; when none is attached they
// are counted and logged with this error.
type LateDataError struct {
	Operator  string
	Window    Window // the latest window the row belonged to
	EventTime int64  // the row's timestamp, ms since the epoch
	Watermark int64  // the operator's watermark when the row arrived
}

func (e *LateDataError) Error() string {
	return fmt.Sprintf("datastream: %s: late row at %s for window %s, watermark %s (%d ms late)",
		e.Operator, fmtMillis(e.EventTime), e.Window, fmtMillis(e.Watermark), e.Watermark-e.Window.End+1)
}

// OperatorError wraps an error returned by user code or by an operator
// subtask, naming where it happened.
type OperatorError struct {
	Operator string
	Subtask  int
	Err      error
}

func (e *OperatorError) Error() string {
	return fmt.Sprintf("datastream: operator %s[%d]: %v", e.Operator, e.Subtask, e.Err)
}

func (e *OperatorError) Unwrap() error { return e.Err }

func fmtMillis(ms int64) string {
	switch ms {
	case NoWatermark:
		return "-inf"
	case MaxWatermark:
		return "+inf"
	}
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
}
