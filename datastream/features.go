package datastream

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"math"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// WindowAgg is what a FeatureWindow computes over one key's events in the
// window before a row.
type WindowAgg uint8

// Window aggregates. A value is "set" when it is not null and not zero (a
// boolean true, a nonzero number).
const (
	// WindowCount counts the key's events; with Column, only the events
	// whose Column is set (clicks among impressions). An int64, 0 when the
	// window is empty.
	WindowCount WindowAgg = iota
	// WindowSum sums Column over the events where it is not null; a
	// float64, 0 when empty.
	WindowSum
	// WindowMean is the mean of Column over the events where it is not
	// null; a float64, null when there are none.
	WindowMean
	// WindowDistinct counts the distinct non-null values of Column; an
	// int64.
	WindowDistinct
	// WindowLast is Column's value at the key's most recent event in the
	// window where it is not null; a float64, null when there is none.
	WindowLast
	// WindowRatio is the events whose Column is set divided by the events
	// whose Denominator is set (every event when Denominator is ""): a
	// click-through rate. A float64, null when the denominator is 0.
	WindowRatio
)

// Int reports whether the aggregate's column is int64 (else float64).
func (a WindowAgg) Int() bool { return a == WindowCount || a == WindowDistinct }

// FeatureWindow declares one windowed per-key aggregate: for every row, the
// aggregate of the events of the row's Key (equal values of the Key column)
// whose event time is strictly before the row's and within Over of it.
type FeatureWindow struct {
	// Name is the appended column.
	Name string
	// Key is the column whose values the state is kept per.
	Key string
	Agg WindowAgg
	// Column is the value column (required except for WindowCount): a
	// number or bool, or for WindowDistinct any key type.
	Column string
	// Denominator optionally names the column whose set values count as
	// the denominator of WindowRatio.
	Denominator string
	// Over is the window length; Resolution its bucket width (Over must be
	// a multiple of it). The window of a row at time t holds the events at
	// times in [⌊t/Resolution⌋·Resolution − Over, t): at least Over, at most
	// Over + Resolution long; its older edge moves in steps of Resolution,
	// its newer edge is exact. With hourly event times (YYMMDDHH), Over and
	// Resolution of 1h make the window the hour before the row's.
	Over, Resolution time.Duration
}

// FeatureWindows configures the WindowFeatures operator.
type FeatureWindows struct {
	// TimeColumn is the event-time column: int64 milliseconds since the
	// epoch or a timestamp. A row whose time is null gets null (count: 0)
	// values and is not counted.
	TimeColumn string
	Windows    []FeatureWindow
	// Drop names input columns that the output leaves out (columns a step
	// before the operator computed only for it).
	Drop []string
}

// Validate checks the configuration.
func (c FeatureWindows) Validate() error {
	if c.TimeColumn == "" {
		return fmt.Errorf("%w: window features need a time column", ErrGraph)
	}
	if len(c.Windows) == 0 {
		return fmt.Errorf("%w: no feature windows", ErrGraph)
	}
	names := map[string]bool{}
	for _, w := range c.Windows {
		switch {
		case w.Name == "" || names[w.Name]:
			return fmt.Errorf("%w: feature window name %q is empty or used twice", ErrGraph, w.Name)
		case w.Key == "":
			return fmt.Errorf("%w: feature window %q has no key column", ErrGraph, w.Name)
		case w.Agg > WindowRatio:
			return fmt.Errorf("%w: feature window %q: unknown aggregate %d", ErrGraph, w.Name, w.Agg)
		case w.Column == "" && w.Agg != WindowCount:
			return fmt.Errorf("%w: feature window %q needs a value column", ErrGraph, w.Name)
		case w.Denominator != "" && w.Agg != WindowRatio:
			return fmt.Errorf("%w: feature window %q: a denominator is for a ratio", ErrGraph, w.Name)
		case w.Resolution <= 0 || w.Over < w.Resolution || w.Over%w.Resolution != 0 || w.Resolution%time.Millisecond != 0:
			return fmt.Errorf("%w: feature window %q: over %v must be a positive multiple of resolution %v (whole milliseconds)", ErrGraph, w.Name, w.Over, w.Resolution)
		}
		names[w.Name] = true
	}
	return nil
}

