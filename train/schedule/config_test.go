package schedule

import (
	"strings"
	"testing"
	"time"
)

func TestParseSchedule(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		expr  string
		loc   *time.Location
		after string
		want  []string // the next ticks, in UTC
	}{
		{"@daily", time.UTC, "2026-11-08T00:00:00Z", []string{"2026-11-09T00:00:00Z", "2026-11-10T00:00:00Z"}},
		{"@hourly", time.UTC, "2026-11-08T10:30:00Z", []string{"2026-11-08T11:00:00Z", "2026-11-08T12:00:00Z"}},
		{"30 2 * * *", paris, "2026-11-08T00:00:00Z", []string{"2026-11-08T01:30:00Z", "2026-11-09T01:30:00Z"}},
		// Paris leaves summer time on 2026-10-25: 02:30 local is 00:30Z before, 01:30Z after.
		{"30 2 * * *", paris, "2026-10-24T12:00:00Z", []string{"2026-10-25T01:30:00Z", "2026-10-26T01:30:00Z"}},
		{"*/15 9-10 * * mon-fri", time.UTC, "2026-11-06T10:40:00Z", []string{"2026-11-06T10:45:00Z", "2026-11-09T09:00:00Z"}},
		{"0 0 1,15 * *", time.UTC, "2026-11-02T00:00:00Z", []string{"2026-11-15T00:00:00Z", "2026-12-01T00:00:00Z"}},
		// Day of month and day of week both restricted: either matches.
		{"0 0 13 * 5", time.UTC, "2026-11-01T00:00:00Z", []string{"2026-11-06T00:00:00Z", "2026-11-13T00:00:00Z", "2026-11-20T00:00:00Z"}},
		{"0 12 * * 7", time.UTC, "2026-11-08T12:00:00Z", []string{"2026-11-15T12:00:00Z"}},
		{"@every 6h", time.UTC, "2026-11-08T05:00:00Z", []string{"2026-11-08T06:00:00Z", "2026-11-08T12:00:00Z"}},
		{"0 0 29 feb *", time.UTC, "2026-01-01T00:00:00Z", []string{"2028-02-29T00:00:00Z"}},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			tt1, err := ParseSchedule(tt.expr, tt.loc)
			if err != nil {
				t.Fatal(err)
			}
			at := utc(tt.after)
			for _, w := range tt.want {
				at = tt1.Next(at)
				if !at.Equal(utc(w)) {
					t.Fatalf("next tick %s, want %s", at.UTC().Format(time.RFC3339), w)
				}
			}
		})
	}
}

func TestParseScheduleErrors(t *testing.T) {
	for _, tt := range []struct{ expr, want string }{
		{"0 2 * *", "want 5 fields"},
		{"61 * * * *", "minute field \"61\": 61 is out of range 0-59"},
		{"0 25 * * *", "hour field"},
		{"0 0 * foo *", `"foo" is not a number`},
		{"0 0 5-1 * *", "runs backwards"},
		{"*/0 * * * *", "step \"0\""},
		{"0 0 31 2 *", "never fires"},
		{"@fortnightly", "unknown shorthand"},
		{"@every 7m", "divide a day"},
		{"@every banana", "not a duration"},
	} {
		_, err := ParseSchedule(tt.expr, time.UTC)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseSchedule(%q) = %v, want an error containing %q", tt.expr, err, tt.want)
		}
	}
}

const goodJob = `
lake: s3://lake/prod
jobs:
  - name: ctr
    schedule: "@daily"
    timezone: Europe/Paris
    data: clicks
    window: 7
    train:
      spec: clicks.yaml
      model: fm
      epochs: 2
      where: "country = 'fr' and dt >= '{{ds_add -6}}'"
    publish:
      model: ctr
      min_auc: 0.7
`

