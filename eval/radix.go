package eval

import "math"

// sortKey maps a non-NaN float64 to a uint64 with the same order; −0 and +0
// map to the same key, as they compare equal.
func sortKey(f float64) uint64 {
	if f == 0 {
		f = 0 // −0 → +0
	}
	b := math.Float64bits(f)
	if b>>63 == 1 {
		return ^b
	}
	return b | 1<<63
}

// radixBits is the digit width of radixSort: 6 passes of 11 bits cover 64.
const radixBits = 11

// radixSort sorts keys ascending, moving vals (if not nil) along, with an
// LSD radix sort using scratch space of the same sizes (scratchKeys,
// scratchVals). It returns the slices holding the sorted data, which are
// either the inputs or the scratch. Passes whose digit is the same for
// every key are skipped, so keys sharing high bits (probabilities) sort in
// fewer passes.
func radixSort(keys, scratchKeys []uint64, vals, scratchVals []float64) ([]uint64, []float64) {
	const buckets = 1 << radixBits
	var count [buckets]int
	n := len(keys)
	for shift := uint(0); shift < 64; shift += radixBits {
		clear(count[:])
		for _, k := range keys {
			count[(k>>shift)&(buckets-1)]++
		}
		if count[(keys[0]>>shift)&(buckets-1)] == n {
			continue // every key has this digit: the pass would not move anything
		}
		sum := 0
		for i, c := range count {
			count[i] = sum
			sum += c
		}
		if vals != nil {
			for i, k := range keys {
				d := (k >> shift) & (buckets - 1)
				scratchKeys[count[d]] = k
				scratchVals[count[d]] = vals[i]
				count[d]++
			}
			vals, scratchVals = scratchVals, vals
		} else {
			for _, k := range keys {
				d := (k >> shift) & (buckets - 1)
				scratchKeys[count[d]] = k
				count[d]++
			}
		}
		keys, scratchKeys = scratchKeys, keys
	}
	return keys, vals
}
