package schedule

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
)

// File is a schedule file: the jobs one scheduler runs.
//
//	lake: s3://lake/prod
//	jobs:
//	  - name: ctr-daily
//	    schedule: "@daily"
//	    ...
type File struct {
	// Lake is the lake URI holding the data, the models and the run
	// records; "trainer schedule --lake" overrides it.
	Lake string `yaml:"lake"`
	// Jobs are the scheduled jobs; names are unique.
	Jobs []*Job `yaml:"jobs"`
}

// Job is one scheduled training job. Settings whose names end in a template
// are rendered per interval (see TemplateNames).
type Job struct {
	// Name names the job in commands, run records (runs/<name>/) and
	// metrics: lowercase letters, digits, '-' and '_'.
	Name string `yaml:"name"`
	// Schedule is a 5-field cron expression, @hourly, @daily, @weekly,
	// @monthly, @yearly or "@every D" (see ParseSchedule).
	Schedule string `yaml:"schedule"`
	// Timezone is an IANA zone name ("Europe/Paris"); default UTC.
	Timezone string `yaml:"timezone"`
	// Start is the first interval the long-running scheduler runs (an
	// interval ID). Empty: the latest interval closed when it starts.
	// Earlier intervals run only through a backfill.
	Start string `yaml:"start"`
	// Data is the table in the lake ("clicks").
	Data string `yaml:"data"`
	// Partition is the folder under Data that holds one interval's data, a
	// template; default "dt={{ds}}". The sensor waits for its _SUCCESS
	// marker (or one in a folder above it, as the lake's commit rule says).
	Partition string `yaml:"partition"`
	// Window is the number of intervals the model trains on, ending with
	// the data interval; default 1. Unless Train sets "dt", the run trains
	// on dt {{ds_add -(Window-1)}}..{{ds}} for a daily job.
	Window int `yaml:"window"`
	// Train holds "trainer train" flags without the dashes (spec, model,
	// optimizer, epochs, where, ...); values are templates. lake, data,
	// output and warm-start are set by the scheduler.
	Train map[string]any `yaml:"train"`
	// WarmStart is "champion" (default: start from the current champion
	// when there is one) or "none" (train from scratch).
	WarmStart string `yaml:"warm_start"`
	// Evaluate is the held-out slice both the candidate and the champion
	// are scored on.
	Evaluate Evaluate `yaml:"evaluate"`
	// Publish is the publishing policy.
	Publish Publish `yaml:"publish"`
	// Sensor says how long to wait for the data.
	Sensor Sensor `yaml:"sensor"`
	// Retries is how many times a failed run is tried again; default 2.
	Retries *int `yaml:"retries"`
	// RetryDelay is the pause before the first retry, doubled before each
	// later one; default 5m.
	RetryDelay Duration `yaml:"retry_delay"`
	// MaxActiveRuns bounds the job's runs this scheduler process has in
	// flight at once (catching up, backfills); default 1.
	MaxActiveRuns int `yaml:"max_active_runs"`
	// Lease is how long a run's lease lasts without renewal; a run renews
	// it every third of that, and another scheduler takes a run over once
	// its lease has expired. Default 1m.
	Lease Duration `yaml:"lease"`

	loc       *time.Location
	timetable Timetable
	partition *tmpl
	train     map[string]*tmpl
}

// Evaluate is a job's evaluation slice.
type Evaluate struct {
	// Intervals is how many intervals after the data interval are held out
	// (their partitions, with the training "where" filter); default 1, the
	// next interval. The run waits for them too.
	Intervals int `yaml:"intervals"`
}

// Publish is a job's publishing policy.
type Publish struct {
	// Model is the registry name the versions are saved under.
	Model string `yaml:"model"`
	// Policy is "promote" (default: the gate may move the champion) or
	// "register" (save the version and record its metrics only).
	Policy string `yaml:"policy"`
	// MinAUC is the gate's floor on the candidate's AUC; default 0.5.
	MinAUC *float64 `yaml:"min_auc"`
	// MaxDrop is how far below the champion's AUC, on the same slice, the
	// candidate may be; default 0.002.
	MaxDrop *float64 `yaml:"max_drop"`
}

