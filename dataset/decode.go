package dataset

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"unsafe"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/parquet-go/parquet-go"
)

// This file decodes Parquet pages column-wise into Arrow buffers. A
// leafBuilder accumulates the values of one column for one batch in plain Go
// slices that become the Arrow buffers as they are (no copy, no per-value
// builder call); a page hands it either its plain values or its dictionary
// indexes plus the dictionary. The hot paths (copying a run of plain values,
// gathering a run of dictionary indexes) are loops over slices.

// leafBuilder accumulates one primitive column of one batch.
type leafBuilder interface {
	// setPage points the builder at a page's non-null values: the raw plain
	// values, or (dict != nil) the page's int32 dictionary indexes.
	setPage(raw []byte, offsets []uint32, dict parquet.Dictionary) error
	// numValues is the number of non-null values of the current page.
	numValues() int
	// appendValues appends the page's non-null values [vi, vi+n).
	appendValues(vi, n int) error
	// appendNulls appends n nulls.
	appendNulls(n int)
	// length is the number of values appended since the last finish.
	length() int
	// finish returns the accumulated values as Arrow array data and starts
	// a new batch; the data owns its buffers.
	finish() arrow.ArrayData
	// reserve makes room for n more values.
	reserve(n int)
}

// validity is an Arrow validity bitmap that is only materialized once the
// first null arrives, so columns without nulls cost nothing.
type validity struct {
	bits  []byte
	nulls int
}

func (v *validity) appendValid(at, n int) {
	if v.bits == nil {
		return
	}
	v.grow(at + n)
	for i := at; i < at+n; i++ {
		v.bits[i>>3] |= 1 << (i & 7)
	}
}

func (v *validity) appendNull(at, n int) {
	if v.bits == nil {
		v.grow(at + n)
		for i := 0; i < at; i++ {
			v.bits[i>>3] |= 1 << (i & 7)
		}
	}
	v.grow(at + n)
	v.nulls += n
}

func (v *validity) grow(n int) {
	need := (n + 7) >> 3
	if need > len(v.bits) {
		if need <= cap(v.bits) {
			v.bits = v.bits[:need]
		} else {
			nb := make([]byte, need, max(need*2, 64))
			copy(nb, v.bits)
			v.bits = nb
		}
	}
}

// take returns the bitmap buffer (nil without nulls) and resets v.
func (v *validity) take() (*memory.Buffer, int) {
	if v.bits == nil || v.nulls == 0 {
		v.bits, v.nulls = nil, 0
		return nil, 0
	}
	b, n := memory.NewBufferBytes(v.bits), v.nulls
	v.bits, v.nulls = nil, 0
	return b, n
}

// fixedBuilder decodes fixed-width physical values P into Arrow values A.
// When conv is nil, P and A have the same layout and runs are copied.
type fixedBuilder[P, A any] struct {
	typ     arrow.DataType
	recycle bool // see ScanOptions.RecycleBuffers
	conv    func(P) A
	vals    []A
	valid   validity
	plain   []P
	dict    []P
	idx     []int32
	col     string
}

func (b *fixedBuilder[P, A]) setPage(raw []byte, _ []uint32, dict parquet.Dictionary) error {
	if dict != nil {
		b.idx = bytesAs[int32](raw)
		draw, _ := dictData(dict)
		b.dict = bytesAs[P](draw)
		b.plain = nil
		return nil
	}
	b.plain, b.dict, b.idx = bytesAs[P](raw), nil, nil
	return nil
}

func (b *fixedBuilder[P, A]) numValues() int {
	if b.idx != nil {
		return len(b.idx)
	}
	return len(b.plain)
}

func (b *fixedBuilder[P, A]) reserve(n int) {
	if cap(b.vals)-len(b.vals) < n {
		b.vals = poolGrow(b.vals, len(b.vals)+n)
	}
}

