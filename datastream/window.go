package datastream

import (
	"bytes"
	"cmp"
	"container/heap"
	"context"
	"encoding/gob"
	"fmt"
	"slices"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/ipc"
)

// Window is the half-open interval [Start, End) of milliseconds since the
// epoch that a window covers. Global windows have Start = NoWatermark and
// End = MaxWatermark.
type Window struct {
	Start, End int64
}

func (w Window) String() string { return "[" + fmtMillis(w.Start) + ", " + fmtMillis(w.End) + ")" }

// TimeDomain says which clock drives a window or timer.
type TimeDomain uint8

const (
	// EventTime follows the watermark derived from the rows' timestamps.
	EventTime TimeDomain = iota
	// ProcessingTime follows the job's Clock.
	ProcessingTime
)

type windowKind uint8

const (
	windowTumbling windowKind = iota
	windowSliding
	windowSession
	windowGlobal
)

// WindowAssigner says which windows a row belongs to and when they fire.
// Build one with Tumbling, Sliding, Session or GlobalCount.
type WindowAssigner struct {
	kind        windowKind
	size, slide int64 // ms; session gap in size
	count       int64
	domain      TimeDomain
}

// Tumbling assigns each row to the one window of length size that holds its
// timestamp; windows are aligned to the epoch. An event-time window fires
// when the watermark reaches its end - 1.
func Tumbling(size time.Duration) WindowAssigner {
	return WindowAssigner{kind: windowTumbling, size: size.Milliseconds(), slide: size.Milliseconds()}
}

// Sliding assigns each row to the size/slide windows of length size,
// starting every slide, that hold its timestamp.
func Sliding(size, slide time.Duration) WindowAssigner {
	return WindowAssigner{kind: windowSliding, size: size.Milliseconds(), slide: slide.Milliseconds()}
}

// Session groups a key's rows into windows separated by gaps of at least
// gap: a row at t opens [t, t+gap), and windows that touch merge.
func Session(gap time.Duration) WindowAssigner {
	return WindowAssigner{kind: windowSession, size: gap.Milliseconds()}
}

// GlobalCount puts all rows of a key into one global window that fires and
// is purged every n rows. At the end of bounded input the partial window
// fires too. Its window_start and window_end columns are null.
func GlobalCount(n int) WindowAssigner { return WindowAssigner{kind: windowGlobal, count: int64(n)} }

// InProcessingTime returns a copy of a that assigns rows by the clock's time
// when they arrive and fires by the clock instead of the watermark.
func (a WindowAssigner) InProcessingTime() WindowAssigner {
	a.domain = ProcessingTime
	return a
}

func (a WindowAssigner) validate() error {
	switch {
	case a.kind == windowGlobal && a.count < 1:
		return fmt.Errorf("GlobalCount(%d): count must be positive", a.count)
	case a.kind != windowGlobal && a.size <= 0:
		return fmt.Errorf("window size or gap %dms must be at least 1ms", a.size)
	case a.kind == windowSliding && (a.slide <= 0 || a.slide > a.size):
		return fmt.Errorf("sliding window slide %dms must be in (0, size %dms]", a.slide, a.size)
	}
	return nil
}

type windowConfig struct {
	lateness int64
	tsColumn string
}

// WindowOption configures a window.
type WindowOption func(*windowConfig)

// AllowedLateness keeps event-time windows for d after they fire: a row
// arriving within d still updates the window, which fires again with the
// updated result. Rows later than that go to the late side output.
func AllowedLateness(d time.Duration) WindowOption {
	return func(c *windowConfig) { c.lateness = d.Milliseconds() }
}

// TimestampColumn sets the event-time column of the window's input (default:
// the column of the source's WatermarkStrategy).
func TimestampColumn(name string) WindowOption {
	return func(c *windowConfig) { c.tsColumn = name }
}

// WindowedStream is a keyed stream cut into windows; Aggregate turns it
// into a stream of results.
type WindowedStream struct {
	k        *KeyedStream
	assigner WindowAssigner
	cfg      windowConfig
}

// Window cuts the keyed stream into windows.
func (k *KeyedStream) Window(a WindowAssigner, opts ...WindowOption) *WindowedStream {
	w := &WindowedStream{k: k, assigner: a, cfg: windowConfig{tsColumn: k.s.node.tsColumn}}
	for _, o := range opts {
		o(&w.cfg)
	}
	return w
}

