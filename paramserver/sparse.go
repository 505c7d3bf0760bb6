package paramserver

import (
	"sync"
	"sync/atomic"

	"github.com/lakestream/lakestream/train/optim"
)

// A sparse table is split into stripes by the top bits of the key's hash;
// each stripe is an open-addressing hash table (linear probing) over a row
// arena, guarded by its own RWMutex. Rows live contiguously in vals, each row
// being Width weights followed by Width*Slots optimizer state values, so
// growth appends to a few slices and never allocates per key.
const (
	stripeBits = 6
	numStripes = 1 << stripeBits
	// minIndex is the initial open-addressing index size of a stripe.
	minIndex = 64
)

type sparseTable struct {
	spec   TableSpec
	rule   rule
	width  int
	kept   int   // width * (1 + slots): weights and optimizer state, what snapshots keep
	stride int   // kept, plus width for the gradient accumulator when deferred
	ttl    int64 // nanoseconds; 0 disables expiry bookkeeping
	admit  uint8 // sightings needed; ≤ 1 admits at once
	// deferred tables add pushed gradients into a per-row accumulator and
	// apply the optimizer once per Flush (bulk-synchronous training).
	deferred bool

	stripes [numStripes]stripe
}

type stripe struct {
	mu    sync.RWMutex
	index []int32 // 0 is empty, otherwise row+1; len is a power of two
	keys  []uint64
	steps []int64
	seen  []int64 // last pull or push, unix nanoseconds; atomic under RLock
	vals  []float32
	// sketch counts pushes of keys not yet admitted (AdmitAfter > 1).
	sketch *sketch
	// dirty lists the rows with accumulated gradients (deferred tables);
	// isDirty marks them.
	dirty   []int32
	isDirty []bool
	// undo holds a row's values while its update is checked for finiteness
	// (see checkedUpdate).
	undo []float32
}

func newSparseTable(spec TableSpec, r rule, deferred bool) *sparseTable {
	t := &sparseTable{
		spec:     spec,
		rule:     r,
		width:    spec.Width,
		kept:     spec.Width * (1 + r.Slots()),
		ttl:      int64(spec.TTL),
		admit:    uint8(spec.AdmitAfter),
		deferred: deferred,
	}
	t.stride = t.kept
	if deferred {
		t.stride += t.width
	}
	for i := range t.stripes {
		s := &t.stripes[i]
		s.index = make([]int32, minIndex)
		if t.admit > 1 {
			s.sketch = newSketch(sketchCounters)
		}
	}
	return t
}

func (t *sparseTable) stripeOf(h uint64) *stripe { return &t.stripes[h>>(64-stripeBits)] }

// find returns the row of key or -1. The caller holds s.mu.
func (s *stripe) find(key, h uint64) int {
	mask := uint64(len(s.index) - 1)
	for p := h & mask; ; p = (p + 1) & mask {
		i := s.index[p]
		if i == 0 {
			return -1
		}
		if s.keys[i-1] == key {
			return int(i - 1)
		}
	}
}

// insert appends a row for key (known to be absent) with its initial values
// and the optimizer's start state for them, and returns it. The caller holds s.mu for writing.
func (t *sparseTable) insert(s *stripe, key, h uint64, now int64) int {
	row := len(s.keys)
	if (row+1)*4 > len(s.index)*3 {
		s.rehash(len(s.index) * 2)
	}
	s.keys = append(s.keys, key)
	s.steps = append(s.steps, 0)
	s.seen = append(s.seen, now)
	if t.deferred {
		s.isDirty = append(s.isDirty, false)
	}
	n := len(s.vals)
	s.vals = growFloats(s.vals, t.stride)
	initRow(&t.spec.Init, key, s.vals[n:n+t.width])
	optim.InitState(t.rule, s.vals[n:n+t.width], s.vals[n+t.width:n+t.kept])
	clear(s.vals[n+t.kept : n+t.stride])
	s.place(h, row)
	return row
}

// place puts row into the index at the first free slot of its probe chain.
func (s *stripe) place(h uint64, row int) {
	mask := uint64(len(s.index) - 1)
	p := h & mask
	for s.index[p] != 0 {
		p = (p + 1) & mask
	}
	s.index[p] = int32(row + 1)
}

// rehash rebuilds the index with size slots from the key column.
func (s *stripe) rehash(size int) {
	if cap(s.index) >= size {
		s.index = s.index[:size]
		clear(s.index)
	} else {
		s.index = make([]int32, size)
	}
	for row, k := range s.keys {
		s.place(mix64(k), row)
	}
}