// WindowFeatures appends one column per window of cfg to every record: the
// aggregate, per key, of the events before the row (point-in-time: an event
// at the row's time or later never counts). Each row is also an event of
// its keys, counted for the rows after it. The operator runs in one
// subtask (the windows may be keyed by different columns), sees the rows in
// arrival order and emits each record at once, with its columns in input
// order (less Drop) then the windows'.
//
// The values are exact when each key's events arrive in event-time order,
// as a time-ordered table and a topic keyed by the window key deliver them;
// then the same events give the same values whether they come from the lake
// or a topic. A late row (older than an event of its key already seen) gets
// the aggregate of the whole buckets before its own, and counts for later
// rows. A key's state is the non-empty buckets of one window and is dropped
// when the key has been idle for a window; the state is checkpointed.
func WindowFeatures(s *Stream, name string, cfg FeatureWindows, opts ...OperatorOption) *Stream {
	if err := cfg.Validate(); err != nil {
		s.job.fail(fmt.Errorf("operator %q: %w", name, err))
	}
	opts = append(opts, Parallelism(1))
	n := s.then(name, func(int) operator { return newFeatureOp(cfg) }, 1, edgeForward, nil, opts)
	return &Stream{job: s.job, node: n}
}

// winBucket aggregates a key's events of one bucket. Exported fields for
// gob (checkpoints).
type winBucket struct {
	B     int64   // bucket index: ⌊time/resolution⌋
	Count int64   // counted events (the ratio's numerator)
	Den   int64   // the ratio's denominator
	Vals  int64   // non-null values (mean, last)
	Sum   float64 // sum of values
	Last  float64 // value at LastT
	LastT int64   // time of the newest non-null value, ms
}

func (b *winBucket) merge(o *winBucket) {
	b.Count += o.Count
	b.Den += o.Den
	b.Sum += o.Sum
	if o.Vals > 0 && (b.Vals == 0 || o.LastT >= b.LastT) {
		b.Last, b.LastT = o.Last, o.LastT
	}
	b.Vals += o.Vals
}

// winKey is one key's state of one window.
type winKey struct {
	Buckets []winBucket // non-empty, ascending B, all events before PT
	Pend    winBucket   // the events at exactly PT, not yet in Buckets
	PendV   []uint64    // distinct: value hashes at PT
	PT      int64       // newest event time seen, ms
	Seen    map[uint64]int64
}

// window is the runtime state of one FeatureWindow.
type window struct {
	FeatureWindow
	res, span int64 // resolution ms, buckets per window
	keys      map[string]*winKey
	key       func([]byte, int) []byte
	val, den  arrow.Array
	valKey    func([]byte, int) []byte // distinct: value encoding
	vbuf      []byte
}

type featureOp struct {
	baseOp
	cfg     FeatureWindows
	wins    []*window
	free    []*winKey
	keep    []int // output columns taken from the input
	inSch   *arrow.Schema
	outSch  *arrow.Schema
	buf     []byte
	maxT    int64
	swept   int64 // maxT's coarsest bucket at the last sweep
	scratch []int64
}

func newFeatureOp(cfg FeatureWindows) *featureOp {
	op := &featureOp{cfg: cfg, maxT: math.MinInt64}
	for _, w := range cfg.Windows {
		res := w.Resolution.Milliseconds()
		op.wins = append(op.wins, &window{FeatureWindow: w, res: res, span: int64(w.Over / w.Resolution), keys: map[string]*winKey{}})
	}
	return op
}

func (op *featureOp) bind(sch *arrow.Schema) error {
	drop := map[string]bool{}
	for _, d := range op.cfg.Drop {
		drop[d] = true
	}
	op.keep = op.keep[:0]
	fields := make([]arrow.Field, 0, sch.NumFields()+len(op.wins))
	for i, f := range sch.Fields() {
		if !drop[f.Name] {
			op.keep = append(op.keep, i)
			fields = append(fields, f)
		}
	}
	for _, w := range op.wins {
		if len(sch.FieldIndices(w.Name)) > 0 {
			return fmt.Errorf("window feature %q: the records already have a column of this name", w.Name)
		}
		t := arrow.DataType(arrow.PrimitiveTypes.Float64)
		if w.Agg.Int() {
			t = arrow.PrimitiveTypes.Int64
		}
		fields = append(fields, arrow.Field{Name: w.Name, Type: t, Nullable: true})
	}
	md := sch.Metadata()
	op.inSch, op.outSch = sch, arrow.NewSchema(fields, &md)
	return nil
}

