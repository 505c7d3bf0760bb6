package serve

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/bitutil"
	"github.com/apache/arrow/go/v17/arrow/endian"
	"github.com/apache/arrow/go/v17/arrow/memory"

	pb "github.com/lakestream/lakestream/api/inference"
)

// recordScratch is the reusable memory in which one request's tensors
// become the Arrow record a model version scores. Each version keeps a pool
// of them (see version.scratch): a request writes its values straight into
// the column buffers, without builders; when its rows and the buffers'
// capacities are those of the previous request, the arrays and the record
// themselves are reused, so a steady stream of same-sized requests
// allocates nothing here. A model's Score does not retain the record (see
// Model), so overwriting its buffers after Score returned is safe.
type recordScratch struct {
	schema  *arrow.Schema
	tensors []tensor // by schema field; name "" when the request does not send it
	cols    []column
	arrs    []arrow.Array
	rec     arrow.Record
	ints    []int64
	floats  []float64
	scores  []float64
}

// column is the memory of one field of the schema.
type column struct {
	typ   arrow.DataType
	words []uint64 // values, offsets or bitmap: 8-byte aligned
	data  []byte   // the values of a BYTES column
	arr   arrow.Array
	null  bool // arr is all nulls
}

// maxPooledScratch is the capacity beyond which a scratch is left to the
// garbage collector rather than pooled, so one large request does not pin
// its memory for good.
const maxPooledScratch = 1 << 20

func newRecordScratch(schema *arrow.Schema) *recordScratch {
	s := &recordScratch{schema: schema, tensors: make([]tensor, schema.NumFields()),
		cols: make([]column, schema.NumFields()), arrs: make([]arrow.Array, schema.NumFields())}
	for i, f := range schema.Fields() {
		s.cols[i].typ = f.Type
	}
	return s
}

// size is the capacity the scratch holds, in bytes.
func (s *recordScratch) size() int {
	n := 8*(cap(s.ints)+cap(s.floats)+cap(s.scores)) + len(s.cols)*64
	for i := range s.cols {
		n += 8*cap(s.cols[i].words) + cap(s.cols[i].data)
	}
	return n
}

// build turns the request's input tensors into a record in the scratch's
// schema, valid until the next build. Columns the request does not send are
// null (the feature spec's missing-value policy applies). maxBatch bounds
// the rows.
func (s *recordScratch) build(req *pb.ModelInferRequest, maxBatch int) (arrow.Record, error) {
	if len(req.RawInputContents) > 0 && len(req.RawInputContents) != len(req.Inputs) {
		return nil, &InputError{Reason: fmt.Sprintf("raw_input_contents has %d entries for %d inputs; send one per input, in order", len(req.RawInputContents), len(req.Inputs))}
	}
	clear(s.tensors)
	batch := -1
	for i, in := range req.Inputs {
		if _, ok := elemSize[in.Datatype]; !ok {
			return nil, &InputError{in.Name, fmt.Sprintf("datatype %q is not supported (use BOOL, INT8..INT64, UINT8..UINT64, FP32, FP64 or BYTES)", in.Datatype)}
		}
		n, err := rowsOf(in.Name, in.Shape)
		if err != nil {
			return nil, err
		}
		if batch >= 0 && n != batch {
			return nil, &InputError{in.Name, fmt.Sprintf("has %d rows, other inputs have %d", n, batch)}
		}
		batch = n
		idx := s.schema.FieldIndices(in.Name)
		if idx == nil {
			return nil, &InputError{in.Name, fmt.Sprintf("the model has no such feature column (it reads %s)", fieldNames(s.schema))}
		}
		t := &s.tensors[idx[0]]
		if t.name != "" {
			return nil, &InputError{in.Name, "sent twice"}
		}
		*t = tensor{name: in.Name, datatype: in.Datatype, contents: in.Contents}
		if len(req.RawInputContents) > 0 {
			if in.Contents != nil && !isEmptyContents(in.Contents) {
				return nil, &InputError{in.Name, "has both contents and raw_input_contents; send one"}
			}
			t.raw, t.hasRaw = req.RawInputContents[i], true
		}
	}
	if batch < 0 {
		return nil, &InputError{Reason: "no inputs"}
	}
	if batch > maxBatch {
		return nil, &InputError{Reason: fmt.Sprintf("batch of %d rows exceeds the limit of %d", batch, maxBatch)}
	}
	s.ints = grow(s.ints, batch)
	s.floats = grow(s.floats, batch)
	fresh := s.rec == nil || s.rec.NumRows() != int64(batch)
	for i := range s.cols {
		c, t := &s.cols[i], s.tensors[i]
		var err error
		var made bool
		if t.name == "" {
			made = c.setNull(batch)
		} else if made, err = s.fill(c, t, batch); err != nil {
			return nil, err
		}
		fresh = fresh || made
		s.arrs[i] = c.arr
	}
	if fresh {
		if s.rec != nil {
			s.rec.Release()
		}
		s.rec = array.NewRecord(s.schema, s.arrs, int64(batch))
	}
	return s.rec, nil
}

