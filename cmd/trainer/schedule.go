package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/train/job"
	"github.com/lakestream/lakestream/train/schedule"
)

// Exit codes of "trainer schedule run", for external schedulers.
const (
	exitGateRefused = 3
	exitNoData      = 4
	exitBusy        = 5
)

// exitError carries a command's exit code.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// ExitCode is read by main.
func (e *exitError) ExitCode() int { return e.code }

const scheduleUsage = `Usage: trainer schedule <subcommand> [arguments] [flags]: scheduled retraining (see README "Scheduled retraining")

  trainer schedule serve    --schedule FILE [--jobs a,b] [--metrics-listen :9464]
  trainer schedule run      JOB --interval ID|latest --schedule FILE [--force]
  trainer schedule backfill JOB --from ID --to ID --schedule FILE [--force]
  trainer schedule status   [JOB] --schedule FILE

"run" exits 0 when the run succeeded (or had already), 3 when the gate
refused the version, 4 when the data did not arrive, 5 when another scheduler
is running the interval, 1 when it failed, 2 on bad input. "--interval latest"
runs the last interval that has closed by the job's timetable (a Kubernetes
CronJob calls it so).`

// runSchedule is "trainer schedule".
func runSchedule(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stdout, scheduleUsage)
		if len(args) == 0 {
			return &usageError{"schedule: want serve, run, backfill or status"}
		}
		return nil
	}
	sub, args := args[0], args[1:]
	jobName := ""
	if sub == "run" || sub == "backfill" || sub == "status" {
		if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
			jobName, args = args[0], args[1:]
		} else if sub != "status" && !(len(args) > 0 && (args[0] == "-h" || args[0] == "--help")) {
			return &usageError{fmt.Sprintf("schedule %s: want JOB first (a job name of the schedule file)", sub)}
		}
	}
	fs := flag.NewFlagSet("schedule "+sub, flag.ContinueOnError)
	file := fs.String("schedule", "", "the schedule file (YAML: lake, jobs)")
	lakeURI := fs.String("lake", "", "the lake (default: the schedule file's lake:)")
	var ann announceFlags
	if sub != "status" { // status only reads run records: it announces nothing
		ann.register(fs)
	}
	var interval, from, to, jobs, metricsAddr *string
	var force *bool
	switch sub {
	case "serve":
		jobs = fs.String("jobs", "", "comma-separated jobs to run (default: all)")
		metricsAddr = fs.String("metrics-listen", "", "serve Prometheus metrics on this address (/metrics)")
	case "run":
		interval = fs.String("interval", "", "the interval to run, e.g. 2026-11-08, or latest: the last one that has closed by the job's timetable (required)")
		force = fs.Bool("force", false, "run it again even if it succeeded or the gate refused it")
	case "backfill":
		from = fs.String("from", "", "first interval (required)")
		to = fs.String("to", "", "last interval (required)")
		force = fs.Bool("force", false, "run intervals again that succeeded or the gate refused")
	case "status":
	default:
		return &usageError{fmt.Sprintf("schedule: unknown subcommand %q: want serve, run, backfill or status", sub)}
	}
	if err := parseConfig(fs, args, nil); err != nil {
		return err
	}
	if *file == "" {
		return &usageError{"schedule: --schedule FILE is required (the jobs' YAML file)"}
	}
	f, err := schedule.Load(*file)
	if err != nil {
		return &usageError{err.Error()}
	}
	if *lakeURI == "" {
		*lakeURI = f.Lake
	}
	if *lakeURI == "" {
		return &usageError{"schedule: no lake: set lake: in the schedule file or pass --lake"}
	}
	var selected []*schedule.Job
	switch {
	case jobName != "":
		j, err := f.Job(jobName)
		if err != nil {
			return &usageError{err.Error()}
		}
		selected = []*schedule.Job{j}
	case jobs != nil && *jobs != "":
		for name := range strings.SplitSeq(*jobs, ",") {
			j, err := f.Job(strings.TrimSpace(name))
			if err != nil {
				return &usageError{"--jobs: " + err.Error()}
			}
			selected = append(selected, j)
		}
	default:
		selected = f.Jobs
	}
	// Check the intervals asked for before opening anything.
	switch sub {
	case "run":
		if *interval == "" {
			return &usageError{"schedule run: --interval is required (e.g. 2026-11-08, or latest)"}
		}
		if *interval == "latest" {
			*interval = selected[0].LatestClosed(time.Now()).ID
		}
		if _, err := selected[0].IntervalByID(*interval); err != nil {
			return &usageError{"--interval: " + err.Error()}
		}
	case "backfill":
		if *from == "" || *to == "" {
			return &usageError{"schedule backfill: --from and --to are required"}
		}
		if _, err := selected[0].Intervals(*from, *to); err != nil {
			return &usageError{err.Error()}
		}
	}
	store, err := lake.Open(ctx, *lakeURI)
	if err != nil {
		return fmt.Errorf("--lake: %w", err)
	}
	if sub == "status" {
		var recs []*schedule.Record
		for _, j := range selected {
			r, err := schedule.Records(ctx, store, j.Name)
			if err != nil {
				return err
			}
			recs = append(recs, r...)
		}
		return schedule.WriteTable(stdout, recs)
	}

	logger := newLogger(os.Stderr)
	pcfg := schedule.PipelineConfig{Store: store, LakeURI: *lakeURI, TrainConfig: scheduleTrainConfig}
	if ann.brokers != "" {
		a := model.DefaultAnnounceConfig(strings.Split(ann.brokers, ",")...)
		a.Topic = ann.topic
		pcfg.Announce = &a
	}
	pipe, err := schedule.NewPipeline(pcfg)
	if err != nil {
		return &usageError{err.Error()}
	}
	reg := prometheus.NewRegistry()
	sched, err := schedule.New(schedule.Config{Store: store, Pipeline: pipe, Logger: logger, Metrics: schedule.NewMetrics(reg)})
	if err != nil {
		return err
	}
	if err := sched.Check(ctx, selected...); err != nil {
		return &usageError{err.Error()}
	}
	switch sub {
	case "run":
		j := selected[0]
		iv, _ := j.IntervalByID(*interval)
		rec, err := sched.RunInterval(ctx, j, iv, *force)
		return runOutcome(stdout, rec, err)
	case "backfill":
		recs, err := sched.Backfill(ctx, selected[0], *from, *to, *force)
		if werr := schedule.WriteTable(stdout, compact(recs)); werr != nil && err == nil {
			err = werr
		}
		return err
	}
	if *metricsAddr != "" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
		srv := &http.Server{Addr: *metricsAddr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		errc := make(chan error, 1)
		go func() { errc <- srv.ListenAndServe() }()
		defer func() {
			srv.Close()
			<-errc
		}()
	}
	err = sched.Serve(ctx, selected...)
	if errors.Is(err, context.Canceled) {
		return nil // SIGINT or SIGTERM: runs were stopped and recorded
	}
	return err
}

