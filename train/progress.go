package train

import (
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// progress reports the advance of one epoch: a bar redrawn in place on a
// terminal, or a log line every LogEvery otherwise. The loss shown is an
// exponential moving average of the per-batch mean loss.
type progress struct {
	cfg      Config
	epoch    int
	log      *slog.Logger
	now      func() time.Time
	start    time.Time
	last     time.Time
	examples int64
	loss     float64
	drawn    bool
}

func newProgress(cfg Config, epoch int, log *slog.Logger, now func() time.Time) *progress {
	t := now()
	if cfg.LogEvery <= 0 {
		cfg.LogEvery = 10 * time.Second
	}
	return &progress{cfg: cfg, epoch: epoch, log: log, now: now, start: t, last: t, loss: -1}
}

func (p *progress) update(examples int64, batchLoss float64) {
	p.examples = examples
	if p.loss < 0 {
		p.loss = batchLoss
	} else {
		p.loss = 0.98*p.loss + 0.02*batchLoss
	}
	every := p.cfg.LogEvery
	if p.cfg.Progress != nil {
		every = 200 * time.Millisecond
	}
	// Reading the clock every batch is cheap next to a batch's work.
	t := p.now()
	if t.Sub(p.last) < every {
		return
	}
	p.last = t
	p.emit(t)
}

func (p *progress) emit(t time.Time) {
	el := t.Sub(p.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(p.examples) / el
	}
	eta := "?"
	frac := -1.0
	if total := p.cfg.ExpectedExamples; total > 0 {
		frac = min(float64(p.examples)/float64(total), 1)
		if rate > 0 {
			eta = (time.Duration(float64(total-min(p.examples, total))/rate) * time.Second).Round(time.Second).String()
		}
	}
	if p.cfg.Progress == nil {
		p.log.Info("training", "epoch", p.epoch+1, "examples", p.examples, "examples_per_s", int64(rate), "loss", p.loss, "eta", eta)
		return
	}
	bar := ""
	if frac >= 0 {
		const width = 24
		n := int(frac * width)
		bar = fmt.Sprintf("[%s%s] %3.0f%% ", strings.Repeat("=", n), strings.Repeat(" ", width-n), 100*frac)
	}
	fmt.Fprintf(p.cfg.Progress, "\repoch %d %s%s ex  %s ex/s  loss %.4f  ETA %s \x1b[K",
		p.epoch+1, bar, human(float64(p.examples)), human(rate), p.loss, eta)
	p.drawn = true
}

// finish ends the bar's line.
func (p *progress) finish() {
	if p.cfg.Progress != nil && p.drawn {
		p.emit(p.now())
		fmt.Fprintln(p.cfg.Progress)
	}
}

// human formats a count with a k/M suffix.
func human(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}