func (b *fixedBuilder[P, A]) appendValues(vi, n int) error {
	b.valid.appendValid(len(b.vals), n)
	start := len(b.vals)
	if cap(b.vals)-start < n {
		b.reserve(max(n, cap(b.vals)))
	}
	dst := b.vals[start : start+n]
	if b.idx != nil {
		idx := b.idx[vi : vi+n]
		dict := b.dict
		if b.conv == nil {
			d := unsafe.Slice((*P)(unsafe.Pointer(unsafe.SliceData(dst))), n)
			for i, ix := range idx {
				if uint32(ix) >= uint32(len(dict)) {
					return fmt.Errorf("%w: column %q: dictionary index %d out of range [0,%d)", ErrCorrupt, b.col, ix, len(dict))
				}
				d[i] = dict[ix]
			}
		} else {
			for i, ix := range idx {
				if uint32(ix) >= uint32(len(dict)) {
					return fmt.Errorf("%w: column %q: dictionary index %d out of range [0,%d)", ErrCorrupt, b.col, ix, len(dict))
				}
				dst[i] = b.conv(dict[ix])
			}
		}
	} else {
		src := b.plain[vi : vi+n]
		if b.conv == nil {
			copy(unsafe.Slice((*P)(unsafe.Pointer(unsafe.SliceData(dst))), n), src)
		} else {
			for i, v := range src {
				dst[i] = b.conv(v)
			}
		}
	}
	b.vals = b.vals[:start+n]
	return nil
}

func (b *fixedBuilder[P, A]) appendNulls(n int) {
	b.valid.appendNull(len(b.vals), n)
	b.reserve(n)
	start := len(b.vals)
	b.vals = b.vals[:start+n]
	clear(b.vals[start:])
}

func (b *fixedBuilder[P, A]) length() int { return len(b.vals) }

func (b *fixedBuilder[P, A]) finish() arrow.ArrayData {
	n := len(b.vals)
	vb, nulls := b.valid.take()
	d := newData(b.typ, n, []*memory.Buffer{vb, poolBuffer(b.vals, b.recycle)}, nil, nulls)
	b.vals = nil
	return d
}

// newData is array.NewData that also drops the caller's references to
// bufs, so the returned data owns them.
func newData(t arrow.DataType, n int, bufs []*memory.Buffer, children []arrow.ArrayData, nulls int) arrow.ArrayData {
	d := array.NewData(t, n, bufs, children, nulls, 0)
	for _, b := range bufs {
		if b != nil {
			b.Release()
		}
	}
	return d
}

// dictData returns the raw values of a dictionary page.
func dictData(d parquet.Dictionary) ([]byte, []uint32) {
	v := d.Page().Data()
	return v.Data()
}

// bytesAs reinterprets raw little-endian bytes as a slice of T.
func bytesAs[T any](raw []byte) []T {
	var zero T
	size := int(unsafe.Sizeof(zero))
	if len(raw) < size {
		return nil
	}
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(raw))), len(raw)/size)
}

// boolBuilder decodes BOOLEAN values, bit-packed in Parquet and Arrow alike.
type boolBuilder struct {
	bits  []byte
	n     int
	valid validity
	plain []byte
	np    int
	dict  []byte
	nd    int
	idx   []int32
	col   string
}

func (b *boolBuilder) setPage(raw []byte, _ []uint32, dict parquet.Dictionary) error {
	if dict != nil {
		b.idx = bytesAs[int32](raw)
		b.dict, _ = dictData(dict)
		b.nd = dict.Len()
		return nil
	}
	b.idx, b.plain = nil, raw
	b.np = len(raw) * 8
	return nil
}

func (b *boolBuilder) numValues() int {
	if b.idx != nil {
		return len(b.idx)
	}
	return b.np
}

func (b *boolBuilder) reserve(n int) { growBits(&b.bits, b.n+n) }

func growBits(bits *[]byte, n int) {
	need := (n + 7) >> 3
	if need > len(*bits) {
		if need <= cap(*bits) {
			*bits = (*bits)[:need]
		} else {
			nb := make([]byte, need, max(need*2, 64))
			copy(nb, *bits)
			*bits = nb
		}
	}
}