// growFloats extends v by n zeroed values, amortizing reallocation.
func growFloats(v []float32, n int) []float32 {
	if len(v)+n <= cap(v) {
		v = v[:len(v)+n]
		clear(v[len(v)-n:])
		return v
	}
	return append(v, make([]float32, n)...)
}

// groupMin is the number of keys from which pull and push sort a call's
// keys by stripe and lock each stripe once, instead of locking per key.
const groupMin = 64

// keyGroups orders the positions of one call's keys by stripe (stably, so
// a repeated key keeps the order of its occurrences). Calls borrow one from
// groupPool, so a steady stream of calls allocates nothing.
type keyGroups struct {
	start [numStripes + 1]int32 // stripe i's positions: order[start[i]:start[i+1]]
	order []int32
	hash  []uint64 // mix64 of each key, by position in the call
}

var groupPool = sync.Pool{New: func() any { return new(keyGroups) }}

func (g *keyGroups) build(keys []uint64) {
	if cap(g.order) < len(keys) {
		g.order = make([]int32, len(keys), len(keys)+len(keys)/4)
		g.hash = make([]uint64, len(keys), cap(g.order))
	}
	g.order, g.hash = g.order[:len(keys)], g.hash[:len(keys)]
	var count [numStripes]int32
	for i, k := range keys {
		h := mix64(k)
		g.hash[i] = h
		count[h>>(64-stripeBits)]++
	}
	var sum int32
	for i, c := range count {
		g.start[i] = sum
		count[i] = sum // now the next free position of stripe i
		sum += c
	}
	g.start[numStripes] = sum
	for i, h := range g.hash {
		si := h >> (64 - stripeBits)
		g.order[count[si]] = int32(i)
		count[si]++
	}
}

// pull copies the rows of keys into dst. When hints is not nil it also
// records, in hints[i], the row of keys[i] within its stripe (-1 when
// absent), for a push of the same keys to start from.
func (t *sparseTable) pull(keys []uint64, dst []float32, now int64, trainedOnly bool, hints []int32) {
	if len(keys) < groupMin {
		for i, k := range keys {
			h := mix64(k)
			s := t.stripeOf(h)
			s.mu.RLock()
			t.pullRow(s, i, k, h, dst, now, trainedOnly, hints)
			s.mu.RUnlock()
		}
		return
	}
	g := groupPool.Get().(*keyGroups)
	g.build(keys)
	for si := range t.stripes {
		lo, hi := g.start[si], g.start[si+1]
		if lo == hi {
			continue
		}
		s := &t.stripes[si]
		s.mu.RLock()
		for _, i := range g.order[lo:hi] {
			t.pullRow(s, int(i), keys[i], g.hash[i], dst, now, trainedOnly, hints)
		}
		s.mu.RUnlock()
	}
	groupPool.Put(g)
}

// pullRow copies the row of key k, the i-th of a pull, into its place in
// dst. The caller holds s.mu for reading.
func (t *sparseTable) pullRow(s *stripe, i int, k, h uint64, dst []float32, now int64, trainedOnly bool, hints []int32) {
	w := t.width
	out := dst[i*w : (i+1)*w]
	r := s.find(k, h)
	if r >= 0 {
		if w == 1 {
			out[0] = s.vals[r*t.stride]
		} else {
			copy(out, s.vals[r*t.stride:r*t.stride+w])
		}
		if t.ttl > 0 {
			atomic.StoreInt64(&s.seen[r], now)
		}
	} else if trainedOnly {
		clear(out)
	} else {
		initRow(&t.spec.Init, k, out)
	}
	if hints != nil {
		hints[i] = int32(r)
	}
}

// push applies the optimizer to the rows of keys. hints, when not nil, holds
// rows recorded by a pull of the same keys; a hint is only trusted when the
// row it names still holds that key (rows move when Expire compacts a
// stripe, or Restore replaces the tables), so a stale hint costs a lookup,
// never a wrong update. Rows whose update would not be finite keep their
// values and are counted in the result.
func (t *sparseTable) push(keys []uint64, grads []float32, now int64, hints []int32) (refused refusals) {
	if len(keys) < groupMin {
		for i, k := range keys {
			h := mix64(k)
			s := t.stripeOf(h)
			s.mu.Lock()
			t.pushRow(s, i, k, h, grads, now, hints, &refused)
			s.mu.Unlock()
		}
		return refused
	}
	g := groupPool.Get().(*keyGroups)
	g.build(keys)
	for si := range t.stripes {
		lo, hi := g.start[si], g.start[si+1]
		if lo == hi {
			continue
		}
		s := &t.stripes[si]
		s.mu.Lock()
		for _, i := range g.order[lo:hi] {
			t.pushRow(s, int(i), keys[i], g.hash[i], grads, now, hints, &refused)
		}
		s.mu.Unlock()
	}
	groupPool.Put(g)
	return refused
}

