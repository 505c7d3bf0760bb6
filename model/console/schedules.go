package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/train/schedule"
)

// Scheduled jobs: the run records `trainer schedule` keeps at
// runs/<job>/<interval>.json (train/schedule), shown as Airflow's grid —
// a row per job, a column per interval, each cell coloured by state.

// defaultRuns and maxRuns bound the runs read per job: the newest ones.
const (
	defaultRuns = 60
	maxRuns     = 1000
)

// ScheduledJob is one job's newest runs.
type ScheduledJob struct {
	Job string `json:"job"`
	// Model is the model its newest run trained.
	Model string `json:"model,omitempty"`
	// Intervals counts every run record of the job; Runs holds the newest,
	// in interval order.
	Intervals int         `json:"intervals"`
	Runs      []RunRecord `json:"runs"`
}

// RunRecord is a run record, or why it cannot be read.
type RunRecord struct {
	// Interval names the run even when the record cannot be read.
	Interval string `json:"interval"`
	// Record is the record as `trainer schedule` wrote it.
	Record *schedule.Record `json:"record,omitempty"`
	// Error says why the record could not be read.
	Error string `json:"error,omitempty"`
}

// scheduledJobs lists the jobs with run records and their intervals,
// sorted.
func scheduledJobs(ctx context.Context, store lake.Store) (map[string][]string, []string, error) {
	objs, err := lake.ListAll(ctx, store, "runs/")
	if err != nil {
		return nil, nil, fmt.Errorf("list runs/: %w", err)
	}
	intervals := map[string][]string{}
	for _, o := range objs {
		job, rest, ok := strings.Cut(strings.TrimPrefix(o.Key, "runs/"), "/")
		if !ok || strings.Contains(rest, "/") || strings.HasPrefix(rest, "_") {
			continue
		}
		if iv, ok := strings.CutSuffix(rest, ".json"); ok && schedule.RecordKey(job, iv) == o.Key {
			intervals[job] = append(intervals[job], iv)
		}
	}
	jobs := make([]string, 0, len(intervals))
	for j, ivs := range intervals {
		slices.Sort(ivs)
		jobs = append(jobs, j)
	}
	slices.Sort(jobs)
	return intervals, jobs, nil
}

// readRuns reads the newest limit runs of job among intervals.
func readRuns(ctx context.Context, store lake.Store, job string, intervals []string, limit int) (ScheduledJob, error) {
	sj := ScheduledJob{Job: job, Intervals: len(intervals), Runs: []RunRecord{}}
	for _, iv := range intervals[max(0, len(intervals)-limit):] {
		rec, err := schedule.ReadRecord(ctx, store, job, iv)
		switch {
		case errors.Is(err, lake.ErrNotExist):
			continue
		case err != nil:
			sj.Runs = append(sj.Runs, RunRecord{Interval: iv, Error: err.Error()})
		default:
			sj.Runs = append(sj.Runs, RunRecord{Interval: iv, Record: rec})
			sj.Model = rec.Model
		}
	}
	return sj, nil
}

func scheduledRuns(ctx context.Context, store lake.Store, only string, limit int) ([]ScheduledJob, error) {
	intervals, jobs, err := scheduledJobs(ctx, store)
	if err != nil {
		return nil, err
	}
	if only != "" {
		if _, ok := intervals[only]; !ok {
			return nil, notFound("no scheduled job %q (no run records under %s)", only, schedule.RunsPrefix(only))
		}
		jobs = []string{only}
	}
	out := make([]ScheduledJob, 0, len(jobs))
	for _, j := range jobs {
		sj, err := readRuns(ctx, store, j, intervals[j], limit)
		if err != nil {
			return nil, err
		}
		out = append(out, sj)
	}
	return out, nil
}

// limitParam reads ?limit=N (default defaultRuns, at most maxRuns).
func limitParam(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return defaultRuns, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxRuns {
		return 0, badRequest("limit %q: want a number of runs per job from 1 to %d", v, maxRuns)
	}
	return n, nil
}