// times converts the time column to ms into dst; null rows become MinInt64.
func (op *featureOp) times(rec arrow.Record, dst []int64) error {
	vals, err := eventTimes(rec, op.cfg.TimeColumn, &op.scratch)
	if err != nil {
		return fmt.Errorf("window features: %w", err)
	}
	col := rec.Column(rec.Schema().FieldIndices(op.cfg.TimeColumn)[0])
	for i := range dst {
		dst[i] = vals[i]
		if col.IsNull(i) {
			dst[i] = math.MinInt64
		}
	}
	return nil
}

// numbers reads a numeric or bool column as float64 (NaN for null).
func numbers(col arrow.Array, i int) float64 {
	if col.IsNull(i) {
		return math.NaN()
	}
	switch a := col.(type) {
	case *array.Int64:
		return float64(a.Value(i))
	case *array.Int32:
		return float64(a.Value(i))
	case *array.Int16:
		return float64(a.Value(i))
	case *array.Int8:
		return float64(a.Value(i))
	case *array.Uint64:
		return float64(a.Value(i))
	case *array.Uint32:
		return float64(a.Value(i))
	case *array.Uint16:
		return float64(a.Value(i))
	case *array.Uint8:
		return float64(a.Value(i))
	case *array.Float64:
		return a.Value(i)
	case *array.Float32:
		return float64(a.Value(i))
	case *array.Boolean:
		if a.Value(i) {
			return 1
		}
		return 0
	}
	return math.NaN()
}

func isNumeric(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.FLOAT32, arrow.FLOAT64, arrow.BOOL:
		return true
	}
	return false
}

func (w *window) bind(rec arrow.Record) error {
	col := func(name, role string, numeric bool) (arrow.Array, error) {
		idx := rec.Schema().FieldIndices(name)
		if len(idx) == 0 {
			return nil, fmt.Errorf("window feature %q: %s column %q not in record (columns %v)", w.Name, role, name, columnNames(rec.Schema()))
		}
		c := rec.Column(idx[0])
		if numeric && !isNumeric(c.DataType()) {
			return nil, fmt.Errorf("window feature %q: %s column %q has type %s, want a number or bool", w.Name, role, name, c.DataType())
		}
		return c, nil
	}
	kc, err := col(w.Key, "key", false)
	if err != nil {
		return err
	}
	if w.key, err = keyEncoder(kc); err != nil {
		return fmt.Errorf("window feature %q: key column %q: %w", w.Name, w.Key, err)
	}
	w.val, w.den, w.valKey = nil, nil, nil
	if w.Column != "" {
		if w.val, err = col(w.Column, "value", w.Agg != WindowDistinct); err != nil {
			return err
		}
		if w.Agg == WindowDistinct {
			if w.valKey, err = keyEncoder(w.val); err != nil {
				return fmt.Errorf("window feature %q: value column %q: %w", w.Name, w.Column, err)
			}
		}
	}
	if w.Denominator != "" {
		if w.den, err = col(w.Denominator, "denominator", true); err != nil {
			return err
		}
	}
	return nil
}

func (op *featureOp) process(_ int, rec arrow.Record) error {
	if rec.Schema() != op.inSch && (op.inSch == nil || !rec.Schema().Equal(op.inSch)) {
		if err := op.bind(rec.Schema()); err != nil {
			return err
		}
	}
	n := int(rec.NumRows())
	ts := make([]int64, n)
	if err := op.times(rec, ts); err != nil {
		return err
	}
	cols := make([]arrow.Array, 0, len(op.keep)+len(op.wins))
	for _, i := range op.keep {
		cols = append(cols, rec.Column(i))
	}
	var made []arrow.Array
	for _, w := range op.wins {
		if err := w.bind(rec); err != nil {
			return err
		}
		a := op.run(w, ts, n)
		made = append(made, a)
		cols = append(cols, a)
	}
	for _, t := range ts {
		op.maxT = max(op.maxT, t)
	}
	op.sweep()
	out := array.NewRecord(op.outSch, cols, int64(n))
	for _, a := range made {
		a.Release()
	}
	return op.c.emit(0, out)
}

