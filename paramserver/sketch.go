package paramserver

// sketch is a count-min sketch of saturating 8-bit counters used for feature
// admission: a key is admitted when every one of its counters reached the
// threshold. Collisions only raise counters, so a key is admitted at its
// threshold-th sighting or earlier, never later. It is guarded by its
// stripe's mutex.
type sketch struct {
	rows [sketchDepth][]uint8
	mask uint64
}

const (
	sketchDepth = 3
	// sketchCounters is the counters per row per stripe: 64 stripes × 3 ×
	// 16 Ki = 3 MiB per admitting table, a false-early-admission rate well
	// under 1% up to about a million pending keys.
	sketchCounters = 1 << 14
)

func newSketch(n int) *sketch {
	s := &sketch{mask: uint64(n - 1)}
	for i := range s.rows {
		s.rows[i] = make([]uint8, n)
	}
	return s
}

// sight counts one sighting of the key hashed to h and reports whether it
// has now been seen at least threshold times.
func (s *sketch) sight(h uint64, threshold uint8) bool {
	min := uint8(255)
	for i := range s.rows {
		// Each row takes different bits of a re-mixed hash.
		p := mix64(h+uint64(i)*0x9e3779b97f4a7c15) & s.mask
		c := s.rows[i][p]
		if c < 255 {
			c++
			s.rows[i][p] = c
		}
		if c < min {
			min = c
		}
	}
	return min >= threshold
}