// setNull makes c an all-null column of n rows and reports whether it made
// a new array.
func (c *column) setNull(n int) bool {
	if c.arr != nil && c.null && c.arr.Len() == n {
		return false
	}
	c.release()
	c.arr, c.null = array.MakeArrayOfNull(memory.DefaultAllocator, c.typ, n), true
	return true
}

func (c *column) release() {
	if c.arr != nil {
		c.arr.Release()
		c.arr = nil
	}
}

// values returns the column's first nbytes of 8-byte aligned memory and
// whether it had to grow (which invalidates the array over it).
func (c *column) values(nbytes int) ([]byte, bool) {
	words := max(1, (nbytes+7)/8)
	grew := cap(c.words) < words
	if grew {
		c.words = make([]uint64, words+words/4)
	}
	c.words = c.words[:cap(c.words)]
	return unsafe.Slice((*byte)(unsafe.Pointer(&c.words[0])), 8*len(c.words))[:nbytes], grew
}

// all is the whole capacity of the column's aligned memory: the buffer its
// array views, so that a later request of the same rows can reuse it.
func (c *column) all() []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(&c.words[0])), 8*len(c.words))
}

// reuse reports whether c's array can show the values just written for n
// rows: it exists, views the same buffers and has n rows.
func (c *column) reuse(n int, grew bool) bool {
	return !grew && c.arr != nil && !c.null && c.arr.Len() == n
}

// makeArray replaces c's array by one of n rows over bufs.
func (c *column) makeArray(n int, bufs ...[]byte) {
	c.release()
	mb := make([]*memory.Buffer, 1, 1+len(bufs)) // no validity bitmap: tensors have no nulls
	for _, b := range bufs {
		mb = append(mb, memory.NewBufferBytes(b))
	}
	d := array.NewData(c.typ, n, mb, nil, 0, 0)
	c.arr, c.null = array.MakeFromData(d), false
	d.Release()
}

// fill writes tensor t into column c for n rows and reports whether it made
// a new array.
func (s *recordScratch) fill(c *column, t tensor, n int) (bool, error) {
	var grew bool
	switch c.typ.ID() {
	case arrow.STRING, arrow.BINARY:
		var err error
		if grew, err = c.fillBytes(t, n); err != nil {
			return false, err
		}
		if c.reuse(n, grew) {
			return false, nil
		}
		c.makeArray(n, c.all(), c.data[:cap(c.data)])
		return true, nil
	case arrow.BOOL:
		var b []byte
		b, grew = c.values(int(bitutil.BytesForBits(int64(n))))
		if err := t.boolsInto(b, n); err != nil {
			return false, err
		}
	case arrow.FLOAT64:
		var b []byte
		b, grew = c.values(8 * n)
		if err := t.floatsInto(b, s.ints[:n]); err != nil {
			return false, err
		}
	case arrow.FLOAT32:
		var b []byte
		b, grew = c.values(4 * n)
		if err := t.numbersInto(s.floats[:n], s.ints[:n]); err != nil {
			return false, err
		}
		out := view[float32](b)
		for i, v := range s.floats[:n] {
			out[i] = float32(v)
		}
	default:
		lo, hi, ok := intRange(c.typ)
		if !ok {
			return false, &InputError{t.name, fmt.Sprintf("the model's column type %s is not supported over the inference protocol", c.typ)}
		}
		width := c.typ.(arrow.FixedWidthDataType).BitWidth() / 8
		var b []byte
		b, grew = c.values(width * n)
		if err := t.integersInto(b, c.typ.ID(), s.ints[:n], s.floats[:n], lo, hi); err != nil {
			return false, err
		}
	}
	if c.reuse(n, grew) {
		return false, nil
	}
	c.makeArray(n, c.all())
	return true, nil
}