func (b *boolBuilder) appendValues(vi, n int) error {
	b.valid.appendValid(b.n, n)
	growBits(&b.bits, b.n+n)
	for i := range n {
		var v bool
		if b.idx != nil {
			ix := int(b.idx[vi+i])
			if ix < 0 || ix >= b.nd {
				return fmt.Errorf("%w: column %q: dictionary index %d out of range [0,%d)", ErrCorrupt, b.col, ix, b.nd)
			}
			v = b.dict[ix>>3]&(1<<(ix&7)) != 0
		} else {
			j := vi + i
			v = b.plain[j>>3]&(1<<(j&7)) != 0
		}
		if v {
			b.bits[b.n>>3] |= 1 << (b.n & 7)
		}
		b.n++
	}
	return nil
}

func (b *boolBuilder) appendNulls(n int) {
	b.valid.appendNull(b.n, n)
	b.n += n
	growBits(&b.bits, b.n)
}

func (b *boolBuilder) length() int { return b.n }

func (b *boolBuilder) finish() arrow.ArrayData {
	vb, nulls := b.valid.take()
	growBits(&b.bits, b.n)
	d := array.NewData(arrow.FixedWidthTypes.Boolean, b.n, []*memory.Buffer{vb, memory.NewBufferBytes(b.bits)}, nil, nulls, 0)
	b.bits, b.n = nil, 0
	return d
}

// binaryBuilder decodes BYTE_ARRAY and FIXED_LEN_BYTE_ARRAY values into
// Arrow string or binary arrays (int32 offsets).
type binaryBuilder struct {
	typ     arrow.DataType
	recycle bool // see ScanOptions.RecycleBuffers
	offsets []int32
	data    []byte
	valid   validity
	// Current page: plain values are pdata[poff[i]:poff[i+1]]; fixed-length
	// values (flen > 0) are pdata[i*flen:(i+1)*flen].
	pdata []byte
	poff  []uint32
	flen  int
	// Dictionary pages: the dictionary's values laid out the same way;
	// ddata is a copy with 16 bytes of capacity past its length.
	dict  parquet.Dictionary
	ddata []byte
	doff  []uint32
	idx   []int32
	nd    int
	col   string
	// bytesPerRow is the average value size of the last batch, to size the
	// next batch's data buffer.
	bytesPerRow int
}

func (b *binaryBuilder) setPage(raw []byte, offsets []uint32, dict parquet.Dictionary) error {
	if dict != nil {
		b.idx = bytesAs[int32](raw)
		if dict != b.dict {
			// A new dictionary (once per column chunk): keep a copy padded
			// with 16 bytes so short values can be copied as one 16-byte
			// move (see appendValues).
			b.dict = dict
			data, offs := dictData(dict)
			b.ddata = append(append(b.ddata[:0], data...), make([]byte, 16)...)[:len(data)]
			b.doff = offs
			b.nd = dict.Len()
		}
		if b.flen == 0 && len(b.doff) < b.nd+1 {
			return fmt.Errorf("%w: column %q: dictionary offsets", ErrCorrupt, b.col)
		}
		if b.flen == 0 && b.nd > 0 && int(b.doff[b.nd]) > len(b.ddata) {
			return fmt.Errorf("%w: column %q: dictionary offsets past its data", ErrCorrupt, b.col)
		}
		return nil
	}
	b.idx = nil
	b.pdata, b.poff = raw, offsets
	return nil
}

func (b *binaryBuilder) numValues() int {
	switch {
	case b.idx != nil:
		return len(b.idx)
	case b.flen > 0:
		return len(b.pdata) / b.flen
	case len(b.poff) == 0:
		return 0
	}
	return len(b.poff) - 1
}

