package datastream

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/compute"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// operator is one subtask's instance of a graph node. A task goroutine calls
// its methods; none is called concurrently.
type operator interface {
	open(c *opContext) error
	// process handles a record arriving on logical input side. The runtime
	// owns rec and releases it after process returns.
	process(side int, rec arrow.Record) error
	// watermark tells the operator the combined input watermark advanced to
	// wm; it fires event-time timers and windows. The runtime forwards wm
	// downstream after it returns.
	watermark(wm int64) error
	// processingTime fires processing-time timers due at or before now (ms).
	processingTime(now int64) error
	// endInput is called once when every input has ended. drain is true when
	// the inputs ended (bounded sources) rather than stopped for a savepoint;
	// then every remaining window fires.
	endInput(drain bool) error
	snapshot(id int64) ([]byte, error)
	restore(state []byte) error
	close(ctx context.Context) error
}

// opContext is what an operator subtask sees of the runtime.
type opContext struct {
	ctx         context.Context
	job         string
	name        string
	subtask     int
	parallelism int
	clock       Clock
	logger      *slog.Logger
	mem         memory.Allocator
	stats       *opStats
	emitFn      func(port int, rec arrow.Record) error
	wake        func(at int64) // request a processingTime call at or after at (ms)
	wm          int64          // current input watermark
	restoredID  int64          // checkpoint restored from, 0 if none
	consumed    func(port int) bool
}

// emit sends rec (ownership passes) to the operator's output port.
func (c *opContext) emit(port int, rec arrow.Record) error {
	if rec.NumRows() == 0 {
		rec.Release()
		return nil
	}
	c.stats.out.Add(rec.NumRows())
	return c.emitFn(port, rec)
}

// baseOp gives operators no-op lifecycle methods.
type baseOp struct{ c *opContext }

func (b *baseOp) open(c *opContext) error      { b.c = c; return nil }
func (*baseOp) watermark(int64) error          { return nil }
func (*baseOp) processingTime(int64) error     { return nil }
func (*baseOp) endInput(bool) error            { return nil }
func (*baseOp) snapshot(int64) ([]byte, error) { return nil, nil }
func (*baseOp) restore([]byte) error           { return nil }
func (*baseOp) close(context.Context) error    { return nil }

// passOp forwards records unchanged: the operator of a source node.
type passOp struct{ baseOp }

func (p *passOp) process(_ int, rec arrow.Record) error {
	rec.Retain()
	return p.c.emit(0, rec)
}

type mapOp struct {
	baseOp
	fn func(arrow.Record) (arrow.Record, error)
}

func (m *mapOp) process(_ int, rec arrow.Record) error {
	out, err := m.fn(rec)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	return m.c.emit(0, out)
}

type flatMapOp struct {
	baseOp
	fn   func(arrow.Record, func(arrow.Record)) error
	emit func(arrow.Record)
	err  error
}

func (f *flatMapOp) open(c *opContext) error {
	f.c = c
	f.emit = func(r arrow.Record) {
		if err := c.emit(0, r); err != nil && f.err == nil {
			f.err = err
		}
	}
	return nil
}

func (f *flatMapOp) process(_ int, rec arrow.Record) error {
	f.err = nil
	if err := f.fn(rec, f.emit); err != nil {
		return err
	}
	return f.err
}

type filterOp struct {
	baseOp
	fn   func(arrow.Record, []bool) error
	keep []bool
}

func (f *filterOp) process(_ int, rec arrow.Record) error {
	n := int(rec.NumRows())
	if cap(f.keep) < n {
		f.keep = make([]bool, n)
	}
	keep := f.keep[:n]
	clear(keep)
	if err := f.fn(rec, keep); err != nil {
		return err
	}
	kept := 0
	for _, k := range keep {
		if k {
			kept++
		}
	}
	switch kept {
	case 0:
		return nil
	case n:
		rec.Retain()
		return f.c.emit(0, rec)
	}
	bb := array.NewBooleanBuilder(f.c.mem)
	defer bb.Release()
	bb.AppendValues(keep, nil)
	mask := bb.NewArray()
	defer mask.Release()
	out, err := compute.FilterRecordBatch(f.c.ctx, rec, mask, compute.DefaultFilterOptions())
	if err != nil {
		return fmt.Errorf("filter rows: %w", err)
	}
	return f.c.emit(0, out)
}

// takeRows returns a new record with the rows of rec at idx, in that order.
func takeRows(ctx context.Context, mem memory.Allocator, rec arrow.Record, idx []int32) (arrow.Record, error) {
	ib := array.NewInt32Builder(mem)
	ib.AppendValues(idx, nil)
	ia := ib.NewArray()
	ib.Release()
	defer ia.Release()
	cols := make([]arrow.Array, rec.NumCols())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i := range cols {
		c, err := compute.TakeArrayOpts(ctx, rec.Column(i), ia, compute.TakeOptions{BoundsCheck: false})
		if err != nil {
			return nil, fmt.Errorf("take rows of column %q: %w", rec.ColumnName(i), err)
		}
		cols[i] = c
	}
	return array.NewRecord(rec.Schema(), cols, int64(len(idx))), nil
}
