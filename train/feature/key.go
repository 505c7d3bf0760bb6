package feature

import "github.com/zeebo/xxh3"

// Key returns the key of bucket in field: field<<32 | bucket.
func Key(field int32, bucket uint32) uint64 { return uint64(uint32(field))<<32 | uint64(bucket) }

// KeyField returns the field id of a key.
func KeyField(key uint64) int32 { return int32(key >> 32) }

// KeyBucket returns the bucket of a key within its field.
func KeyBucket(key uint64) uint32 { return uint32(key) }

// mix64 is the 64-bit finalizer of MurmurHash3: a bijection that spreads
// every input bit over the output. Integers are hashed with it directly.
func mix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// Value hashes are never 0: 0 marks a missing value in the featurizer's
// per-row scratch.

func hashBytes(b []byte) uint64 {
	h := xxh3.Hash(b)
	if h == 0 {
		h = 1
	}
	return h
}

func hashInt(v uint64) uint64 {
	h := mix64(v + 0x9e3779b97f4a7c15)
	if h == 0 {
		h = 1
	}
	return h
}

// hashedBucket maps a value hash to buckets 1..2^bits−1 of a field with the
// given seed. Value hashes are already well mixed, so one multiplication
// (Fibonacci hashing) decorrelates fields; a multiply-shift range reduction
// replaces a modulo.
func hashedBucket(h, seed uint64, bits uint) uint32 {
	x := ((h ^ seed) * 0x9e3779b97f4a7c15) >> 32
	return 1 + uint32((x*(1<<bits-1))>>32)
}

// fieldSeed derives a field's hash seed from its name, so that renumbering
// fields does not move buckets.
func fieldSeed(name string) uint64 { return xxh3.HashString(name) }