func (b *binaryBuilder) reserve(n int) {
	if b.offsets == nil {
		b.offsets = poolGrow[int32](nil, n+1)[:1]
		b.offsets[0] = 0
		if b.data == nil && b.bytesPerRow > 0 {
			// Size the data buffer from the previous batch, plus 1/8 slack,
			// so the common case never grows (and copies) it.
			b.data = make([]byte, 0, n*b.bytesPerRow+n*b.bytesPerRow/8+64)
		}
	} else if cap(b.offsets)-len(b.offsets) < n {
		b.offsets = poolGrow(b.offsets, len(b.offsets)+n)
	}
}

func (b *binaryBuilder) ensureData(extra int) {
	if cap(b.data)-len(b.data) < extra {
		nd := make([]byte, len(b.data), max(2*cap(b.data), len(b.data)+extra, 4096))
		copy(nd, b.data)
		b.data = nd
	}
}

func (b *binaryBuilder) appendValues(vi, n int) error {
	if b.offsets == nil {
		b.reserve(n)
	}
	b.valid.appendValid(len(b.offsets)-1, n)
	if cap(b.offsets)-len(b.offsets) < n {
		b.reserve(max(n, cap(b.offsets)))
	}
	ostart := len(b.offsets)
	offs := b.offsets[ostart : ostart+n]
	switch {
	case b.idx != nil && b.flen == 0:
		idx := b.idx[vi : vi+n]
		doff, ddata, nd := b.doff, b.ddata, uint32(b.nd)
		// Two passes: check indexes and size the copy, then copy.
		total := 0
		for _, ix := range idx {
			if uint32(ix) >= nd {
				return fmt.Errorf("%w: column %q: dictionary index %d out of range [0,%d)", ErrCorrupt, b.col, ix, nd)
			}
			lo, hi := doff[ix], doff[ix+1]
			if hi < lo {
				return fmt.Errorf("%w: column %q: dictionary offsets decrease", ErrCorrupt, b.col)
			}
			total += int(hi - lo)
		}
		b.ensureData(total + 16)
		pos := len(b.data)
		end := pos + total
		buf := b.data[:cap(b.data)] // 16 bytes of slack after end
		pad := ddata[:cap(ddata)]   // 16 bytes of padding after the values
		for i, ix := range idx {
			lo, hi := doff[ix], doff[ix+1]
			if n := int(hi - lo); n <= 16 {
				// One unaligned 16-byte move instead of a memmove call;
				// the bytes past n are overwritten by the next value.
				*(*[16]byte)(buf[pos : pos+16]) = *(*[16]byte)(pad[lo : lo+16])
				pos += n
			} else {
				pos += copy(buf[pos:], ddata[lo:hi])
			}
			offs[i] = int32(pos)
		}
		b.data = b.data[:end]
	case b.idx != nil:
		idx := b.idx[vi : vi+n]
		b.ensureData(n * b.flen)
		for i, ix := range idx {
			if uint32(ix) >= uint32(b.nd) {
				return fmt.Errorf("%w: column %q: dictionary index %d out of range [0,%d)", ErrCorrupt, b.col, ix, b.nd)
			}
			b.data = append(b.data, b.ddata[int(ix)*b.flen:int(ix+1)*b.flen]...)
			offs[i] = int32(len(b.data))
		}
	case b.flen > 0:
		v := b.pdata[vi*b.flen : (vi+n)*b.flen]
		b.ensureData(len(v))
		base := len(b.data)
		b.data = append(b.data, v...)
		for i := range offs {
			offs[i] = int32(base + (i+1)*b.flen)
		}
	default:
		lo, hi := b.poff[vi], b.poff[vi+n]
		if hi < lo || int(hi) > len(b.pdata) {
			return fmt.Errorf("%w: column %q: byte array offsets", ErrCorrupt, b.col)
		}
		b.ensureData(int(hi - lo))
		base := int32(len(b.data)) - int32(lo)
		b.data = append(b.data, b.pdata[lo:hi]...)
		for i, o := range b.poff[vi+1 : vi+n+1] {
			offs[i] = base + int32(o)
		}
	}
	b.offsets = b.offsets[:ostart+n]
	if len(b.data) > math.MaxInt32 {
		return fmt.Errorf("column %q: batch holds more than 2 GiB of bytes; lower the batch size", b.col)
	}
	return nil
}