func TestParsePlan(t *testing.T) {
	f, err := Parse([]byte(goodJob))
	if err != nil {
		t.Fatal(err)
	}
	j, err := f.Job("ctr")
	if err != nil {
		t.Fatal(err)
	}
	iv, err := j.IntervalByID("2026-11-08")
	if err != nil {
		t.Fatal(err)
	}
	if iv.Start.Format(time.RFC3339) != "2026-11-08T00:00:00+01:00" || iv.End.Format(time.RFC3339) != "2026-11-09T00:00:00+01:00" {
		t.Errorf("interval %s..%s", iv.Start, iv.End)
	}
	p, err := j.Plan(iv)
	if err != nil {
		t.Fatal(err)
	}
	if p.Train["dt"] != "2026-11-02..2026-11-08" || p.EvalDT != "2026-11-09" {
		t.Errorf("train dt %q, eval dt %q", p.Train["dt"], p.EvalDT)
	}
	if p.Train["where"] != "country = 'fr' and dt >= '2026-11-02'" || p.Train["epochs"] != "2" || p.EvalWhere != p.Train["where"] {
		t.Errorf("train flags %v", p.Train)
	}
	if len(p.TrainPartitions) != 7 || p.TrainPartitions[0] != "clicks/dt=2026-11-02" || p.TrainPartitions[6] != "clicks/dt=2026-11-08" {
		t.Errorf("train partitions %v", p.TrainPartitions)
	}
	if len(p.EvalPartitions) != 1 || p.EvalPartitions[0] != "clicks/dt=2026-11-09" {
		t.Errorf("eval partitions %v", p.EvalPartitions)
	}
	if got := j.Gate(); got.Floor != 0.7 || got.Epsilon != 0.002 {
		t.Errorf("gate %+v", got)
	}
	if _, err := f.Job("cvr"); err == nil || !strings.Contains(err.Error(), `unknown job "cvr": the schedule file has ctr`) {
		t.Errorf("unknown job: %v", err)
	}
}

func TestIntervalIDs(t *testing.T) {
	for _, tt := range []struct {
		schedule, id, wantStart string
		wantErr                 string
	}{
		{"@daily", "2026-11-08", "2026-11-08T00:00:00Z", ""},
		{"30 2 * * *", "2026-11-08", "2026-11-08T02:30:00Z", ""},
		{"@hourly", "2026-11-08T05", "2026-11-08T05:00:00Z", ""},
		{"*/30 * * * *", "2026-11-08T05:30", "2026-11-08T05:30:00Z", ""},
		{"@daily", "2026-11-08T05", "", "want the form 2006-01-02"},
		{"0 0 * * mon", "2026-11-08", "", "has no tick on 2026-11-08"},
	} {
		j := &Job{Name: "j", Schedule: tt.schedule, Data: "t", Publish: Publish{Model: "m"}}
		if err := j.Validate(); err != nil {
			t.Fatal(err)
		}
		iv, err := j.IntervalByID(tt.id)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s %s: err %v, want %q", tt.schedule, tt.id, err, tt.wantErr)
			}
			continue
		}
		if err != nil || iv.Start.UTC().Format(time.RFC3339) != tt.wantStart || iv.ID != tt.id {
			t.Errorf("%s %s: %+v, %v", tt.schedule, tt.id, iv, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	base := func(extra string) string {
		return "jobs:\n  - name: ctr\n    data: clicks\n    publish: {model: ctr}\n" + extra
	}
	for _, tt := range []struct{ name, yaml, want string }{
		{"invalid cron", base(`    schedule: "0 2 * *"` + "\n"), `job ctr: schedule "0 2 * *": want 5 fields`},
		{"no schedule", base(""), "job ctr: schedule is required"},
		{"unknown variable", base("    schedule: \"@daily\"\n    train: {where: \"dt = '{{dss}}'\"}\n"),
			`job ctr: train.where "dt = '{{dss}}'": unknown template variable "dss" (known: ds, ds_nodash, ds_add`},
		{"dot field", base("    schedule: \"@daily\"\n    partition: \"dt={{.ds}}\"\n"), "no dot fields"},
		{"bad timezone", base("    schedule: \"@daily\"\n    timezone: Mars/Olympus\n"), `timezone "Mars/Olympus"`},
		{"window", base("    schedule: \"@daily\"\n    window: -1\n"), "window -1"},
		{"reserved flag", base("    schedule: \"@daily\"\n    train: {output: x}\n"), "train.output is set by the scheduler"},
		{"unknown key", base("    schedule: \"@daily\"\n    windows: 3\n"), "field windows not found"},
		{"policy", "jobs:\n  - {name: ctr, data: clicks, schedule: \"@daily\", publish: {model: ctr, policy: yolo}}\n", `publish.policy "yolo"`},
		{"start", base("    schedule: \"@daily\"\n    start: 2026-13-01\n"), "start: interval \"2026-13-01\""},
		{"duplicate", "jobs:\n  - {name: a, data: t, schedule: \"@daily\", publish: {model: m}}\n  - {name: a, data: t, schedule: \"@daily\", publish: {model: m}}\n", "job a is defined twice"},
		{"empty", "lake: x\n", "no jobs"},
		{"lease", base("    schedule: \"@daily\"\n    lease: 1s\n"), "lease 1s"},
		{"retry delay", base("    schedule: \"@daily\"\n    retry_delay: soon\n"), `"soon" is not a duration`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
