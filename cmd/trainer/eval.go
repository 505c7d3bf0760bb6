package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"time"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/eval"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/train/feature"
)

// evalJob is one "trainer eval" run, filled from flags. "models promote"
// builds one directly to score two versions on a slice; out == "" then
// writes no files.
type evalJob struct {
	lakeURI, data, where, dt string
	modelRef, challengerRef  string // name[@version]
	scoreColumn              string
	task                     string // binary or regression; "" infers
	label, weight, group     string
	out                      string
	batchSize                int
	binary                   eval.BinaryConfig
	boot                     eval.BootstrapConfig
	gate                     model.Gate
	failOnReject             bool
	now                      func() time.Time
}

// aucDecision applies the publishing gate (the registry's, model.Gate) to a
// champion/challenger comparison and adds the bootstrap interval to its
// reason.
func aucDecision(g model.Gate, slice string, champion, challenger *eval.ModelRef, c eval.Comparison) *eval.Decision {
	cand, _ := strconv.Atoi(challenger.Version)
	champ, _ := strconv.Atoi(champion.Version)
	d := g.Decide(cand, model.Evaluation{Slice: slice, Candidate: c.ChallengerAUC, Champion: c.ChampionAUC, ChampionVersion: champ})
	return &eval.Decision{Publish: d.Promoted, Reason: fmt.Sprintf("%s (difference %+.4f, %g%% CI [%.4f, %.4f])",
		d.Reason, c.Diff, 100*c.Level, c.CILow, c.CIHigh)}
}

func evalFlags(fs *flag.FlagSet) func() (*evalJob, error) {
	j := &evalJob{binary: eval.DefaultBinaryConfig(), boot: eval.DefaultBootstrapConfig(), now: time.Now, gate: model.Gate{Metric: "auc"}}
	fs.StringVar(&j.lakeURI, "lake", "lake", "the lake: a folder, file:///path or s3://bucket/prefix")
	fs.StringVar(&j.data, "data", "", "held-out table in the lake: a folder, key or glob (Parquet)")
	fs.StringVar(&j.where, "where", "", "row filter, e.g. \"dt >= '2026-11-08'\" (prunes partitions and row groups)")
	fs.StringVar(&j.dt, "dt", "", "dt partition day or range a..b to evaluate on")
	fs.StringVar(&j.modelRef, "model", "", "model to evaluate: name or name@version (latest if no version)")
	fs.StringVar(&j.challengerRef, "challenger", "", "challenger model name[@version]: compare it with --model (the champion) on the same rows")
	fs.StringVar(&j.scoreColumn, "score-column", "", "evaluate precomputed scores from this column instead of a model")
	fs.StringVar(&j.task, "task", "", "binary or regression (default: from the model's label type; binary with --score-column)")
	fs.StringVar(&j.label, "label", "", "label column (default: the model spec's label)")
	fs.StringVar(&j.weight, "weight", "", "sample-weight column (default: the model spec's weight, if any)")
	fs.StringVar(&j.group, "group", "", "column for the grouped (per-user) AUC, e.g. user_id")
	fs.StringVar(&j.out, "out", "eval-report", "folder for report.json and the plots (PNG and SVG)")
	fs.IntVar(&j.batchSize, "batch-size", dataset.DefaultBatchSize, "rows per record read")
	fs.Float64Var(&j.binary.Threshold, "threshold", j.binary.Threshold, "score at or above which a row is predicted positive")
	fs.IntVar(&j.binary.CalibrationBins, "calibration-bins", j.binary.CalibrationBins, "reliability diagram bins")
	fs.Float64Var(&j.binary.LiftFraction, "lift-fraction", j.binary.LiftFraction, "top fraction for the lift")
	sketch := fs.Bool("sketch", false, "bounded memory: estimate AUC with a 1 MiB sketch (error bound reported) instead of keeping every score")
	fs.IntVar(&j.boot.Resamples, "bootstrap", j.boot.Resamples, "paired bootstrap resamples for the champion/challenger AUC difference")
	fs.Float64Var(&j.boot.Level, "level", j.boot.Level, "confidence level of the AUC-difference interval")
	fs.Uint64Var(&j.boot.Seed, "seed", j.boot.Seed, "bootstrap seed")
	fs.Float64Var(&j.gate.Floor, "min-auc", 0, "gate: the (challenger) model's AUC must reach this floor")
	fs.Float64Var(&j.gate.Epsilon, "max-drop", 0.002, "gate: how far the challenger's AUC may fall below the champion's (the same default as models promote)")
	fs.BoolVar(&j.failOnReject, "fail-on-reject", false, "exit with an error when the gate rejects (for schedulers)")
	return func() (*evalJob, error) {
		if j.data == "" {
			return nil, &usageError{"--data is required (the held-out table in the lake)"}
		}
		if (j.modelRef == "") == (j.scoreColumn == "") {
			return nil, &usageError{"give exactly one of --model (a saved model) and --score-column (precomputed scores)"}
		}
		if j.challengerRef != "" && j.modelRef == "" {
			return nil, &usageError{"--challenger needs --model (the champion)"}
		}
		if j.task != "" && j.task != "binary" && j.task != "regression" {
			return nil, &usageError{fmt.Sprintf("--task %q: want binary or regression", j.task)}
		}
		if j.batchSize <= 0 {
			return nil, &usageError{fmt.Sprintf("--batch-size %d: want > 0", j.batchSize)}
		}
		j.binary.KeepScores = !*sketch
		if err := j.binary.Validate(); err != nil {
			return nil, &usageError{err.Error()}
		}
		if j.challengerRef != "" && *sketch {
			return nil, &usageError{"--challenger needs every score for the paired bootstrap: drop --sketch"}
		}
		if err := j.boot.Validate(); err != nil {
			return nil, &usageError{err.Error()}
		}
		return j, nil
	}
}

