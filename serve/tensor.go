package serve

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	pb "github.com/lakestream/lakestream/api/inference"
)

// InputError is returned for a request whose tensors do not fit the model.
// Its message names the tensor and what to fix; gRPC maps it to
// InvalidArgument.
type InputError struct {
	Tensor string
	Reason string
}

func (e *InputError) Error() string {
	if e.Tensor == "" {
		return "bad request: " + e.Reason
	}
	return fmt.Sprintf("bad input tensor %q: %s", e.Tensor, e.Reason)
}

// tensor is one input column as received: typed contents or raw bytes.
type tensor struct {
	name     string
	datatype string
	contents *pb.InferTensorContents
	raw      []byte
	hasRaw   bool
}

// elemSize is the raw byte width of a fixed-width OIP datatype, 0 for BYTES.
var elemSize = map[string]int{
	"BOOL": 1, "INT8": 1, "UINT8": 1, "INT16": 2, "UINT16": 2, "INT32": 4, "UINT32": 4,
	"INT64": 8, "UINT64": 8, "FP32": 4, "FP64": 8, "BYTES": 0,
}

// buildRecord turns the request's input tensors into one Arrow record in
// schema. Columns of schema that the request does not send are null (the
// feature spec's missing-value policy applies). maxBatch bounds the rows.
func buildRecord(mem memory.Allocator, schema *arrow.Schema, req *pb.ModelInferRequest, maxBatch int) (arrow.Record, error) {
	if len(req.RawInputContents) > 0 && len(req.RawInputContents) != len(req.Inputs) {
		return nil, &InputError{Reason: fmt.Sprintf("raw_input_contents has %d entries for %d inputs; send one per input, in order", len(req.RawInputContents), len(req.Inputs))}
	}
	batch := -1
	byName := make(map[string]tensor, len(req.Inputs))
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
		if schema.FieldIndices(in.Name) == nil {
			return nil, &InputError{in.Name, fmt.Sprintf("the model has no such feature column (it reads %s)", fieldNames(schema))}
		}
		if _, dup := byName[in.Name]; dup {
			return nil, &InputError{in.Name, "sent twice"}
		}
		t := tensor{name: in.Name, datatype: in.Datatype, contents: in.Contents}
		if len(req.RawInputContents) > 0 {
			if in.Contents != nil && !isEmptyContents(in.Contents) {
				return nil, &InputError{in.Name, "has both contents and raw_input_contents; send one"}
			}
			t.raw, t.hasRaw = req.RawInputContents[i], true
		}
		byName[in.Name] = t
	}
	if batch < 0 {
		return nil, &InputError{Reason: "no inputs"}
	}
	if batch > maxBatch {
		return nil, &InputError{Reason: fmt.Sprintf("batch of %d rows exceeds the limit of %d", batch, maxBatch)}
	}
	cols := make([]arrow.Array, schema.NumFields())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i, f := range schema.Fields() {
		t, ok := byName[f.Name]
		var err error
		if !ok {
			cols[i] = array.MakeArrayOfNull(mem, f.Type, batch)
			continue
		}
		if cols[i], err = buildColumn(mem, f, t, batch); err != nil {
			return nil, err
		}
	}
	return array.NewRecord(schema, cols, int64(batch)), nil
}

func rowsOf(name string, shape []int64) (int, error) {
	switch {
	case len(shape) == 1 && shape[0] >= 0:
		return int(shape[0]), nil
	case len(shape) == 2 && shape[0] >= 0 && shape[1] == 1:
		return int(shape[0]), nil
	}
	return 0, &InputError{name, fmt.Sprintf("shape %v is not [batch] or [batch, 1]", shape)}
}

func fieldNames(s *arrow.Schema) []string {
	names := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		names[i] = f.Name
	}
	return names
}

func isEmptyContents(c *pb.InferTensorContents) bool {
	return len(c.BoolContents) == 0 && len(c.IntContents) == 0 && len(c.Int64Contents) == 0 &&
		len(c.UintContents) == 0 && len(c.Uint64Contents) == 0 && len(c.Fp32Contents) == 0 &&
		len(c.Fp64Contents) == 0 && len(c.BytesContents) == 0
}

