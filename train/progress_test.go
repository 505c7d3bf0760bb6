package train

import (
	"bytes"
	"context"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/lakestream/lakestream/train/optim"
)

// fakeClock advances by step on every reading.
type fakeClock struct {
	t    time.Time
	step time.Duration
}

func (c *fakeClock) now() time.Time { c.t = c.t.Add(c.step); return c.t }

func TestProgressReporting(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	tr, _ := plantedLogistic(rng, map[uint64]float64{}, 20000, 4, 10)
	data := memInput{spec: fieldSpec(t, 4, false), batchSize: 100, train: asRecords(t, tr, 4, false, 100)}.bounded() // one record per mini-batch: Fit reports progress per record
	t.Run("terminal bar", func(t *testing.T) {
		m, _ := NewModel(DefaultModelConfig(KindLogistic))
		st := NewStepper(m, newStore(t, m, optim.DefaultConfig(optim.FTRL), 1), 0)
		var bar strings.Builder
		cfg := DefaultConfig()
		cfg.Progress = &bar
		cfg.ExpectedExamples = 20000
		clk := &fakeClock{t: time.Unix(0, 0), step: 50 * time.Millisecond}
		cfg.Now = clk.now
		if _, err := Fit(context.Background(), []*Stepper{st}, data, cfg); err != nil {
			t.Fatal(err)
		}
		out := bar.String()
		// 200 batches, one clock reading each at 50ms: a redraw every
		// fourth batch; the last one at 100%.
		for _, want := range []string{"\repoch 1 [", "ex/s", "loss 0.", "ETA ", "100%"} {
			if !strings.Contains(out, want) {
				t.Errorf("progress output lacks %q: %q", want, out[max(0, len(out)-300):])
			}
		}
		if strings.Count(out, "\r") < 10 {
			t.Errorf("bar redrawn %d times, want many", strings.Count(out, "\r"))
		}
	})
	t.Run("log lines", func(t *testing.T) {
		m, _ := NewModel(DefaultModelConfig(KindLogistic))
		st := NewStepper(m, newStore(t, m, optim.DefaultConfig(optim.FTRL), 1), 0)
		var logs bytes.Buffer
		cfg := DefaultConfig()
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		cfg.LogEvery = time.Second
		clk := &fakeClock{t: time.Unix(0, 0), step: 100 * time.Millisecond}
		cfg.Now = clk.now
		if _, err := Fit(context.Background(), []*Stepper{st}, data, cfg); err != nil {
			t.Fatal(err)
		}
		out := logs.String()
		if n := strings.Count(out, "msg=training"); n < 10 || n > 30 {
			t.Errorf("%d progress lines for 20 s of fake time at one per second, want ~20:\n%s", n, out)
		}
		if !strings.Contains(out, "examples_per_s=") || !strings.Contains(out, "msg=\"epoch done\"") {
			t.Errorf("log lacks rate or epoch line:\n%s", out)
		}
	})
}