// WindowOutput is the result stream of a window aggregate.
type WindowOutput struct {
	*Stream
	late *Stream
}

// Late returns the side output of rows that arrived after their windows'
// allowed lateness, with the input's columns. Without a consumer such rows
// are counted (OperatorSummary.LateRecords) and logged as *LateDataError.
func (w *WindowOutput) Late() *Stream { return w.late }

// Aggregate computes agg per key and window. Results have the key columns,
// then window_start and window_end (timestamp[ms], null for global
// windows), then agg.Fields(). Results of one firing come in order of window
// end, then of window creation.
func Aggregate[A any](w *WindowedStream, name string, agg Aggregator[A], opts ...OperatorOption) *WindowOutput {
	s := w.k.s
	a, cfg, keys := w.assigner, w.cfg, w.k.keys
	if err := a.validate(); err != nil {
		s.job.fail(fmt.Errorf("%w: window %q: %w", ErrGraph, name, err))
	}
	if a.domain == EventTime && a.kind != windowGlobal && cfg.tsColumn == "" {
		s.job.fail(fmt.Errorf("%w: event-time window %q needs a timestamp column (source Watermarks or TimestampColumn)", ErrGraph, name))
	}
	n := s.then(name, func(int) operator {
		op := &windowOp[A]{assigner: a, cfg: cfg, keys: newKeyColumns(keys), agg: agg, state: map[string]*keyWindows[A]{}}
		op.timers.due = map[int64][]wentry[A]{}
		op.reset, _ = agg.(resetter[A])
		return op
	}, 2, edgeHash, keys, opts)
	n.tsColumn = ""
	return &WindowOutput{Stream: &Stream{job: s.job, node: n}, late: &Stream{job: s.job, node: n, port: 1}}
}

type win[A any] struct {
	Window
	key   string
	acc   A
	count int64
	fired bool
	dirty bool // updated after firing: fire again
}

type keyWindows[A any] struct {
	key   string
	wins  []*win[A]
	empty bool // listed in empties
}

// timer is a pending process-function timer of a key at time t.
type timer struct {
	t   int64
	key string
}

type timerHeap []timer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].t != h[j].t {
		return h[i].t < h[j].t
	}
	return h[i].key < h[j].key
}
func (h timerHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)   { *h = append(*h, x.(timer)) }
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}

// int64Heap is a min-heap of distinct timer times.
type int64Heap []int64

func (h int64Heap) Len() int           { return len(h) }
func (h int64Heap) Less(i, j int) bool { return h[i] < h[j] }
func (h int64Heap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *int64Heap) Push(x any)        { *h = append(*h, x.(int64)) }
func (h *int64Heap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}

// wentry is a pending firing (or cleanup) of a key's windows.
type wentry[A any] struct {
	ks      *keyWindows[A]
	cleanup bool
}

// windowTimers groups pending firings by time: aligned windows share a few
// distinct end times, so scheduling is a map append instead of a heap push
// per key, and firing needs no lookup by key.
type windowTimers[A any] struct {
	times int64Heap
	due   map[int64][]wentry[A]
}

func (wt *windowTimers[A]) add(t int64, e wentry[A]) {
	l, ok := wt.due[t]
	if !ok {
		heap.Push(&wt.times, t)
	}
	wt.due[t] = append(l, e)
}

// resetter is an optional Aggregator capability: Reset empties an
// accumulator in place so a recycled window keeps its allocations.
type resetter[A any] interface{ Reset(acc *A) }

type windowOp[A any] struct {
	baseOp
	assigner WindowAssigner
	cfg      windowConfig
	keys     *keyColumns
	agg      Aggregator[A]
	state    map[string]*keyWindows[A]
	timers   windowTimers[A]
	free     []*win[A]
	empties  []*keyWindows[A] // keys whose windows all fired, removed at the next firing pass
	reset    resetter[A]

	out      *array.RecordBuilder
	nkeys    int
	rows     []int32
	accs     []*A
	dirty    []*win[A]
	late     []int32
	lateWin  Window
	keyBuf   []byte
	tsBuf    []int64
	warnedLt bool
}

func (w *windowOp[A]) now() int64 { return w.c.clock.Now().UnixMilli() }

