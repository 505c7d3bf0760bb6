package streamtask

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/lakestream/lakestream/datastream/kafka"
	"github.com/lakestream/lakestream/train"
)

// Task implements psworker.StreamTask over a Kafka topic. It is used from
// one goroutine.
type Task struct {
	cfg  kafka.SourceConfig
	sink *train.Sink
	src  *kafka.Source
	pos  map[int32]int64 // the source's position after the last batch
}

// New returns a task reading with a copy of cfg (its Assignment,
// Partitions and Start are set at each Seek: a partition without a
// checkpointed offset starts at the earliest retained record) and training
// with sink.
func New(cfg kafka.SourceConfig, sink *train.Sink) *Task {
	return &Task{cfg: cfg, sink: sink}
}

// Seek starts reading partitions at offsets afresh; records read and not
// trained are dropped with the previous source.
func (t *Task) Seek(ctx context.Context, partitions []int32, offsets map[int32]int64) error {
	t.Close(ctx)
	c := t.cfg
	c.Assignment, c.Partitions, c.Start = kafka.AssignAll, slices.Clone(partitions), kafka.StartEarliest
	src, err := kafka.NewSource(c)
	if err != nil {
		return err
	}
	next := map[int32]int64{}
	for _, p := range partitions {
		if off, ok := offsets[p]; ok {
			next[p] = off
		}
	}
	if len(next) > 0 {
		pos, err := kafka.Position{Topic: c.Topic, Next: next}.MarshalBinary()
		if err != nil {
			return err
		}
		if err := src.SeekTo(ctx, pos); err != nil {
			_ = src.Close(ctx)
			return err
		}
	}
	t.src, t.pos = src, next
	return nil
}

// Step reads one batch, waiting at most wait, and trains it; it returns
// once every shard acknowledged the batch's pushes.
func (t *Task) Step(ctx context.Context, wait time.Duration) (int64, error) {
	if t.src == nil {
		return 0, errors.New("streamtask: Step before Seek")
	}
	b, ok, err := t.src.ReadBatchWithin(ctx, wait)
	if err != nil || !ok {
		return 0, err
	}
	if b.Record != nil {
		defer b.Record.Release()
	}
	before := t.sink.Stats().Examples
	if err := t.sink.WriteBatch(ctx, b); err != nil {
		return t.sink.Stats().Examples - before, err
	}
	raw, err := t.src.Position()
	if err != nil {
		return 0, err
	}
	var p kafka.Position
	if err := p.UnmarshalBinary(raw); err != nil {
		return 0, err
	}
	t.pos = p.Next
	return t.sink.Stats().Examples - before, nil
}

// Offsets returns the next offset of each partition: the position after
// the last batch trained.
func (t *Task) Offsets() map[int32]int64 { return maps.Clone(t.pos) }

// Source returns the current source (nil before the first Seek), for its
// statistics.
func (t *Task) Source() *kafka.Source { return t.src }

// Close closes the source.
func (t *Task) Close(ctx context.Context) {
	if t.src != nil {
		_ = t.src.Close(ctx)
		t.src = nil
	}
}
