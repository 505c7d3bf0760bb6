package datastream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
)

// The execution model: the graph's nodes are grouped into chains (a node
// joins its input's chain when no repartition is needed between them), and
// each chain runs as parallelism subtasks. A subtask ("task") is one
// goroutine that owns the operators of its chain and one bounded input queue;
// records inside a chain are passed by function call, records between chains
// travel through the queues. Watermarks, idleness markers, checkpoint
// barriers and end-of-input markers travel in the same queues, in order with
// the records.

type msgKind uint8

const (
	msgData msgKind = iota
	msgWatermark
	msgIdle
	msgBarrier
	msgEnd // wm == 1: drained (input ended); 0: stopped for a savepoint
)

type message struct {
	kind  msgKind
	stop  bool  // barrier of a stop-with-savepoint
	input int32 // index of the sender among the receiver's inputs
	rec   arrow.Record
	wm    int64 // watermark; barrier id
}

type inputState struct {
	side    int
	wm      int64
	idle    bool
	ended   bool
	drained bool
	blocked bool // delivered the barrier being aligned
	held    []message
}

type chain struct {
	index       int
	name        string // head node's name, keys the chain's state files
	nodes       []*node
	parallelism int
	tasks       []*task
}

type portOut struct {
	next  *opRuntime
	edges []*outEdge
}

type opRuntime struct {
	node  *node
	op    operator
	c     *opContext
	ports []portOut
}

type trigger struct {
	id   int64
	stop bool
}

type decision struct {
	id     int64
	commit bool
}

type task struct {
	x       *execution
	chain   *chain
	subtask int
	ctx     context.Context

	in        chan message
	wakeCh    chan struct{}
	control   chan trigger  // sources: checkpoint triggers
	decisions chan decision // chains ending in a TwoPhaseSink

	inputs    []inputState
	queue     []message // held messages released after an alignment
	aligning  int64     // barrier id being aligned, 0 if none
	alignStop bool
	ops       []*opRuntime
	outEdges  []*outEdge
	wm        int64
	idle      bool
	ended     int

	wakeAt   int64
	stopWake func() bool

	// sources
	src     Source
	backlog atomic.Value // the source's Backlogger, set at open; read by metrics
	wms     *watermarker
	pos     []byte
	lastAck int64

	// sinks
	sink *sinkOp
}

func (t *task) name() string { return fmt.Sprintf("%s[%d]", t.chain.name, t.subtask) }

// outEdge sends the output of one upstream subtask along one graph edge.
type outEdge struct {
	t       *task // the sending task
	kind    edgeKind
	targets []*task
	idx     []int32 // the sender's input index at each target
	rr      int
	keys    *keyColumns
	keyBuf  []byte
	parts   [][]int32
	stats   *opStats
}

func (e *outEdge) sendTo(i int, m message) error {
	m.input = e.idx[i]
	ch := e.targets[i].in
	select {
	case ch <- m:
		return nil
	default:
	}
	start := time.Now()
	select {
	case ch <- m:
		e.stats.backpressure.Add(int64(time.Since(start)))
		return nil
	case <-e.t.ctx.Done():
		if m.rec != nil {
			m.rec.Release()
		}
		return e.t.ctx.Err()
	}
}

// sendRecord sends rec (ownership passes) along the edge.
func (e *outEdge) sendRecord(rec arrow.Record) error {
	n := len(e.targets)
	switch {
	case n == 1:
		return e.sendTo(0, message{kind: msgData, rec: rec})
	case e.kind == edgeBroadcast:
		for i := 1; i < n; i++ {
			rec.Retain()
		}
		for i := range n {
			if err := e.sendTo(i, message{kind: msgData, rec: rec}); err != nil {
				for j := i + 1; j < n; j++ {
					rec.Release()
				}
				return err
			}
		}
		return nil
	case e.kind == edgeForward:
		i := e.rr % n
		e.rr++
		return e.sendTo(i, message{kind: msgData, rec: rec})
	}
	defer rec.Release()
	if err := e.keys.bind(rec); err != nil {
		return err
	}
	if e.parts == nil {
		e.parts = make([][]int32, n)
	}
	for i := range e.parts {
		e.parts[i] = e.parts[i][:0]
	}
	rows := int(rec.NumRows())
	for r := range rows {
		e.keyBuf = e.keys.key(e.keyBuf, r)
		p := hashKey(e.keyBuf) % uint64(n)
		e.parts[p] = append(e.parts[p], int32(r))
	}
	for i, part := range e.parts {
		if len(part) == 0 {
			continue
		}
		var sub arrow.Record
		if len(part) == rows {
			rec.Retain()
			sub = rec
		} else {
			var err error
			if sub, err = takeRows(e.t.ctx, e.t.x.mem, rec, part); err != nil {
				return err
			}
		}
		if err := e.sendTo(i, message{kind: msgData, rec: sub}); err != nil {
			return err
		}
	}
	return nil
}

