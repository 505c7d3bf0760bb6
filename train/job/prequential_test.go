package job_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/parquet-go/parquet-go"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/eval"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/paramserver"
	"github.com/lakestream/lakestream/train"
	"github.com/lakestream/lakestream/train/clicklog"
	"github.com/lakestream/lakestream/train/feature"
	"github.com/lakestream/lakestream/train/job"
	"github.com/lakestream/lakestream/train/publish"
)

// TestPrequentialMatchesReferenceLoop: the prequential figures of a
// "trainer train --prequential" job equal a hand computation over the same
// rows: a loop that scores each mini-batch with Stepper.Predict before
// training on it, then computes AUC and log loss exactly over all rows, the
// last Recent rows and each 6-hour window of event times parsed from the
// hour column with package time.
func TestPrequentialMatchesReferenceLoop(t *testing.T) {
	ctx := context.Background()
	c, _ := clickLake(t, 8000)
	c.Spec = mustParse(t, clicklog.EventTimeSpecYAML(18))
	c.ValidationDT = ""
	c.BatchSize = 64
	c.Prequential = &job.Prequential{Recent: 700, Window: 6 * time.Hour}
	c.Output = "preq"
	var logs bytes.Buffer
	c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	out, err := job.Run(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	got := out.Prequential
	if got == nil {
		t.Fatal("no prequential report")
	}
	// Each window is logged as it closes, during the epoch: the first day's
	// windows before the epoch ends.
	text := logs.String()
	if n := strings.Count(text, `msg="prequential window"`); n != 12 {
		t.Errorf("%d window log lines, want 12:\n%s", n, text)
	}
	if w, e := strings.Index(text, `msg="prequential window"`), strings.Index(text, `msg="epoch done"`); w < 0 || e < 0 || w > e ||
		!strings.Contains(text, `msg="prequential done"`) {
		t.Errorf("want window lines during the epoch and a final prequential line:\n%s", text)
	}

	// The reference: the same plan, records and mini-batches, scored
	// before each update by a separate model on a separate store.
	store, err := lake.Open(ctx, c.Lake)
	if err != nil {
		t.Fatal(err)
	}
	dts, _ := job.DTFilter(c.DT)
	plan, err := job.Plan(ctx, store, &c, dts, "training")
	if err != nil {
		t.Fatal(err)
	}
	m, mc, err := job.NewModel(&c)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := paramserver.NewLocal(job.TableSpecs(m, c.Optimizer, mc.Seed, false)...)
	if err != nil {
		t.Fatal(err)
	}
	st := train.NewStepper(m, ps, 0)
	fz, err := feature.NewFeaturizer(c.Spec)
	if err != nil {
		t.Fatal(err)
	}
	scan := func() *dataset.Scanner {
		return plan.Scan(ctx, plan.Splits(), dataset.ScanOptions{BatchSize: 8192})
	}
	batches := train.NewSourceBatches(scan(), fz, c.BatchSize)
	var scores, labels []float64
	for batches.Next(ctx) {
		b := batches.At()
		dst := make([]float64, b.Rows())
		if err := st.Predict(ctx, b, dst); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Step(ctx, b); err != nil {
			t.Fatal(err)
		}
		scores = append(scores, dst...)
		for _, y := range b.Labels {
			labels = append(labels, float64(y))
		}
	}
	if err := batches.Err(); err != nil {
		t.Fatal(err)
	}
	var times []int64 // ms, from the hour column (YYMMDDHH)
	sc := scan()
	for sc.Next() {
		rec := sc.At()
		hours := rec.Column(rec.Schema().FieldIndices("hour")[0]).(*array.Int64)
		for i := range hours.Len() {
			h, err := time.Parse("06010215", strconv.FormatInt(hours.Value(i), 10))
			if err != nil {
				t.Fatal(err)
			}
			times = append(times, h.UnixMilli())
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	sc.Close()
	if len(scores) != 6000 || len(times) != len(scores) {
		t.Fatalf("reference loop: %d scores, %d event times, want 6000 of each", len(scores), len(times))
	}

	check := func(name string, ws publish.WindowStatus, s, y []float64) {
		t.Helper()
		if ws.Examples != int64(len(s)) {
			t.Errorf("%s: %d examples, want %d", name, ws.Examples, len(s))
		}
		auc, err := eval.ROCAUC(s, y, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ll, err := eval.LogLoss(s, y, nil)
		if err != nil {
			t.Fatal(err)
		}
		// The evaluator's AUC comes from a log-odds sketch and carries its
		// own error bound; log loss is an exact sum (1e-9: summation order).
		if ws.AUC == nil || ws.AUCBound == nil || math.Abs(*ws.AUC-auc) > *ws.AUCBound+1e-12 {
			t.Errorf("%s: AUC %v (bound %v), hand computation %v", name, deref(ws.AUC), deref(ws.AUCBound), auc)
		}
		if ws.LogLoss == nil || math.Abs(*ws.LogLoss-ll) > 1e-9 {
			t.Errorf("%s: log loss %v, hand computation %v", name, deref(ws.LogLoss), ll)
		}
	}
	check("all rows", got.Total, scores, labels)
	check("recent rows", got.Recent, scores[len(scores)-700:], labels[len(labels)-700:])
	const size = int64(6 * time.Hour / time.Millisecond)
	var windows [][2]int // row ranges of each 6-hour window, in order
	for i, ts := range times {
		if i == 0 || ts/size != times[i-1]/size {
			windows = append(windows, [2]int{i, i})
		}
		windows[len(windows)-1][1] = i + 1
	}
	if len(got.Windows) != len(windows) || len(windows) != 12 {
		t.Fatalf("%d windows, want %d (12: 3 days of 6 hours)", len(got.Windows), len(windows))
	}
	for i, w := range windows {
		ws := got.Windows[i]
		start := times[w[0]] / size * size
		if ws.Start.UnixMilli() != start || ws.End.UnixMilli() != start+size || ws.Partial {
			t.Errorf("window %d: [%v, %v) partial %v, want [%v, +6h)", i, ws.Start, ws.End, ws.Partial, time.UnixMilli(start).UTC())
		}
		check(fmt.Sprintf("window %d", i), ws, scores[w[0]:w[1]], labels[w[0]:w[1]])
	}

	// The saved version carries the figures under the names trainer
	// stream gives them.
	v, err := model.Load(ctx, store, "preq", out.Version)
	if err != nil {
		t.Fatal(err)
	}
	if a := v.Meta().Metrics["prequential_auc"]; a != *got.Total.AUC {
		t.Errorf("saved prequential_auc %v, want %v", a, *got.Total.AUC)
	}
	if l := v.Meta().Metrics["prequential_recent_logloss"]; l != *got.Recent.LogLoss {
		t.Errorf("saved prequential_recent_logloss %v, want %v", l, *got.Recent.LogLoss)
	}
}

func deref(v *float64) any {
	if v == nil {
		return nil
	}
	return *v
}

// TestPrequentialRefusesOutOfOrderRows: a row whose event time goes back
// fails the run with an error naming the column and the partition; rows in
// order across dt partitions pass.
func TestPrequentialRefusesOutOfOrderRows(t *testing.T) {
	ctx := context.Background()
	hours := func(hs ...int64) []clicklog.Row {
		var rows []clicklog.Row
		for i, h := range hs {
			rows = append(rows, clicklog.Row{ID: fmt.Sprint(i), Click: int32(i % 2), Hour: h, SiteID: fmt.Sprint("s", i%3)})
		}
		return rows
	}
	for _, tc := range []struct {
		name string
		days map[string][]clicklog.Row
		want string // in the error; "" for none
	}{
		{"in order", map[string][]clicklog.Row{
			"2014-10-21": hours(14102100, 14102100, 14102105, 14102123),
			"2014-10-22": hours(14102200, 14102201, 14102201, 14102223),
		}, ""},
		{"back within a partition", map[string][]clicklog.Row{
			"2014-10-21": hours(14102100, 14102101, 14102102, 14102103),
			"2014-10-22": hours(14102200, 14102205, 14102203, 14102223),
		}, "partition dt=2014-10-22"},
		{"partitions overlap", map[string][]clicklog.Row{
			"2014-10-21": hours(14102100, 14102101, 14102122, 14102123),
			"2014-10-22": hours(14102121, 14102200, 14102201, 14102202),
		}, "partition dt=2014-10-22"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "lake")
			store, err := lake.NewLocal(dir)
			if err != nil {
				t.Fatal(err)
			}
			for dt, rows := range tc.days {
				var buf bytes.Buffer
				w := parquet.NewGenericWriter[clicklog.Row](&buf)
				if _, err := w.Write(rows); err != nil {
					t.Fatal(err)
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				if err := lake.PutBytes(ctx, store, "clicks/dt="+dt+"/part-0.parquet", buf.Bytes()); err != nil {
					t.Fatal(err)
				}
				if err := lake.Commit(ctx, store, "clicks/dt="+dt); err != nil {
					t.Fatal(err)
				}
			}
			spec, err := feature.Parse([]byte("label: {column: click, type: binary}\ncategorical: [{column: site_id}]\n" +
				"event_time: event_ms\nderived: [{name: event_ms, expr: 'epoch_ms(hour, \"YYMMDDHH\")'}]\n"))
			if err != nil {
				t.Fatal(err)
			}
			c := job.DefaultConfig()
			c.Lake, c.Data, c.Spec, c.BatchSize = dir, "clicks", spec, 2
			c.Prequential = &job.Prequential{Recent: 3, Window: time.Hour}
			out, err := job.Run(ctx, c)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if out.Prequential.Total.Examples != 8 {
					t.Errorf("%d examples, want 8", out.Prequential.Total.Examples)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `"event_ms"`) ||
				!strings.Contains(err.Error(), "goes back in time") {
				t.Fatalf("error %v, want one naming event_ms and %s", err, tc.want)
			}
		})
	}
}

// TestPrequentialValidation: settings that cannot keep test-then-train
// are refused before any work, naming the flag to change.
func TestPrequentialValidation(t *testing.T) {
	spec, err := feature.Parse([]byte(clicklog.EventTimeSpecYAML(10)))
	if err != nil {
		t.Fatal(err)
	}
	noTime, err := feature.Parse([]byte("label: {column: click, type: binary}\ncategorical: [{column: site_id}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(*job.Config)
		want string // in the error; "" for valid
	}{
		{"valid", func(*job.Config) {}, ""},
		{"no event time", func(c *job.Config) { c.Spec = noTime }, "needs event_time in --spec"},
		{"epochs", func(c *job.Config) { c.Train.Epochs = 2 }, "--epochs 1"},
		{"parallel", func(c *job.Config) { c.Parallel = 2 }, "--parallel 1"},
		{"shuffle", func(c *job.Config) { c.ShuffleBuffer = 100 }, "--shuffle-buffer"},
		{"checkpoints", func(c *job.Config) { c.CheckpointEvery, c.Output = time.Second, "m" }, "--checkpoint-every"},
		{"recent", func(c *job.Config) { c.Prequential.Recent = -1 }, "--recent"},
		{"window", func(c *job.Config) { c.Prequential.Window = -time.Hour }, "--window"},
		{"multiclass", func(c *job.Config) {
			c.Spec = mustParse(t, "label: {column: C1, type: multiclass, classes: ['1005', '1002']}\ncategorical: [{column: site_id}]\nevent_time: hour\n")
			c.Model = train.DefaultModelConfig(train.KindSoftmax)
		}, "multiclass"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := job.DefaultConfig()
			c.Data, c.Spec = "clicks", spec
			p := job.DefaultPrequential()
			c.Prequential = &p
			tc.edit(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func mustParse(t *testing.T, yaml string) *feature.Spec {
	t.Helper()
	s, err := feature.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestTrainingLabelWarning: a binary label with one class in the training
// rows is warned about, naming the label column and the dt range, before
// the version is saved; a label with both classes is not.
func TestTrainingLabelWarning(t *testing.T) {
	for _, tc := range []struct {
		name  string
		where string
		warn  bool
	}{
		{"all 0", "click = 0", true},
		{"both classes", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := clickLake(t, 4000)
			c.ValidationDT, c.Where, c.Output = "", tc.where, "one-class"
			var logs bytes.Buffer
			c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			if _, err := job.Run(context.Background(), c); err != nil {
				t.Fatal(err)
			}
			text := logs.String()
			warning := strings.Index(text, `training label \"click\" holds one class`)
			saved := strings.Index(text, "published (saved")
			if saved < 0 {
				t.Fatalf("no save logged:\n%s", text)
			}
			if !tc.warn {
				if warning >= 0 {
					t.Errorf("warning with both classes:\n%s", text)
				}
				return
			}
			if warning < 0 || warning > saved || !strings.Contains(text[warning:saved], "--dt "+c.DT) {
				t.Errorf("want the one-class warning naming --dt %s before the save:\n%s", c.DT, text)
			}
		})
	}
}