// run computes window w for the n rows and returns its column.
func (op *featureOp) run(w *window, ts []int64, n int) arrow.Array {
	vals := make([]float64, n)
	valid := make([]byte, (n+7)/8)
	nulls := 0
	for i := range n {
		v, ok := op.row(w, ts[i], i)
		vals[i] = v
		if ok {
			valid[i/8] |= 1 << (i % 8)
		} else {
			nulls++
		}
	}
	var bitmap *memory.Buffer
	if nulls > 0 {
		bitmap = memory.NewBufferBytes(valid)
	}
	var data arrow.ArrayData
	if w.Agg.Int() {
		ints := make([]int64, n)
		for i, v := range vals {
			ints[i] = int64(v)
		}
		data = array.NewData(arrow.PrimitiveTypes.Int64, n, []*memory.Buffer{bitmap, memory.NewBufferBytes(arrow.Int64Traits.CastToBytes(ints))}, nil, nulls, 0)
	} else {
		data = array.NewData(arrow.PrimitiveTypes.Float64, n, []*memory.Buffer{bitmap, memory.NewBufferBytes(arrow.Float64Traits.CastToBytes(vals))}, nil, nulls, 0)
	}
	defer data.Release()
	return array.MakeFromData(data)
}

// row returns window w's value for row i at time t, then counts the row as
// an event of its key.
func (op *featureOp) row(w *window, t int64, i int) (float64, bool) {
	if t == math.MinInt64 {
		return 0, w.Agg.Int()
	}
	op.buf = w.key(op.buf[:0], i)
	k, ok := w.keys[string(op.buf)]
	if !ok {
		k = op.newKey()
		k.PT = math.MinInt64
		w.keys[string(op.buf)] = k
	}
	b := floorDiv(t, w.res)
	lo := b - w.span - 1 // buckets ≤ lo are out of the window
	var v float64
	var set bool
	switch {
	case t > k.PT:
		w.fold(k)
		drop := 0
		for drop < len(k.Buckets) && k.Buckets[drop].B <= lo {
			drop++
		}
		if drop > 0 {
			k.Buckets = append(k.Buckets[:0], k.Buckets[drop:]...)
		}
		v, set = w.value(k, lo, b+1, t)
		k.PT = t
		k.Pend = winBucket{B: b}
		k.PendV = k.PendV[:0]
		w.add(&k.Pend, k, t, i, true)
	case t == k.PT:
		v, set = w.value(k, lo, b+1, t)
		w.add(&k.Pend, k, t, i, true)
	default: // late: only the whole buckets before its own
		v, set = w.value(k, lo, b, t)
		if b >= floorDiv(k.PT, w.res)-w.span {
			j := 0
			for j < len(k.Buckets) && k.Buckets[j].B < b {
				j++
			}
			if j == len(k.Buckets) || k.Buckets[j].B != b {
				k.Buckets = append(k.Buckets, winBucket{})
				copy(k.Buckets[j+1:], k.Buckets[j:])
				k.Buckets[j] = winBucket{B: b}
			}
			w.add(&k.Buckets[j], k, t, i, false)
		}
	}
	return v, set
}

// add counts row i (at time t) into bucket dst of key k. pend says dst is
// the key's pending bucket (distinct values wait in PendV).
func (w *window) add(dst *winBucket, k *winKey, t int64, i int, pend bool) {
	isSet := func(col arrow.Array) bool { x := numbers(col, i); return x == x && x != 0 }
	switch w.Agg {
	case WindowCount:
		if w.val == nil || isSet(w.val) {
			dst.Count++
		}
	case WindowRatio:
		if isSet(w.val) {
			dst.Count++
		}
		if w.den == nil || isSet(w.den) {
			dst.Den++
		}
	case WindowSum, WindowMean, WindowLast:
		x := numbers(w.val, i)
		if x != x {
			return
		}
		dst.Sum += x
		if dst.Vals == 0 || t >= dst.LastT {
			dst.Last, dst.LastT = x, t
		}
		dst.Vals++
	case WindowDistinct:
		if w.val.IsNull(i) {
			return
		}
		w.vbuf = w.valKey(w.vbuf[:0], i)
		h := hashKey(w.vbuf)
		if pend {
			k.PendV = append(k.PendV, h)
			return
		}
		if k.Seen == nil {
			k.Seen = map[uint64]int64{}
		}
		if prev, ok := k.Seen[h]; !ok || t > prev {
			k.Seen[h] = t
		}
	}
}

