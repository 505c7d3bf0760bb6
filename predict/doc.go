// Package predict is batch scoring: it scores the rows of a lake table with
// a saved model version and writes the scores back to the lake as a
// Parquet table, what Spark's transform and Alink's batch predict do. It is
// "trainer predict" as a call a notebook or a scheduler can make.
//
//	cfg := predict.DefaultConfig()
//	cfg.Data, cfg.DT, cfg.Model = "clicks", "2026-11-09", "ctr@champion"
//	cfg.Output, cfg.Keep = "scores/ctr", []string{"request_id"}
//	res, err := predict.Run(ctx, store, cfg)
//
// # Output
//
// Each output row holds the Keep columns of the input row, then "score"
// (one FP64 per row, what the predictor's "score" output gives for the same
// row), or for a model with C outputs (softmax, multiclass mlp) the columns
// score_0 … score_{C−1}, the probabilities of the spec's classes in order,
// as stream scoring names them.
//
// The output is partitioned like the input: the rows of every Hive partition
// folder of the input (dt=2026-11-09, or dt=…/country=fr) go to the same
// folder under Output, one Parquet file per folder (part-00000.parquet),
// and lake.Commit writes the folder's _SUCCESS marker after the file, so a
// reader that honours markers (dataset.Open) never sees a half-written
// partition. An unpartitioned input gives one file at the root of Output.
// The file's key-value metadata names the model version
// ("lakestream.model" = "ctr@3").
//
// # Top-N items
//
// TopN is batch recommendation with a matrix-factorization model (kind
// mf): the rows TopNConfig selects are interactions; every item in them
// is the catalogue, and each user gets the N items the model scores
// highest among those the user has no row with, as rows (user, item,
// score, rank) of one file, Output/part-00000.parquet, then its _SUCCESS.
//
// # Validation
//
// Run checks everything it can before it reads a data page: the
// configuration, the model reference and the artifact, the table's columns
// and their types against the types the model was trained on (an integer
// column read as a string hashes differently, so its scores would not be the
// predictor's), the Keep columns (present, not a partition column, not a
// score column's name), that Output is neither the input table nor inside
// it, and that no output partition it would write exists already: an
// existing one is refused unless Overwrite is set, in which case its marker
// is deleted first and its objects before the new file is written.
//
// A value the model's spec refuses (a NaN under invalid: error) fails the
// run with the row and column; the partition being written is left without
// its marker, so readers skip it, and a later run needs Overwrite.
//
// # Memory and speed
//
// Rows stream batch by batch (Config.BatchSize rows read, scored with
// model.Model.Score, encoded) into a pipe that lake.Store.Put uploads as it
// goes; a file holds at most one row group (Config.RowGroupRows rows) in
// memory. Keep columns are passed through as Arrow arrays without a copy and
// the score buffer is reused, so nothing is allocated per row. One goroutine
// scores; another, owned by the partition's write, uploads.
package predict
