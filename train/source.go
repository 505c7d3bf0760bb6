package train

import (
	"context"
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/zeebo/xxh3"

	"github.com/lakestream/lakestream/train/feature"
)

// Records iterates over Arrow records, like dataset.Scanner (which
// implements it): the record At returns is owned by the iterator and valid
// until the next call of Next. Close releases what the iterator holds.
type Records interface {
	Next() bool
	At() arrow.Record
	Err() error
	Close() error
}

// HashSplit holds out the rows whose Column value hashes into the first
// Percent of 100 buckets. Hashing a user or session id keeps each user's rows
// on one side.
type HashSplit struct {
	Column  string
	Percent int
}

// DefaultBatchSize is the mini-batch size when none is given (Bounded,
// NewSink, NewSourceBatches).
const DefaultBatchSize = 512

// SourceBatches featurizes records and cuts them into mini-batches. It
// implements Batches; it closes the records when the input ends or fails
// (and on Close).
type SourceBatches struct {
	src Records
	fz  *feature.Featurizer

	cut     cutter
	err     error
	done    bool
	records int64
}

// cutter hands out the rows of a featurized record as mini-batches that
// share its memory (only Indptr is rebased, into a reused buffer).
type cutter struct {
	fb     feature.Batch
	lo     int // next row of fb to hand out
	size   int
	cur    Batch
	indptr []int32
}

// next sets cur to the next mini-batch of fb; false when fb is used up.
func (c *cutter) next() bool {
	if c.lo >= c.fb.Rows {
		return false
	}
	hi := min(c.lo+c.size, c.fb.Rows)
	lo, beg, end := c.lo, c.fb.Indptr[c.lo], c.fb.Indptr[hi]
	c.lo = hi
	c.indptr = grow(c.indptr, hi-lo+1)
	for i, p := range c.fb.Indptr[lo : hi+1] {
		c.indptr[i] = p - beg
	}
	c.cur = Batch{
		Indptr:  c.indptr,
		Indices: c.fb.Indices[beg:end],
		Values:  c.fb.Values[beg:end],
		Fields:  c.fb.Fields[beg:end],
		Labels:  c.fb.Labels[lo:hi],
		Weights: c.fb.Weights[lo:hi],
	}
	return true
}

// NewSourceBatches returns mini-batches of size rows (DefaultBatchSize if
// size ≤ 0) from src featurized by fz.
func NewSourceBatches(src Records, fz *feature.Featurizer, size int) *SourceBatches {
	if size <= 0 {
		size = DefaultBatchSize
	}
	return &SourceBatches{src: src, fz: fz, cut: cutter{size: size}}
}

// Next advances to the next mini-batch.
func (s *SourceBatches) Next(ctx context.Context) bool {
	if s.done {
		return false
	}
	for !s.cut.next() {
		if !s.readRecord(ctx) {
			return false
		}
	}
	return true
}

// readRecord featurizes the next record into s.cut.fb; false at the end or on
// error.
func (s *SourceBatches) readRecord(ctx context.Context) bool {
	if err := ctx.Err(); err != nil {
		s.err = err
		s.finish()
		return false
	}
	if !s.src.Next() {
		if err := s.src.Err(); err != nil {
			s.err = fmt.Errorf("read records: %w", err)
		}
		s.finish()
		return false
	}
	rec := s.src.At()
	s.records++
	if err := s.fz.Featurize(rec, &s.cut.fb); err != nil {
		s.err = fmt.Errorf("featurize record %d: %w", s.records, err)
		s.finish()
		return false
	}
	s.cut.lo = 0
	return true
}

// hashMask sets mask[r] when row r of col belongs to the selected side:
// bucket < percent for the held-out side, ≥ percent otherwise. Nulls hash
// like the empty value.
func hashMask(col arrow.Array, percent int, heldOut bool, mask []bool) error {
	side := func(h uint64) bool { return (int(h%100) < percent) == heldOut }
	switch a := col.(type) {
	case *array.String:
		for r := range mask {
			mask[r] = side(xxh3.HashString(a.Value(r)))
		}
	case *array.Binary:
		for r := range mask {
			mask[r] = side(xxh3.Hash(a.Value(r)))
		}
	case *array.Int64:
		for r := range mask {
			mask[r] = side(splitMix(uint64(a.Value(r))))
		}
	case *array.Int32:
		for r := range mask {
			mask[r] = side(splitMix(uint64(a.Value(r))))
		}
	default:
		return fmt.Errorf("type %s not supported (want string, binary, int32 or int64)", col.DataType())
	}
	return nil
}

func splitMix(z uint64) uint64 {
	z += 0x9E3779B97F4A7C15
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

func columnNames(s *arrow.Schema) []string {
	out := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		out[i] = f.Name
	}
	return out
}

// At returns the current mini-batch, valid until the next call of Next.
func (s *SourceBatches) At() *Batch { return &s.cut.cur }

// Err returns the error that ended the iteration, if any.
func (s *SourceBatches) Err() error { return s.err }

// Close closes the records early. It is safe to call after the end.
func (s *SourceBatches) Close() error {
	if s.done {
		return nil
	}
	s.done = true
	return s.src.Close()
}

func (s *SourceBatches) finish() {
	if err := s.Close(); err != nil && s.err == nil {
		s.err = fmt.Errorf("close source: %w", err)
	}
}