func (e *outEdge) broadcast(m message) error {
	for i := range e.targets {
		if err := e.sendTo(i, m); err != nil {
			return err
		}
	}
	return nil
}

// emit routes rec (owned) from op's port to its consumers.
func (t *task) emit(r *opRuntime, port int, rec arrow.Record) error {
	p := &r.ports[port]
	fan := len(p.edges)
	if p.next != nil {
		fan++
	}
	if fan == 0 {
		rec.Release()
		return nil
	}
	for i := 1; i < fan; i++ {
		rec.Retain()
	}
	var first error
	for _, e := range p.edges {
		if err := e.sendRecord(rec); err != nil && first == nil {
			first = err
		}
	}
	if p.next != nil {
		if first != nil {
			rec.Release()
			return first
		}
		return t.deliver(p.next, 0, rec)
	}
	return first
}

// deliver hands rec (owned) to an operator of this task.
func (t *task) deliver(r *opRuntime, side int, rec arrow.Record) error {
	defer rec.Release()
	r.c.stats.in.Add(rec.NumRows())
	if err := r.op.process(side, rec); err != nil {
		return t.opErr(r, err)
	}
	return nil
}

func (t *task) opErr(r *opRuntime, err error) error {
	var oe *OperatorError
	if errors.As(err, &oe) || errors.Is(err, context.Canceled) {
		return err
	}
	return &OperatorError{Operator: r.node.name, Subtask: t.subtask, Err: err}
}

func (t *task) broadcast(m message) error {
	for _, e := range t.outEdges {
		if err := e.broadcast(m); err != nil {
			return err
		}
	}
	return nil
}

// advanceTo moves the task's watermark to wm (if later) through every
// operator of the chain, then downstream.
func (t *task) advanceTo(wm int64) error {
	if wm <= t.wm && !(t.idle && wm != NoWatermark) {
		return nil
	}
	t.idle = false
	if wm > t.wm {
		t.wm = wm
		for _, r := range t.ops {
			r.c.wm = wm
			r.c.stats.watermark.Store(wm)
			if err := r.op.watermark(wm); err != nil {
				return t.opErr(r, err)
			}
		}
	}
	return t.broadcast(message{kind: msgWatermark, wm: t.wm})
}

func (t *task) markIdle() error {
	if t.idle {
		return nil
	}
	t.idle = true
	return t.broadcast(message{kind: msgIdle})
}

// requestWake arranges a wake-up at processing time at (ms).
func (t *task) requestWake(at int64) {
	if t.stopWake != nil && at >= t.wakeAt {
		return
	}
	if t.stopWake != nil {
		t.stopWake()
	}
	t.wakeAt = at
	d := time.Duration(at-t.x.now()) * time.Millisecond
	ch := t.wakeCh
	t.stopWake = t.x.cfg.clock.AfterFunc(max(d, 0), func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	})
}

func (t *task) onWake() error {
	t.stopWake = nil
	now := t.x.now()
	for _, r := range t.ops {
		if err := r.op.processingTime(now); err != nil {
			return t.opErr(r, err)
		}
	}
	if t.src != nil {
		return t.sourceWatermark(now)
	}
	return nil
}