// view is b as a slice of T; b is 8-byte aligned (column.values).
func view[T any](b []byte) []T {
	var z T
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/int(unsafe.Sizeof(z)))
}

// floatsInto writes the tensor's values into b, an FP64 column of
// len(ints) rows. Raw FP64 contents are copied as they are: they are the
// column's little-endian layout already.
func (t tensor) floatsInto(b []byte, ints []int64) error {
	if t.hasRaw && t.datatype == "FP64" && !endian.IsBigEndian {
		if err := t.rawSize(len(ints)); err != nil {
			return err
		}
		copy(b, t.raw)
		return nil
	}
	return t.numbersInto(view[float64](b), ints)
}

// intRange is the range of an integer column type.
func intRange(dt arrow.DataType) (lo, hi int64, ok bool) {
	switch dt.ID() {
	case arrow.INT8:
		return math.MinInt8, math.MaxInt8, true
	case arrow.INT16:
		return math.MinInt16, math.MaxInt16, true
	case arrow.INT32, arrow.DATE32:
		return math.MinInt32, math.MaxInt32, true
	case arrow.INT64, arrow.TIMESTAMP:
		return math.MinInt64, math.MaxInt64, true
	case arrow.UINT8:
		return 0, math.MaxUint8, true
	case arrow.UINT16:
		return 0, math.MaxUint16, true
	case arrow.UINT32:
		return 0, math.MaxUint32, true
	case arrow.UINT64:
		return 0, math.MaxInt64, true
	}
	return 0, 0, false
}

// integersInto writes t into b, an integer column of type id and range
// [lo, hi] with len(ints) rows: integer tensors exactly, float tensors only
// when every value is integral. Raw INT64 contents for an INT64 column are
// copied as they are.
func (t tensor) integersInto(b []byte, id arrow.Type, ints []int64, floats []float64, lo, hi int64) error {
	wide := id == arrow.INT64 || id == arrow.TIMESTAMP
	if wide && t.hasRaw && t.datatype == "INT64" && !endian.IsBigEndian {
		if err := t.rawSize(len(ints)); err != nil {
			return err
		}
		copy(b, t.raw)
		return nil
	}
	if wide {
		ints = view[int64](b) // written in place, then range-checked
	}
	if isInteger(t.datatype) {
		if err := t.intsInto(ints); err != nil {
			return err
		}
	} else {
		if err := t.numbersInto(floats, ints); err != nil {
			return err
		}
		for i, f := range floats {
			if f != math.Trunc(f) || f < -(1<<63) || f >= 1<<63 {
				return &InputError{t.name, fmt.Sprintf("row %d: %v is not an integer; this column is integral", i, f)}
			}
			ints[i] = int64(f)
		}
	}
	for i, v := range ints {
		if v < lo || v > hi {
			return &InputError{t.name, fmt.Sprintf("row %d: %d is outside the column's range [%d, %d]", i, v, lo, hi)}
		}
	}
	switch id {
	case arrow.INT8:
		convert[int8](b, ints)
	case arrow.INT16:
		convert[int16](b, ints)
	case arrow.INT32, arrow.DATE32:
		convert[int32](b, ints)
	case arrow.UINT8:
		convert[uint8](b, ints)
	case arrow.UINT16:
		convert[uint16](b, ints)
	case arrow.UINT32:
		convert[uint32](b, ints)
	case arrow.UINT64:
		convert[uint64](b, ints)
	}
	return nil
}

