package paramserver

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"
)

// Keys and values travel as packed little-endian bytes. On little-endian
// hosts (every platform Lakestream is built for in practice) the packing is
// a reinterpretation of the slice's memory; elsewhere it is a loop.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// keyBytes returns keys packed as little-endian bytes. The result may alias
// keys.
func keyBytes(keys []uint64) []byte {
	if len(keys) == 0 {
		return nil
	}
	if littleEndian {
		return unsafe.Slice((*byte)(unsafe.Pointer(&keys[0])), 8*len(keys))
	}
	b := make([]byte, 8*len(keys))
	for i, k := range keys {
		binary.LittleEndian.PutUint64(b[8*i:], k)
	}
	return b
}

// floatBytes returns v packed as little-endian bytes. The result may alias v.
func floatBytes(v []float32) []byte {
	if len(v) == 0 {
		return nil
	}
	if littleEndian {
		return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 4*len(v))
	}
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// decodeKeys appends the keys packed in b to dst.
func decodeKeys(dst []uint64, b []byte) ([]uint64, error) {
	if len(b)%8 != 0 {
		return dst, fmt.Errorf("keys field has %d bytes, not a multiple of 8", len(b))
	}
	n := len(b) / 8
	start := len(dst)
	dst = growUints(dst, n)
	if littleEndian {
		copy(keyBytes(dst[start:]), b)
		return dst, nil
	}
	for i := range n {
		dst[start+i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	return dst, nil
}

// decodeFloats writes the float32 values packed in b into dst, which must
// have exactly len(b)/4 elements.
func decodeFloats(dst []float32, b []byte) error {
	if len(b) != 4*len(dst) {
		return fmt.Errorf("values field has %d bytes, want %d", len(b), 4*len(dst))
	}
	if littleEndian {
		copy(floatBytes(dst), b)
		return nil
	}
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return nil
}

func growUints(v []uint64, n int) []uint64 {
	if len(v)+n <= cap(v) {
		return v[:len(v)+n]
	}
	return append(v, make([]uint64, n)...)
}