// numbers returns the tensor's values as float64 for numeric datatypes, or
// an error naming the mismatch. Integer tensors go through ints.
func (t tensor) numbers(n int) ([]float64, error) {
	if isInteger(t.datatype) {
		is, err := t.ints(n)
		if err != nil {
			return nil, err
		}
		out := make([]float64, n)
		for i, v := range is {
			out[i] = float64(v)
		}
		return out, nil
	}
	if t.datatype != "FP32" && t.datatype != "FP64" {
		return nil, &InputError{t.name, fmt.Sprintf("datatype %s is not numeric", t.datatype)}
	}
	out := make([]float64, n)
	if t.hasRaw {
		size := elemSize[t.datatype]
		if len(t.raw) != n*size {
			return nil, &InputError{t.name, fmt.Sprintf("raw contents have %d bytes; %d rows of %s need %d", len(t.raw), n, t.datatype, n*size)}
		}
		for i := range out {
			if t.datatype == "FP32" {
				out[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(t.raw[4*i:])))
			} else {
				out[i] = math.Float64frombits(binary.LittleEndian.Uint64(t.raw[8*i:]))
			}
		}
		return out, nil
	}
	if t.contents == nil {
		return nil, &InputError{t.name, "has no contents"}
	}
	got := len(t.contents.Fp64Contents)
	if t.datatype == "FP32" {
		got = len(t.contents.Fp32Contents)
		for i := 0; i < n && i < got; i++ {
			out[i] = float64(t.contents.Fp32Contents[i])
		}
	} else {
		copy(out, t.contents.Fp64Contents)
	}
	if got != n {
		return nil, &InputError{t.name, fmt.Sprintf("has %d values for %d rows", got, n)}
	}
	return out, nil
}

// isInteger reports whether an OIP datatype holds integers.
func isInteger(datatype string) bool {
	switch datatype {
	case "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64":
		return true
	}
	return false
}

// ints returns an integer tensor's values exactly (no float round trip).
// UINT64 values above the int64 range are an error.
func (t tensor) ints(n int) ([]int64, error) {
	out := make([]int64, n)
	if t.hasRaw {
		size := elemSize[t.datatype]
		if len(t.raw) != n*size {
			return nil, &InputError{t.name, fmt.Sprintf("raw contents have %d bytes; %d rows of %s need %d", len(t.raw), n, t.datatype, n*size)}
		}
		for i := range out {
			b := t.raw[i*size:]
			switch t.datatype {
			case "INT8":
				out[i] = int64(int8(b[0]))
			case "UINT8":
				out[i] = int64(b[0])
			case "INT16":
				out[i] = int64(int16(binary.LittleEndian.Uint16(b)))
			case "UINT16":
				out[i] = int64(binary.LittleEndian.Uint16(b))
			case "INT32":
				out[i] = int64(int32(binary.LittleEndian.Uint32(b)))
			case "UINT32":
				out[i] = int64(binary.LittleEndian.Uint32(b))
			case "INT64":
				out[i] = int64(binary.LittleEndian.Uint64(b))
			case "UINT64":
				u := binary.LittleEndian.Uint64(b)
				if u > math.MaxInt64 {
					return nil, &InputError{t.name, fmt.Sprintf("row %d: %d exceeds the int64 range", i, u)}
				}
				out[i] = int64(u)
			}
		}
		return out, nil
	}
	c := t.contents
	if c == nil {
		return nil, &InputError{t.name, "has no contents"}
	}
	var got int
	switch t.datatype {
	case "INT8", "INT16", "INT32":
		got = len(c.IntContents)
		for i := 0; i < n && i < got; i++ {
			out[i] = int64(c.IntContents[i])
		}
	case "UINT8", "UINT16", "UINT32":
		got = len(c.UintContents)
		for i := 0; i < n && i < got; i++ {
			out[i] = int64(c.UintContents[i])
		}
	case "INT64":
		got = len(c.Int64Contents)
		copy(out, c.Int64Contents)
	case "UINT64":
		got = len(c.Uint64Contents)
		for i := 0; i < n && i < got; i++ {
			if c.Uint64Contents[i] > math.MaxInt64 {
				return nil, &InputError{t.name, fmt.Sprintf("row %d: %d exceeds the int64 range", i, c.Uint64Contents[i])}
			}
			out[i] = int64(c.Uint64Contents[i])
		}
	}
	if got != n {
		return nil, &InputError{t.name, fmt.Sprintf("has %d values for %d rows", got, n)}
	}
	// int_contents and uint_contents carry INT8..INT32 and UINT8..UINT32
	// in 32 bits: a value must fit the declared datatype.
	if lo, hi, narrow := datatypeRange(t.datatype); narrow {
		for i, v := range out {
			if v < lo || v > hi {
				return nil, &InputError{t.name, fmt.Sprintf("row %d: %d is outside the %s range [%d, %d]", i, v, t.datatype, lo, hi)}
			}
		}
	}
	return out, nil
}

