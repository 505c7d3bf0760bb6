package paramserver

import (
	"sync"

	"github.com/lakestream/lakestream/train/optim"
)

// A dense table holds Rows rows allocated up front; key i is row i. Rows are
// guarded by numStripes mutexes chosen by row index, so pushes to different
// rows of one table proceed in parallel.
type denseTable struct {
	spec     TableSpec
	rule     rule
	width    int
	kept     int // width * (1 + slots)
	stride   int // kept, plus width for the accumulator when deferred
	deferred bool
	locks    [numStripes]sync.RWMutex
	steps    []int64
	vals     []float32
	// dirty[l] lists the rows guarded by locks[l] with accumulated
	// gradients; isDirty marks them (deferred tables).
	dirty   [numStripes][]int32
	isDirty []bool
	// undo[l] holds a row guarded by locks[l] while its update is checked
	// (see checkedUpdate).
	undo [numStripes][]float32
}

func newDenseTable(spec TableSpec, r rule, deferred bool) *denseTable {
	kept := spec.Width * (1 + r.Slots())
	stride := kept
	if deferred {
		stride += spec.Width
	}
	t := &denseTable{
		spec:     spec,
		rule:     r,
		width:    spec.Width,
		kept:     kept,
		stride:   stride,
		deferred: deferred,
		steps:    make([]int64, spec.Rows),
		vals:     make([]float32, spec.Rows*stride),
	}
	if deferred {
		t.isDirty = make([]bool, spec.Rows)
	}
	t.reset()
	return t
}

// check returns a *KeyRangeError for the first key that is not a row.
func (t *denseTable) check(keys []uint64) error {
	for _, k := range keys {
		if k >= uint64(len(t.steps)) {
			return &KeyRangeError{Table: t.spec.Name, Key: k, Rows: len(t.steps)}
		}
	}
	return nil
}

func (t *denseTable) pull(keys []uint64, dst []float32) {
	w := t.width
	for i, k := range keys {
		mu := &t.locks[k%numStripes]
		mu.RLock()
		copy(dst[i*w:(i+1)*w], t.vals[int(k)*t.stride:int(k)*t.stride+w])
		mu.RUnlock()
	}
}

// push applies the optimizer to the rows of keys; rows whose update would
// not be finite keep their values and are counted in the result.
func (t *denseTable) push(keys []uint64, grads []float32) (refused refusals) {
	w := t.width
	for i, k := range keys {
		l := k % numStripes
		t.locks[l].Lock()
		row := t.vals[int(k)*t.stride : (int(k)+1)*t.stride]
		if t.deferred {
			acc := row[t.kept:]
			for j, g := range grads[i*w : (i+1)*w] {
				acc[j] += g
			}
			if !t.isDirty[k] {
				t.isDirty[k] = true
				t.dirty[l] = append(t.dirty[l], int32(k))
			}
		} else {
			var ok bool
			t.undo[l], ok = checkedUpdate(t.rule, row[:t.kept], w, grads[i*w:(i+1)*w], t.steps[k]+1, t.undo[l])
			if ok {
				t.steps[k]++
			} else {
				refused.add(k)
			}
		}
		t.locks[l].Unlock()
	}
	return refused
}

// flush applies the optimizer once to every row with accumulated gradients;
// rows whose update would not be finite keep their values (their summed
// gradient is dropped) and are counted in the result.
func (t *denseTable) flush() (refused refusals) {
	w := t.width
	for l := range t.locks {
		t.locks[l].Lock()
		for _, r := range t.dirty[l] {
			row := t.vals[int(r)*t.stride : int(r+1)*t.stride]
			var ok bool
			t.undo[l], ok = checkedUpdate(t.rule, row[:t.kept], w, row[t.kept:], t.steps[r]+1, t.undo[l])
			if ok {
				t.steps[r]++
			} else {
				refused.add(uint64(r))
			}
			clear(row[t.kept:])
			t.isDirty[r] = false
		}
		t.dirty[l] = t.dirty[l][:0]
		t.locks[l].Unlock()
	}
	return refused
}

// reset puts every row back to its initial value and the optimizer's start
// state.
func (t *denseTable) reset() {
	for i := range t.locks {
		t.locks[i].Lock()
	}
	for r := range t.steps {
		t.steps[r] = 0
		row := t.vals[r*t.stride : (r+1)*t.stride]
		initRow(&t.spec.Init, uint64(r), row[:t.width])
		optim.InitState(t.rule, row[:t.width], row[t.width:t.kept])
		clear(row[t.kept:])
	}
	for l := range t.dirty {
		t.dirty[l] = t.dirty[l][:0]
	}
	clear(t.isDirty)
	for i := range t.locks {
		t.locks[i].Unlock()
	}
}
