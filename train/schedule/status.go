package schedule

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable prints records as the runs table of "trainer schedule status":
// job, interval, state, attempts, version, the candidate's AUC on the
// evaluation slice, the champion afterwards, the attempt's duration and a
// note (the gate's reason, the error, the missing partitions).
func WriteTable(w io.Writer, recs []*Record) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tINTERVAL\tSTATE\tATTEMPT\tVERSION\tAUC\tCHAMPION\tDURATION\tNOTE")
	for _, r := range recs {
		version, auc, champ := "-", "-", "-"
		if r.Version > 0 {
			version = strconv.Itoa(r.Version)
		}
		if v, ok := r.Metrics["auc"]; ok {
			auc = strconv.FormatFloat(v, 'f', 4, 64)
		}
		if r.Champion > 0 {
			champ = strconv.Itoa(r.Champion)
		}
		dur := "-"
		if r.Durations.Total > 0 {
			dur = (time.Duration(r.Durations.Total * float64(time.Second))).Round(time.Second).String()
		}
		note := r.Error
		if r.State == Waiting {
			note = fmt.Sprintf("waiting for %v", r.Missing)
		}
		if r.State == Failed && r.RetryAt != nil {
			note = fmt.Sprintf("retry at %s: %s", r.RetryAt.Format(time.RFC3339), r.Error)
		}
		if len(note) > 120 {
			note = note[:117] + "..."
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\t%s\t%s\t%s\t%s\n", r.Job, r.Interval, r.State, r.Attempt, r.MaxAttempts, version, auc, champ, dur, note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for line := range strings.Lines(buf.String()) {
		if _, err := io.WriteString(w, strings.TrimRight(line, " \n")+"\n"); err != nil {
			return err
		}
	}
	return nil
}
