package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/eval"
	"github.com/lakestream/lakestream/eval/evaltable"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
)

// evalRun is one "trainer eval" run, filled from flags.
type evalRun struct {
	lakeURI      string
	cfg          evaltable.Config
	out          string // the report folder
	failOnReject bool
	// save keeps the report beside the version in the registry too.
	save bool
	// ranking, when its K is set, adds ranking metrics (mf models).
	ranking evaltable.RankingConfig
}

// evalFlags registers the flags of "trainer eval" on fs; the returned
// function checks them after parsing.
func evalFlags(fs *flag.FlagSet) func() (*evalRun, error) {
	r := &evalRun{cfg: evaltable.DefaultConfig()}
	cfg := &r.cfg
	fs.StringVar(&cfg.Data, "data", "", "held-out table in the lake: a folder, key or glob (Parquet)")
	fs.StringVar(&cfg.Where, "where", "", "row filter, e.g. \"dt >= '2026-11-08'\" (prunes partitions and row groups)")
	fs.StringVar(&cfg.DT, "dt", "", "dt partition day or range a..b to evaluate on")
	fs.BoolVar(&cfg.IncludeUncommitted, "include-uncommitted", false, "also read partitions without a _SUCCESS marker (skipped with a warning otherwise)")
	fs.StringVar(&cfg.Model, "model", "", "model to evaluate: name, name@version or name@alias (latest if neither)")
	fs.StringVar(&cfg.Challenger, "challenger", "", "challenger model name[@version|@alias]: compare it with --model (the champion) on the same rows")
	fs.StringVar(&cfg.ScoreColumn, "score-column", "", "evaluate precomputed scores from this column instead of a model")
	fs.StringVar(&cfg.Task, "task", "", "binary or regression (default: from the model's label type; binary with --score-column)")
	fs.StringVar(&cfg.Label, "label", "", "label column (default: the model spec's label)")
	fs.StringVar(&cfg.Weight, "weight", "", "sample-weight column (default: the model spec's weight, if any)")
	fs.StringVar(&cfg.Group, "group", "", "column for the grouped (per-user) AUC, e.g. user_id")
	fs.StringVar(&r.out, "out", "eval-report", "folder for report.json and the plots (PNG and SVG)")
	fs.IntVar(&cfg.BatchSize, "batch-size", cfg.BatchSize, "rows per record read")
	fs.Float64Var(&cfg.Binary.Threshold, "threshold", cfg.Binary.Threshold, "score at or above which a row is predicted positive")
	fs.IntVar(&cfg.Binary.CalibrationBins, "calibration-bins", cfg.Binary.CalibrationBins, "reliability diagram bins")
	fs.Float64Var(&cfg.Binary.LiftFraction, "lift-fraction", cfg.Binary.LiftFraction, "top fraction for the lift")
	sketch := fs.Bool("sketch", false, "bounded memory: estimate AUC with a 1 MiB sketch (error bound reported) instead of keeping every score")
	fs.IntVar(&cfg.Bootstrap.Resamples, "bootstrap", cfg.Bootstrap.Resamples, "paired bootstrap resamples for the champion/challenger AUC difference")
	fs.Float64Var(&cfg.Bootstrap.Level, "level", cfg.Bootstrap.Level, "confidence level of the AUC-difference interval")
	fs.Uint64Var(&cfg.Bootstrap.Seed, "seed", cfg.Bootstrap.Seed, "bootstrap seed")
	fs.Float64Var(&cfg.Gate.Floor, "min-auc", 0, "gate: the (challenger) model's AUC must reach this floor")
	fs.Float64Var(&cfg.Gate.Epsilon, "max-drop", cfg.Gate.Epsilon, "gate: how far the challenger's AUC may fall below the champion's (the same default as models promote)")
	fs.BoolVar(&r.save, "save", false, "also keep the report beside the --model version in the registry (models/NAME/V/eval/report.json), where trainer console shows its plots")
	fs.BoolVar(&r.failOnReject, "fail-on-reject", false, "exit with an error when the gate rejects (for schedulers)")
	fs.StringVar(&r.lakeURI, "lake", "lake", "the lake: a folder, file:///path or s3://bucket/prefix")
	rk := &r.ranking
	fs.IntVar(&rk.K, "k", 0, "mf models: also rank, for each user with a relevant held-out row, the slice's items and report precision, recall, MAP, NDCG, MRR and hit rate at this cut-off")
	fs.Float64Var(&rk.RelevantMin, "relevant-min", 0, "with --k: a held-out row is relevant when its label is at least this (e.g. 4 on 1-5 ratings); 0: any label > 0")
	fs.StringVar(&rk.ExcludeDT, "exclude-dt", "", "with --k: dt day or range a..b of --data whose (user, item) pairs are not ranked for that user (the training days)")
	return func() (*evalRun, error) {
		switch {
		case cfg.Data == "":
			return nil, &usageError{"--data is required (the held-out table in the lake)"}
		case (cfg.Model == "") == (cfg.ScoreColumn == ""):
			return nil, &usageError{"give exactly one of --model (a saved model) and --score-column (precomputed scores)"}
		case cfg.Challenger != "" && cfg.Model == "":
			return nil, &usageError{"--challenger needs --model (the champion)"}
		case cfg.Challenger != "" && *sketch:
			return nil, &usageError{"--challenger needs every score for the paired bootstrap: drop --sketch"}
		case cfg.Task != "" && cfg.Task != evaltable.Binary && cfg.Task != evaltable.Regression:
			return nil, &usageError{fmt.Sprintf("--task %q: want binary or regression", cfg.Task)}
		case r.save && (cfg.Model == "" || cfg.Challenger != ""):
			return nil, &usageError{"--save keeps the evaluation of one saved model: give --model without --challenger"}
		case cfg.BatchSize <= 0:
			return nil, &usageError{fmt.Sprintf("--batch-size %d: want > 0", cfg.BatchSize)}
		}
		if err := checkRankingFlags(fs, cfg, rk); err != nil {
			return nil, err
		}
		for _, ref := range []struct{ flag, value string }{{"model", cfg.Model}, {"challenger", cfg.Challenger}} {
			if ref.value != "" {
				if _, _, err := model.ParseRef(ref.value); err != nil {
					return nil, &usageError{fmt.Sprintf("--%s: %v", ref.flag, err)}
				}
			}
		}
		if err := checkSlice(cfg.Where, cfg.DT); err != nil {
			return nil, err
		}
		cfg.Binary.KeepScores = !*sketch
		if err := cfg.Validate(); err != nil {
			return nil, &usageError{err.Error()}
		}
		return r, nil
	}
}

