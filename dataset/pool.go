package dataset

import (
	"math/bits"
	"sync"
	"unsafe"

	"github.com/apache/arrow/go/v17/arrow/memory"
)

// valuePool holds the byte buffers a scan fetches row groups into, and,
// with ScanOptions.RecycleBuffers, the fixed-width value buffers and the
// offset buffers of the records it returns (never the bytes of strings and
// binaries: array.String.Value aliases them, and strings kept as map keys
// after the record is released must stay valid). A recycled record's
// buffers go back to the pool when the consumer releases it, so a steady
// scan reuses the same memory instead of asking the Go heap for (and
// zeroing) hundreds of megabytes per million rows. Records that are never
// released are simply garbage collected.
//
// Buffers from the pool are NOT zeroed: builders write every byte they
// expose. It implements memory.Allocator for Buffer.Release only.
var valuePool = &bytePool{}

const minPoolClass = 6 // 64 bytes

type bytePool struct {
	classes [48]sync.Pool
}

// get returns a slice of length n and power-of-two capacity, with
// undefined contents.
func (p *bytePool) get(n int) []byte {
	if n <= 0 {
		return nil
	}
	c := max(bits.Len(uint(n-1)), minPoolClass)
	if c >= len(p.classes) {
		return make([]byte, n)
	}
	if v := p.classes[c].Get(); v != nil {
		return (*v.(*[]byte))[:n]
	}
	return make([]byte, n, 1<<c)
}

// Allocate implements memory.Allocator.
func (p *bytePool) Allocate(size int) []byte {
	b := p.get(size)
	clear(b)
	return b
}

// Reallocate implements memory.Allocator.
func (p *bytePool) Reallocate(size int, b []byte) []byte {
	if size <= cap(b) {
		return b[:size]
	}
	nb := p.get(size)
	copy(nb, b)
	p.Free(b)
	return nb
}

// Free implements memory.Allocator: slices whose capacity is a pool class
// go back to the pool.
func (p *bytePool) Free(b []byte) {
	c := cap(b)
	if c < 1<<minPoolClass || c&(c-1) != 0 {
		return
	}
	k := bits.Len(uint(c - 1))
	if k >= len(p.classes) {
		return
	}
	b = b[:0]
	p.classes[k].Put(&b)
}

// poolGrow returns a slice of T from the pool with old's elements copied
// and capacity for at least need elements; old goes back to the pool.
func poolGrow[T any](old []T, need int) []T {
	var zero T
	size := int(unsafe.Sizeof(zero))
	raw := valuePool.get(need * size)
	out := unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(raw))), cap(raw)/size)[:len(old)]
	copy(out, old)
	poolFree(old)
	return out
}

// poolFree returns a slice obtained from poolGrow to the pool.
func poolFree[T any](s []T) {
	if cap(s) == 0 {
		return
	}
	var zero T
	size := int(unsafe.Sizeof(zero))
	valuePool.Free(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), cap(s)*size))
}

// poolBuffer wraps s (from poolGrow) as an Arrow buffer. With recycle, the
// buffer returns s to the pool when its last reference is released (the
// caller hands its reference to array.NewData and must Release it
// afterwards); without, s is left to the garbage collector.
func poolBuffer[T any](s []T, recycle bool) *memory.Buffer {
	var zero T
	size := int(unsafe.Sizeof(zero))
	if cap(s) == 0 {
		return memory.NewBufferBytes(nil)
	}
	full := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), cap(s)*size)
	if !recycle {
		return memory.NewBufferBytes(full[:len(s)*size])
	}
	return memory.NewBufferWithAllocator(full[:len(s)*size], valuePool)
}
