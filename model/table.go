package model

import "fmt"

// Table is one parameter table. A sparse table has one row of Width values
// per key, row i at Values[i·Width:(i+1)·Width]; a dense table has Rows rows
// addressed by position and no Keys (a trainer that exports dense rows with
// keys 0…Rows−1 may leave them in; they are checked and dropped).
type Table struct {
	Name   string
	Width  int
	Dense  bool
	Keys   []uint64
	Values []float32
}

// Rows returns the number of rows.
func (t *Table) Rows() int {
	if t.Width == 0 {
		return 0
	}
	return len(t.Values) / t.Width
}

// Row returns row i, sharing memory.
func (t *Table) Row(i int) []float32 { return t.Values[i*t.Width : (i+1)*t.Width] }

// keyIndex maps the keys of a sparse table to row numbers with open
// addressing and linear probing. Each slot holds the key and its row side by
// side so a probe touches one cache line. It is built once and only read
// afterwards, so concurrent lookups are safe.
type keyIndex struct {
	slots []slot
	shift uint
}

type slot struct {
	key uint64
	row int32 // −1: empty
}

func newKeyIndex(keys []uint64) (*keyIndex, error) {
	size, bits := 16, uint(4)
	for size < 2*len(keys) {
		size <<= 1
		bits++
	}
	ix := &keyIndex{slots: make([]slot, size), shift: 64 - bits}
	for i := range ix.slots {
		ix.slots[i].row = -1
	}
	mask := uint64(size - 1)
	for r, k := range keys {
		yieldEvery(r)
		h := (k * 0x9E3779B97F4A7C15) >> ix.shift
		for ix.slots[h].row >= 0 {
			if ix.slots[h].key == k {
				return nil, fmt.Errorf("key %#x appears in rows %d and %d", k, ix.slots[h].row, r)
			}
			h = (h + 1) & mask
		}
		ix.slots[h] = slot{key: k, row: int32(r)}
	}
	return ix, nil
}

// lookup returns the row of key, or -1.
func (ix *keyIndex) lookup(key uint64) int32 {
	mask := uint64(len(ix.slots) - 1)
	h := (key * 0x9E3779B97F4A7C15) >> ix.shift
	for {
		s := ix.slots[h]
		if s.row < 0 || s.key == key {
			return s.row
		}
		h = (h + 1) & mask
	}
}