// Sensor is how a run waits for its partitions.
type Sensor struct {
	// Timeout bounds the wait, counted from the end of the data interval:
	// a run that still misses partitions then ends as "no data". Default
	// 6h. A backfill of old intervals thus does not wait.
	Timeout Duration `yaml:"timeout"`
	// Poke is the pause between two checks; default 1m.
	Poke Duration `yaml:"poke"`
}

// Duration is a time.Duration written as "90s", "5m" or "6h" in YAML.
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (e.g. 90s, 5m, 6h)", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Reserved training flags: the scheduler sets them.
var reservedTrain = []string{"lake", "data", "output", "warm-start", "config"}

// Policies.
const (
	PolicyPromote  = "promote"
	PolicyRegister = "register"
)

// Load reads and checks a schedule file.
func Load(path string) (*File, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("schedule file: %w", err)
	}
	f, err := Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("schedule file %s: %w", path, err)
	}
	return f, nil
}

// Parse reads a schedule file's YAML, fills in defaults and checks every
// job (see Job.Validate). Unknown keys are errors.
func Parse(raw []byte) (*File, error) {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	var f File
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if len(f.Jobs) == 0 {
		return nil, errors.New("no jobs: add a jobs: list")
	}
	seen := map[string]bool{}
	for i, j := range f.Jobs {
		if j == nil {
			return nil, fmt.Errorf("jobs[%d] is empty", i)
		}
		if err := j.Validate(); err != nil {
			return nil, err
		}
		if seen[j.Name] {
			return nil, fmt.Errorf("job %s is defined twice", j.Name)
		}
		seen[j.Name] = true
	}
	return &f, nil
}

// Job returns the job called name, or an error listing the jobs there are.
func (f *File) Job(name string) (*Job, error) {
	var names []string
	for _, j := range f.Jobs {
		if j.Name == name {
			return j, nil
		}
		names = append(names, j.Name)
	}
	return nil, fmt.Errorf("unknown job %q: the schedule file has %s", name, strings.Join(names, ", "))
}

