package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/lake/laketest"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/train/clicklog"
	"github.com/lakestream/lakestream/train/schedule"
)

// scheduleLake generates a small click log (days from start) in a local lake
// and returns the lake folder and a spec file.
func scheduleLake(t *testing.T, start time.Time, days, rows int) (string, string) {
	t.Helper()
	dir := t.TempDir()
	lakeDir := filepath.Join(dir, "lake")
	store, err := lake.NewLocal(lakeDir)
	if err != nil {
		t.Fatal(err)
	}
	c := clicklog.DefaultConfig()
	c.Rows, c.Days, c.Start = rows, days, start
	if _, err := clicklog.Generate(context.Background(), store, "clicks", c); err != nil {
		t.Fatal(err)
	}
	spec := filepath.Join(dir, "clicks.yaml")
	if err := os.WriteFile(spec, []byte(clicklog.SpecYAML(16)), 0o644); err != nil {
		t.Fatal(err)
	}
	return lakeDir, spec
}

func writeSchedule(t *testing.T, lakeURI, jobYAML string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "schedule.yaml")
	if err := os.WriteFile(p, []byte("lake: "+lakeURI+"\njobs:\n"+jobYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const cliJob = `  - name: ctr-daily
    schedule: %q
    data: %s
    train: {spec: %s, model: logistic%s}
    publish: {model: ctr, min_auc: 0.6}
`

// TestScheduleBadInput: each mistake is a clear error (exit 2) before
// anything runs: no run record, no lease, no model.
func TestScheduleBadInput(t *testing.T) {
	lakeDir, spec := scheduleLake(t, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), 3, 3000)
	tests := []struct {
		name     string
		schedule string
		data     string
		train    string
		args     []string
		want     string
	}{
		{"invalid cron", "0 25 * * *", "clicks", "", nil, `job ctr-daily: schedule "0 25 * * *": hour field "25": 25 is out of range 0-23`},
		{"unknown job", "@daily", "clicks", "", []string{"run", "cvr-daily"}, `unknown job "cvr-daily": the schedule file has ctr-daily`},
		{"unknown template variable", "@daily", "clicks", `, where: "dt >= '{{ds_sub 6}}'"`, nil,
			`train.where "dt >= '{{ds_sub 6}}'": unknown template variable "ds_sub"`},
		{"unknown train flag", "@daily", "clicks", ", epoch: 2", nil, "train: epoch (the train: keys are trainer train's flags)"},
		{"table with no data", "@daily", "clikcs", "", nil, "data clikcs: the table has no objects in the lake"},
		{"interval not a day", "@daily", "clicks", "", []string{"run", "ctr-daily", "--interval", "2026-11-02T05"}, "--interval: interval \"2026-11-02T05\" of job ctr-daily: want the form 2006-01-02"},
		{"backwards backfill", "@daily", "clicks", "", []string{"backfill", "ctr-daily", "--from", "2026-11-02", "--to", "2026-11-01"}, "runs backwards"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := writeSchedule(t, lakeDir, fmt.Sprintf(cliJob, tt.schedule, tt.data, spec, tt.train))
			args := tt.args
			if args == nil {
				args = []string{"run", "ctr-daily", "--interval", "2026-11-01"}
			}
			out, code, err := runCLI(append(append([]string{"schedule"}, args...), "--schedule", file)...)
			if err == nil || code != 2 || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("exit %d, %v, want exit 2 and an error containing %q\n%s", code, err, tt.want, out)
			}
			store, _ := lake.NewLocal(lakeDir)
			if objs, _ := lake.ListAll(context.Background(), store, "runs/"); len(objs) > 0 {
				t.Errorf("something ran: %v", objs)
			}
			if objs, _ := lake.ListAll(context.Background(), store, "models/"); len(objs) > 0 {
				t.Errorf("a model was saved: %v", objs[0].Key)
			}
		})
	}
}