// run is the task goroutine of a chain whose head reads from queues.
func (t *task) run() error {
	for t.ended < len(t.inputs) {
		var m message
		if len(t.queue) > 0 {
			m = t.queue[0]
			t.queue = t.queue[1:]
		} else {
			select {
			case m = <-t.in:
			case <-t.wakeCh:
				if err := t.onWake(); err != nil {
					return err
				}
				continue
			case <-t.ctx.Done():
				return t.ctx.Err()
			}
		}
		in := &t.inputs[m.input]
		if in.blocked {
			in.held = append(in.held, m)
			continue
		}
		var err error
		switch m.kind {
		case msgData:
			in.idle = false
			err = t.deliver(t.ops[0], in.side, m.rec)
		case msgWatermark:
			in.idle = false
			in.wm = max(in.wm, m.wm)
			err = t.combine()
		case msgIdle:
			in.idle = true
			err = t.combine()
		case msgBarrier:
			err = t.onBarrier(in, m)
		case msgEnd:
			in.ended, in.drained = true, m.wm == 1
			t.ended++
			if err = t.combine(); err == nil && t.aligning != 0 {
				err = t.tryAlign()
			}
		}
		if err != nil {
			return err
		}
	}
	drain := true
	for _, in := range t.inputs {
		drain = drain && in.drained
	}
	return t.finish(drain)
}

// combine recomputes the minimum watermark over active inputs.
func (t *task) combine() error {
	wm, active, idle := MaxWatermark, 0, 0
	for i := range t.inputs {
		in := &t.inputs[i]
		switch {
		case in.ended:
			if !in.drained {
				return nil // stopping for a savepoint: windows must not fire
			}
		case in.idle:
			idle++
		default:
			active++
			wm = min(wm, in.wm)
		}
	}
	if active == 0 && idle > 0 {
		return t.markIdle()
	}
	return t.advanceTo(wm)
}

func (t *task) onBarrier(in *inputState, m message) error {
	if t.aligning == 0 {
		if m.wm <= t.lastAck {
			return nil // a stale barrier of an aborted checkpoint
		}
		t.aligning, t.alignStop = m.wm, m.stop
	}
	in.blocked = true
	return t.tryAlign()
}

func (t *task) tryAlign() error {
	for i := range t.inputs {
		if in := &t.inputs[i]; !in.blocked && !in.ended {
			return nil
		}
	}
	id, stop := t.aligning, t.alignStop
	t.aligning = 0
	if err := t.checkpoint(id, stop); err != nil {
		return err
	}
	for i := range t.inputs {
		in := &t.inputs[i]
		in.blocked = false
		t.queue = append(t.queue, in.held...)
		in.held = nil
	}
	return nil
}

// checkpoint snapshots every operator of the chain for checkpoint id, writes
// the state file, acknowledges to the coordinator and forwards the barrier.
func (t *task) checkpoint(id int64, stop bool) error {
	if t.x.coord != nil {
		start := time.Now()
		defer func() { t.x.coord.stall.Add(int64(time.Since(start))) }()
	}
	t.lastAck = id
	a := ack{t: t, id: id, chain: t.chain.index, subtask: t.subtask, pos: t.pos, source: t.src != nil}
	states := make([]opState, 0, len(t.ops))
	for _, r := range t.ops {
		b, err := r.op.snapshot(id)
		if err != nil {
			return t.opErr(r, fmt.Errorf("snapshot for checkpoint %d: %w", id, err))
		}
		if b != nil {
			states = append(states, opState{name: r.node.name, data: b})
		}
	}
	if t.x.coord != nil {
		st, err := t.x.coord.writeState(t.ctx, id, t, states)
		if err != nil {
			a.err = err
		}
		a.state = st
		select {
		case t.x.coord.acks <- a:
		case <-t.ctx.Done():
			return t.ctx.Err()
		}
	}
	if err := t.broadcast(message{kind: msgBarrier, wm: id, stop: stop}); err != nil {
		return err
	}
	if t.sink != nil && t.sink.twoPhase != nil && t.x.coord != nil {
		// Hold writes until the checkpoint is decided (see TwoPhaseSink).
		for {
			select {
			case d := <-t.decisions:
				if d.id != id {
					continue
				}
				if d.commit {
					if err := t.sink.twoPhase.CommitCheckpoint(t.ctx, id, t.sink.prepared); err != nil {
						return t.opErr(t.ops[len(t.ops)-1], fmt.Errorf("commit checkpoint %d: %w", id, err))
					}
				}
				return nil
			case <-t.ctx.Done():
				return t.ctx.Err()
			}
		}
	}
	return nil
}