// fireAt is when a window fires in the window's time domain.
func fireAt(win Window) int64 { return win.End - 1 }

func (w *windowOp[A]) process(_ int, rec arrow.Record) error {
	if err := w.keys.bind(rec); err != nil {
		return err
	}
	n := int(rec.NumRows())
	var ts []int64
	var procNow int64
	eventTime := w.assigner.domain == EventTime && w.assigner.kind != windowGlobal
	if eventTime {
		var err error
		if ts, err = eventTimes(rec, w.cfg.tsColumn, &w.tsBuf); err != nil {
			return err
		}
	} else {
		procNow = w.now()
	}
	wm := w.c.wm
	w.rows, w.accs, w.late = w.rows[:0], w.accs[:0], w.late[:0]
	for r := range n {
		w.keyBuf = w.keys.key(w.keyBuf, r)
		ks := w.state[string(w.keyBuf)]
		if ks == nil {
			ks = &keyWindows[A]{key: string(w.keyBuf)}
			w.state[ks.key] = ks
		}
		t := procNow
		if eventTime {
			t = ts[r]
		}
		var err error
		switch w.assigner.kind {
		case windowTumbling, windowSliding:
			err = w.assignAligned(ks, r, t, wm, eventTime)
		case windowSession:
			err = w.assignSession(rec, ks, r, t, wm, eventTime)
		case windowGlobal:
			err = w.assignGlobal(rec, ks, r)
		}
		if err != nil {
			return err
		}
	}
	if err := w.flushAdds(rec); err != nil {
		return err
	}
	for _, d := range w.dirty {
		w.appendResult(d)
		d.dirty = false
	}
	w.dirty = w.dirty[:0]
	if len(w.late) > 0 {
		if err := w.emitLate(rec, wm); err != nil {
			return err
		}
	}
	w.scheduleWake()
	return w.flushOut()
}

func (w *windowOp[A]) flushAdds(rec arrow.Record) error {
	if len(w.rows) == 0 {
		return nil
	}
	err := w.agg.Add(rec, w.rows, w.accs)
	w.rows, w.accs = w.rows[:0], w.accs[:0]
	return err
}

func (w *windowOp[A]) isLate(win Window, wm int64, eventTime bool) bool {
	return eventTime && fireAt(win)+w.cfg.lateness <= wm
}

func (w *windowOp[A]) add(win *win[A], r int, wm int64, eventTime bool) {
	w.rows = append(w.rows, int32(r))
	w.accs = append(w.accs, &win.acc)
	win.count++
	if win.fired && !win.dirty && eventTime && fireAt(win.Window) <= wm {
		win.dirty = true
		w.dirty = append(w.dirty, win)
	}
}

func (w *windowOp[A]) newWindow(ks *keyWindows[A], wd Window) *win[A] {
	var nw *win[A]
	if n := len(w.free); n > 0 && w.reset != nil {
		nw = w.free[n-1]
		w.free = w.free[:n-1]
		acc := nw.acc
		w.reset.Reset(&acc)
		*nw = win[A]{Window: wd, key: ks.key, acc: acc}
	} else {
		nw = &win[A]{Window: wd, key: ks.key}
	}
	ks.wins = append(ks.wins, nw)
	w.timers.add(fireAt(wd), wentry[A]{ks: ks})
	return nw
}

func (w *windowOp[A]) assignAligned(ks *keyWindows[A], r int, t, wm int64, eventTime bool) error {
	size, slide := w.assigner.size, w.assigner.slide
	last := t - floorMod(t, slide)
	assigned := false
	for start := last; start > t-size; start -= slide {
		wd := Window{Start: start, End: start + size}
		if w.isLate(wd, wm, eventTime) {
			if !assigned {
				w.lateWin = wd
			}
			continue
		}
		var found *win[A]
		for _, x := range ks.wins {
			if x.Start == start {
				found = x
				break
			}
		}
		if found == nil {
			found = w.newWindow(ks, wd)
		}
		w.add(found, r, wm, eventTime)
		assigned = true
	}
	if !assigned {
		w.late = append(w.late, int32(r))
	}
	return nil
}

