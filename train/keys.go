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
// generations, growing at 50% load.
type keySet struct {
	slots []uint64
	used  []bool
	n     int
	shift uint
}

func (s *keySet) add(key uint64) {
	if 2*(s.n+1) > len(s.slots) {
		s.grow()
	}
	mask := uint64(len(s.slots) - 1)
	h := (key * 0x9E3779B97F4A7C15) >> s.shift
	for s.used[h] {
		if s.slots[h] == key {
			return
		}
		h = (h + 1) & mask
	}
	s.used[h] = true
	s.slots[h] = key
	s.n++
}

func (s *keySet) grow() {
	size := 1024
	for size < 4*(s.n+1) {
		size <<= 1
	}
	old, oldUsed := s.slots, s.used
	s.slots = make([]uint64, size)
	s.used = make([]bool, size)
	s.shift = uint(64 - log2(size))
	s.n = 0
	for i, u := range oldUsed {
		if u {
			s.add(old[i])
		}
	}
}

// has reports whether key is in the set.
func (s *keySet) has(key uint64) bool {
	if s.n == 0 {
		return false
	}
	mask := uint64(len(s.slots) - 1)
	h := (key * 0x9E3779B97F4A7C15) >> s.shift
	for s.used[h] {
		if s.slots[h] == key {
			return true
		}
		h = (h + 1) & mask
	}
	return false
}

// keys appends the set's keys to dst in no particular order.
func (s *keySet) keys(dst []uint64) []uint64 {
	for i, u := range s.used {
		if u {
			dst = append(dst, s.slots[i])
		}
	}
	return dst
}

// len returns the number of keys in the set.
func (s *keySet) len() int { return s.n }
