package datastream

import (
	"bytes"
	"container/heap"
	"context"
	"encoding/gob"
	"fmt"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
)

// KeyedProcessFunc is user logic over a keyed stream: it sees rows one at a
// time with the state of their key, sets timers, and appends output rows to
// the builder of KeyedContext.Out. S is the per-key state; its zero value is
// the initial state, and it must be encodable with encoding/gob because it
// goes into checkpoints.
type KeyedProcessFunc[S any] interface {
	// ProcessRow handles row of rec, which arrived on input side (always 0
	// for Process; 0 or 1 for CoProcess). rec is valid during the call only.
	ProcessRow(c *KeyedContext, state *S, side int, rec arrow.Record, row int) error
	// OnTimer handles a timer of c's key set for time t in domain.
	OnTimer(c *KeyedContext, state *S, domain TimeDomain, t int64) error
}

// KeyedContext is what a KeyedProcessFunc sees of the runtime. It is valid
// during the call it is passed to.
type KeyedContext struct {
	p     *processCore
	key   string
	ts    int64
	clear bool
}

// AppendKey appends the current key's column values to bs, one builder per
// key column (of the key columns' types).
func (c *KeyedContext) AppendKey(bs ...array.Builder) {
	appendKey(bs, c.p.keys[0].types, []byte(c.key))
}

// KeyBytes returns the encoded key, usable as a map key. Equal keys give
// equal bytes in every process.
func (c *KeyedContext) KeyBytes() string { return c.key }

// Timestamp is the event time of the row being processed (ms), or the
// timer's time in OnTimer. It is NoWatermark when the input has no event
// time column.
func (c *KeyedContext) Timestamp() int64 { return c.ts }

// Watermark returns the operator's current event-time watermark.
func (c *KeyedContext) Watermark() int64 { return c.p.c.wm }

// Now returns the job clock's current time.
func (c *KeyedContext) Now() time.Time { return c.p.c.clock.Now() }

// Out returns the builder of output rows; the runtime emits its rows after
// each call batch.
func (c *KeyedContext) Out() *array.RecordBuilder { return c.p.out }

// RegisterTimer sets a timer of the current key at t (ms) in domain. Event
// timers fire when the watermark reaches t, processing-time timers when the
// clock does. Setting the same timer twice sets it once.
func (c *KeyedContext) RegisterTimer(domain TimeDomain, t int64) {
	c.p.register(procTimer{Domain: domain, T: t, Key: c.key})
}

// DeleteTimer removes a timer set with RegisterTimer.
func (c *KeyedContext) DeleteTimer(domain TimeDomain, t int64) {
	delete(c.p.timerSet, procTimer{Domain: domain, T: t, Key: c.key})
}

// ClearState drops the current key's state after the call returns.
func (c *KeyedContext) ClearState() { c.clear = true }

type procTimer struct {
	Domain TimeDomain
	T      int64
	Key    string
}

// processCore is the non-generic part of a keyed process operator.
type processCore struct {
	c        *opContext
	keys     [2]*keyColumns
	outSc    *arrow.Schema
	out      *array.RecordBuilder
	tsCol    string
	timerSet map[procTimer]struct{}
	timers   [2]timerHeap // by domain
	keyBuf   []byte
	tsBuf    []int64
}

func (p *processCore) register(t procTimer) {
	if _, ok := p.timerSet[t]; ok {
		return
	}
	p.timerSet[t] = struct{}{}
	heap.Push(&p.timers[t.Domain], timer{t: t.T, key: t.Key})
	if t.Domain == ProcessingTime {
		p.c.wake(p.timers[ProcessingTime][0].t)
	}
}

func (p *processCore) flush() error {
	if p.out == nil || p.out.Field(0).Len() == 0 {
		return nil
	}
	return p.c.emit(0, p.out.NewRecord())
}

type processOp[S any] struct {
	processCore
	fn    KeyedProcessFunc[S]
	state map[string]*S
	kc    KeyedContext
}

// Process runs fn over a keyed stream. out is the schema of the rows fn
// appends to KeyedContext.Out (nil: fn emits nothing and the operator is a
// sink of state and timers only, which still needs a consumer, so prefer a
// schema).
func Process[S any](k *KeyedStream, name string, out *arrow.Schema, fn KeyedProcessFunc[S], opts ...OperatorOption) *Stream {
	s := k.s
	ts := s.node.tsColumn
	n := s.then(name, func(int) operator {
		return newProcessOp(fn, out, ts, k.keys, nil)
	}, 1, edgeHash, k.keys, opts)
	n.tsColumn = ""
	return &Stream{job: s.job, node: n}
}

// CoProcess runs fn over two keyed streams whose keys match (same number
// and types of key columns): rows of a arrive with side 0, rows of b with
// side 1, and both sides share the per-key state and timers. The operator's
// watermark is the minimum of both inputs'.
func CoProcess[S any](a, b *KeyedStream, name string, out *arrow.Schema, fn KeyedProcessFunc[S], opts ...OperatorOption) *Stream {
	if len(a.keys) != len(b.keys) {
		a.s.job.fail(fmt.Errorf("%w: CoProcess %q: %d key columns on side 0, %d on side 1", ErrGraph, name, len(a.keys), len(b.keys)))
	}
	ts := a.s.node.tsColumn
	n := a.s.then(name, func(int) operator {
		return newProcessOp(fn, out, ts, a.keys, b.keys)
	}, 1, edgeHash, a.keys, opts)
	a.s.job.connect(b.s, n, 1, edgeHash, b.keys)
	n.tsColumn = ""
	return &Stream{job: a.s.job, node: n}
}