func (w *windowOp[A]) assignSession(rec arrow.Record, ks *keyWindows[A], r int, t, wm int64, eventTime bool) error {
	wd := Window{Start: t, End: t + w.assigner.size}
	if w.isLate(wd, wm, eventTime) {
		w.lateWin = wd
		w.late = append(w.late, int32(r))
		return nil
	}
	var hits []int
	for i, x := range ks.wins {
		if x.Start <= wd.End && wd.Start <= x.End {
			hits = append(hits, i)
		}
	}
	switch {
	case len(hits) == 0:
		w.add(w.newWindow(ks, wd), r, wm, eventTime)
		return nil
	case len(hits) == 1 && ks.wins[hits[0]].Start <= wd.Start && wd.End <= ks.wins[hits[0]].End:
		w.add(ks.wins[hits[0]], r, wm, eventTime)
		return nil
	}
	// Merge: apply pending adds first, since they point at windows that go.
	if err := w.flushAdds(rec); err != nil {
		return err
	}
	target := ks.wins[hits[0]]
	oldEnd := target.End
	target.Start, target.End = min(target.Start, wd.Start), max(target.End, wd.End)
	for _, i := range hits[1:] {
		o := ks.wins[i]
		w.agg.Merge(&target.acc, &o.acc)
		target.count += o.count
		target.fired = target.fired || o.fired
		target.Start, target.End = min(target.Start, o.Start), max(target.End, o.End)
		if o.dirty {
			o.dirty = false
			w.dirty = slices.DeleteFunc(w.dirty, func(d *win[A]) bool { return d == o })
		}
	}
	for k := len(hits) - 1; k >= 1; k-- {
		ks.wins = slices.Delete(ks.wins, hits[k], hits[k]+1)
	}
	switch {
	case target.End == oldEnd:
	case target.fired && w.cfg.lateness > 0:
		// A late row merged fired sessions: the result fires again below;
		// the merged window is cleaned up at its own end plus the lateness.
		w.timers.add(fireAt(target.Window)+w.cfg.lateness, wentry[A]{ks: ks, cleanup: true})
	default:
		w.timers.add(fireAt(target.Window), wentry[A]{ks: ks})
	}
	w.add(target, r, wm, eventTime)
	return nil
}

func (w *windowOp[A]) assignGlobal(rec arrow.Record, ks *keyWindows[A], r int) error {
	if len(ks.wins) == 0 {
		ks.wins = append(ks.wins, &win[A]{Window: Window{Start: NoWatermark, End: MaxWatermark}, key: ks.key})
	}
	g := ks.wins[0]
	w.add(g, r, 0, false)
	if g.count < w.assigner.count {
		return nil
	}
	if err := w.flushAdds(rec); err != nil {
		return err
	}
	w.appendResult(g)
	*g = win[A]{Window: g.Window, key: g.key} // purge
	return nil
}

func (w *windowOp[A]) emitLate(rec arrow.Record, wm int64) error {
	w.c.stats.late.Add(int64(len(w.late)))
	if !w.c.consumed(1) {
		if !w.warnedLt {
			w.warnedLt = true
			ts, _ := eventTimes(rec, w.cfg.tsColumn, &w.tsBuf)
			err := &LateDataError{Operator: w.c.name, Window: w.lateWin, EventTime: ts[w.late[0]], Watermark: wm}
			w.c.logger.Warn("late rows without a side output are counted and dropped (warning once per subtask)",
				"job", w.c.job, "err", err)
		}
		return nil
	}
	out, err := takeRows(w.c.ctx, w.c.mem, rec, w.late)
	if err != nil {
		return err
	}
	return w.c.emit(1, out)
}

// watermark fires event-time windows whose end - 1 the watermark reached.
func (w *windowOp[A]) watermark(wm int64) error {
	if w.assigner.domain != EventTime || w.assigner.kind == windowGlobal {
		return nil
	}
	w.fireUntil(wm)
	return w.flushOut()
}

func (w *windowOp[A]) processingTime(now int64) error {
	if w.assigner.domain != ProcessingTime || w.assigner.kind == windowGlobal {
		return nil
	}
	w.fireUntil(now)
	w.scheduleWake()
	return w.flushOut()
}

func (w *windowOp[A]) scheduleWake() {
	if w.assigner.domain == ProcessingTime && len(w.timers.times) > 0 {
		w.c.wake(w.timers.times[0])
	}
}