// runEval is the "trainer eval" subcommand.
func runEval(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	finish := evalFlags(fs)
	if err := parseConfig(fs, args, nil); err != nil {
		return err
	}
	j, err := finish()
	if err != nil {
		return err
	}
	rep, err := j.execute(ctx)
	if err != nil {
		return err
	}
	printReport(stdout, rep, j.out)
	if j.failOnReject && rep.Decision != nil && !rep.Decision.Publish {
		return fmt.Errorf("gate rejected: %s", rep.Decision.Reason)
	}
	return nil
}

// loadModel loads a model named by a flag value.
func loadModel(ctx context.Context, store lake.Store, flagName, ref string) (*model.Model, *eval.ModelRef, error) {
	name, version, err := parseModelRef(ref) // from train.go
	if err != nil {
		return nil, nil, &usageError{fmt.Sprintf("--%s %v", flagName, err)}
	}
	m, err := model.Load(ctx, store, name, version)
	if err != nil {
		return nil, nil, fmt.Errorf("--%s %s: %w", flagName, ref, err)
	}
	meta := m.Meta()
	return m, &eval.ModelRef{Name: meta.Name, Version: strconv.Itoa(meta.Version)}, nil
}

// execute evaluates and writes the report folder (unless out is empty).
func (j *evalJob) execute(ctx context.Context) (*eval.Report, error) {
	store, err := lake.Open(ctx, j.lakeURI)
	if err != nil {
		return nil, &usageError{fmt.Sprintf("--lake: %v", err)}
	}
	rep := &eval.Report{SchemaVersion: eval.ReportSchemaVersion, CreatedAt: j.now().UTC(), Dataset: j.data}

	var champion, challenger eval.Scorer
	var spec *feature.Spec
	task := j.task
	if j.modelRef != "" {
		m, ref, err := loadModel(ctx, store, "model", j.modelRef)
		if err != nil {
			return nil, err
		}
		champion, spec, rep.Model = m, m.Spec(), ref
		if m.Outputs() != 1 {
			return nil, fmt.Errorf("--model %s: %s models give %d scores per row; trainer eval handles binary and regression models", j.modelRef, m.Kind(), m.Outputs())
		}
		if task == "" {
			switch spec.Label.Type {
			case feature.Real:
				task = "regression"
			case feature.Binary, "":
				task = "binary"
			default:
				return nil, fmt.Errorf("--model %s: label type %q is not supported by trainer eval", j.modelRef, spec.Label.Type)
			}
		}
		if j.challengerRef != "" {
			c, cref, err := loadModel(ctx, store, "challenger", j.challengerRef)
			if err != nil {
				return nil, err
			}
			if c.Outputs() != 1 {
				return nil, fmt.Errorf("--challenger %s: %s models give %d scores per row", j.challengerRef, c.Kind(), c.Outputs())
			}
			challenger, rep.Challenger = c, cref
		}
	} else {
		champion = eval.ColumnScorer(j.scoreColumn)
		rep.Model = &eval.ModelRef{Name: "column " + j.scoreColumn}
	}
	if task == "" {
		task = "binary"
	}
	label, weight := j.label, j.weight
	if spec != nil {
		if label == "" {
			label = spec.Label.Column
		}
		if weight == "" {
			weight = spec.Weight
		}
	}
	if label == "" {
		return nil, &usageError{"--label is required (the model spec names no label column)"}
	}

	sc, err := j.scan(ctx, store)
	if err != nil {
		return nil, err
	}
	defer sc.Close()

	switch {
	case task == "regression":
		h, err := eval.NewHeldOutRegression(champion, label, weight)
		if err != nil {
			return nil, &usageError{err.Error()}
		}
		if err := eachScanned(sc, h.Add); err != nil {
			return nil, err
		}
		r, err := h.Result()
		if err != nil {
			return nil, fmt.Errorf("evaluate on %s: %w", j.data, err)
		}
		rep.Regression = &r
	case challenger != nil:
		cfg := j.heldOutConfig(label, weight)
		p, err := eval.NewPair(champion, challenger, cfg, j.boot)
		if err != nil {
			return nil, &usageError{err.Error()}
		}
		if err := eachScanned(sc, p.Add); err != nil {
			return nil, err
		}
		res, err := p.Result()
		if err != nil {
			return nil, fmt.Errorf("evaluate on %s: %w", j.data, err)
		}
		rep.Binary, rep.Grouped = eval.NewBinaryReport(res.Champion.Binary), res.Champion.Grouped
		rep.ChallengerBinary, rep.ChallengerGrouped = eval.NewBinaryReport(res.Challenger.Binary), res.Challenger.Grouped
		rep.Comparison = &res.Comparison
		rep.Decision = aucDecision(j.gate, j.data, rep.Model, rep.Challenger, res.Comparison)
	default:
		h, err := eval.NewHeldOut(champion, j.heldOutConfig(label, weight))
		if err != nil {
			return nil, &usageError{err.Error()}
		}
		if err := eachScanned(sc, h.Add); err != nil {
			return nil, err
		}
		res, err := h.Result()
		if err != nil {
			return nil, fmt.Errorf("evaluate on %s: %w", j.data, err)
		}
		rep.Binary, rep.Grouped = eval.NewBinaryReport(res.Binary), res.Grouped
		if j.gate.Floor > 0 {
			d := j.gate.Decide(0, model.Evaluation{Slice: j.data, Candidate: res.Binary.AUC, Champion: math.NaN()})
			rep.Decision = &eval.Decision{Publish: d.Promoted, Reason: d.Reason}
		}
	}
	if j.out == "" {
		return rep, nil // a caller that only wants the numbers (models promote)
	}
	if err := rep.WriteDir(j.out); err != nil {
		return nil, fmt.Errorf("--out %s: %w", j.out, err)
	}
	return rep, nil
}