func (b *binaryBuilder) appendNulls(n int) {
	b.reserve(n)
	b.valid.appendNull(len(b.offsets)-1, n)
	end := int32(len(b.data))
	for range n {
		b.offsets = append(b.offsets, end)
	}
}

func (b *binaryBuilder) length() int {
	if b.offsets == nil {
		return 0
	}
	return len(b.offsets) - 1
}

func (b *binaryBuilder) finish() arrow.ArrayData {
	if b.offsets == nil {
		b.reserve(0)
	}
	n := len(b.offsets) - 1
	vb, nulls := b.valid.take()
	d := newData(b.typ, n, []*memory.Buffer{vb, poolBuffer(b.offsets, b.recycle), memory.NewBufferBytes(b.data)}, nil, nulls)
	if n > 0 {
		b.bytesPerRow = (len(b.data) + n - 1) / n
	}
	b.offsets, b.data = nil, nil
	return d
}

// decimalBytesBuilder decodes DECIMAL values stored as big-endian two's
// complement bytes (BYTE_ARRAY or FIXED_LEN_BYTE_ARRAY) into float64.
type decimalBytesBuilder struct {
	inner binaryBuilder // reuses the page bookkeeping of binaryBuilder
	vals  []float64
	valid validity
	scale float64
	tmp   big.Int
}

func (b *decimalBytesBuilder) setPage(raw []byte, offsets []uint32, dict parquet.Dictionary) error {
	return b.inner.setPage(raw, offsets, dict)
}

func (b *decimalBytesBuilder) numValues() int { return b.inner.numValues() }

func (b *decimalBytesBuilder) reserve(n int) {
	if cap(b.vals)-len(b.vals) < n {
		nv := make([]float64, len(b.vals), len(b.vals)+n)
		copy(nv, b.vals)
		b.vals = nv
	}
}

func (b *decimalBytesBuilder) value(i int) ([]byte, error) {
	in := &b.inner
	if in.idx != nil {
		ix := in.idx[i]
		if uint32(ix) >= uint32(in.nd) {
			return nil, fmt.Errorf("%w: column %q: dictionary index %d out of range [0,%d)", ErrCorrupt, in.col, ix, in.nd)
		}
		if in.flen > 0 {
			return in.ddata[int(ix)*in.flen : int(ix+1)*in.flen], nil
		}
		return in.ddata[in.doff[ix]:in.doff[ix+1]], nil
	}
	if in.flen > 0 {
		return in.pdata[i*in.flen : (i+1)*in.flen], nil
	}
	return in.pdata[in.poff[i]:in.poff[i+1]], nil
}

func (b *decimalBytesBuilder) appendValues(vi, n int) error {
	b.valid.appendValid(len(b.vals), n)
	for i := vi; i < vi+n; i++ {
		v, err := b.value(i)
		if err != nil {
			return err
		}
		b.vals = append(b.vals, decimalFromBytes(v, b.scale, &b.tmp))
	}
	return nil
}

// decimalFromBytes converts a big-endian two's complement unscaled value.
func decimalFromBytes(v []byte, scale float64, tmp *big.Int) float64 {
	if len(v) == 0 {
		return 0
	}
	if len(v) <= 8 {
		var buf [8]byte
		fill := byte(0)
		if v[0]&0x80 != 0 {
			fill = 0xff
		}
		for i := range 8 - len(v) {
			buf[i] = fill
		}
		copy(buf[8-len(v):], v)
		return float64(int64(binary.BigEndian.Uint64(buf[:]))) / scale
	}
	tmp.SetBytes(v)
	if v[0]&0x80 != 0 {
		// Two's complement: subtract 2^(8·len).
		var m big.Int
		m.Lsh(big.NewInt(1), uint(8*len(v)))
		tmp.Sub(tmp, &m)
	}
	f, _ := new(big.Float).SetInt(tmp).Float64()
	return f / scale
}