// ScheduleList is the body of GET /api/v1/schedules.
type ScheduleList struct {
	Jobs []ScheduledJob `json:"jobs"`
}

func (s *Server) apiSchedules(w http.ResponseWriter, r *http.Request) {
	limit, err := limitParam(r)
	if err != nil {
		s.writeFail(w, r, err)
		return
	}
	jobs, err := scheduledRuns(r.Context(), s.cfg.Store, "", limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ScheduleList{Jobs: jobs})
}

func (s *Server) apiSchedule(w http.ResponseWriter, r *http.Request) {
	limit, err := limitParam(r)
	if err != nil {
		s.writeFail(w, r, err)
		return
	}
	jobs, err := scheduledRuns(r.Context(), s.cfg.Store, r.PathValue("job"), limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, jobs[0])
}

// gridData is the runs grid: one row per job, one column per interval
// (the union over jobs, the newest defaultRuns).
type gridData struct {
	Intervals []string
	Rows      []gridRow
	// States lists the states for the legend.
	States []string
}

type gridRow struct {
	Job   string
	Model string
	Cells []gridCell
}

type gridCell struct {
	Interval string
	// State is the run's state, "none" without a run, "unreadable" when its
	// record cannot be read.
	State string
	Title string
	Href  string
}

func buildGrid(jobs []ScheduledJob) gridData {
	seen := map[string]bool{}
	var ivs []string
	for _, j := range jobs {
		for _, r := range j.Runs {
			if !seen[r.Interval] {
				seen[r.Interval] = true
				ivs = append(ivs, r.Interval)
			}
		}
	}
	slices.Sort(ivs)
	ivs = ivs[max(0, len(ivs)-defaultRuns):]
	g := gridData{Intervals: ivs, States: []string{string(schedule.Queued), string(schedule.Waiting), string(schedule.Running),
		string(schedule.Succeeded), string(schedule.GateRefused), string(schedule.NoData), string(schedule.Failed)}}
	for _, j := range jobs {
		row := gridRow{Job: j.Job, Model: j.Model}
		byIv := map[string]RunRecord{}
		for _, r := range j.Runs {
			byIv[r.Interval] = r
		}
		for _, iv := range ivs {
			r, ok := byIv[iv]
			c := gridCell{Interval: iv, State: "none", Title: j.Job + " " + iv + ": no run"}
			switch {
			case !ok:
			case r.Record == nil:
				c.State, c.Title = "unreadable", j.Job+" "+iv+": "+r.Error
			default:
				c.State, c.Title = string(r.Record.State), runTitle(r.Record)
				if r.Record.Version > 0 && r.Record.Model != "" {
					c.Href = "/models/" + r.Record.Model + "/versions/" + strconv.Itoa(r.Record.Version)
				}
			}
			row.Cells = append(row.Cells, c)
		}
		g.Rows = append(g.Rows, row)
	}
	return g
}

// runTitle is a cell's tooltip: what `trainer schedule status` prints.
func runTitle(r *schedule.Record) string {
	parts := []string{fmt.Sprintf("%s %s: %s (attempt %d/%d)", r.Job, r.Interval, r.State, r.Attempt, r.MaxAttempts)}
	if r.Version > 0 {
		parts = append(parts, fmt.Sprintf("version %d", r.Version))
	}
	if auc, ok := r.Metrics["auc"]; ok {
		parts = append(parts, "AUC "+formatMetric(auc))
	}
	if r.Champion > 0 {
		parts = append(parts, fmt.Sprintf("champion v%d", r.Champion))
	}
	if r.Durations.Total > 0 {
		parts = append(parts, fmt.Sprintf("%.0fs", r.Durations.Total))
	}
	note := r.Error
	if r.State == schedule.Waiting && len(r.Missing) > 0 {
		note = "waiting for " + strings.Join(r.Missing, ", ")
	}
	if r.Decision != nil && r.Decision.Reason != "" && note == "" {
		note = r.Decision.Reason
	}
	if note != "" {
		parts = append(parts, note)
	}
	return strings.Join(parts, " · ")
}
