package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/apache/arrow/go/v17/arrow/array"
	"golang.org/x/term"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/eval"
	"github.com/lakestream/lakestream/eval/evaltable"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/train"
	"github.com/lakestream/lakestream/train/clicklog"
	"github.com/lakestream/lakestream/train/feature"
	"github.com/lakestream/lakestream/train/job"
	"github.com/lakestream/lakestream/train/optim"
)

// quickstartTable is the table folder the quickstart writes in its lake.
const quickstartTable = "clicks"

// runQuickstart is "trainer quickstart": generate a click log with a planted
// model, train logistic regression and a factorization machine on three
// days, evaluate both on the fourth, save both and print a summary.
func runQuickstart(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("quickstart", flag.ContinueOnError)
	dir := fs.String("lake", "lakestream-quickstart", "folder for the generated lake and the saved models")
	rows := fs.Int("rows", 1_000_000, "rows to generate over 4 days (3 train, 1 test)")
	seed := fs.Uint64("seed", 1, "seed of the generator and of training")
	factors := fs.Int("factors", 8, "factors k of the factorization machine")
	bits := fs.Int("hash-bits", 20, "hash buckets per field: 2^hash-bits")
	epochs := fs.Int("epochs", 2, "passes over the three training days")
	if err := parseConfig(fs, args, nil); err != nil {
		return err
	}
	if *rows < 1000 {
		return &usageError{fmt.Sprintf("--rows %d: want ≥ 1000", *rows)}
	}
	logger := newLogger(os.Stderr)
	store, err := lake.Open(ctx, *dir)
	if err != nil {
		return fmt.Errorf("--lake: %w", err)
	}
	abs, _ := filepath.Abs(*dir)
	fmt.Fprintf(stdout, "Generating %d click-log rows (Avazu-shaped, 24 columns) in %s …\n", *rows, abs)
	gc := clicklog.DefaultConfig()
	gc.Rows, gc.Seed = *rows, *seed
	t0 := time.Now()
	sum, err := clicklog.Generate(ctx, store, quickstartTable, gc)
	if err != nil {
		return err
	}
	test := sum.Test()
	trainDays := sum.Days[:len(sum.Days)-1]
	trainRows := 0
	for _, d := range trainDays {
		trainRows += d.Rows
	}
	fmt.Fprintf(stdout, "  %d train rows (%s..%s), %d test rows (%s), CTR %.1f%%, in %s\n",
		trainRows, trainDays[0].DT, trainDays[len(trainDays)-1].DT, test.Rows, test.DT, 100*test.CTR, time.Since(t0).Round(time.Millisecond))
	fmt.Fprintf(stdout, "  planted model: best possible test AUC %.4f (log loss %.4f)\n\n", test.BestAUC, test.BestLogLoss)

	spec, err := feature.Parse([]byte(clicklog.EventTimeSpecYAML(*bits)))
	if err != nil {
		return fmt.Errorf("quickstart spec: %w", err)
	}
	type entry struct {
		label string
		name  string
		model train.ModelConfig
		opt   optim.Config
	}
	lr := train.DefaultModelConfig(train.KindLogistic)
	fm := train.DefaultModelConfig(train.KindFM)
	fm.Factors = *factors
	// Settings checked against scikit-learn in train/quality_test.go.
	lrOpt := optim.DefaultConfig(optim.FTRL)
	lrOpt.Alpha = 0.2
	fmOpt := optim.DefaultConfig(optim.FTRL)
	fmOpt.Alpha, fmOpt.L2 = 0.1, 1
	entries := []entry{
		{"logistic regression (FTRL)", "quickstart-lr", lr, lrOpt},
		{fmt.Sprintf("factorization machine k=%d (FTRL)", *factors), "quickstart-fm", fm, fmOpt},
	}
	runCfg := train.DefaultConfig()
	runCfg.Epochs = *epochs
	if err := runCfg.Validate(); err != nil {
		return &usageError{"--epochs: " + err.Error()}
	}
	// The spec goes next to the data so "trainer train" can reuse it.
	specKey := "specs/" + quickstartTable + ".yaml"
	if err := lake.PutBytes(ctx, store, specKey, []byte(clicklog.EventTimeSpecYAML(*bits))); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	var results []*job.Outcome
	var saved []float64 // test AUC of each saved artifact, scored by package model
	for _, e := range entries {
		fmt.Fprintf(stdout, "Training %s on %d rows × %d epochs …\n", e.label, trainRows, *epochs)
		c := job.DefaultConfig()
		c.Lake, c.Data = *dir, quickstartTable
		c.DT, c.ValidationDT = trainDays[0].DT+".."+trainDays[len(trainDays)-1].DT, test.DT
		c.Spec, c.SpecPath = spec, "(quickstart spec)"
		c.Model, c.Optimizer, c.Train = e.model, e.opt, runCfg
		c.Seed, c.Output, c.Logger = *seed, e.name, logger
		if term.IsTerminal(int(os.Stderr.Fd())) {
			c.Progress = os.Stderr
		}
		out, err := job.Run(ctx, c)
		if err != nil {
			return err
		}
		results = append(results, out)
		// Score the test day again from the saved artifact, through the
		// serving path (model.Load + Score), to show it matches training.
		auc, err := scoreSaved(ctx, store, e.name, test.DT)
		if err != nil {
			return err
		}
		saved = append(saved, auc)
	}
	fmt.Fprintln(stdout)
	fmt.Fprintf(tw, "model\ttest AUC\ttest log loss\tAUC of saved model\ttrain examples/s\ttime\tsaved as\n")
	fmt.Fprintf(tw, "planted truth (best possible)\t%.4f\t%.4f\t\t\t\t\n", test.BestAUC, test.BestLogLoss)
	for i, out := range results {
		v := out.Result.Validation
		fmt.Fprintf(tw, "%s\t%.4f\t%.4f\t%.4f\t%s\t%s\tmodels/%s/%d\n", entries[i].label, v.AUC, v.LogLoss, saved[i],
			rate(out.Result.Examples, out.Result.TrainTime), out.Duration.Round(time.Millisecond), entries[i].name, out.Version)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	gain := results[1].Result.Validation.AUC - results[0].Result.Validation.AUC
	if gain > 0.005 {
		fmt.Fprintf(stdout, "\nThe FM's factors learn the planted pairwise interactions a linear model cannot: %+.4f AUC over LR.\n", gain)
	} else {
		fmt.Fprintf(stdout, "\nWith %d training rows the FM has not yet learned the planted interactions (%+.4f AUC over LR); the default --rows 1000000 shows the gap.\n", trainRows, gain)
	}
	fmt.Fprintf(stdout, "Next:  trainer train --lake %s --data %s --spec %s --dt %s..%s --validation-dt %s --model fm --output my-model\n",
		*dir, quickstartTable, filepath.Join(*dir, specKey), trainDays[0].DT, trainDays[len(trainDays)-1].DT, test.DT)
	fmt.Fprintf(stdout, "       trainer models list --lake %s\n", *dir)
	return nil
}

// scoreSaved loads the latest version of name and returns its AUC on day dt
// of the quickstart table, scored with package model as a predictor would.
func scoreSaved(ctx context.Context, store lake.Store, name, dt string) (float64, error) {
	m, err := model.Load(ctx, store, name, 0)
	if err != nil {
		return 0, err
	}
	ds, err := dataset.Open(ctx, store, quickstartTable)
	if err != nil {
		return 0, err
	}
	p, err := ds.Plan(ctx, dataset.Query{
		Columns: job.SpecColumns(m.Spec()),
		Where:   dataset.Filter{dataset.Where("dt", dataset.Eq, dataset.String(dt))},
	})
	if err != nil {
		return 0, err
	}
	sc := p.Scan(ctx, p.Splits(), dataset.ScanOptions{})
	defer sc.Close()
	var scores, labels []float64
	for sc.Next() {
		rec := sc.At()
		n := int(rec.NumRows())
		at := len(scores)
		scores = append(scores, make([]float64, n)...)
		if err := m.Score(rec, scores[at:]); err != nil {
			return 0, fmt.Errorf("score %s on dt=%s: %w", name, dt, err)
		}
		idx := rec.Schema().FieldIndices("click")
		if len(idx) == 0 {
			return 0, fmt.Errorf("score %s: no click column", name)
		}
		clicks, ok := rec.Column(idx[0]).(*array.Int32)
		if !ok {
			return 0, fmt.Errorf("score %s: click column is %s, want int32", name, rec.Column(idx[0]).DataType())
		}
		for _, c := range clicks.Int32Values() {
			labels = append(labels, float64(c))
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	// The evaluation report goes beside the version, where the console
	// draws its ROC, precision-recall and calibration plots from.
	cfg := eval.DefaultBinaryConfig()
	cfg.KeepScores = true
	bin, err := eval.NewBinary(cfg)
	if err != nil {
		return 0, err
	}
	if err := bin.Add(scores, labels, nil); err != nil {
		return 0, fmt.Errorf("evaluate %s on dt=%s: %w", name, dt, err)
	}
	res, err := bin.Result()
	if err != nil {
		return 0, fmt.Errorf("evaluate %s on dt=%s: %w", name, dt, err)
	}
	version := m.Meta().Version
	rep := eval.Report{SchemaVersion: eval.ReportSchemaVersion, CreatedAt: time.Now().UTC(),
		Model: &eval.ModelRef{Name: name, Version: strconv.Itoa(version)}, Dataset: quickstartTable + " dt=" + dt,
		Binary: eval.NewBinaryReport(res)}
	if err := evaltable.SaveReport(ctx, store, name, version, &rep); err != nil {
		return 0, err
	}
	return res.AUC, nil
}