// finish runs when every input has ended.
func (t *task) finish(drain bool) error {
	for _, r := range t.ops {
		if err := r.op.endInput(drain); err != nil {
			return t.opErr(r, err)
		}
	}
	var d int64
	if drain {
		d = 1
	}
	return t.broadcast(message{kind: msgEnd, wm: d})
}

type fetched struct {
	b   Batch
	pos []byte
	err error
}

// runSource is the task goroutine of a chain headed by a source. A reader
// goroutine calls ReadBatch. By default it reads one batch at a time, when
// the task asks for it, so a batch is fully processed before the next read
// starts (and a test's fake clock, advanced inside ReadBatch, moves in step
// with the data); with ReadAhead(n) it reads up to n batches ahead.
func (t *task) runSource() error {
	pctx, cancel := context.WithCancel(t.ctx)
	ahead := t.chain.nodes[0].readAhead
	want := make(chan struct{}, 1)
	batches := make(chan fetched, max(1, ahead))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // owned by this task; stops when pctx is done or the source fails or ends
		defer wg.Done()
		pos, _ := t.src.(Positioner)
		for {
			if ahead == 0 {
				select {
				case <-want:
				case <-pctx.Done():
					return
				}
			}
			b, err := t.src.ReadBatch(pctx)
			f := fetched{b: b, err: err}
			if err == nil && pos != nil {
				if f.pos, err = pos.Position(); err != nil {
					f.err = fmt.Errorf("source position: %w", err)
				}
			}
			select {
			case batches <- f:
			case <-pctx.Done():
				if b.Record != nil {
					b.Record.Release()
				}
				return
			}
			if f.err != nil {
				return
			}
		}
	}()
	defer func() {
		cancel()
		wg.Wait()
		for {
			select {
			case f := <-batches:
				if f.b.Record != nil {
					f.b.Record.Release()
				}
				continue
			default:
			}
			break
		}
	}()
	ask := func() {
		if ahead == 0 {
			want <- struct{}{}
		}
	}
	ask()
	for {
		select {
		case f := <-batches:
			// Timers that came due while the batch was read go first.
			select {
			case <-t.wakeCh:
				if err := t.onWake(); err != nil {
					if f.b.Record != nil {
						f.b.Record.Release()
					}
					return err
				}
			default:
			}
			if errors.Is(f.err, ErrEndOfInput) {
				return t.endSource()
			}
			if f.err != nil {
				if t.ctx.Err() != nil {
					return t.ctx.Err()
				}
				return t.opErr(t.ops[0], fmt.Errorf("read batch: %w", f.err))
			}
			if err := t.onBatch(f); err != nil {
				return err
			}
			ask()
		case tr := <-t.control:
			if err := t.checkpoint(tr.id, tr.stop); err != nil {
				return err
			}
			if tr.stop {
				return t.finish(false)
			}
		case <-t.wakeCh:
			if err := t.onWake(); err != nil {
				return err
			}
		case <-t.ctx.Done():
			return t.ctx.Err()
		}
	}
}

func (t *task) onBatch(f fetched) error {
	if f.pos != nil {
		t.pos = f.pos
	}
	now := t.x.now()
	if err := t.wms.observe(f.b, now); err != nil {
		if f.b.Record != nil {
			f.b.Record.Release()
		}
		return t.opErr(t.ops[0], err)
	}
	if f.b.Record != nil {
		if err := t.deliver(t.ops[0], 0, f.b.Record); err != nil {
			return err
		}
	}
	return t.sourceWatermark(now)
}

func (t *task) sourceWatermark(now int64) error {
	wm, idle := t.wms.current(now)
	if next := t.wms.nextIdleCheck(); next >= 0 {
		t.requestWake(next)
	}
	if idle {
		return t.markIdle()
	}
	if wm == NoWatermark {
		return nil
	}
	return t.advanceTo(wm)
}

func (t *task) endSource() error {
	t.wms.endAll()
	if err := t.advanceTo(MaxWatermark); err != nil {
		return err
	}
	return t.finish(true)
}
