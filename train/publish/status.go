package publish

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/lakestream/lakestream/eval"
	"github.com/lakestream/lakestream/lake"
)

// StatusKey is where the status of job is kept in the lake:
// jobs/<job>/status.json.
func StatusKey(job string) string { return "jobs/" + job + "/status.json" }

// Status is the document at StatusKey: what a running (or finished) job
// has trained, how its model does prequentially, and what it published.
// Fields are snake_case JSON; a metric that is undefined is null.
type Status struct {
	Job     string    `json:"job"`
	Model   string    `json:"model"`
	Updated time.Time `json:"updated"`
	// State is "running", "stopped" (a clean stop) or "failed".
	State string `json:"state"`
	// Source is the job's input, as in lineage.
	Source string `json:"source,omitempty"`
	// Offsets are the next offsets to train per partition, for Kafka.
	Offsets map[int32]int64 `json:"offsets,omitempty"`
	// Examples counts every example trained, each once.
	Examples int64 `json:"examples"`
	// Watermark is the event-time watermark, ms since the Unix epoch.
	Watermark int64 `json:"watermark,omitempty"`
	// DeadLetters counts the records sent to the dead-letter topic, by
	// reason.
	DeadLetters map[string]int64 `json:"dead_letters,omitempty"`
	// Prequential holds the test-then-train metrics over every example
	// and over the recent ones.
	Prequential PrequentialStatus `json:"prequential"`
	// Windows are the newest event-time windows that closed (at most 96),
	// oldest first.
	Windows []WindowStatus `json:"windows,omitempty"`
	// Versions are the versions the job published (at most 64), oldest
	// first, with their lineage and gate decisions.
	Versions []Version `json:"versions,omitempty"`
}

// PrequentialStatus holds the job's prequential metrics.
type PrequentialStatus struct {
	Total  WindowStatus `json:"total"`
	Recent WindowStatus `json:"recent"`
	// Late counts rows that reached no open event-time window.
	Late int64 `json:"late,omitempty"`
}

// WindowStatus is one evaluation window's figures: binary (AUC, log loss)
// or regression (RMSE, MAE).
type WindowStatus struct {
	Start    *time.Time `json:"start,omitempty"`
	End      *time.Time `json:"end,omitempty"`
	Examples int64      `json:"examples"`
	AUC      *float64   `json:"auc,omitempty"`
	AUCBound *float64   `json:"auc_bound,omitempty"`
	LogLoss  *float64   `json:"logloss,omitempty"`
	RMSE     *float64   `json:"rmse,omitempty"`
	MAE      *float64   `json:"mae,omitempty"`
	Partial  bool       `json:"partial,omitempty"`
}

// NewWindowStatus converts an evaluation result; regression says which
// figures it holds.
func NewWindowStatus(r eval.WindowResult, regression bool) WindowStatus {
	ws := WindowStatus{Examples: r.Examples, Partial: r.Partial}
	if r.End != 0 {
		s, e := time.UnixMilli(r.Start).UTC(), time.UnixMilli(r.End).UTC()
		ws.Start, ws.End = &s, &e
	}
	num := func(x float64) *float64 {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil
		}
		return &x
	}
	if r.Examples == 0 {
		return ws
	}
	if regression {
		if r.Err == nil {
			ws.RMSE, ws.MAE = num(r.Regression.RMSE), num(r.Regression.MAE)
		}
		return ws
	}
	if r.Err == nil {
		ws.AUC, ws.AUCBound = num(r.Metrics.AUC), num(r.Metrics.AUCBound)
	}
	if r.Metrics.Calibration != nil {
		ws.LogLoss = num(r.Metrics.LogLoss)
	}
	return ws
}

const (
	statusWindows  = 96
	statusVersions = 64
)

// status is the part of Status a Publisher keeps between writes.
type status struct {
	mu  sync.Mutex
	doc Status
}

func (s *status) init(cfg Config) {
	s.doc = Status{Job: cfg.Job, Model: cfg.Name, State: "running"}
}

func (s *status) addVersion(v Version) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.doc.Versions = append(s.doc.Versions, v)
	if n := len(s.doc.Versions); n > statusVersions {
		s.doc.Versions = append(s.doc.Versions[:0], s.doc.Versions[n-statusVersions:]...)
	}
}

func (s *status) versions() []Version {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Version(nil), s.doc.Versions...)
}

// Progress is what the job reports with each status write.
type Progress struct {
	State       string // "running", "stopped" or "failed"
	Source      string
	Offsets     map[int32]int64
	Examples    int64
	Watermark   int64
	DeadLetters map[string]int64
	Regression  bool
	Summary     eval.PrequentialSummary
	// Closed are the event-time windows that closed since the previous
	// write.
	Closed []eval.WindowResult
}

// WriteStatus replaces the job's status document (StatusKey) with pr and
// the versions published so far. The write is atomic (lake.PutBytes).
func (p *Publisher) WriteStatus(ctx context.Context, pr Progress) error {
	s := &p.st
	s.mu.Lock()
	d := &s.doc
	d.Updated, d.State, d.Source, d.Offsets = p.cfg.Now().UTC(), pr.State, pr.Source, pr.Offsets
	d.Examples, d.Watermark, d.DeadLetters = pr.Examples, pr.Watermark, pr.DeadLetters
	if d.Watermark == math.MinInt64 {
		d.Watermark = 0
	}
	d.Prequential = PrequentialStatus{Total: NewWindowStatus(pr.Summary.Total, pr.Regression),
		Recent: NewWindowStatus(pr.Summary.Recent, pr.Regression), Late: pr.Summary.Late}
	for _, w := range pr.Closed {
		d.Windows = append(d.Windows, NewWindowStatus(w, pr.Regression))
	}
	if n := len(d.Windows); n > statusWindows {
		d.Windows = append(d.Windows[:0], d.Windows[n-statusWindows:]...)
	}
	raw, err := json.MarshalIndent(d, "", "  ")
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("encode job status: %w", err)
	}
	if err := lake.PutBytes(ctx, p.cfg.Store, StatusKey(p.cfg.Job), raw); err != nil {
		return fmt.Errorf("write job status: %w", err)
	}
	return nil
}

// ReadStatus reads the status document of job from store.
func ReadStatus(ctx context.Context, store lake.Store, job string) (Status, error) {
	var s Status
	raw, err := lake.ReadAll(ctx, store, StatusKey(job))
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return s, fmt.Errorf("%s: %w", StatusKey(job), err)
	}
	return s, nil
}
