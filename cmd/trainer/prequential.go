package main

import (
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/lakestream/lakestream/train/job"
	"github.com/lakestream/lakestream/train/publish"
)

// prequentialFlags are "trainer train"'s --prequential, --recent and
// --window.
type prequentialFlags struct {
	on     bool
	recent int
	window time.Duration
}

func (p *prequentialFlags) register(fs *flag.FlagSet) {
	d := job.DefaultPrequential()
	fs.BoolVar(&p.on, "prequential", false, "test-then-train evaluation: score each training row before learning from it, in event-time order (the spec's event_time), and report AUC and log loss over all rows, the last --recent rows and --window event-time windows (needs --epochs 1, --parallel 1)")
	fs.IntVar(&p.recent, "recent", d.Recent, "with --prequential: metrics over the last N examples (0: none)")
	fs.DurationVar(&p.window, "window", d.Window, "with --prequential: metrics per event-time window of this size (0: none)")
}

// config returns the job's setting, nil without --prequential; --recent
// and --window without it are refused.
func (p *prequentialFlags) config(args []string) (*job.Prequential, error) {
	if !p.on {
		for _, name := range []string{"recent", "window"} {
			if onCommandLine(args, name) {
				return nil, &usageError{fmt.Sprintf("--%s applies with --prequential (it sizes the test-then-train metrics)", name)}
			}
		}
		return nil, nil
	}
	return &job.Prequential{Recent: p.recent, Window: p.window}, nil
}

// printPrequential writes the prequential report of a run.
func printPrequential(w io.Writer, r *job.PrequentialReport) {
	fmt.Fprintf(w, "prequential (test-then-train, event time %s): all %s\n", r.EventTime, formatWindow(r.Total))
	if r.Recent.Examples > 0 {
		fmt.Fprintf(w, "prequential, last %d examples: %s\n", r.Recent.Examples, formatWindow(r.Recent))
	}
	for _, ws := range r.Windows {
		fmt.Fprintf(w, "  window %s .. %s: %s\n", ws.Start.Format(time.DateTime), ws.End.Format(time.DateTime), formatWindow(ws))
	}
}

// formatWindow formats a window's figures; an undefined one (a window with
// one class has no AUC) reads "-".
func formatWindow(ws publish.WindowStatus) string {
	f := func(v *float64) string {
		if v == nil {
			return "-"
		}
		return fmt.Sprintf("%.4f", *v)
	}
	if ws.RMSE != nil || ws.MAE != nil {
		return fmt.Sprintf("rmse %s  mae %s  (%d examples)", f(ws.RMSE), f(ws.MAE), ws.Examples)
	}
	return fmt.Sprintf("auc %s  logloss %s  (%d examples)", f(ws.AUC), f(ws.LogLoss), ws.Examples)
}