func (w *windowOp[A]) fireUntil(t int64) {
	if len(w.timers.times) == 0 || w.timers.times[0] > t {
		return
	}
	// Keys emptied by the previous pass and still empty go now; keeping them
	// one pass longer spares a map delete and insert for keys that come back.
	for _, ks := range w.empties {
		if len(ks.wins) == 0 && w.state[ks.key] == ks {
			delete(w.state, ks.key)
		}
		ks.empty = false
	}
	w.empties = w.empties[:0]
	for len(w.timers.times) > 0 && w.timers.times[0] <= t {
		tt := heap.Pop(&w.timers.times).(int64)
		entries := w.timers.due[tt]
		delete(w.timers.due, tt)
		for _, e := range entries {
			w.fireKey(e.ks, tt, e.cleanup)
		}
	}
}

func (w *windowOp[A]) fireKey(ks *keyWindows[A], t int64, cleanup bool) {
	keep := ks.wins[:0]
	for _, x := range ks.wins {
		switch {
		case cleanup:
			if x.fired && fireAt(x.Window)+w.cfg.lateness == t {
				w.recycle(x)
				continue
			}
		case !x.fired && fireAt(x.Window) == t:
			w.appendResult(x)
			x.fired = true
			if w.cfg.lateness > 0 && w.assigner.domain == EventTime {
				w.timers.add(t+w.cfg.lateness, wentry[A]{ks: ks, cleanup: true})
			} else {
				w.recycle(x)
				continue
			}
		}
		keep = append(keep, x) // stale timers of merged sessions leave windows alone
	}
	clear(ks.wins[len(keep):])
	ks.wins = keep
	if len(ks.wins) == 0 && !ks.empty {
		ks.empty = true
		w.empties = append(w.empties, ks)
	}
}

func (w *windowOp[A]) recycle(x *win[A]) {
	if w.reset != nil {
		w.free = append(w.free, x)
	}
}

// endInput fires every window still open when bounded input ends.
func (w *windowOp[A]) endInput(drain bool) error {
	if !drain {
		return nil
	}
	keys := make([]string, 0, len(w.state))
	for k := range w.state {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	type pend struct {
		key string
		w   *win[A]
	}
	var all []pend
	for _, k := range keys {
		for _, x := range w.state[k].wins {
			if !x.fired && x.count > 0 {
				all = append(all, pend{k, x})
			}
		}
	}
	slices.SortStableFunc(all, func(a, b pend) int { return cmp.Compare(a.w.End, b.w.End) })
	for _, p := range all {
		w.appendResult(p.w)
	}
	clear(w.state)
	w.timers = windowTimers[A]{due: map[int64][]wentry[A]{}}
	w.empties = nil
	return w.flushOut()
}

func (w *windowOp[A]) builder() *array.RecordBuilder {
	if w.out != nil {
		return w.out
	}
	var fields []arrow.Field
	for i, name := range w.keys.names {
		fields = append(fields, arrow.Field{Name: name, Type: w.keys.types[i], Nullable: true})
	}
	w.nkeys = len(fields)
	ts := &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}
	fields = append(fields,
		arrow.Field{Name: "window_start", Type: ts, Nullable: true},
		arrow.Field{Name: "window_end", Type: ts, Nullable: true})
	fields = append(fields, w.agg.Fields()...)
	w.out = array.NewRecordBuilder(w.c.mem, arrow.NewSchema(fields, nil))
	return w.out
}

func (w *windowOp[A]) appendResult(x *win[A]) {
	b := w.builder()
	bs := b.Fields()
	appendKey(bs[:w.nkeys], w.keys.types, []byte(x.key))
	if x.Start == NoWatermark {
		bs[w.nkeys].AppendNull()
		bs[w.nkeys+1].AppendNull()
	} else {
		bs[w.nkeys].(*array.TimestampBuilder).Append(arrow.Timestamp(x.Start))
		bs[w.nkeys+1].(*array.TimestampBuilder).Append(arrow.Timestamp(x.End))
	}
	w.agg.Append(bs[w.nkeys+2:], &x.acc)
}

func (w *windowOp[A]) flushOut() error {
	if w.out == nil || w.out.Field(0).Len() == 0 {
		return nil
	}
	return w.c.emit(0, w.out.NewRecord())
}

// windowSnapshot is the checkpointed state of a window subtask.
type windowSnapshot[A any] struct {
	KeySchema []byte
	Keys      []keySnapshot[A]
}