func compact(recs []*schedule.Record) []*schedule.Record {
	return slices.DeleteFunc(slices.Clone(recs), func(r *schedule.Record) bool { return r == nil })
}

// runOutcome prints the record of "schedule run" and maps it to the exit
// code.
func runOutcome(stdout io.Writer, rec *schedule.Record, err error) error {
	var busy *schedule.BusyError
	switch {
	case errors.As(err, &busy):
		return &exitError{exitBusy, err.Error()}
	case errors.Is(err, schedule.ErrDone):
		fmt.Fprintf(stdout, "%s %s already ran (%s, version %d): pass --force to run it again\n", rec.Job, rec.Interval, rec.State, rec.Version)
	case err != nil:
		return err
	}
	schedule.WriteTable(stdout, []*schedule.Record{rec})
	switch rec.State {
	case schedule.Succeeded:
		return nil
	case schedule.GateRefused:
		return &exitError{exitGateRefused, fmt.Sprintf("%s %s: the gate refused version %d: %s", rec.Job, rec.Interval, rec.Version, rec.Error)}
	case schedule.NoData:
		return &exitError{exitNoData, fmt.Sprintf("%s %s: %s", rec.Job, rec.Interval, rec.Error)}
	}
	return fmt.Errorf("%s %s failed (attempt %d of %d): %s", rec.Job, rec.Interval, rec.Attempt, rec.MaxAttempts, rec.Error)
}

// scheduleTrainConfig turns a job's rendered train: flags into the job
// config "trainer train" would build from the same flags (lake, data,
// output and warm-start are set by the scheduler afterwards; the
// environment and --config are not read, so a run depends on the schedule
// file alone).
func scheduleTrainConfig(flags map[string]string) (job.Config, error) {
	fs := flag.NewFlagSet("train:", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	finish := trainFlags(fs)
	args := []string{"--data", "placeholder"}
	for _, k := range slices.Sorted(maps.Keys(flags)) {
		args = append(args, "--"+k+"="+flags[k])
	}
	if err := fs.Parse(args); err != nil {
		return job.Config{}, fmt.Errorf("train: %v (the train: keys are trainer train's flags)", strings.TrimPrefix(err.Error(), "flag provided but not defined: -"))
	}
	j, err := finish()
	if err != nil {
		return job.Config{}, err
	}
	j.stderr = io.Discard
	return j.config(), nil
}
