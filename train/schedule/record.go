package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
)

// State is the state of a run.
type State string

// Run states. A run goes queued → waiting (the sensor) → running →
// succeeded, gate-refused, no-data or failed. A failed run with attempts left
// is tried again at RetryAt.
const (
	Queued      State = "queued"
	Waiting     State = "waiting"
	Running     State = "running"
	Succeeded   State = "succeeded"
	GateRefused State = "gate-refused"
	NoData      State = "no-data"
	Failed      State = "failed"
)

// Done reports whether the state ends a run (a failed run may still be
// retried; see Record.Final).
func (s State) Done() bool {
	return s == Succeeded || s == GateRefused || s == NoData || s == Failed
}

// Record is the run record of one interval of a job, stored as
// runs/<job>/<interval>.json in the lake. Only the scheduler holding the
// interval's lease writes it. Its JSON form is a stable format read by other
// tools (the console's runs grid); see README "Scheduled retraining".
type Record struct {
	Job      string `json:"job"`
	Interval string `json:"interval"`
	// DataIntervalStart and DataIntervalEnd bound the interval, in the
	// job's time zone.
	DataIntervalStart time.Time `json:"data_interval_start"`
	DataIntervalEnd   time.Time `json:"data_interval_end"`
	State             State     `json:"state"`
	// Attempt counts the attempts started (1 for the first).
	Attempt int `json:"attempt"`
	// MaxAttempts is 1 + the job's retries.
	MaxAttempts int `json:"max_attempts"`
	// Owner identifies the scheduler process running the current attempt.
	Owner string `json:"owner,omitempty"`
	// Forced is true when the run was started again after it had succeeded.
	Forced bool `json:"forced,omitempty"`
	// QueuedAt is when the first attempt was queued; StartedAt when the
	// current attempt started; EndedAt when the run reached a final state.
	QueuedAt  time.Time  `json:"queued_at"`
	StartedAt time.Time  `json:"started_at"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
	// RetryAt is when a failed run with attempts left is tried again.
	RetryAt *time.Time `json:"retry_at,omitempty"`
	// Missing lists the partition folders the sensor has not seen committed
	// (while waiting, and in a no-data run).
	Missing []string `json:"missing,omitempty"`
	// Model and Version name the candidate trained (Version 0: none yet).
	Model   string `json:"model"`
	Version int    `json:"version,omitempty"`
	// WarmStart is the version the candidate started from ("" from scratch).
	WarmStart string `json:"warm_start,omitempty"`
	// TrainMetrics are the candidate's validation metrics from training;
	// Metrics its metrics on the evaluation slice (auc, logloss, ...).
	TrainMetrics map[string]float64 `json:"train_metrics,omitempty"`
	Metrics      map[string]float64 `json:"metrics,omitempty"`
	// Decision is the gate's decision (policy promote); nil otherwise.
	Decision *model.Decision `json:"decision,omitempty"`
	// Champion is the champion version when the run ended.
	Champion int `json:"champion,omitempty"`
	// Durations of the current attempt's phases, in seconds.
	Durations Durations `json:"durations"`
	// Error is the failure of the last failed attempt, or why there is no
	// data.
	Error string `json:"error,omitempty"`
	// Attempts lists every attempt, oldest first.
	Attempts []Attempt `json:"attempts"`
}

// Durations are the phase durations of an attempt, in seconds.
type Durations struct {
	Wait    float64 `json:"wait_seconds"`
	Train   float64 `json:"train_seconds"`
	Publish float64 `json:"publish_seconds"`
	Total   float64 `json:"total_seconds"`
}

// Attempt is one attempt of a run.
type Attempt struct {
	Number    int        `json:"number"`
	Owner     string     `json:"owner"`
	StartedAt time.Time  `json:"started_at"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
	State     State      `json:"state"`
	Error     string     `json:"error,omitempty"`
}

// Final reports whether the long-running scheduler leaves the interval
// alone: it succeeded, was refused by the gate, had no data, or failed with
// no attempts left.
func (r *Record) Final() bool {
	switch r.State {
	case Succeeded, GateRefused, NoData:
		return true
	case Failed:
		return r.Attempt >= r.MaxAttempts
	}
	return false
}

// RunsPrefix is the folder of a job's run records.
func RunsPrefix(job string) string { return "runs/" + job + "/" }

// RecordKey is the key of the run record of a job's interval.
func RecordKey(job, interval string) string { return RunsPrefix(job) + interval + ".json" }

// ReadRecord reads the run record of job's interval; an error wrapping
// lake.ErrNotExist means it never ran.
func ReadRecord(ctx context.Context, store lake.Store, job, interval string) (*Record, error) {
	raw, err := lake.ReadAll(ctx, store, RecordKey(job, interval))
	if err != nil {
		return nil, err
	}
	var r Record
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("run record %s: %w", RecordKey(job, interval), err)
	}
	return &r, nil
}

// Records reads every run record of job, in interval order.
func Records(ctx context.Context, store lake.Store, job string) ([]*Record, error) {
	infos, err := lake.ListAll(ctx, store, RunsPrefix(job))
	if err != nil {
		if errors.Is(err, lake.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var out []*Record
	for _, in := range infos {
		rest := strings.TrimPrefix(in.Key, RunsPrefix(job))
		if strings.Contains(rest, "/") || !strings.HasSuffix(rest, ".json") {
			continue
		}
		r, err := ReadRecord(ctx, store, job, strings.TrimSuffix(rest, ".json"))
		if err != nil {
			if errors.Is(err, lake.ErrNotExist) {
				continue
			}
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func writeRecord(ctx context.Context, store lake.Store, r *Record) error {
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := lake.PutBytes(ctx, store, RecordKey(r.Job, r.Interval), raw); err != nil {
		return fmt.Errorf("write run record: %w", err)
	}
	return nil
}