// pushRow applies the gradient of key k, the i-th of a push. The caller
// holds s.mu for writing.
func (t *sparseTable) pushRow(s *stripe, i int, k, h uint64, grads []float32, now int64, hints []int32, refused *refusals) {
	w := t.width
	r := -1
	if hints != nil {
		if hr := int(hints[i]); hr >= 0 && hr < len(s.keys) && s.keys[hr] == k {
			r = hr
		}
	}
	if r < 0 {
		r = s.find(k, h)
	}
	if r < 0 {
		if t.admit > 1 && !s.sketch.sight(h, t.admit) {
			return
		}
		r = t.insert(s, k, h, now)
	}
	row := s.vals[r*t.stride : (r+1)*t.stride]
	g := grads[i*w : (i+1)*w]
	if t.deferred {
		acc := row[t.kept:]
		for j, v := range g {
			acc[j] += v
		}
		if !s.isDirty[r] {
			s.isDirty[r] = true
			s.dirty = append(s.dirty, int32(r))
		}
	} else {
		var ok bool
		s.undo, ok = checkedUpdate(t.rule, row[:t.kept], w, g, s.steps[r]+1, s.undo)
		if !ok {
			refused.add(k)
			return
		}
		s.steps[r]++
	}
	s.seen[r] = now
}

// flush applies the optimizer once to every row with accumulated gradients.
// Rows whose update would not be finite keep their values (their summed
// gradient is dropped) and are counted in the result.
func (t *sparseTable) flush() (refused refusals) {
	for i := range t.stripes {
		s := &t.stripes[i]
		s.mu.Lock()
		t.flushLocked(s, &refused)
		s.mu.Unlock()
	}
	return refused
}

func (t *sparseTable) flushLocked(s *stripe, refused *refusals) {
	w := t.width
	for _, r := range s.dirty {
		row := s.vals[int(r)*t.stride : int(r+1)*t.stride]
		var ok bool
		s.undo, ok = checkedUpdate(t.rule, row[:t.kept], w, row[t.kept:], s.steps[r]+1, s.undo)
		if ok {
			s.steps[r]++
		} else {
			refused.add(s.keys[r])
		}
		clear(row[t.kept:])
		s.isDirty[r] = false
	}
	s.dirty = s.dirty[:0]
}

// expire drops the rows last seen before cutoff and returns how many.
func (t *sparseTable) expire(cutoff int64) int {
	dropped := 0
	for i := range t.stripes {
		s := &t.stripes[i]
		s.mu.Lock()
		// Compaction moves rows; apply what they hold first. A refused
		// row keeps its values, as at any flush.
		var refused refusals
		t.flushLocked(s, &refused)
		kept := 0
		for r := range s.keys {
			if s.seen[r] < cutoff {
				continue
			}
			if kept != r {
				s.keys[kept] = s.keys[r]
				s.steps[kept] = s.steps[r]
				s.seen[kept] = s.seen[r]
				copy(s.vals[kept*t.stride:(kept+1)*t.stride], s.vals[r*t.stride:(r+1)*t.stride])
			}
			kept++
		}
		if kept != len(s.keys) {
			dropped += len(s.keys) - kept
			s.keys = s.keys[:kept]
			s.steps = s.steps[:kept]
			s.seen = s.seen[:kept]
			s.vals = s.vals[:kept*t.stride]
			if t.deferred {
				s.isDirty = s.isDirty[:kept]
			}
			s.rehash(len(s.index))
		}
		s.mu.Unlock()
	}
	return dropped
}

// len returns the number of rows.
func (t *sparseTable) len() int {
	n := 0
	for i := range t.stripes {
		s := &t.stripes[i]
		s.mu.RLock()
		n += len(s.keys)
		s.mu.RUnlock()
	}
	return n
}

// restoreRow inserts or overwrites one row from a snapshot. vals holds the
// kept values (weights then optimizer state).
func (t *sparseTable) restoreRow(key uint64, step, seen int64, vals []float32) {
	h := mix64(key)
	s := t.stripeOf(h)
	s.mu.Lock()
	r := s.find(key, h)
	if r < 0 {
		r = t.insert(s, key, h, seen)
	}
	copy(s.vals[r*t.stride:r*t.stride+t.kept], vals)
	s.steps[r] = step
	s.seen[r] = seen
	s.mu.Unlock()
}
