package paramserver

import (
	"fmt"
)

// baseTable is the read-only part of a warm-started table: the rows of the
// model training started from, which the store adds to the rows it holds
// (the change from the base). See Local.SetBase.
type baseTable struct {
	width int
	dense bool
	keys  []uint64         // sparse: the base's keys, in the caller's order
	index map[uint64]int32 // sparse: key → row
	vals  []float32
}

// row returns the base row of key, or nil.
func (b *baseTable) row(key uint64) []float32 {
	if b.dense {
		if key >= uint64(len(b.vals)/b.width) {
			return nil
		}
		return b.vals[int(key)*b.width : int(key+1)*b.width]
	}
	r, ok := b.index[key]
	if !ok {
		return nil
	}
	return b.vals[int(r)*b.width : int(r+1)*b.width]
}

// add adds the base rows of keys to dst.
func (b *baseTable) add(keys []uint64, dst []float32) {
	w := b.width
	for i, k := range keys {
		row := b.row(k)
		if row == nil {
			continue
		}
		d := dst[i*w : i*w+w]
		for c, v := range row {
			d[c] += v
		}
	}
}

// SetBase makes table a warm start from a model: a pull of key k reads the
// stored row plus the base row of k (when the base has one), so the store
// holds the change from the base, which starts at zero (declare the table
// without an initial distribution) and which the optimizer updates as if it
// trained from the base with fresh optimizer state; L1 and L2 then pull
// towards the base. PullTrained reads a base row as trained. ExportPage
// also lists the base's keys never pushed, and adds the base to the rows it
// lists. For a sparse table keys are the base's keys this store serves (a
// shard's share: ShardOf) and vals their rows; for a dense table keys is nil
// and vals holds all Rows rows. The store keeps both slices; call SetBase
// before the store is used. Snapshots hold the change only; a restored store
// keeps its base.
func (l *Local) SetBase(table string, keys []uint64, vals []float32) error {
	t, err := l.table(table)
	if err != nil {
		return err
	}
	w := t.spec.Width
	b := &baseTable{width: w, dense: t.dense != nil, vals: vals}
	switch {
	case b.dense && (keys != nil || len(vals) != t.spec.Rows*w):
		return fmt.Errorf("paramserver: base of dense table %q: %d values for %d rows of width %d", table, len(vals), t.spec.Rows, w)
	case !b.dense && len(vals) != len(keys)*w:
		return fmt.Errorf("paramserver: base of table %q: %d values for %d keys of width %d", table, len(vals), len(keys), w)
	case t.spec.Init.Kind == InitNormal && t.spec.Init.Std > 0:
		return fmt.Errorf("paramserver: base of table %q: the table starts at random values; a warm-started table stores the change from its base, which starts at zero", table)
	}
	if !b.dense {
		b.keys = keys
		b.index = make(map[uint64]int32, len(keys))
		for i, k := range keys {
			b.index[k] = int32(i)
		}
	}
	if l.base == nil {
		l.base = map[string]*baseTable{}
	}
	l.base[table] = b
	return nil
}
