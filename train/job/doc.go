// Package job runs a bounded training job: it plans a scan of a Parquet
// table in the lake, fits the spec's feature statistics, trains a model
// against an in-process parameter store as datastream graphs (train.Fit:
// the scan through dataset.NewSource → the train operator, replayed per
// epoch, with validation after each epoch and early stopping), optionally
// checkpointing the training state to the lake and resuming from it, and
// saves the result to the model registry.
//
// A Config is a plain struct (DefaultConfig, Validate) that "trainer train",
// "trainer quickstart", a scheduler or a notebook fills in; Run executes it
// and returns an Outcome. TableSpecs is the one mapping from a model's tables
// to the parameter server's table declarations: the in-process store of Run,
// the shards of "trainer ps" and the distributed workers all use it, so every
// process of a job declares the same tables with the same initial values.
//
// Config.Prequential runs the job test-then-train in event-time order (the
// evaluator trainer stream uses). An mf version is saved with its
// catalogue (the items and each user's items), which online top N reads.
// SaveShards assembles a distributed job's model from the shards' exports;
// PublishShards does the same at an exactly-once stream job's checkpoints
// and sends the version through the publish step (gate, promote,
// announce).
package job
