package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/eval"
	"github.com/lakestream/lakestream/eval/evaltable"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
)

// checkRankingFlags checks --k, --relevant-min and --exclude-dt of
// "trainer eval" against the other flags.
func checkRankingFlags(fs *flag.FlagSet, cfg *evaltable.Config, rk *evaltable.RankingConfig) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case rk.K < 0 || (set["k"] && rk.K == 0):
		return &usageError{fmt.Sprintf("--k %d: want a cut-off ≥ 1", rk.K)}
	case rk.K == 0 && (set["relevant-min"] || set["exclude-dt"]):
		return &usageError{"--relevant-min and --exclude-dt set up ranking metrics: give --k too"}
	case rk.K == 0:
		return nil
	case cfg.Model == "" || cfg.Challenger != "":
		return &usageError{"--k ranks the items of one saved model: give --model (an mf model) without --challenger or --score-column"}
	case rk.RelevantMin < 0:
		return &usageError{fmt.Sprintf("--relevant-min %g: want ≥ 0", rk.RelevantMin)}
	}
	if _, err := dataset.DayRange("dt", rk.ExcludeDT); err != nil {
		return &usageError{fmt.Sprintf("--exclude-dt %v", err)}
	}
	return nil
}

// addRanking computes the ranking metrics of r's model on r's slice into
// rep.
func addRanking(ctx context.Context, store lake.Store, r *evalRun, rep *eval.Report) error {
	rk := r.ranking
	rk.Data, rk.Where, rk.DT, rk.IncludeUncommitted = r.cfg.Data, r.cfg.Where, r.cfg.DT, r.cfg.IncludeUncommitted
	rk.Model = rep.Model.Name + "@" + rep.Model.Version // the version Evaluate scored
	rk.BatchSize, rk.Logger = r.cfg.BatchSize, newLogger(os.Stderr)
	rr, err := evaltable.EvaluateRanking(ctx, store, rk)
	if errors.Is(err, evaltable.ErrNotRecommender) {
		return &usageError{fmt.Sprintf("--k: %v", err)}
	}
	if err != nil {
		return err
	}
	rep.Ranking = rr.Ranking
	return nil
}

// checkRecommender refuses --k for a model that is not mf before anything
// is scanned.
func checkRecommender(ctx context.Context, store lake.Store, ref string) error {
	name, version, err := model.ResolveRef(ctx, store, ref)
	if err != nil {
		return fmt.Errorf("--model %s: %w", ref, err)
	}
	mf, err := model.ReadManifest(ctx, store, name, version)
	if err != nil {
		return fmt.Errorf("--model %s: %w", ref, err)
	}
	if mf.Meta.Kind != model.KindMF {
		return &usageError{fmt.Sprintf("--k: model %s is %s: %v (kind mf)", ref, mf.Meta.Kind, evaltable.ErrNotRecommender)}
	}
	return nil
}
