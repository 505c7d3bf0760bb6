// Package train trains Lakestream's models: hand-written sparse kernels for
// the models, a per-mini-batch step against a parameter store, and the loops
// that drive it over bounded data (epochs, validation, early stopping) and on
// the datastream runtime (one pass, as a sink).
//
// # Data flow
//
// Records (Arrow, from a Parquet scan of the lake or a stream) are
// featurized column by column by train/feature into a CSR mini-batch
// (Batch: hashed keys, values, field ids, labels, weights). A Stepper takes
// one Batch at a time:
//
//  1. deduplicates its keys (an open-addressing table with generation
//     stamps, so nothing is cleared or allocated per batch),
//  2. pulls the distinct rows of the sparse table "w" and every dense table
//     from the ParamStore, once per mini-batch (a store with the optional
//     PullHinted/PushHinted methods, like the in-process paramserver.Local,
//     also reports where each row lives, so the push of step 5 skips its
//     lookups),
//  3. runs the model's kernel, which writes predictions and accumulates the
//     gradient of the summed, weighted loss into buffers aligned with the
//     pulled rows,
//  4. checks that the loss and every gradient are finite (else a
//     *DivergenceError naming the step and table, and nothing is pushed),
//     clips the gradient's global L2 norm if asked, and
//  5. pushes the gradients; the store applies the table's optimizer
//     (train/optim) — the same code in process and on the parameter server.
//
// Gradients are summed over the mini-batch, not averaged, so a learning rate
// tuned per example carries over to any batch size for sparse features.
//
// # Models
//
// Model kinds (Kinds): logistic and linear regression, softmax, factorization
// machines (Rendle 2010), field-aware FMs (Juan et al. 2016), matrix
// factorization with explicit ratings or implicit feedback with negative
// sampling, Bayesian linear regression and AdPredictor (Graepel et al. 2010),
// which update a diagonal Gaussian posterior themselves (their tables are
// Posterior: the "gradient" is the exact change, applied with SGD at rate 1),
// and two deep models with dense towers (hand-written batched kernels,
// checked against a gorgonia graph in the tests): an MLP over field
// embeddings and DeepFM (Guo et al. 2017). Parameter layouts are those
// of package model (model.LayoutOf), so a trained model is saved and scored
// without this package: NewArtifact builds the model.Model.
//
// Every kernel has a finite-difference gradient check (gradient_test.go);
// the posterior updates are checked against the conjugate closed form and
// the published equations.
//
// # Loops
//
// Fit trains over bounded input (Bounded: datastream sources such as a
// Parquet scan through dataset.NewSource, replayed once per epoch) as
// datastream graphs: source → [hold-out filter] → train, whose train
// operator is Sink, then source → evaluate after each epoch. It stops
// early, keeps the best epoch's parameters, reports progress as a bar on a
// terminal or as slog lines, runs N train subtasks on one store for N
// Steppers, and with Config.Checkpoint takes aligned checkpoints of the
// training state and resumes from them. Sink is the same operator at the
// end of an unbounded job (a Kafka topic). WarmStart continues from a
// published model.
//
// Against asynchronous remote shards, StepAhead trains a batch and pulls
// the next one's rows in the round trip that pushes its gradients (one
// round trip per step instead of two; exactly sequential for one worker),
// and Lookahead holds the current and the next batch, optionally decoding
// and featurizing ahead in a goroutine (StartLookahead).
//
// # Concurrency
//
// A Stepper, a Model and a SourceBatches are used by one goroutine;
// data-parallel workers each own theirs and share the ParamStore, which is
// safe for concurrent use. Nothing in the step allocates once buffers have
// grown to the largest mini-batch (TestStepDoesNotAllocate).
package train
