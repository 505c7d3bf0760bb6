package datastream

import (
	"context"
	"math"

	"github.com/apache/arrow/go/v17/arrow"
)

// NoWatermark is the watermark of a stream that has not asserted any event
// time yet. It is below every real timestamp.
const NoWatermark int64 = math.MinInt64

// MaxWatermark is the final watermark. The runtime emits it when every source
// of a job has returned ErrEndOfInput: all event-time windows and timers fire.
const MaxWatermark int64 = math.MaxInt64

// Batch is the unit of flow: a column-oriented set of rows plus the event-time
// watermark that held when it was cut.
//
// Ownership: whoever receives a Batch owns its Record and must call
// Record.Release exactly once when done with it (Retain it to keep it longer).
// A source hands its Records to the runtime, the runtime hands them to
// operators and sinks; the runtime releases what it owns.
type Batch struct {
	// Record holds the rows. A nil Record is a heartbeat: the batch carries no
	// rows, only a watermark advance (and the liveness of Split).
	Record arrow.Record

	// Watermark is the event time, in milliseconds since the Unix epoch, below
	// which the source asserts no further rows of this split will arrive.
	// Sources that do not know set NoWatermark (or leave zero); the runtime
	// combines it with the watermark it derives from a timestamp column (see
	// WatermarkStrategy), keeping the larger.
	Watermark int64

	// Split names the part of the source the rows come from, such as a Kafka
	// partition ("topic/3"). The runtime keeps one watermark per split and
	// forwards the minimum over the non-idle splits of a source subtask. Empty
	// means the source subtask is a single split. A batch must hold rows of
	// one split only.
	Split string
}

// Source produces batches. It is used by one goroutine at a time, except for
// the methods of optional capabilities documented as concurrent.
//
// Optional capabilities, found by type assertion:
//   - Backlogger: the source knows how much input waits (Kafka consumer
//     lag), reported in metrics and the job summary.
//   - Positioner: the source can report and seek to a position, so its
//     progress goes into checkpoints and a restore resumes where it stopped.
//   - CheckpointCommitter: the source is told when a checkpoint holding its
//     position is durable (Kafka commits group offsets then).
type Source interface {
	// ReadBatch blocks until a batch is available, ctx is done (it returns
	// ctx.Err()), or the source is exhausted (it returns ErrEndOfInput, and
	// keeps returning it). The caller owns the returned Record.
	ReadBatch(ctx context.Context) (Batch, error)
	// Close releases the source's resources. It is called once, after the
	// last ReadBatch has returned.
	Close(ctx context.Context) error
}

// Positioner is an optional Source capability for checkpoints.
//
// The runtime calls Position right after each successful ReadBatch, from the
// same goroutine, so it must be cheap: it describes the point just after the
// returned batch (for Kafka, the next offset per partition; for Parquet, the
// file, row group and row). SeekTo is called at most once, before the first
// ReadBatch, with a position returned earlier by Position, possibly in a
// previous process; afterwards ReadBatch continues from that point.
type Positioner interface {
	Position() ([]byte, error)
	SeekTo(ctx context.Context, pos []byte) error
}

// Backlogger is an optional Source capability: Backlog returns how many
// records the source knows are waiting to be read, such as a Kafka
// consumer's lag summed over its partitions. The runtime reports it in the
// job summary and as a Prometheus gauge. It must be safe to call
// concurrently with ReadBatch and after Close.
type Backlogger interface {
	Backlog() int64
}

// CheckpointCommitter is an optional Source or Sink capability: the runtime
// calls CommitCheckpoint after checkpoint id has been durably written, with
// the position (for a Source) or the prepared state (for a Sink, see
// TwoPhaseSink) recorded in that checkpoint. It may be called concurrently
// with ReadBatch or WriteBatch. Commits arrive in increasing id order; a
// failed commit is reported in the job's summary and does not stop the job,
// because a later checkpoint's commit supersedes it.
type CheckpointCommitter interface {
	CommitCheckpoint(ctx context.Context, id int64, state []byte) error
}

// Sink consumes batches at the end of a pipeline. It is used by one
// goroutine at a time, except for CommitCheckpoint.
//
// Optional capabilities, found by type assertion: TwoPhaseSink for
// exactly-once output, CheckpointCommitter to learn when checkpoints are
// durable, StatefulSink for state that goes into checkpoints.
type Sink interface {
	// WriteBatch writes the rows of b. The runtime owns b.Record and releases
	// it after WriteBatch returns: a sink that keeps it must Retain it.
	// Heartbeat batches (nil Record) are not passed to sinks.
	WriteBatch(ctx context.Context, b Batch) error
	// Close flushes and releases the sink. It is called once, after the last
	// WriteBatch, both when the job ends and when it fails or is stopped.
	Close(ctx context.Context) error
}

// FinalCheckpointID is the id passed to TwoPhaseSink.PrepareCheckpoint and
// CommitCheckpoint when bounded input ends: the output written since the last
// checkpoint commits then, without a checkpoint of its own (the job is over;
// a crash between that commit and the end of Run can repeat it on restore).
const FinalCheckpointID int64 = math.MaxInt64

// StatefulSink is an optional Sink capability: a sink whose state goes into
// checkpoints, such as the training operator's parameter tables. At a
// checkpoint barrier the runtime calls SnapshotState and writes the bytes
// into the subtask's state file (after the TwoPhaseSink description, if the
// sink is both); no WriteBatch runs meanwhile, so the state is the one that
// holds exactly after the rows before the barrier. When a job is restored
// from checkpoint id, RestoreState gets those bytes before any WriteBatch.
// The sink may reuse the returned slice's memory only after the checkpoint's
// state file is written, that is, at the next SnapshotState.
type StatefulSink interface {
	Sink
	SnapshotState(ctx context.Context, id int64) ([]byte, error)
	RestoreState(ctx context.Context, id int64, state []byte) error
}

// TwoPhaseSink is an optional Sink capability for exactly-once output.
//
// When a checkpoint barrier reaches the sink, the runtime calls
// PrepareCheckpoint: the sink flushes everything written so far into a
// pending unit (such as a Kafka transaction) and returns a description of it,
// which goes into the checkpoint. When the checkpoint is durable the runtime
// calls CommitCheckpoint (see CheckpointCommitter, which a TwoPhaseSink must
// also implement) with that description. The runtime calls no WriteBatch
// between PrepareCheckpoint(id) and CommitCheckpoint(id), so one pending unit
// at a time suffices; if checkpoint id fails instead, writing resumes without
// a commit and the next PrepareCheckpoint covers the rows of both. When a
// job is restored from
// checkpoint id, RecoverCheckpoint gets the description prepared for it
// before any WriteBatch, so the sink can commit a unit whose commit was
// interrupted, and abort anything newer.
type TwoPhaseSink interface {
	Sink
	CheckpointCommitter
	PrepareCheckpoint(ctx context.Context, id int64) ([]byte, error)
	RecoverCheckpoint(ctx context.Context, id int64, state []byte) error
}