// uncommittedHint names the flag that reads partitions without a _SUCCESS
// marker when err is about them.
func uncommittedHint(err error) error {
	if ue := (*dataset.UncommittedError)(nil); errors.As(err, &ue) || strings.Contains(err.Error(), "_SUCCESS marker") {
		return fmt.Errorf("%w; pass --include-uncommitted to read them", err)
	}
	return err
}

// checkSlice checks the --where and --dt flags of a held-out slice.
func checkSlice(where, dt string) error {
	if _, err := dataset.ParseWhere(where); err != nil {
		return &usageError{fmt.Sprintf("--where: %v", err)}
	}
	if _, err := dataset.DayRange("dt", dt); err != nil {
		return &usageError{fmt.Sprintf("--dt %v", err)}
	}
	return nil
}

// runEval is the "trainer eval" subcommand.
func runEval(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	finish := evalFlags(fs)
	if err := parseConfig(fs, args, nil); err != nil {
		return err
	}
	r, err := finish()
	if err != nil {
		return err
	}
	store, err := lake.Open(ctx, r.lakeURI)
	if err != nil {
		return &usageError{fmt.Sprintf("--lake: %v", err)}
	}
	r.cfg.Logger = newLogger(os.Stderr)
	if r.ranking.K > 0 {
		if err := checkRecommender(ctx, store, r.cfg.Model); err != nil {
			return err
		}
	}
	rep, err := evaltable.Evaluate(ctx, store, r.cfg)
	if err != nil {
		return uncommittedHint(err)
	}
	if r.ranking.K > 0 {
		if err := addRanking(ctx, store, r, rep); err != nil {
			return uncommittedHint(err)
		}
	}
	if err := rep.WriteDir(r.out); err != nil {
		return fmt.Errorf("--out %s: %w", r.out, err)
	}
	printReport(stdout, rep, r.out)
	if r.save {
		// The version evaluated, also when --model named the latest or an
		// alias that has moved since.
		name := rep.Model.Name
		version, err := strconv.Atoi(rep.Model.Version)
		if err != nil {
			return fmt.Errorf("--save: the report names version %q of %s", rep.Model.Version, name)
		}
		if err := evaltable.SaveReport(ctx, store, name, version, rep); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "report kept at %s\n", model.ReportKey(name, version))
	}
	if r.failOnReject && rep.Decision != nil && !rep.Decision.Publish {
		return &gateRejected{"gate rejected: " + rep.Decision.Reason}
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
	if k := rep.Ranking; k != nil {
		fmt.Fprintf(w, "%s ranking, %d users: precision@%d %.4f, recall@%d %.4f, MAP@%d %.4f, NDCG@%d %.4f, MRR %.4f, hit rate %.4f\n",
			ref(rep.Model), k.Queries, k.K, k.PrecisionAtK, k.K, k.RecallAtK, k.K, k.MAPAtK, k.K, k.NDCGAtK, k.MRRAtK, k.HitRateAtK)
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
