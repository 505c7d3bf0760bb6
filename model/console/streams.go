package console

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/train/publish"
)

// Stream jobs: what `trainer stream` (through train/publish) records in
// jobs/<job>/status.json — progress, prequential metrics, event-time
// windows and the versions it published.

// StreamSummary is one stream job in the jobs list.
type StreamSummary struct {
	Job      string    `json:"job"`
	Model    string    `json:"model"`
	State    string    `json:"state"`
	Updated  time.Time `json:"updated"`
	Source   string    `json:"source,omitempty"`
	Examples int64     `json:"examples"`
	// RecentAUC and TotalAUC are the prequential AUC over the recent
	// examples and over all of them (absent for regression or one class).
	RecentAUC *float64 `json:"recent_auc,omitempty"`
	TotalAUC  *float64 `json:"total_auc,omitempty"`
	// Versions counts the versions the status lists; LatestVersion is the
	// newest (0: none yet).
	Versions      int `json:"versions"`
	LatestVersion int `json:"latest_version,omitempty"`
	// Error says why the status could not be read; the other fields are
	// then empty.
	Error string `json:"error,omitempty"`
}

// streamJobs lists the jobs that have a status document, sorted.
func streamJobs(ctx context.Context, store lake.Store) ([]string, error) {
	objs, err := lake.ListAll(ctx, store, "jobs/")
	if err != nil {
		return nil, fmt.Errorf("list jobs/: %w", err)
	}
	var jobs []string
	for _, o := range objs {
		job, rest, ok := strings.Cut(strings.TrimPrefix(o.Key, "jobs/"), "/")
		if ok && rest == "status.json" && publish.StatusKey(job) == o.Key {
			jobs = append(jobs, job)
		}
	}
	slices.Sort(jobs)
	return jobs, nil
}

// maxStatusBytes bounds the status document the console reads (it keeps
// at most 96 windows and 64 versions: tens of KiB).
const maxStatusBytes = 8 << 20

// readStream reads a job's status; an unknown job is errNotFound.
func readStream(ctx context.Context, store lake.Store, job string) (*publish.Status, error) {
	if job == "" || strings.ContainsAny(job, "/\\") || lake.ValidateKey(publish.StatusKey(job)) != nil {
		return nil, notFound("no stream job %q", job)
	}
	info, err := store.Stat(ctx, publish.StatusKey(job))
	if errors.Is(err, lake.ErrNotExist) {
		return nil, notFound("no stream job %q (no %s)", job, publish.StatusKey(job))
	}
	if err != nil {
		return nil, err
	}
	if info.Size > maxStatusBytes {
		return nil, fmt.Errorf("%s is %d bytes, more than the console reads (%d)", publish.StatusKey(job), info.Size, maxStatusBytes)
	}
	st, err := publish.ReadStatus(ctx, store, job)
	if errors.Is(err, lake.ErrNotExist) {
		return nil, notFound("no stream job %q", job)
	}
	if err != nil {
		return nil, err
	}
	return &st, nil
}

func streamSummaries(ctx context.Context, store lake.Store) ([]StreamSummary, error) {
	jobs, err := streamJobs(ctx, store)
	if err != nil {
		return nil, err
	}
	out := make([]StreamSummary, 0, len(jobs))
	for _, job := range jobs {
		st, err := readStream(ctx, store, job)
		if errors.Is(err, errNotFound) {
			continue
		}
		if err != nil {
			out = append(out, StreamSummary{Job: job, State: "unreadable", Error: err.Error()})
			continue
		}
		s := StreamSummary{Job: job, Model: st.Model, State: st.State, Updated: st.Updated, Source: st.Source,
			Examples: st.Examples, RecentAUC: st.Prequential.Recent.AUC, TotalAUC: st.Prequential.Total.AUC,
			Versions: len(st.Versions)}
		if n := len(st.Versions); n > 0 {
			s.LatestVersion = st.Versions[n-1].Version
		}
		out = append(out, s)
	}
	return out, nil
}

// StreamList is the body of GET /api/v1/streams.
type StreamList struct {
	Streams []StreamSummary `json:"streams"`
}

func (s *Server) apiStreams(w http.ResponseWriter, r *http.Request) {
	ss, err := streamSummaries(r.Context(), s.cfg.Store)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, StreamList{Streams: ss})
}

func (s *Server) apiStream(w http.ResponseWriter, r *http.Request) {
	st, err := readStream(r.Context(), s.cfg.Store, r.PathValue("job"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

type streamData struct {
	*publish.Status
	Chart template.HTML
	// Versions newest first.
	Versions []publish.Version
}

func (s *Server) pageStream(w http.ResponseWriter, r *http.Request) {
	job := r.PathValue("job")
	st, err := readStream(r.Context(), s.cfg.Store, job)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	d := streamData{Status: st, Versions: slices.Clone(st.Versions)}
	slices.Reverse(d.Versions)
	c := chart{YName: "prequential AUC", XLabel: func(x float64) string {
		return time.UnixMilli(int64(x)).UTC().Format("Jan 2 15:04")
	}}
	var band []float64
	for _, win := range st.Windows {
		if win.AUC == nil || win.End == nil {
			continue
		}
		label := fmt.Sprintf("%s – %s: AUC %s over %d examples", win.Start.UTC().Format("Jan 2 15:04"), win.End.UTC().Format("15:04 MST"), formatMetric(*win.AUC), win.Examples)
		c.Points = append(c.Points, chartPoint{X: float64(win.End.UnixMilli()), Y: *win.AUC, Label: label})
		b := 0.0
		if win.AUCBound != nil {
			b = *win.AUCBound
		}
		band = append(band, b)
	}
	if slices.ContainsFunc(band, func(b float64) bool { return b > 0 }) {
		c.Band = band
	}
	d.Chart = c.svg()
	s.render(w, r, http.StatusOK, "stream.html", page{Title: job, Nav: "jobs",
		Crumbs: []crumb{{"Jobs", "/jobs"}, {job, ""}}, Data: d})
}

// streamHref is the page of a stream job.
func streamHref(job string) string { return "/jobs/streams/" + url.PathEscape(job) }