// Validate fills in defaults and reports the first setting that cannot
// work, naming the job and the setting. It parses the schedule and every
// template and renders them for the latest closed interval.
func (j *Job) Validate() error {
	if err := model.ValidateName(j.Name); err != nil {
		return fmt.Errorf("job name: %w", err)
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("job %s: "+format, append([]any{j.Name}, args...)...)
	}
	if j.Timezone == "" {
		j.Timezone = "UTC"
	}
	loc, err := time.LoadLocation(j.Timezone)
	if err != nil {
		return fail("timezone %q: %v (want an IANA name such as Europe/Paris)", j.Timezone, err)
	}
	j.loc = loc
	if j.Schedule == "" {
		return fail("schedule is required (a cron expression, @daily, @hourly or @every 6h)")
	}
	if j.timetable, err = ParseSchedule(j.Schedule, loc); err != nil {
		return fail("%v", err)
	}
	if j.Data == "" {
		return fail("data is required (the table in the lake, e.g. clicks)")
	}
	if err := lake.ValidateKey(j.Data); err != nil {
		return fail("data %q: %v", j.Data, err)
	}
	if j.Partition == "" {
		j.Partition = "dt={{ds}}"
	}
	if j.partition, err = parseTemplate("partition", j.Partition); err != nil {
		return fail("%v", err)
	}
	if j.Window == 0 {
		j.Window = 1
	}
	if j.Window < 1 {
		return fail("window %d: want ≥ 1 intervals", j.Window)
	}
	switch j.WarmStart {
	case "":
		j.WarmStart = "champion"
	case "champion", "none":
	default:
		return fail("warm_start %q: want champion or none", j.WarmStart)
	}
	if j.Evaluate.Intervals == 0 {
		j.Evaluate.Intervals = 1
	}
	if j.Evaluate.Intervals < 1 {
		return fail("evaluate.intervals %d: want ≥ 1", j.Evaluate.Intervals)
	}
	if err := j.validatePublish(); err != nil {
		return fail("%v", err)
	}
	if j.Sensor.Timeout == 0 {
		j.Sensor.Timeout = Duration(6 * time.Hour)
	}
	if j.Sensor.Poke == 0 {
		j.Sensor.Poke = Duration(time.Minute)
	}
	if j.Sensor.Timeout < 0 || j.Sensor.Poke < 0 {
		return fail("sensor timeout and poke must be positive durations")
	}
	if j.Retries == nil {
		two := 2
		j.Retries = &two
	}
	if *j.Retries < 0 {
		return fail("retries %d: want ≥ 0", *j.Retries)
	}
	if j.RetryDelay == 0 {
		j.RetryDelay = Duration(5 * time.Minute)
	}
	if j.MaxActiveRuns == 0 {
		j.MaxActiveRuns = 1
	}
	if j.MaxActiveRuns < 1 || j.RetryDelay < 0 {
		return fail("max_active_runs must be ≥ 1 and retry_delay positive")
	}
	if j.Lease == 0 {
		j.Lease = Duration(time.Minute)
	}
	if time.Duration(j.Lease) < 3*time.Second {
		return fail("lease %v: want at least 3s (it is renewed every third of it)", time.Duration(j.Lease))
	}
	if j.Start != "" {
		if _, err := j.IntervalByID(j.Start); err != nil {
			return fail("start: %v", err)
		}
	}
	j.train = map[string]*tmpl{}
	for k, v := range j.Train {
		k = strings.TrimLeft(k, "-")
		if slices.Contains(reservedTrain, k) {
			return fail("train.%s is set by the scheduler (lake and data from the file, output from publish.model, warm-start from warm_start): remove it", k)
		}
		var s string
		switch v := v.(type) {
		case string:
			s = v
		case int, float64, bool:
			s = fmt.Sprint(v)
		default:
			return fail("train.%s: want a string, number or boolean, got %T", k, v)
		}
		if j.train[k], err = parseTemplate("train."+k, s); err != nil {
			return fail("%v", err)
		}
	}
	// Render everything once, so a template that parses but cannot run
	// ({{.ds}}, {{ds_add "x"}}) fails now rather than at the first run.
	sample := j.LatestClosed(time.Now())
	if _, err := j.Plan(sample); err != nil {
		return err
	}
	return nil
}

func (j *Job) validatePublish() error {
	p := &j.Publish
	if p.Model == "" {
		return errors.New("publish.model is required (the registry name of the versions)")
	}
	if err := model.ValidateName(p.Model); err != nil {
		return fmt.Errorf("publish.model: %w", err)
	}
	switch p.Policy {
	case "":
		p.Policy = PolicyPromote
	case PolicyPromote, PolicyRegister:
	default:
		return fmt.Errorf("publish.policy %q: want promote or register", p.Policy)
	}
	if p.MinAUC == nil {
		v := model.DefaultMinAUC
		p.MinAUC = &v
	}
	if p.MaxDrop == nil {
		v := model.DefaultMaxDrop
		p.MaxDrop = &v
	}
	if *p.MinAUC < 0 || *p.MinAUC > 1 || *p.MaxDrop < 0 {
		return fmt.Errorf("publish: min_auc %v must be in [0, 1] and max_drop %v ≥ 0", *p.MinAUC, *p.MaxDrop)
	}
	return nil
}

// Gate is the job's gate on AUC.
func (j *Job) Gate() model.Gate {
	return model.Gate{Metric: "auc", Floor: *j.Publish.MinAUC, Epsilon: *j.Publish.MaxDrop}
}

// Location returns the job's time zone.
func (j *Job) Location() *time.Location { return j.loc }