func newProcessOp[S any](fn KeyedProcessFunc[S], out *arrow.Schema, ts string, keys0, keys1 []string) *processOp[S] {
	p := &processOp[S]{fn: fn, state: map[string]*S{}}
	p.outSc, p.tsCol = out, ts
	p.keys[0] = newKeyColumns(keys0)
	if keys1 != nil {
		p.keys[1] = newKeyColumns(keys1)
	}
	p.timerSet = map[procTimer]struct{}{}
	p.kc.p = &p.processCore
	return p
}

func (p *processOp[S]) open(c *opContext) error {
	p.c = c
	if p.outSc != nil {
		p.out = array.NewRecordBuilder(c.mem, p.outSc)
	}
	return nil
}

func (p *processOp[S]) stateOf(key string) *S {
	st := p.state[key]
	if st == nil {
		st = new(S)
		p.state[key] = st
	}
	return st
}

func (p *processOp[S]) process(side int, rec arrow.Record) error {
	keys := p.keys[side]
	if err := keys.bind(rec); err != nil {
		return err
	}
	if side == 1 && p.keys[0].types != nil {
		for i, t := range keys.types {
			if !arrow.TypeEqual(t, p.keys[0].types[i]) {
				return fmt.Errorf("key column %q on side 1 has type %s, side 0 has %s", keys.names[i], t, p.keys[0].types[i])
			}
		}
	}
	if side == 1 && p.keys[0].types == nil {
		p.keys[0].types = keys.types
	}
	var ts []int64
	if p.tsCol != "" && len(rec.Schema().FieldIndices(p.tsCol)) > 0 {
		var err error
		if ts, err = eventTimes(rec, p.tsCol, &p.tsBuf); err != nil {
			return err
		}
	}
	n := int(rec.NumRows())
	for r := range n {
		p.keyBuf = keys.key(p.keyBuf, r)
		st, ok := p.state[string(p.keyBuf)]
		if !ok {
			st = new(S)
			p.state[string(p.keyBuf)] = st
		}
		p.kc.key, p.kc.clear, p.kc.ts = string(p.keyBuf), false, NoWatermark
		if ts != nil {
			p.kc.ts = ts[r]
		}
		if err := p.fn.ProcessRow(&p.kc, st, side, rec, r); err != nil {
			return err
		}
		if p.kc.clear {
			delete(p.state, p.kc.key)
		}
	}
	return p.flush()
}

func (p *processOp[S]) fire(domain TimeDomain, until int64) error {
	h := &p.timers[domain]
	for len(*h) > 0 && (*h)[0].t <= until {
		tm := heap.Pop(h).(timer)
		id := procTimer{Domain: domain, T: tm.t, Key: tm.key}
		if _, ok := p.timerSet[id]; !ok {
			continue // deleted
		}
		delete(p.timerSet, id)
		p.kc.key, p.kc.clear, p.kc.ts = tm.key, false, tm.t
		if err := p.fn.OnTimer(&p.kc, p.stateOf(tm.key), domain, tm.t); err != nil {
			return err
		}
		if p.kc.clear {
			delete(p.state, tm.key)
		}
	}
	return p.flush()
}

func (p *processOp[S]) watermark(wm int64) error { return p.fire(EventTime, wm) }

func (p *processOp[S]) processingTime(now int64) error {
	if err := p.fire(ProcessingTime, now); err != nil {
		return err
	}
	if h := p.timers[ProcessingTime]; len(h) > 0 {
		p.c.wake(h[0].t)
	}
	return nil
}

// endInput fires the remaining processing-time timers when bounded input
// ends (event-time ones fired with the final watermark).
func (p *processOp[S]) endInput(drain bool) error {
	if !drain {
		return nil
	}
	return p.fire(ProcessingTime, MaxWatermark)
}

func (p *processOp[S]) close(context.Context) error {
	if p.out != nil {
		p.out.Release()
	}
	return nil
}

type processSnapshot[S any] struct {
	KeySchema []byte
	Keys      []string
	States    []S
	Timers    []procTimer
}

func (p *processOp[S]) snapshot(int64) ([]byte, error) {
	var s processSnapshot[S]
	if p.keys[0].types != nil {
		b, err := encodeKeySchema(p.keys[0])
		if err != nil {
			return nil, err
		}
		s.KeySchema = b
	}
	for k, st := range p.state {
		s.Keys = append(s.Keys, k)
		s.States = append(s.States, *st)
	}
	for t := range p.timerSet {
		s.Timers = append(s.Timers, t)
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(&s); err != nil {
		return nil, fmt.Errorf("encode process state: %w", err)
	}
	return buf.Bytes(), nil
}

func (p *processOp[S]) restore(b []byte) error {
	return p.restoreRescaled([][]byte{b}, func(string) bool { return true })
}

// restoreRescaled installs the keys (state and timers) of parts, the states
// of all subtasks of a checkpoint taken at another parallelism, for which
// keep is true.
func (p *processOp[S]) restoreRescaled(parts [][]byte, keep func(key string) bool) error {
	for _, b := range parts {
		var s processSnapshot[S]
		if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&s); err != nil {
			return fmt.Errorf("decode process state: %w", err)
		}
		if len(s.Keys) != len(s.States) {
			return fmt.Errorf("process state: %d keys, %d states", len(s.Keys), len(s.States))
		}
		if s.KeySchema != nil && p.keys[0].types == nil {
			if err := decodeKeySchema(p.keys[0], s.KeySchema); err != nil {
				return err
			}
		}
		for i, k := range s.Keys {
			if keep(k) {
				st := s.States[i]
				p.state[k] = &st
			}
		}
		for _, t := range s.Timers {
			if keep(t.Key) {
				p.register(t)
			}
		}
	}
	return nil
}