type keySnapshot[A any] struct {
	Key  string
	Wins []winSnapshot[A]
}

type winSnapshot[A any] struct {
	Start, End, Count int64
	Fired             bool
	Acc               A
}

func (w *windowOp[A]) snapshot(int64) ([]byte, error) {
	var s windowSnapshot[A]
	if w.keys.types != nil {
		b, err := encodeKeySchema(w.keys)
		if err != nil {
			return nil, err
		}
		s.KeySchema = b
	}
	for _, ks := range w.state {
		k := keySnapshot[A]{Key: ks.key}
		for _, x := range ks.wins {
			k.Wins = append(k.Wins, winSnapshot[A]{Start: x.Start, End: x.End, Count: x.count, Fired: x.fired, Acc: x.acc})
		}
		s.Keys = append(s.Keys, k)
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(&s); err != nil {
		return nil, fmt.Errorf("encode window state: %w", err)
	}
	return buf.Bytes(), nil
}

func (w *windowOp[A]) restore(b []byte) error {
	return w.restoreRescaled([][]byte{b}, func(string) bool { return true })
}

// restoreRescaled installs the keys of parts (the states of all subtasks of
// a checkpoint taken at another parallelism) for which keep is true.
func (w *windowOp[A]) restoreRescaled(parts [][]byte, keep func(key string) bool) error {
	for _, b := range parts {
		if err := w.install(b, keep); err != nil {
			return err
		}
	}
	w.scheduleWake()
	return nil
}

func (w *windowOp[A]) install(b []byte, keep func(key string) bool) error {
	var s windowSnapshot[A]
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&s); err != nil {
		return fmt.Errorf("decode window state: %w", err)
	}
	if s.KeySchema != nil && w.keys.types == nil {
		if err := decodeKeySchema(w.keys, s.KeySchema); err != nil {
			return err
		}
	}
	for _, k := range s.Keys {
		if !keep(k.Key) {
			continue
		}
		if _, dup := w.state[k.Key]; dup {
			return fmt.Errorf("window state: key %x in two subtasks' state", k.Key)
		}
		ks := &keyWindows[A]{key: k.Key}
		for _, x := range k.Wins {
			nw := &win[A]{Window: Window{Start: x.Start, End: x.End}, key: k.Key, count: x.Count, fired: x.Fired, acc: x.Acc}
			ks.wins = append(ks.wins, nw)
			switch {
			case w.assigner.kind == windowGlobal:
			case !x.Fired:
				w.timers.add(fireAt(nw.Window), wentry[A]{ks: ks})
			case w.cfg.lateness > 0:
				w.timers.add(fireAt(nw.Window)+w.cfg.lateness, wentry[A]{ks: ks, cleanup: true})
			}
		}
		w.state[k.Key] = ks
	}
	return nil
}

// encodeKeySchema records the key column types, which results need before
// any record arrives after a restore.
func encodeKeySchema(k *keyColumns) ([]byte, error) {
	fields := make([]arrow.Field, len(k.names))
	for i, n := range k.names {
		fields[i] = arrow.Field{Name: n, Type: k.types[i], Nullable: true}
	}
	var buf bytes.Buffer
	wr := ipc.NewWriter(&buf, ipc.WithSchema(arrow.NewSchema(fields, nil)))
	if err := wr.Close(); err != nil {
		return nil, fmt.Errorf("encode key schema: %w", err)
	}
	return buf.Bytes(), nil
}

func decodeKeySchema(k *keyColumns, b []byte) error {
	rd, err := ipc.NewReader(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("decode key schema: %w", err)
	}
	defer rd.Release()
	sc := rd.Schema()
	if sc.NumFields() != len(k.names) {
		return fmt.Errorf("checkpoint has %d key columns, the job %d", sc.NumFields(), len(k.names))
	}
	k.types = make([]arrow.DataType, len(k.names))
	for i := range k.names {
		if sc.Field(i).Name != k.names[i] {
			return fmt.Errorf("checkpoint key column %d is %q, the job's %q", i, sc.Field(i).Name, k.names[i])
		}
		k.types[i] = sc.Field(i).Type
	}
	return nil
}

func floorMod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

func (w *windowOp[A]) close(context.Context) error {
	if w.out != nil {
		w.out.Release()
	}
	return nil
}