// TestScheduleRunExitCodes: "trainer schedule run" for an external
// scheduler: succeeded (0), already ran (0), no data (4, the missing
// partition named), gate refused (3), and the status table.
func TestScheduleRunExitCodes(t *testing.T) {
	t.Setenv("LAKESTREAM_KAFKA_BROKERS", "") // no announcements on the shared default topic
	lakeDir, spec := scheduleLake(t, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), 3, 9000)
	file := writeSchedule(t, lakeDir, fmt.Sprintf(cliJob, "@daily", "clicks", spec, ""))
	run := func(iv string, extra ...string) (string, int) {
		out, code, err := runCLI(append([]string{"schedule", "run", "ctr-daily", "--interval", iv, "--schedule", file}, extra...)...)
		t.Logf("run %s: exit %d, %v\n%s", iv, code, err, out)
		return out, code
	}
	if _, code := run("2026-11-01"); code != 0 {
		t.Fatalf("first run: exit %d", code)
	}
	if out, code := run("2026-11-01"); code != 0 || !strings.Contains(out, "already ran (succeeded, version 1): pass --force") {
		t.Errorf("second run: exit %d", code)
	}
	// 2026-11-03 is evaluated on 2026-11-04, which does not exist.
	if out, code := run("2026-11-03"); code != exitNoData || !strings.Contains(out, "clicks/dt=2026-11-04") {
		t.Errorf("no data: exit %d", code)
	}
	// A floor no model reaches: the gate refuses.
	strict := writeSchedule(t, lakeDir, strings.Replace(fmt.Sprintf(cliJob, "@daily", "clicks", spec, ""), "min_auc: 0.6", "min_auc: 0.99", 1))
	out, code, err := runCLI("schedule", "run", "ctr-daily", "--interval", "2026-11-02", "--schedule", strict)
	if code != exitGateRefused || !strings.Contains(err.Error(), "does not reach the floor 0.99") {
		t.Errorf("gate: exit %d, %v\n%s", code, err, out)
	}
	out, _, err = runCLI("schedule", "status", "--schedule", file)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("status:\n%s", out)
	for _, want := range []string{"2026-11-01  succeeded", "2026-11-02  gate-refused", "2026-11-03  no-data"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q", want)
		}
	}
}

