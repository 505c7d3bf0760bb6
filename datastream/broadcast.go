package datastream

import (
	"bytes"
	"context"
	"encoding/gob"
	"fmt"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
)

// BroadcastProcessFunc joins a data stream with a broadcast stream (such as
// a stream of model versions): every subtask sees every record of the
// broadcast input and keeps state S built from it, which it applies to the
// records of the data input. S's zero value is the initial state; it must be
// encodable with encoding/gob because it goes into checkpoints.
type BroadcastProcessFunc[S any] interface {
	// ProcessBroadcast updates state from a broadcast record. Every subtask
	// sees the same broadcast records in the same order per upstream subtask.
	ProcessBroadcast(c *BroadcastContext, state *S, rec arrow.Record) error
	// ProcessBatch handles a data record, appending output to c.Out().
	ProcessBatch(c *BroadcastContext, state *S, rec arrow.Record) error
}

// BroadcastContext is what a BroadcastProcessFunc sees of the runtime.
type BroadcastContext struct {
	b *broadcastCore
}

// Out returns the builder of output rows; the runtime emits them after each
// call.
func (c *BroadcastContext) Out() *array.RecordBuilder { return c.b.out }

// Subtask returns the subtask index and the operator's parallelism.
func (c *BroadcastContext) Subtask() (index, parallelism int) {
	return c.b.c.subtask, c.b.c.parallelism
}

// Watermark returns the operator's current event-time watermark.
func (c *BroadcastContext) Watermark() int64 { return c.b.c.wm }

// Now returns the job clock's current time.
func (c *BroadcastContext) Now() time.Time { return c.b.c.clock.Now() }

type broadcastCore struct {
	c     *opContext
	outSc *arrow.Schema
	out   *array.RecordBuilder
}

type broadcastOp[S any] struct {
	broadcastCore
	fn    BroadcastProcessFunc[S]
	state S
	bc    BroadcastContext
}

// BroadcastProcess connects data with broadcast: every batch of broadcast
// goes to every subtask of the operator (side 1), while data is distributed
// (side 0, one-to-one when parallelisms match, round robin otherwise). out is
// the schema of the rows fn appends to BroadcastContext.Out.
func BroadcastProcess[S any](data, broadcast *Stream, name string, out *arrow.Schema, fn BroadcastProcessFunc[S], opts ...OperatorOption) *Stream {
	if out == nil {
		data.job.fail(fmt.Errorf("%w: BroadcastProcess %q needs an output schema", ErrGraph, name))
	}
	n := data.then(name, func(int) operator {
		op := &broadcastOp[S]{fn: fn}
		op.outSc = out
		op.bc.b = &op.broadcastCore
		return op
	}, 1, edgeForward, nil, opts)
	data.job.connect(broadcast, n, 1, edgeBroadcast, nil)
	return &Stream{job: data.job, node: n}
}

func (b *broadcastOp[S]) open(c *opContext) error {
	b.c = c
	b.out = array.NewRecordBuilder(c.mem, b.outSc)
	return nil
}

func (b *broadcastOp[S]) process(side int, rec arrow.Record) error {
	var err error
	if side == 1 {
		err = b.fn.ProcessBroadcast(&b.bc, &b.state, rec)
	} else {
		err = b.fn.ProcessBatch(&b.bc, &b.state, rec)
	}
	if err != nil {
		return err
	}
	if b.out.Field(0).Len() == 0 {
		return nil
	}
	return b.c.emit(0, b.out.NewRecord())
}

func (*broadcastOp[S]) watermark(int64) error      { return nil }
func (*broadcastOp[S]) processingTime(int64) error { return nil }
func (*broadcastOp[S]) endInput(bool) error        { return nil }

func (b *broadcastOp[S]) snapshot(int64) ([]byte, error) {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(&b.state); err != nil {
		return nil, fmt.Errorf("encode broadcast state: %w", err)
	}
	return buf.Bytes(), nil
}

func (b *broadcastOp[S]) restore(data []byte) error {
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&b.state); err != nil {
		return fmt.Errorf("decode broadcast state: %w", err)
	}
	return nil
}

// restoreRescaled restores the state of any old subtask: every subtask saw
// the same broadcast records, so all hold the same state.
func (b *broadcastOp[S]) restoreRescaled(parts [][]byte, _ func(string) bool) error {
	return b.restore(parts[0])
}

func (b *broadcastOp[S]) close(context.Context) error {
	b.out.Release()
	return nil
}
