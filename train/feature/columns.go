package feature

import (
	"fmt"
	"math"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
)

// This file reads Arrow columns into flat per-row scratch: value hashes for
// categorical columns, float64s for numeric ones. Each reader switches on the
// array type once per column and then runs a tight loop.

type number interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~float32 | ~float64
}

type integer interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

func isInteger(id arrow.Type) bool {
	switch id {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return true
	}
	return false
}

func isNumber(id arrow.Type) bool {
	return isInteger(id) || id == arrow.FLOAT32 || id == arrow.FLOAT64
}

func isBytes(id arrow.Type) bool {
	switch id {
	case arrow.STRING, arrow.LARGE_STRING, arrow.BINARY, arrow.LARGE_BINARY:
		return true
	}
	return false
}

// hashableScalar reports whether a categorical value of type dt can be
// hashed: strings, binaries, integers, bools, and dictionaries of those.
func hashableScalar(dt arrow.DataType) bool {
	id := dt.ID()
	if isBytes(id) || isInteger(id) || id == arrow.BOOL {
		return true
	}
	if d, ok := dt.(*arrow.DictionaryType); ok {
		return hashableScalar(d.ValueType)
	}
	return false
}

// listElem returns the element type of a list type, or nil.
func listElem(dt arrow.DataType) arrow.DataType {
	switch t := dt.(type) {
	case *arrow.ListType:
		return t.Elem()
	case *arrow.LargeListType:
		return t.Elem()
	}
	return nil
}

// dictionaryHashes returns the value hashes of arr's dictionary in scratch
// if arr is a dictionary array, else scratch unchanged.
func dictionaryHashes(arr arrow.Array, scratch []uint64) []uint64 {
	d, ok := arr.(*array.Dictionary)
	if !ok {
		return scratch
	}
	scratch = grow(scratch, d.Dictionary().Len())
	hashRange(d.Dictionary(), 0, scratch, nil)
	return scratch
}

// hashRange writes the value hashes of arr's elements lo … lo+len(dst)−1
// into dst, 0 for nulls. For a dictionary array, dictHashes must hold the
// hashes of its dictionary.
func hashRange(arr arrow.Array, lo int, dst []uint64, dictHashes []uint64) {
	hi := lo + len(dst)
	switch a := arr.(type) {
	case *array.String:
		hashOffsets(a.ValueOffsets(), a.ValueBytes(), lo, dst)
	case *array.LargeString:
		hashOffsets(a.ValueOffsets(), a.ValueBytes(), lo, dst)
	case *array.Binary:
		hashOffsets(a.ValueOffsets(), a.ValueBytes(), lo, dst)
	case *array.LargeBinary:
		hashOffsets(a.ValueOffsets(), a.ValueBytes(), lo, dst)
	case *array.Int8:
		hashInts(a.Int8Values()[lo:hi], dst)
	case *array.Int16:
		hashInts(a.Int16Values()[lo:hi], dst)
	case *array.Int32:
		hashInts(a.Int32Values()[lo:hi], dst)
	case *array.Int64:
		hashInts(a.Int64Values()[lo:hi], dst)
	case *array.Uint8:
		hashInts(a.Uint8Values()[lo:hi], dst)
	case *array.Uint16:
		hashInts(a.Uint16Values()[lo:hi], dst)
	case *array.Uint32:
		hashInts(a.Uint32Values()[lo:hi], dst)
	case *array.Uint64:
		hashInts(a.Uint64Values()[lo:hi], dst)
	case *array.Boolean:
		for i := range dst {
			var v uint64
			if a.Value(lo + i) {
				v = 1
			}
			dst[i] = hashInt(v)
		}
	case *array.Dictionary:
		for i := range dst {
			dst[i] = 0
			if a.IsValid(lo + i) {
				dst[i] = dictHashes[a.GetValueIndex(lo+i)]
			}
		}
		// Validity was handled above; dictionary entries may be null too,
		// which their hash 0 already says.
		return
	default:
		panic(fmt.Sprintf("feature: hashRange: unsupported type %s (bind should have rejected it)", arr.DataType()))
	}
	if arr.NullN() > 0 {
		for i := range dst {
			if arr.IsNull(lo + i) {
				dst[i] = 0
			}
		}
	}
}

func hashOffsets[O int32 | int64](offs []O, data []byte, lo int, dst []uint64) {
	base := offs[0]
	offs = offs[lo : lo+len(dst)+1]
	for i := range dst {
		dst[i] = hashBytes(data[offs[i]-base : offs[i+1]-base])
	}
}

func hashInts[T integer](vals []T, dst []uint64) {
	vals = vals[:len(dst)]
	for i, v := range vals {
		dst[i] = hashInt(uint64(v))
	}
}

// floatColumn writes arr's values as float64 into dst, NaN for nulls.
func floatColumn(arr arrow.Array, dst []float64) { floatRange(arr, 0, dst) }

// floatRange writes arr's elements lo … lo+len(dst)−1 as float64 into dst,
// NaN for nulls.
func floatRange(arr arrow.Array, lo int, dst []float64) {
	hi := lo + len(dst)
	switch a := arr.(type) {
	case *array.Int8:
		toFloats(a.Int8Values()[lo:hi], dst)
	case *array.Int16:
		toFloats(a.Int16Values()[lo:hi], dst)
	case *array.Int32:
		toFloats(a.Int32Values()[lo:hi], dst)
	case *array.Int64:
		toFloats(a.Int64Values()[lo:hi], dst)
	case *array.Uint8:
		toFloats(a.Uint8Values()[lo:hi], dst)
	case *array.Uint16:
		toFloats(a.Uint16Values()[lo:hi], dst)
	case *array.Uint32:
		toFloats(a.Uint32Values()[lo:hi], dst)
	case *array.Uint64:
		toFloats(a.Uint64Values()[lo:hi], dst)
	case *array.Float32:
		toFloats(a.Float32Values()[lo:hi], dst)
	case *array.Float64:
		copy(dst, a.Float64Values()[lo:hi])
	case *array.Boolean:
		for i := range dst {
			dst[i] = 0
			if a.Value(lo + i) {
				dst[i] = 1
			}
		}
	default:
		panic(fmt.Sprintf("feature: floatRange: unsupported type %s (bind should have rejected it)", arr.DataType()))
	}
	if arr.NullN() > 0 {
		for i := range dst {
			if arr.IsNull(lo + i) {
				dst[i] = math.NaN()
			}
		}
	}
}

func toFloats[T number](vals []T, dst []float64) {
	vals = vals[:len(dst)]
	for i, v := range vals {
		dst[i] = float64(v)
	}
}

// listOffsets returns the absolute child offsets of a list array's rows
// (len rows+1) as int64 into dst, and the child array.
func listOffsets(arr arrow.Array, dst []int64) arrow.Array {
	off := arr.Data().Offset()
	switch a := arr.(type) {
	case *array.List:
		o := a.Offsets()[off : off+len(dst)]
		for i, v := range o {
			dst[i] = int64(v)
		}
		return a.ListValues()
	case *array.LargeList:
		copy(dst, a.Offsets()[off:off+len(dst)])
		return a.ListValues()
	}
	panic(fmt.Sprintf("feature: listOffsets: unsupported type %s", arr.DataType()))
}