// TestScheduleKill9: the long-running scheduler is killed with SIGKILL
// during a run on a MinIO lake; after a restart the interval is retried
// (its lease taken over once expired) and every interval promotes at most
// once.
func TestScheduleKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: builds the trainer and runs it on MinIO")
	}
	env, bucket := laketest.MinIOBucket(t)
	lakeURI := "s3://" + bucket
	store, err := lake.Open(context.Background(), lakeURI, env.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	start := today.AddDate(0, 0, -3)
	c := clicklog.DefaultConfig()
	c.Rows, c.Days, c.Start = 4*60000, 4, start
	if _, err := clicklog.Generate(context.Background(), store, "clicks", c); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	spec := filepath.Join(dir, "clicks.yaml")
	if err := os.WriteFile(spec, []byte(clicklog.SpecYAML(18)), 0o644); err != nil {
		t.Fatal(err)
	}
	file := writeSchedule(t, lakeURI, fmt.Sprintf(`  - name: ctr-daily
    schedule: "@daily"
    start: %s
    data: clicks
    train: {spec: %s, model: fm, epochs: 3}
    publish: {model: ctr, min_auc: 0.6, max_drop: 0.05}
    lease: 3s
    retry_delay: 1s
`, start.Format(time.DateOnly), spec))
	bin := filepath.Join(dir, "trainer")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	serve := func() *exec.Cmd {
		cmd := exec.Command(bin, "schedule", "serve", "--schedule", file)
		cmd.Env = append(os.Environ(), "LAKESTREAM_KAFKA_BROKERS=") // no announcements on the shared default topic
		stderr, _ := cmd.StderrPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() {
			for sc := bufio.NewScanner(stderr); sc.Scan(); {
				t.Log(sc.Text())
			}
		}()
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd
	}
	first := start.Format(time.DateOnly)
	rec := func(iv string) *schedule.Record {
		r, err := schedule.ReadRecord(context.Background(), store, "ctr-daily", iv)
		if err != nil {
			return &schedule.Record{}
		}
		return r
	}
	wait := func(what string, d time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out after %v waiting for %s", d, what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	cmd := serve()
	wait(first+" running", 60*time.Second, func() bool { return rec(first).State == schedule.Running })
	time.Sleep(300 * time.Millisecond) // into the training
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	killed := rec(first)
	t.Logf("killed during %s: state %s, attempt %d, version %d", first, killed.State, killed.Attempt, killed.Version)
	if killed.State.Done() {
		t.Fatalf("the run had already ended (%s) when the scheduler was killed: make it longer", killed.State)
	}
	cmd = serve()
	ivs := []string{first, start.AddDate(0, 0, 1).Format(time.DateOnly), start.AddDate(0, 0, 2).Format(time.DateOnly)}
	wait("all 3 intervals to end", 120*time.Second, func() bool {
		for _, iv := range ivs {
			if r := rec(iv); !r.Final() || r.State == "" {
				return false
			}
		}
		return true
	})
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	r := rec(first)
	if r.Attempt != killed.Attempt+1 || r.Attempts[len(r.Attempts)-1].Owner == killed.Owner {
		t.Errorf("%s: attempt %d by %s after the kill (attempt %d by %s), want a retry by the new process", first, r.Attempt, r.Owner, killed.Attempt, killed.Owner)
	}
	alias, err := model.Alias(context.Background(), store, "ctr", model.Champion)
	if err != nil {
		t.Fatal(err)
	}
	moves := append([]int{alias.Version}, alias.Previous...)
	succeeded := 0
	for _, iv := range ivs {
		r := rec(iv)
		t.Logf("%s: %s, attempt %d, version %d", iv, r.State, r.Attempt, r.Version)
		if r.State == schedule.Succeeded {
			succeeded++
		}
	}
	slices.Sort(moves)
	if len(slices.Compact(slices.Clone(moves))) != len(moves) || len(moves) != succeeded {
		t.Errorf("champion history %v after %d succeeded runs: want each run's version promoted once", moves, succeeded)
	}
}

// TestScheduleRunLatest: "--interval latest" runs the last interval of the
// job's timetable that has closed by now (what a CronJob asks for). The
// lake's data is from 2026-11, so that interval has no data: exit 4, and
// the run record is the latest interval's.
func TestScheduleRunLatest(t *testing.T) {
	t.Setenv("LAKESTREAM_KAFKA_BROKERS", "")
	lakeDir, spec := scheduleLake(t, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), 3, 3000)
	// A short sensor: by default it waits up to 6 h after the interval's
	// end for the data, which at 02:30-08:30 UTC would hold the test.
	file := writeSchedule(t, lakeDir, fmt.Sprintf(cliJob, "30 2 * * *", "clicks", spec, "")+"    sensor: {timeout: 1s, poke: 100ms}\n")
	f, err := schedule.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	j, err := f.Job("ctr-daily")
	if err != nil {
		t.Fatal(err)
	}
	before := j.LatestClosed(time.Now()).ID
	out, code, err := runCLI("schedule", "run", "ctr-daily", "--interval", "latest", "--schedule", file)
	after := j.LatestClosed(time.Now()).ID
	t.Logf("exit %d, %v\n%s", code, err, out)
	if code != exitNoData {
		t.Fatalf("exit %d, want %d (no data for the latest interval)", code, exitNoData)
	}
	recs, err := schedule.Records(context.Background(), mustLocalLake(t, lakeDir), "ctr-daily")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || (recs[0].Interval != before && recs[0].Interval != after) {
		t.Fatalf("run records %+v, want one for the latest closed interval %s", recs, before)
	}
}

func mustLocalLake(t *testing.T, dir string) lake.Store {
	t.Helper()
	s, err := lake.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