// convert writes range-checked integers into b as T.
func convert[T ~int8 | ~int16 | ~int32 | ~uint8 | ~uint16 | ~uint32 | ~uint64](b []byte, vals []int64) {
	out := view[T](b)
	for i, v := range vals {
		out[i] = T(v)
	}
}

// boolsInto writes a BOOL tensor of n rows into the bitmap b.
func (t tensor) boolsInto(b []byte, n int) error {
	if t.datatype != "BOOL" {
		return &InputError{t.name, fmt.Sprintf("is %s; this column needs BOOL", t.datatype)}
	}
	if t.hasRaw {
		if len(t.raw) != n {
			return &InputError{t.name, fmt.Sprintf("raw contents have %d bytes for %d BOOL rows", len(t.raw), n)}
		}
		for i, v := range t.raw {
			bitutil.SetBitTo(b, i, v != 0)
		}
		return nil
	}
	if t.contents == nil || len(t.contents.BoolContents) != n {
		return &InputError{t.name, fmt.Sprintf("needs %d BOOL values", n)}
	}
	for i, v := range t.contents.BoolContents {
		bitutil.SetBitTo(b, i, v)
	}
	return nil
}

// fillBytes writes a BYTES tensor of n rows into c's offsets and data and
// reports whether either had to grow. Raw contents are 4-byte
// little-endian length prefixes each followed by the element.
func (c *column) fillBytes(t tensor, n int) (bool, error) {
	if t.datatype != "BYTES" {
		return false, &InputError{t.name, fmt.Sprintf("is %s; this column needs BYTES", t.datatype)}
	}
	size := 0
	if t.hasRaw {
		// Count and check the elements before writing any: a hostile
		// count cannot grow anything, and the data is no longer than raw.
		count := 0
		for b := t.raw; len(b) > 0; count++ {
			if count == n {
				return false, &InputError{t.name, fmt.Sprintf("raw BYTES contents hold more than %d elements for %d rows", n, n)}
			}
			if len(b) < 4 {
				return false, &InputError{t.name, "raw BYTES contents end inside a 4-byte length prefix"}
			}
			l := binary.LittleEndian.Uint32(b)
			b = b[4:]
			if uint64(l) > uint64(len(b)) {
				return false, &InputError{t.name, fmt.Sprintf("raw BYTES element %d claims %d bytes but only %d remain", count, l, len(b))}
			}
			size += int(l)
			b = b[l:]
		}
		if count != n {
			return false, &InputError{t.name, fmt.Sprintf("raw BYTES contents hold %d elements for %d rows", count, n)}
		}
	} else {
		if t.contents == nil || len(t.contents.BytesContents) != n {
			got := 0
			if t.contents != nil {
				got = len(t.contents.BytesContents)
			}
			return false, &InputError{t.name, fmt.Sprintf("has %d values for %d rows", got, n)}
		}
		for _, v := range t.contents.BytesContents {
			size += len(v)
		}
	}
	if size > math.MaxInt32 {
		return false, &InputError{t.name, fmt.Sprintf("holds %d bytes; a column holds at most %d", size, math.MaxInt32)}
	}
	ob, grew := c.values(4 * (n + 1))
	offs := view[int32](ob)
	if cap(c.data) < size {
		c.data = make([]byte, size+size/4)
		grew = true
	}
	data := c.data[:cap(c.data)]
	pos := 0
	offs[0] = 0
	if t.hasRaw {
		b := t.raw
		for i := range n {
			l := int(binary.LittleEndian.Uint32(b))
			pos += copy(data[pos:], b[4:4+l])
			b = b[4+l:]
			offs[i+1] = int32(pos)
		}
	} else {
		for i, v := range t.contents.BytesContents {
			pos += copy(data[pos:], v)
			offs[i+1] = int32(pos)
		}
	}
	return grew, nil
}

func grow[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]T, n, n+n/4)
}

// release drops the scratch's arrays and record.
func (s *recordScratch) release() {
	if s.rec != nil {
		s.rec.Release()
		s.rec = nil
	}
	for i := range s.cols {
		s.cols[i].release()
	}
}