func (b *decimalBytesBuilder) appendNulls(n int) {
	b.valid.appendNull(len(b.vals), n)
	for range n {
		b.vals = append(b.vals, 0)
	}
}

func (b *decimalBytesBuilder) length() int { return len(b.vals) }

func (b *decimalBytesBuilder) finish() arrow.ArrayData {
	n := len(b.vals)
	vb, nulls := b.valid.take()
	data := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(b.vals))), n*8)
	b.vals = nil
	return array.NewData(arrow.PrimitiveTypes.Float64, n, []*memory.Buffer{vb, memory.NewBufferBytes(data)}, nil, nulls, 0)
}

// int96Nanos converts an INT96 timestamp (nanoseconds of the day in the
// first 8 bytes, Julian day in the last 4) to nanoseconds since the epoch.
func int96Nanos(v [3]uint32) arrow.Timestamp {
	const julianEpoch = 2440588 // Julian day of 1970-01-01
	nanos := int64(uint64(v[1])<<32 | uint64(v[0]))
	day := int64(int32(v[2]))
	return arrow.Timestamp((day-julianEpoch)*86400_000_000_000 + nanos)
}

// newLeafBuilder returns the builder for column c of a file.
func newLeafBuilder(c *leafColumn, flen int, recycle bool) (leafBuilder, error) {
	pow := math.Pow10(int(c.scale))
	switch c.conv {
	case convBool:
		return &boolBuilder{col: c.name}, nil
	case convInt32:
		return &fixedBuilder[int32, int32]{typ: c.elem, col: c.name, recycle: recycle}, nil
	case convInt8:
		return &fixedBuilder[int32, int8]{typ: c.elem, col: c.name, conv: func(v int32) int8 { return int8(v) }}, nil
	case convInt16:
		return &fixedBuilder[int32, int16]{typ: c.elem, col: c.name, conv: func(v int32) int16 { return int16(v) }}, nil
	case convUint8:
		return &fixedBuilder[int32, uint8]{typ: c.elem, col: c.name, conv: func(v int32) uint8 { return uint8(v) }}, nil
	case convUint16:
		return &fixedBuilder[int32, uint16]{typ: c.elem, col: c.name, conv: func(v int32) uint16 { return uint16(v) }}, nil
	case convUint32, convDate32:
		return &fixedBuilder[int32, int32]{typ: c.elem, col: c.name, recycle: recycle}, nil
	case convInt64:
		return &fixedBuilder[int64, int64]{typ: c.elem, col: c.name, recycle: recycle}, nil
	case convInt96:
		return &fixedBuilder[[3]uint32, arrow.Timestamp]{typ: c.elem, col: c.name, conv: int96Nanos}, nil
	case convFloat32:
		return &fixedBuilder[float32, float32]{typ: c.elem, col: c.name, recycle: recycle}, nil
	case convFloat64:
		return &fixedBuilder[float64, float64]{typ: c.elem, col: c.name, recycle: recycle}, nil
	case convDecimal32:
		return &fixedBuilder[int32, float64]{typ: c.elem, col: c.name, conv: func(v int32) float64 { return float64(v) / pow }}, nil
	case convDecimal64:
		return &fixedBuilder[int64, float64]{typ: c.elem, col: c.name, conv: func(v int64) float64 { return float64(v) / pow }}, nil
	case convBinary:
		return &binaryBuilder{typ: c.elem, flen: flen, col: c.name, recycle: recycle}, nil
	case convDecimalBytes:
		return &decimalBytesBuilder{inner: binaryBuilder{flen: flen, col: c.name}, scale: pow}, nil
	}
	return nil, fmt.Errorf("%w: column %q", ErrUnsupportedType, c.name)
}

func int32Bytes(v []int32) []byte {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), len(v)*4)
}