// fold moves the pending events of k (all at k.PT) into its buckets.
func (w *window) fold(k *winKey) {
	if k.PT == math.MinInt64 {
		return
	}
	p := &k.Pend
	if n := len(k.Buckets); n > 0 && k.Buckets[n-1].B == p.B {
		k.Buckets[n-1].merge(p)
	} else if p.Count != 0 || p.Den != 0 || p.Vals != 0 || w.Agg == WindowDistinct {
		k.Buckets = append(k.Buckets, *p)
	}
	if len(k.PendV) > 0 {
		if k.Seen == nil {
			k.Seen = map[uint64]int64{}
		}
		for _, h := range k.PendV {
			k.Seen[h] = k.PT
		}
		k.PendV = k.PendV[:0]
	}
	k.Pend = winBucket{}
}

// value aggregates k's buckets in (lo, hi) for a row at time t.
func (w *window) value(k *winKey, lo, hi, t int64) (float64, bool) {
	if w.Agg == WindowDistinct {
		n := 0
		for h, at := range k.Seen {
			switch b := floorDiv(at, w.res); {
			case b <= lo:
				delete(k.Seen, h) // out of every later window too
			case b < hi && at < t:
				n++
			}
		}
		return float64(n), true
	}
	var acc winBucket
	for i := range k.Buckets {
		if b := k.Buckets[i].B; b > lo && b < hi {
			acc.merge(&k.Buckets[i])
		}
	}
	switch w.Agg {
	case WindowCount:
		return float64(acc.Count), true
	case WindowSum:
		return acc.Sum, true
	case WindowMean:
		if acc.Vals == 0 {
			return 0, false
		}
		return acc.Sum / float64(acc.Vals), true
	case WindowLast:
		return acc.Last, acc.Vals > 0
	case WindowRatio:
		if acc.Den == 0 {
			return 0, false
		}
		return float64(acc.Count) / float64(acc.Den), true
	}
	return 0, false
}

func (op *featureOp) newKey() *winKey {
	if n := len(op.free); n > 0 {
		k := op.free[n-1]
		op.free = op.free[:n-1]
		return k
	}
	return &winKey{}
}

// sweep drops the keys idle for a window, at most once per quarter window
// of event time of the shortest window.
func (op *featureOp) sweep() {
	if op.maxT == math.MinInt64 {
		return
	}
	step := int64(math.MaxInt64)
	for _, w := range op.wins {
		step = min(step, max(w.Over.Milliseconds()/4, 1))
	}
	if at := floorDiv(op.maxT, step); at > op.swept {
		op.swept = at
	} else {
		return
	}
	for _, w := range op.wins {
		horizon := floorDiv(op.maxT, w.res) - w.span - 1
		for key, k := range w.keys {
			if floorDiv(k.PT, w.res) <= horizon {
				delete(w.keys, key)
				k.Buckets, k.PendV = k.Buckets[:0], k.PendV[:0]
				clear(k.Seen)
				k.Pend = winBucket{}
				op.free = append(op.free, k)
			}
		}
	}
}

// featureSnapshot is the checkpointed state: per window, its keys' states.
type featureSnapshot struct {
	MaxT, Swept int64
	Keys        [][]string
	States      [][]winKey
}

func (op *featureOp) snapshot(int64) ([]byte, error) {
	s := featureSnapshot{MaxT: op.maxT, Swept: op.swept}
	for _, w := range op.wins {
		keys := make([]string, 0, len(w.keys))
		states := make([]winKey, 0, len(w.keys))
		for key, k := range w.keys {
			keys = append(keys, key)
			states = append(states, *k)
		}
		s.Keys = append(s.Keys, keys)
		s.States = append(s.States, states)
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(&s); err != nil {
		return nil, fmt.Errorf("encode window features state: %w", err)
	}
	return buf.Bytes(), nil
}

func (op *featureOp) restore(b []byte) error {
	var s featureSnapshot
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&s); err != nil {
		return fmt.Errorf("decode window features state: %w", err)
	}
	if len(s.Keys) != len(op.wins) || len(s.States) != len(op.wins) {
		return fmt.Errorf("window features state: %d windows, the job has %d", len(s.Keys), len(op.wins))
	}
	op.maxT, op.swept = s.MaxT, s.Swept
	for i, w := range op.wins {
		if len(s.Keys[i]) != len(s.States[i]) {
			return fmt.Errorf("window features state: %d keys, %d states", len(s.Keys[i]), len(s.States[i]))
		}
		w.keys = make(map[string]*winKey, len(s.Keys[i]))
		for j, key := range s.Keys[i] {
			k := s.States[i][j]
			w.keys[key] = &k
		}
	}
	return nil
}
