package serve

import (
	"encoding/binary"
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

// numbersInto writes the tensor's values as float64 into out, one per row,
// for numeric datatypes, or returns an error naming the mismatch. Integer
// tensors go through intsInto, whose values land in ints (len(out) long).
func (t tensor) numbersInto(out []float64, ints []int64) error {
	n := len(out)
	if isInteger(t.datatype) {
		if err := t.intsInto(ints); err != nil {
			return err
		}
		for i, v := range ints {
			out[i] = float64(v)
		}
		return nil
	}
	if t.datatype != "FP32" && t.datatype != "FP64" {
		return &InputError{t.name, fmt.Sprintf("datatype %s is not numeric", t.datatype)}
	}
	if t.hasRaw {
		if err := t.rawSize(n); err != nil {
			return err
		}
		for i := range out {
			if t.datatype == "FP32" {
				out[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(t.raw[4*i:])))
			} else {
				out[i] = math.Float64frombits(binary.LittleEndian.Uint64(t.raw[8*i:]))
			}
		}
		return nil
	}
	if t.contents == nil {
		return &InputError{t.name, "has no contents"}
	}
	got := len(t.contents.Fp64Contents)
	if t.datatype == "FP32" {
		got = len(t.contents.Fp32Contents)
	}
	if got != n {
		return &InputError{t.name, fmt.Sprintf("has %d values for %d rows", got, n)}
	}
	if t.datatype == "FP32" {
		for i, v := range t.contents.Fp32Contents {
			out[i] = float64(v)
		}
	} else {
		copy(out, t.contents.Fp64Contents)
	}
	return nil
}

// rawSize checks that the tensor's raw contents hold n values of its
// fixed-width datatype.
func (t tensor) rawSize(n int) error {
	size := elemSize[t.datatype]
	if len(t.raw) != n*size {
		return &InputError{t.name, fmt.Sprintf("raw contents have %d bytes; %d rows of %s need %d", len(t.raw), n, t.datatype, n*size)}
	}
	return nil
}

// isInteger reports whether an OIP datatype holds integers.
func isInteger(datatype string) bool {
	switch datatype {
	case "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64":
		return true
	}
	return false
}

// intsInto writes an integer tensor's values exactly (no float round trip)
// into out, one per row. UINT64 values above the int64 range are an error.
func (t tensor) intsInto(out []int64) error {
	n := len(out)
	if t.hasRaw {
		if err := t.rawSize(n); err != nil {
			return err
		}
		size := elemSize[t.datatype]
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
					return &InputError{t.name, fmt.Sprintf("row %d: %d exceeds the int64 range", i, u)}
				}
				out[i] = int64(u)
			}
		}
		return nil
	}
	c := t.contents
	if c == nil {
		return &InputError{t.name, "has no contents"}
	}
	var got int
	switch t.datatype {
	case "INT8", "INT16", "INT32":
		got = len(c.IntContents)
	case "UINT8", "UINT16", "UINT32":
		got = len(c.UintContents)
	case "INT64":
		got = len(c.Int64Contents)
	case "UINT64":
		got = len(c.Uint64Contents)
	}
	if got != n {
		return &InputError{t.name, fmt.Sprintf("has %d values for %d rows", got, n)}
	}
	switch t.datatype {
	case "INT8", "INT16", "INT32":
		for i, v := range c.IntContents {
			out[i] = int64(v)
		}
	case "UINT8", "UINT16", "UINT32":
		for i, v := range c.UintContents {
			out[i] = int64(v)
		}
	case "INT64":
		copy(out, c.Int64Contents)
	case "UINT64":
		for i, v := range c.Uint64Contents {
			if v > math.MaxInt64 {
				return &InputError{t.name, fmt.Sprintf("row %d: %d exceeds the int64 range", i, v)}
			}
			out[i] = int64(v)
		}
	}
	// int_contents and uint_contents carry INT8..INT32 and UINT8..UINT32
	// in 32 bits: a value must fit the declared datatype.
	if lo, hi, narrow := datatypeRange(t.datatype); narrow {
		for i, v := range out {
			if v < lo || v > hi {
				return &InputError{t.name, fmt.Sprintf("row %d: %d is outside the %s range [%d, %d]", i, v, t.datatype, lo, hi)}
			}
		}
	}
	return nil
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
