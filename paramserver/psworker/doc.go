// Package psworker is the worker half of the parameter server's coordinator
// protocol: what a data-parallel worker does between the coordinator (which
// leases it splits of a bounded job) and the shards (whose clock table holds
// it to the job's consistency model).
//
// A Worker registers with the coordinator, then loops: Acquire a split
// (or wait, or stop when the job is done), join the clock table under sync
// and ssp, and hand the split to the caller's SplitFunc as a *Lease. The
// SplitFunc trains the split's rows from Lease.Assignment().SkipRows on,
// calling Lease.Progress before it pushes each mini-batch (so a worker that
// dies loses at most that batch and none is trained twice) and Lease.Barrier
// after (advance the clock, wait for the slowest worker allowed, and under
// sync apply the step's summed gradients with Flush). The Worker then
// completes the split, or reacts to how it failed:
//
//   - ErrLeaseLost (the split was reassigned, or the job recovered from a
//     checkpoint): drop it and acquire another;
//   - ErrWorkerExpired (the coordinator declared this worker dead after a
//     pause longer than its lease): register again as a new member;
//   - a shard that went away (ShardLost: Unavailable, DeadlineExceeded,
//     Canceled, Aborted): report it with Fail(shardLost), so the coordinator
//     restores every shard from the last checkpoint, and go on;
//   - anything else: Fail the split and return the error.
//
// Under sync and ssp a worker stays in the clock table from one split to
// the next and leaves only when it has no split (Wait, Done) or a split
// failed: leaving at every split end would let the others pass barriers
// without it, so the global mini-batches around split boundaries would
// depend on RPC timing. A heartbeat goroutine, owned and stopped by Run,
// renews the lease while a split trains.
//
// RunStream (StreamConfig) is the worker's half of the exactly-once stream
// protocol (paramserver.StreamCoordinator): the worker reads fixed
// partitions (StreamPartitions: p mod W = its index), reports its next
// offsets at batch boundaries, stops at the coordinator's checkpoint
// barriers until the shards' snapshot and the manifest are durable, and on
// a rollback seeks its partitions back to the last manifest's offsets.
//
// The Coordinator and Clocks interfaces are what the worker calls;
// *paramserver.CoordinatorClient and *paramserver.Client implement them over
// gRPC, and the tests drive the real in-process paramserver.Coordinator and
// paramserver.Clocks through thin adapters.
package psworker