// datatypeRange is the range of the OIP integer datatypes narrower than
// their contents field.
func datatypeRange(datatype string) (lo, hi int64, narrow bool) {
	switch datatype {
	case "INT8":
		return math.MinInt8, math.MaxInt8, true
	case "INT16":
		return math.MinInt16, math.MaxInt16, true
	case "UINT8":
		return 0, math.MaxUint8, true
	case "UINT16":
		return 0, math.MaxUint16, true
	}
	return 0, 0, false
}

// intRange is the range of an integer column type, by builder.
func intRange(b array.Builder) (lo, hi int64, ok bool) {
	switch b.(type) {
	case *array.Int8Builder:
		return math.MinInt8, math.MaxInt8, true
	case *array.Int16Builder:
		return math.MinInt16, math.MaxInt16, true
	case *array.Int32Builder, *array.Date32Builder:
		return math.MinInt32, math.MaxInt32, true
	case *array.Int64Builder, *array.TimestampBuilder, *array.Uint64Builder:
		lo, hi = math.MinInt64, math.MaxInt64
		if _, u := b.(*array.Uint64Builder); u {
			lo = 0
		}
		return lo, hi, true
	case *array.Uint8Builder:
		return 0, math.MaxUint8, true
	case *array.Uint16Builder:
		return 0, math.MaxUint16, true
	case *array.Uint32Builder:
		return 0, math.MaxUint32, true
	}
	return 0, 0, false
}

// integerColumn reads t for an integer column with range [lo, hi]: integer
// tensors exactly, float tensors only when every value is integral.
func (t tensor) integerColumn(n int, lo, hi int64) ([]int64, error) {
	var vals []int64
	if isInteger(t.datatype) {
		var err error
		if vals, err = t.ints(n); err != nil {
			return nil, err
		}
	} else {
		fs, err := t.numbers(n)
		if err != nil {
			return nil, err
		}
		vals = make([]int64, n)
		for i, f := range fs {
			if f != math.Trunc(f) || f < -(1<<63) || f >= 1<<63 {
				return nil, &InputError{t.name, fmt.Sprintf("row %d: %v is not an integer; this column is integral", i, f)}
			}
			vals[i] = int64(f)
		}
	}
	for i, v := range vals {
		if v < lo || v > hi {
			return nil, &InputError{t.name, fmt.Sprintf("row %d: %d is outside the column's range [%d, %d]", i, v, lo, hi)}
		}
	}
	return vals, nil
}

// bytesValues returns the elements of a BYTES tensor.
func (t tensor) bytesValues(n int) ([][]byte, error) {
	if t.datatype != "BYTES" {
		return nil, &InputError{t.name, fmt.Sprintf("is %s; this column needs BYTES", t.datatype)}
	}
	if !t.hasRaw {
		if t.contents == nil || len(t.contents.BytesContents) != n {
			got := 0
			if t.contents != nil {
				got = len(t.contents.BytesContents)
			}
			return nil, &InputError{t.name, fmt.Sprintf("has %d values for %d rows", got, n)}
		}
		return t.contents.BytesContents, nil
	}
	out := make([][]byte, 0, n)
	b := t.raw
	for len(b) > 0 {
		if len(out) == n { // checked before appending: a hostile count cannot grow out
			return nil, &InputError{t.name, fmt.Sprintf("raw BYTES contents hold more than %d elements for %d rows", n, n)}
		}
		if len(b) < 4 {
			return nil, &InputError{t.name, "raw BYTES contents end inside a 4-byte length prefix"}
		}
		l := binary.LittleEndian.Uint32(b)
		b = b[4:]
		if uint64(l) > uint64(len(b)) {
			return nil, &InputError{t.name, fmt.Sprintf("raw BYTES element %d claims %d bytes but only %d remain", len(out), l, len(b))}
		}
		out = append(out, b[:l])
		b = b[l:]
	}
	if len(out) != n {
		return nil, &InputError{t.name, fmt.Sprintf("raw BYTES contents hold %d elements for %d rows", len(out), n)}
	}
	return out, nil
}

