// Package clicklog generates synthetic click logs shaped like the Avazu CTR
// data set (24 columns: id, click, hour and 21 anonymized categorical
// features), labelled by a planted ground-truth model, and writes them to a
// lake as Hive-partitioned Parquet (prefix/dt=YYYY-MM-DD/part-00000.parquet,
// each day committed with a _SUCCESS marker).
//
// The planted model is a logistic model with a main effect per feature value
// and low-rank pairwise interactions between chosen pairs of fields:
//
//	logit P(click) = b + Σ_f w_f(x_f) + Σ_{(f,g)} ⟨u_f(x_f), u_g(x_g)⟩
//
// Feature values follow Zipf distributions with Avazu-like cardinalities.
// Because the true click probability of every row is known, Generate reports
// the best AUC any model can reach on the test day (the AUC of the true
// probabilities), so a trained model's AUC can be read against it. A
// logistic regression on one-hot features captures the main effects only; a
// factorization machine can also learn the interactions.
//
// Weights are pure functions of (seed, field, value), so the generator keeps
// no tables of them and the same seed reproduces the same data.
package clicklog
