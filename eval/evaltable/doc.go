// Package evaltable evaluates saved models on a held-out table of the lake:
// the evaluation behind "trainer eval" and the gate of "trainer models
// promote", as calls a notebook or a scheduler can make.
//
// Evaluate reads the rows of Config.Data (filtered by Where and the DT day
// range, committed partitions only unless IncludeUncommitted), scores them
// with Config.Model (and Config.Challenger on the same rows, compared with a
// paired bootstrap and decided by Config.Gate) or reads precomputed scores
// from Config.ScoreColumn, and returns an *eval.Report. Writing the report
// folder (Report.WriteDir) and printing are left to the caller.
//
// GateEvaluation prepares a promotion: it scores a candidate version and the
// current champion on the same slice and returns the model.Evaluation that
// model.Promote decides on:
//
//	cfg := evaltable.DefaultConfig()
//	cfg.Data, cfg.DT = "clicks", "2026-11-08"
//	ev, err := evaltable.GateEvaluation(ctx, store, cfg, "ctr", 7)
//	if err != nil { ... }
//	d, rec, err := model.Promote(ctx, store, "ctr", 7, model.Gate{Metric: "auc", Floor: 0.7, Epsilon: 0.002}, ev)
//
// EvaluateRanking computes the ranking metrics of a recommendation model
// (kind mf) per user against the user's held-out items: precision, recall,
// MAP and NDCG at K, MRR and hit rate (eval.Ranking), "trainer eval --k".
//
// The core package eval stays free of the lake and the registry; this
// package is the wiring between them, as evalstream is for streams.
package evaltable