func (t tensor) bools(n int) ([]bool, error) {
	if t.datatype != "BOOL" {
		return nil, &InputError{t.name, fmt.Sprintf("is %s; this column needs BOOL", t.datatype)}
	}
	if t.hasRaw {
		if len(t.raw) != n {
			return nil, &InputError{t.name, fmt.Sprintf("raw contents have %d bytes for %d BOOL rows", len(t.raw), n)}
		}
		out := make([]bool, n)
		for i, b := range t.raw {
			out[i] = b != 0
		}
		return out, nil
	}
	if t.contents == nil || len(t.contents.BoolContents) != n {
		return nil, &InputError{t.name, fmt.Sprintf("needs %d BOOL values", n)}
	}
	return t.contents.BoolContents, nil
}

var errUnsupportedColumn = errors.New("column type not supported over the inference protocol")

// buildColumn converts one tensor into an Arrow array of field f's type.
func buildColumn(mem memory.Allocator, f arrow.Field, t tensor, n int) (arrow.Array, error) {
	b := array.NewBuilder(mem, f.Type)
	defer b.Release()
	b.Reserve(n)
	switch bb := b.(type) {
	case *array.StringBuilder:
		vals, err := t.bytesValues(n)
		if err != nil {
			return nil, err
		}
		for _, v := range vals {
			bb.BinaryBuilder.Append(v)
		}
	case *array.BinaryBuilder:
		vals, err := t.bytesValues(n)
		if err != nil {
			return nil, err
		}
		for _, v := range vals {
			bb.Append(v)
		}
	case *array.BooleanBuilder:
		vals, err := t.bools(n)
		if err != nil {
			return nil, err
		}
		bb.AppendValues(vals, nil)
	default:
		if lo, hi, ok := intRange(b); ok {
			vals, err := t.integerColumn(n, lo, hi)
			if err != nil {
				return nil, err
			}
			appendInts(b, vals)
			break
		}
		vals, err := t.numbers(n)
		if err != nil {
			return nil, err
		}
		if err := appendNumbers(b, vals); err != nil {
			return nil, &InputError{t.name, fmt.Sprintf("the model's column type %s: %v", f.Type, err)}
		}
	}
	return b.NewArray(), nil
}

func appendNumbers(b array.Builder, vals []float64) error {
	switch bb := b.(type) {
	case *array.Float64Builder:
		bb.AppendValues(vals, nil)
	case *array.Float32Builder:
		for _, v := range vals {
			bb.Append(float32(v))
		}
	default:
		return errUnsupportedColumn
	}
	return nil
}

// appendInts appends range-checked integers to an integer column's builder
// (see intRange).
func appendInts(b array.Builder, vals []int64) {
	switch bb := b.(type) {
	case *array.Int64Builder:
		bb.AppendValues(vals, nil)
	case *array.Int32Builder:
		appendConverted(bb, vals)
	case *array.Int16Builder:
		appendConverted(bb, vals)
	case *array.Int8Builder:
		appendConverted(bb, vals)
	case *array.Uint64Builder:
		appendConverted(bb, vals)
	case *array.Uint32Builder:
		appendConverted(bb, vals)
	case *array.Uint16Builder:
		appendConverted(bb, vals)
	case *array.Uint8Builder:
		appendConverted(bb, vals)
	case *array.TimestampBuilder:
		appendConverted(bb, vals)
	case *array.Date32Builder:
		appendConverted(bb, vals)
	}
}

// appendConverted appends vals converted to the builder's value type; the
// caller has checked the range.
func appendConverted[T ~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64](b interface{ Append(T) }, vals []int64) {
	for _, v := range vals {
		b.Append(T(v))
	}
}

// warmUp scores one row of zero values so that lazily built state (caches,
// pools) exists before the first real request meets the new version.
func warmUp(m Model) error {
	mem := memory.DefaultAllocator
	schema := m.Schema()
	cols := make([]arrow.Array, schema.NumFields())
	for i, f := range schema.Fields() {
		b := array.NewBuilder(mem, f.Type)
		b.AppendEmptyValue()
		cols[i] = b.NewArray()
		b.Release()
	}
	rec := array.NewRecord(schema, cols, 1)
	for _, c := range cols {
		c.Release()
	}
	defer rec.Release()
	dst := make([]float64, m.Outputs())
	if err := m.Score(rec, dst); err != nil {
		return fmt.Errorf("%w: %w", errWarmUp, err)
	}
	for _, v := range dst {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: the score is %v, the parameters are not finite", errWarmUp, v)
		}
	}
	return nil
}
