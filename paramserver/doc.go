// Package paramserver holds model parameters for data-parallel training:
// tables of fixed-width float32 rows that workers pull by key and update by
// pushing gradients, with the optimizer (package train/optim) applied where
// the parameters live.
//
// # Tables
//
// A table is declared by a TableSpec: a name, a row width, an optimizer, an
// initializer, and whether it is dense (Rows rows addressed by index) or a
// hashed sparse table (any uint64 key, rows created on first push). Each row
// stores its weights followed by the optimizer's per-parameter state (for
// example FTRL's z and n, Adam's moments) and an update count used for bias
// correction. Sparse tables can admit a key only after AdmitAfter pushes
// (counted in a count-min sketch) and drop rows unseen for TTL (Expire, on
// an injected clock), so long-running streams do not grow without bound.
// Initial values depend only on (seed, key, column), so any shard layout
// starts from the same model.
//
// # Stores
//
// Local is the in-process store: the embedded default on one machine and the
// engine of every shard. Client talks to shards over gRPC (service
// lakestream.paramserver.v1.ParamServer in api/paramserver) and implements
// the same Pull/Push methods, so the trainer's ParamStore interface is
// satisfied by both:
//
//	store, _ := paramserver.NewLocal(specs...)           // one process
//	store, _ := paramserver.Dial(ctx, paramserver.ClientConfig{Shards: addrs})
//
// Local also has PullHinted and PushHinted, the trainer's in-process fast
// path (found by type assertion): the pull reports where each row lives and
// the push of the same keys starts from there, verifying each hint. Calls
// with many keys sort them by stripe and take each stripe's lock once.
//
// Both also have PullTables and PushTables, Pull and Push of several tables
// in one call. On a Client that is one Exchange RPC per shard for all the
// tables (pushes applied before pulls), so a training step of a model with
// a dense bias costs two round trips to each shard instead of four; the
// trainer uses them when the store has no hinted path. PushPullTables pushes
// one step's gradients and pulls the next step's rows in the same Exchange,
// one round trip per step, for asynchronous workers only: a sync shard
// applies pushes at the barrier, after such a pull.
//
// Keys are hashed to shards with ShardOf; the shard map (the ordered list of
// addresses) is job configuration. A Client splits each request by shard,
// calls the shards in parallel, splits large requests into chunks below the
// message-size limit, and merges the answers into the caller's dst. Keys and
// values travel as packed little-endian bytes. Servers take an optional TLS
// configuration and shared token, checked on every call.
//
// Shards defend the shared model: a gradient that is not finite or exceeds
// MaxGradient refuses the whole call before anything is applied
// (ErrNonFinite, InvalidArgument on the wire), a row whose update would come
// out non-finite keeps its values, calls carry at most MaxKeysPerCall keys,
// and a pull whose answer would not fit in a message is refused before it is
// built.
//
// # Consistency
//
// Clocks implements the job's consistency model — bulk-synchronous (Sync),
// stale-synchronous with bound s (SSP) or asynchronous (Async) — as a clock
// table kept by shard 0: workers push a step's gradients, then call Clock,
// which returns when they may start the next step. Under Sync the shards are
// Deferred: pushes add into a per-row accumulator and each worker calls
// Flush(clock) after the barrier; the first call applies the optimizer once
// to the summed gradients, and every pull of a step sees the same
// parameters. A step is thus one optimizer update on a global mini-batch of
// W·b rows, b from each worker's current split: the trainer's gradients are
// sums over rows, so the sum of the pushes is the global batch's gradient
// (averaging would divide it by W: a W-fold smaller SGD step). It equals
// one process training with batch W·b on the rows in that order, not on
// W·b consecutive rows. Under SSP and Async pushes apply at once.
//
// # Coordination
//
// Coordinator (served by shard 0 next to the clock table) hands the splits
// of a bounded job — Parquet row groups, by index into the plan every worker
// computes — to workers under leases, tracks epochs, resumes the split of a
// worker whose lease expired from the rows it recorded, and takes
// checkpoints at a barrier: no split in progress, every shard snapshots,
// then a manifest is written. It hands out no split before Workers workers
// registered, and none beyond the CheckpointEvery quota of the next
// checkpoint, so each checkpoint covers exactly that many splits. When a worker reports a shard failure, or a
// shard's instance id changes (it restarted empty), it restores every shard
// from the last checkpoint and rewinds the splits to it.
//
// StreamCoordinator does the same for an unbounded Kafka job, exactly once:
// workers with fixed indexes read fixed partitions and report their next
// offsets; at every checkpoint barrier they stop at a batch boundary, every
// shard snapshots, and the manifest (written last) holds every worker's
// offsets and the example count. A worker restart, an expired lease, or a
// lost or restarted shard rolls the whole job back: every shard restores
// the last checkpoint and every worker seeks to the manifest's offsets. A
// restarted coordinator resumes from the latest manifest in the lake.
//
// Both coordinators fence the shards: every push carries the pusher's
// generation (Client.SetGeneration), and before a restore opens a new
// generation every shard raises its fence to it (Checkpointer.Fence,
// Local.Fence), so a worker retired while a batch was in flight (a long
// pause, a partition) gets ErrFenced and changes nothing instead of adding
// the batch to the restored tables. Jobs without a coordinator push at
// generation 0 and never raise a fence.
//
// # Snapshots
//
// WriteSnapshot and ReadSnapshot store every table, with optimizer state and
// update counts, in a compact checksummed binary format (see snapshot.go);
// shards write them to the lake under <prefix>/<checkpoint>/shard-i-of-n.pssnap
// when a checkpoint is taken at a barrier, and restore them after a failure.
//
// # Export
//
// A trained model leaves the shards through Client.ExportTable: the rows of
// a sparse table that a shard holds (every row pushed at least once, and a
// warm start's base keys: Local.SetBase), weights
// only, in pages of Local.ExportPage as large as a message allows, merged
// and sorted by key; a dense table's rows by Pull from their owners. Export
// when no worker pushes: a row moved between two pages may be missed or
// repeated (a repeated key is refused).
package paramserver