// Lookahead holds the current mini-batch of a Batches and the one after
// it, for pipelined training (Stepper.StepAhead pulls the next batch's
// rows while pushing the current one's gradients). Most iterators,
// SourceBatches among them, reuse one buffer, so the current batch dies
// when the next is read; Lookahead copies each batch into buffers it owns
// and reuses (a copy costs about 2 µs per 256 rows, BenchmarkLookahead256).
//
// After Next, At is the current batch and Peek the next one (nil at the
// end of the input). The next call of Next makes Peek's batch (the same
// *Batch, unchanged) the current one and may reuse the previous current
// batch's buffer; so both are valid until then.
//
// NewLookahead reads src in the caller's goroutine, on Next.
// StartLookahead reads ahead in a goroutine of its own (decoding and
// featurizing the batches after Peek while the caller trains), which Close
// stops. A Lookahead is not safe for concurrent use.
type Lookahead struct {
	src       Batches
	cur, next *lookaheadBuf // At's and Peek's buffers; nil when none
	started   bool

	// NewLookahead's two buffers.
	bufs [2]lookaheadBuf

	// StartLookahead's reader: it takes empty buffers from free, fills
	// them in order into full and closes full at the end of src, after
	// setting srcErr. stop ends it early; done is closed when it returns.
	full, free chan *lookaheadBuf
	stop, done chan struct{}
	srcErr     error
	ended      bool  // full was seen closed: srcErr is final
	ctxErr     error // a Next's ctx ended while waiting for the reader
	closed     bool
}

// lookaheadBuf is one copy of a mini-batch; weights keeps the Weights
// buffer while the batch copied has none (Weights nil means all ones).
type lookaheadBuf struct {
	b       Batch
	weights []float32
}

// copyFrom makes l a copy of from, reusing l's memory.
func (l *lookaheadBuf) copyFrom(from *Batch) {
	b := &l.b
	b.Indptr = append(b.Indptr[:0], from.Indptr...)
	b.Indices = append(b.Indices[:0], from.Indices...)
	b.Values = append(b.Values[:0], from.Values...)
	b.Fields = append(b.Fields[:0], from.Fields...)
	b.Labels = append(b.Labels[:0], from.Labels...)
	b.Weights = nil
	if from.Weights != nil {
		l.weights = append(l.weights[:0], from.Weights...)
		b.Weights = l.weights
	}
}

// NewLookahead returns a Lookahead that reads src on Next, in the caller's
// goroutine; it reads src's first batch on the first call of Next.
func NewLookahead(src Batches) *Lookahead { return &Lookahead{src: src} }

// StartLookahead returns a Lookahead whose own goroutine reads src, up to
// depth (≥ 1) batches beyond Peek, with ctx; it must be stopped with Close
// before src is closed. The goroutine is the only user of src until then.
func StartLookahead(ctx context.Context, src Batches, depth int) *Lookahead {
	depth = max(depth, 1)
	n := depth + 3 // At, Peek, depth queued, one being filled
	l := &Lookahead{src: src, full: make(chan *lookaheadBuf, depth), free: make(chan *lookaheadBuf, n),
		stop: make(chan struct{}), done: make(chan struct{})}
	for range n {
		l.free <- new(lookaheadBuf)
	}
	go l.read(ctx)
	return l
}

// read is StartLookahead's goroutine.
func (l *Lookahead) read(ctx context.Context) {
	defer close(l.done)
	defer close(l.full)
	for {
		var buf *lookaheadBuf
		select {
		case buf = <-l.free:
		case <-l.stop:
			return
		}
		if !l.src.Next(ctx) {
			l.srcErr = l.src.Err()
			return
		}
		buf.copyFrom(l.src.At())
		select {
		case l.full <- buf:
		case <-l.stop:
			return
		}
	}
}

// Next advances to the next mini-batch and reads (or, started, receives)
// the one after it. It blocks until that batch is read, the input ends,
// or ctx is done.
func (l *Lookahead) Next(ctx context.Context) bool {
	if !l.started {
		l.started = true
		l.next = l.receive(ctx, nil)
	}
	if l.next == nil {
		return false
	}
	prev := l.cur
	l.cur = l.next
	l.next = l.receive(ctx, prev)
	return true
}

// receive returns the batch after the current one, in a buffer: with a
// reader, prev (done with) goes back to it first; without, src's next
// batch is copied into the buffer that is not cur. nil at the end.
func (l *Lookahead) receive(ctx context.Context, prev *lookaheadBuf) *lookaheadBuf {
	if l.full == nil {
		if !l.src.Next(ctx) {
			return nil
		}
		buf := &l.bufs[0]
		if l.cur == buf {
			buf = &l.bufs[1]
		}
		buf.copyFrom(l.src.At())
		return buf
	}
	if prev != nil {
		l.free <- prev // never blocks: free holds every buffer
	}
	if l.ended || l.ctxErr != nil {
		return nil
	}
	select {
	case buf, ok := <-l.full:
		if !ok {
			l.ended = true
			return nil
		}
		return buf
	case <-ctx.Done():
		l.ctxErr = ctx.Err()
		return nil
	}
}

// At returns the current mini-batch, valid until the next call of Next.
func (l *Lookahead) At() *Batch { return &l.cur.b }

// Peek returns the mini-batch after the current one, or nil when the
// current one is the last (or the input failed: see Err). It becomes At
// at the next call of Next.
func (l *Lookahead) Peek() *Batch {
	if l.next == nil {
		return nil
	}
	return &l.next.b
}

// Err returns the error that ended the input, if any.
func (l *Lookahead) Err() error {
	switch {
	case l.full == nil:
		return l.src.Err()
	case l.ctxErr != nil:
		return l.ctxErr
	case l.ended:
		return l.srcErr
	}
	return nil
}

// Close stops StartLookahead's goroutine and waits for it; it does not
// close src. It does nothing for NewLookahead and is safe to call twice.
func (l *Lookahead) Close() {
	if l.full == nil || l.closed {
		return
	}
	l.closed = true
	close(l.stop)
	<-l.done
}
