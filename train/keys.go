package train

// keyIndex deduplicates the keys of one mini-batch: add returns the position
// of a key in the list of distinct keys, assigning the next one on first
// sight. It is an open-addressing table with generation stamps, so starting a
// new batch is O(1) and nothing is allocated once the table has grown to the
// largest batch.
type keyIndex struct {
	slots []keySlot
	gen   uint32
	shift uint
	uniq  []uint64
}

// keySlot keeps a slot's fields together so a probe touches one cache line.
type keySlot struct {
	key   uint64
	pos   int32
	stamp uint32
}

// reset prepares the index for a batch with at most n distinct keys. The
// table starts at twice the previous batch's distinct keys (so it stays in
// cache; mini-batches of click logs repeat most keys) and grows as needed.
func (k *keyIndex) reset(n int) {
	want := 64
	for want < 2*len(k.uniq) && want < 2*n {
		want <<= 1
	}
	k.uniq = k.uniq[:0]
	k.resize(want)
}

// resize makes the table size slots (a power of two) and starts a new
// generation; the distinct keys seen so far are re-inserted.
func (k *keyIndex) resize(size int) {
	if size != len(k.slots) {
		// Reuse the largest table allocated so far: slots left from older
		// generations never match the new one.
		if cap(k.slots) >= size {
			k.slots = k.slots[:size]
		} else {
			k.slots = make([]keySlot, size)
		}
		k.shift = uint(64 - log2(size))
	}
	k.gen++
	if k.gen == 0 { // wrapped: clear stamps so old generations cannot match
		clear(k.slots[:cap(k.slots)])
		k.gen = 1
	}
	mask := uint64(size - 1)
	for p, key := range k.uniq {
		h := (key * 0x9E3779B97F4A7C15) >> k.shift
		for k.slots[h].stamp == k.gen {
			h = (h + 1) & mask
		}
		k.slots[h] = keySlot{key: key, pos: int32(p), stamp: k.gen}
	}
}

// add returns the position of key among the distinct keys seen since reset.
func (k *keyIndex) add(key uint64) int32 {
	mask := uint64(len(k.slots) - 1)
	h := (key * 0x9E3779B97F4A7C15) >> k.shift
	for {
		s := &k.slots[h]
		if s.stamp != k.gen {
			p := int32(len(k.uniq))
			*s = keySlot{key: key, pos: p, stamp: k.gen}
			k.uniq = append(k.uniq, key)
			if 2*len(k.uniq) > len(k.slots) {
				k.resize(2 * len(k.slots))
			}
			return p
		}
		if s.key == key {
			return s.pos
		}
		h = (h + 1) & mask
	}
}

// index writes into slot[j] the position of keys[j] among the distinct keys
// seen since reset, adding the new ones: add over a whole batch, with the
// table held in registers and the hit path inlined. (Remembering each
// field's last key to skip probes for low-cardinality fields was measured
// slower: its branch is unpredictable, while a probe of this table, sized
// to stay in cache, is cheap.)
func (k *keyIndex) index(keys []uint64, slot []int32) {
	slot = slot[:len(keys)]
	slots, gen, shift := k.slots, k.gen, k.shift
	mask := uint64(len(slots) - 1)
	for j, key := range keys {
		var p int32
		for h := (key * 0x9E3779B97F4A7C15) >> shift; ; h = (h + 1) & mask {
			s := &slots[h]
			if s.stamp != gen {
				p = k.add(key) // inserts, and may resize the table
				slots, gen, shift = k.slots, k.gen, k.shift
				mask = uint64(len(slots) - 1)
				break
			}
			if s.key == key {
				p = s.pos
				break
			}
		}
		slot[j] = p
	}
}

func log2(n int) int {
	l := 0
	for n > 1 {
		n >>= 1
		l++
	}
	return l
}

// keySet remembers every key a sparse table has been pulled for, so the
// trainer can export the table at the end without asking the store to
// enumerate it. It is the same open-addressing scheme as keyIndex without
// generations, growing at 50% load. An empty slot holds 0, so a probe reads
// one array; key 0 itself is kept in hasZero.
type keySet struct {
	slots   []uint64
	n       int // keys in slots
	hasZero bool
	shift   uint
}

func (s *keySet) add(key uint64) {
	if key == 0 {
		s.hasZero = true
		return
	}
	if 2*(s.n+1) > len(s.slots) {
		s.grow()
	}
	mask := uint64(len(s.slots) - 1)
	h := (key * 0x9E3779B97F4A7C15) >> s.shift
	for {
		switch s.slots[h] {
		case key:
			return
		case 0:
			s.slots[h] = key
			s.n++
			return
		}
		h = (h + 1) & mask
	}
}

func (s *keySet) grow() {
	size := 1024
	for size < 4*(s.n+1) {
		size <<= 1
	}
	old := s.slots
	s.slots = make([]uint64, size)
	s.shift = uint(64 - log2(size))
	s.n = 0
	for _, k := range old {
		if k != 0 {
			s.add(k)
		}
	}
}

// has reports whether key is in the set.
func (s *keySet) has(key uint64) bool {
	if key == 0 {
		return s.hasZero
	}
	if s.n == 0 {
		return false
	}
	mask := uint64(len(s.slots) - 1)
	h := (key * 0x9E3779B97F4A7C15) >> s.shift
	for {
		switch s.slots[h] {
		case key:
			return true
		case 0:
			return false
		}
		h = (h + 1) & mask
	}
}

// keys appends the set's keys to dst in no particular order.
func (s *keySet) keys(dst []uint64) []uint64 {
	if s.hasZero {
		dst = append(dst, 0)
	}
	for _, k := range s.slots {
		if k != 0 {
			dst = append(dst, k)
		}
	}
	return dst
}

// len returns the number of keys in the set.
func (s *keySet) len() int {
	if s.hasZero {
		return s.n + 1
	}
	return s.n
}
