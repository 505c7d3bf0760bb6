// Package eval measures models: exact metrics that agree with independent
// references, streaming accumulators that merge across data-parallel
// workers, evaluators for held-out tables and for streams, the
// champion/challenger comparison the publishing gate relies on, and reports
// with plots.
//
// # Metrics
//
// Pure functions take scores, labels and optional sample weights (nil means
// every weight is 1) and leave their inputs untouched. A length mismatch is a
// programmer error and panics; NaN inputs, labels other than 0 and 1,
// negative or infinite weights are returned as a *ValueError naming the
// argument and index (errors.Is finds ErrNaN, ErrInvalidLabel, …); a metric
// that is undefined for the data (no rows, one class) returns ErrNoData or
// ErrOneClass (see IsUndefined).
//
//   - Binary: ROCAUC (exact, ties count one half, weighted; radix sort,
//     O(n)), ROCCurve, PRCurve, AveragePrecision (scikit-learn's step-wise
//     definition), LogLoss (clipped at LogLossEpsilon like scikit-learn),
//     ConfusionAt (accuracy, precision, recall, F1 at a threshold), KS,
//     Lift, Calibrate (reliability bins, ECE, MCE).
//   - Multiclass: MulticlassMetrics (accuracy, macro and micro F1, log loss).
//   - Regression: RegressionMetrics (RMSE, MAE, R²).
//   - Ranking: RankingMetrics (precision, recall, MAP, MRR, NDCG and hit rate
//     at K; NDCG tie-averaged like scikit-learn).
//   - GroupedAUC: AUC per group (user), averaged with the groups' weights.
//
// Every value is checked against scikit-learn (testdata/sklearn_fixtures.py,
// run by the tests through internal/pyref) to 1e-9, on inputs with ties and
// weights, and the AUC against the examples shipped with R's ROCR
// (0.8341875) and pROC (0.7313686).
//
// # Streaming and merging
//
// Accumulators take batches and never allocate per example: Binary (all
// binary metrics in one pass), AUCSketch, MulticlassAccumulator,
// RegressionAccumulator, RankingAccumulator. Each has Merge, so workers
// evaluate their splits and the results combine into exactly what one
// accumulator over all the data would give (up to the order of float
// additions).
//
// AUCSketch estimates ROC AUC in bounded memory: per class, the weight in
// each of a fixed set of score bins (65,536 log-odds bins, 1 MiB, by
// default). Pairs in different bins are ordered exactly; pairs within a bin
// count one half. The error is therefore at most
//
//	½ Σ_b P_b N_b / (P N),
//
// which Estimate returns with the estimate: every streaming AUC carries its
// own guarantee. On 10M click-model scores the bound is about 5·10⁻⁵ and the
// actual error about 2·10⁻⁸. Binary uses the sketch unless KeepScores is set,
// which keeps every score (24 bytes each) for exact results.
//
// # Evaluators
//
// A Scorer scores the rows of an Arrow record (*model.Model is one;
// ColumnScorer reads precomputed scores). HeldOut evaluates a binary model on
// records of a held-out table, HeldOutRegression a regression model, and
// Pair a champion and a challenger on the same rows, comparing their AUCs
// with a seeded paired bootstrap (CompareAUC) whose confidence interval a
// Gate turns into a publish decision.
//
// Prequential evaluates a stream test-then-train: rows are scored by the
// model before it learns from them, and the scores are aggregated over
// every example, over the last N examples (a count window sliding by one
// example) and over tumbling or sliding event-time windows, for binary
// scores (AUC, log loss, …) or regression predictions (RMSE, MAE). Windows
// close when the watermark passes their end; late rows are counted and
// dropped from the windows. Its whole state encodes with MarshalBinary, so a
// training job's checkpoint carries it and a restored job counts every
// example exactly once. TestThenTrain drives a Scorer, the Prequential
// windows and a Learner in that order for each record.
//
// # Reports
//
// Report is the JSON document the publishing gate reads (stable snake_case
// field names, versioned by ReportSchemaVersion). WriteDir writes it with
// its plots, drawn with gonum/plot as PNG and SVG: ROC and precision–recall
// curves (champion and challenger overlaid), the reliability diagram, loss
// by training step, and the prequential AUC over time with its error band.
package eval