func (j *evalJob) heldOutConfig(label, weight string) eval.HeldOutConfig {
	return eval.HeldOutConfig{Label: label, Weight: weight, Group: j.group, Binary: j.binary}
}

// scan opens the held-out table with the --where and --dt filters.
func (j *evalJob) scan(ctx context.Context, store lake.Store) (*dataset.Scanner, error) {
	filter, err := dataset.ParseWhere(j.where)
	if err != nil {
		return nil, &usageError{fmt.Sprintf("--where: %v", err)}
	}
	dt, err := dtFilter(j.dt)
	if err != nil {
		return nil, &usageError{err.Error()}
	}
	filter = append(filter, dt...)
	ds, err := dataset.Open(ctx, store, j.data)
	if err != nil {
		return nil, fmt.Errorf("--data %s: %w", j.data, err)
	}
	p, err := ds.Plan(ctx, dataset.Query{Where: filter})
	if err != nil {
		return nil, fmt.Errorf("--data %s: %w", j.data, err)
	}
	return p.Scan(ctx, p.Splits(), dataset.ScanOptions{BatchSize: j.batchSize}), nil
}

func eachScanned(sc *dataset.Scanner, add func(rec arrow.Record) error) error {
	for sc.Next() {
		if err := add(sc.At()); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read held-out data: %w", err)
	}
	return nil
}

// printReport writes a short human summary of rep.
func printReport(w io.Writer, rep *eval.Report, dir string) {
	line := func(name string, b *eval.BinaryReport, g *eval.GroupAUC) {
		auc := fmt.Sprintf("%.4f", b.AUC)
		if !b.Exact {
			auc += fmt.Sprintf(" ±%.1g", b.AUCErrorBound)
		}
		fmt.Fprintf(w, "%s: %d rows, AUC %s, PR AUC %.4f", name, b.Examples, auc, b.AveragePrecision)
		if b.LogLoss != nil {
			fmt.Fprintf(w, ", log loss %.4f, ECE %.4f", *b.LogLoss, *b.ECE)
		}
		fmt.Fprintf(w, ", F1@%.2f %.4f, KS %.4f", b.Threshold, b.F1, b.KS)
		if g != nil {
			fmt.Fprintf(w, ", grouped AUC %.4f (%d groups)", g.AUC, g.Groups)
		}
		fmt.Fprintln(w)
	}
	ref := func(m *eval.ModelRef) string {
		if m == nil {
			return "model"
		}
		if m.Version == "" {
			return m.Name
		}
		return m.Name + "@" + m.Version
	}
	if rep.Binary != nil {
		line(ref(rep.Model), rep.Binary, rep.Grouped)
	}
	if rep.ChallengerBinary != nil {
		line(ref(rep.Challenger), rep.ChallengerBinary, rep.ChallengerGrouped)
	}
	if c := rep.Comparison; c != nil {
		fmt.Fprintf(w, "AUC difference %+.4f, %g%% CI [%+.4f, %+.4f] (paired bootstrap, %d resamples, seed %d)\n",
			c.Diff, 100*c.Level, c.CILow, c.CIHigh, c.Resamples, c.Seed)
	}
	if r := rep.Regression; r != nil {
		fmt.Fprintf(w, "%s: RMSE %.4f, MAE %.4f, R² %.4f\n", ref(rep.Model), r.RMSE, r.MAE, r.R2)
	}
	if d := rep.Decision; d != nil {
		verdict := "publish"
		if !d.Publish {
			verdict = "reject"
		}
		fmt.Fprintf(w, "gate: %s — %s\n", verdict, d.Reason)
	}
	fmt.Fprintf(w, "wrote %s and %d plot files\n", filepath.Join(dir, "report.json"), len(rep.Plots))
}
