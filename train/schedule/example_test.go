package schedule_test

import (
	"os"
	"time"

	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/train/schedule"
)

// The runs table of "trainer schedule status", from run records as
// schedule.Records reads them from runs/<job>/.
func ExampleWriteTable() {
	end := time.Date(2026, 11, 10, 2, 31, 4, 0, time.UTC)
	recs := []*schedule.Record{
		{Job: "ctr-daily", Interval: "2026-11-08", State: schedule.Succeeded, Attempt: 1, MaxAttempts: 3,
			Version: 7, Champion: 7, EndedAt: &end, Metrics: map[string]float64{"auc": 0.80044},
			Durations: schedule.Durations{Total: 64}},
		{Job: "ctr-daily", Interval: "2026-11-09", State: schedule.GateRefused, Attempt: 1, MaxAttempts: 3,
			Version: 8, Champion: 7, Metrics: map[string]float64{"auc": 0.6133},
			Decision:  &model.Decision{Candidate: 8, Reason: "candidate auc 0.6133 is worse than champion v7 0.8012"},
			Error:     "candidate auc 0.6133 is worse than champion v7 0.8012",
			Durations: schedule.Durations{Total: 71}},
		{Job: "ctr-daily", Interval: "2026-11-10", State: schedule.Waiting, Attempt: 1, MaxAttempts: 3,
			Missing: []string{"clicks/dt=2026-11-11"}},
	}
	schedule.WriteTable(os.Stdout, recs)
	// Output:
	// JOB        INTERVAL    STATE         ATTEMPT  VERSION  AUC     CHAMPION  DURATION  NOTE
	// ctr-daily  2026-11-08  succeeded     1/3      7        0.8004  7         1m4s
	// ctr-daily  2026-11-09  gate-refused  1/3      8        0.6133  7         1m11s     candidate auc 0.6133 is worse than champion v7 0.8012
	// ctr-daily  2026-11-10  waiting       1/3      -        -       -         -         waiting for [clicks/dt=2026-11-11]
}
