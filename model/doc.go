// Package model is Lakestream's portable model artifact: a feature spec, the
// parameters, and metadata, versioned in the lake and scored without the
// training stack.
//
// # Building a model
//
// A trainer fills a Model with the spec it featurized with, the tables it
// trained and the metadata of the run, then calls New, which checks the
// tables against the kind's layout (LayoutOf) and compiles the scorer:
//
//	m, err := model.New(model.Metadata{Kind: model.KindFM, Arch: model.Arch{Factors: 8, Loss: model.LossLogistic}},
//		spec, tables)
//	version, err := m.Save(ctx, store, "ctr")
//
// # Layouts
//
// Every kind uses one hashed sparse table "w", keyed by feature key
// (feature.Key), and dense tables; LayoutOf lists them with their widths.
// A key absent from "w" scores as a row of zeros, which is also the initial
// value of every row in training (for the Bayesian kinds, whose rows store
// the variance as an offset from the prior, zero is the prior).
//
//	kind          "w" row                          dense tables
//	logistic      w_j                              bias 1×1
//	linear        w_j                              bias 1×1
//	softmax       w_j1 … w_jC                      bias 1×C
//	fm            w_j, v_j1 … v_jk                 bias 1×1
//	ffm           w_j, v_j,0 (k) … v_j,F−1 (k)     bias 1×1
//	mf            b_j, p_j1 … p_jk                 bias 1×1 (μ)
//	bayes-linear  μ_j, σ_j² − σ₀²                  bias 1×2 (same for the intercept)
//	adpredictor   μ_j, σ_j² − σ₀²                  bias 1×2
//	mlp           e_j1 … e_jk                      mlp.<i>.w in×out, mlp.<i>.b 1×out
//	deepfm        w_j, v_j1 … v_jk                 bias 1×1, mlp.<i>.w, mlp.<i>.b
//
// The mlp and deepfm towers read the concatenation of per-field embedding
// sums, field f at [f·k, (f+1)·k): e_f = Σ x_j·v_j over the row's entries of
// field f. Layer i computes h_{i+1} = act(h_i·W_i + b_i) with W_i stored
// row-major as in×out (the in rows of a dense table, out values each), act
// ReLU on hidden layers and the identity on the last, whose width is the
// number of outputs (1, or C for a multiclass mlp).
//
// # Scores
//
// Score writes Outputs() values per row: a probability for logistic-loss
// models (logistic, adpredictor, and fm, ffm, mf, mlp, deepfm with
// Arch.Loss logistic), a value for regression, and for softmax and
// multiclass mlp the C class probabilities of row r at dst[r·C : (r+1)·C].
// Score is safe for concurrent use and allocates nothing per example. For the
// Bayesian kinds, Predictive also gives the posterior predictive mean and
// variance of the score, for exploration.
//
// # Artifacts
//
// Save writes models/<name>/<version>/: spec.yaml, one little-endian file per
// table (<table>.keys of uint64 keys for sparse tables, <table>.f32 of
// float32 values), and manifest.json last. A version directory without a
// manifest is invisible to Load and List, so a crashed save leaves no
// half-model behind. The manifest records the SHA-256 and size of every file;
// Load verifies them and rejects corrupt or incompatible artifacts with an
// error wrapping ErrCorrupt or ErrIncompatible.
//
// An mf version may also hold catalogue.bin (Catalogue, SetCatalogue): the
// items and each user's items of its training rows, within fixed bounds
// (MaxCatalogueItems and the rest), from which TopN ranks a user's unseen
// items with the same scores as Score.
//
// Versions are allocated by claiming: a writer takes the highest version it
// sees plus one, writes a claim object into it and lists the directory. If
// its claim is alone it owns the version; otherwise it withdraws the claim,
// waits a random moment and tries again above the highest version it then
// sees. With a store whose listings reflect completed writes (local disks,
// S3, MinIO) two concurrent writers never share a version: of two claims on
// one number, the one listed second always sees the first. A crashed save
// leaves its number occupied (never reused, never visible).
package model
