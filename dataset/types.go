package dataset

import (
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/format"
)

// convKind says how a Parquet physical value becomes an Arrow value.
type convKind int

const (
	convBool   convKind = iota
	convInt32           // INT32 → int32
	convInt8            // INT32 → int8
	convInt16           // INT32 → int16
	convUint8           // INT32 → uint8
	convUint16          // INT32 → uint16
	convUint32          // INT32 → uint32
	convDate32          // INT32 DATE → date32
	convInt64           // INT64 → int64, uint64, timestamp (same bits)
	convInt96           // INT96 → timestamp[ns]
	convFloat32
	convFloat64
	convBinary       // BYTE_ARRAY / FIXED_LEN_BYTE_ARRAY → string or binary
	convDecimal32    // INT32 DECIMAL → float64
	convDecimal64    // INT64 DECIMAL → float64
	convDecimalBytes // BYTE_ARRAY / FIXED_LEN_BYTE_ARRAY DECIMAL → float64
)

// leafColumn is one top-level column of one file as this package reads it:
// either a flat primitive column or a list of primitives.
type leafColumn struct {
	name     string
	typ      arrow.DataType // the column's Arrow type (a list type for lists)
	elem     arrow.DataType // the primitive type (elem of a list, or typ)
	nullable bool
	conv     convKind
	scale    int32 // decimal scale
	leaf     int   // leaf column index in the file (column chunk index)
	maxDef   int
	maxRep   int
	isList   bool
	listDef  int // definition level at which the list itself is non-null
	elemDef  int // definition level at which an element exists
	err      error
}

// fileSchema maps the top-level columns of one Parquet file.
type fileSchema struct {
	cols  []leafColumn
	index map[string]int
}

// schemaOf maps every top-level column of f. Columns this package cannot
// read keep their error, returned only if the column is projected.
func schemaOf(f *parquet.File) *fileSchema {
	elems := f.Metadata().Schema
	byPath := make(map[string]*format.SchemaElement, len(elems))
	var walk func(i int, prefix string) int
	walk = func(i int, prefix string) int {
		e := &elems[i]
		p := e.Name
		if prefix != "" {
			p = prefix + "\x00" + e.Name
		}
		byPath[p] = e
		i++
		if e.NumChildren.Valid {
			for range int(e.NumChildren.V) {
				if i >= len(elems) {
					return i
				}
				i = walk(i, p)
			}
		}
		return i
	}
	// elems[0] is the root; its children are the top-level columns.
	if len(elems) > 0 {
		i := 1
		for i < len(elems) {
			i = walk(i, "")
		}
	}
	fs := &fileSchema{index: map[string]int{}}
	for _, c := range f.Root().Columns() {
		lc := mapColumn(c, byPath)
		fs.index[lc.name] = len(fs.cols)
		fs.cols = append(fs.cols, lc)
	}
	return fs
}

func mapColumn(c *parquet.Column, byPath map[string]*format.SchemaElement) leafColumn {
	lc := leafColumn{name: c.Name()}
	elemOf := func(col *parquet.Column) *format.SchemaElement {
		p := ""
		for i, s := range col.Path() {
			if i > 0 {
				p += "\x00"
			}
			p += s
		}
		return byPath[p]
	}
	se := elemOf(c)
	switch {
	case c.Leaf() && !c.Repeated():
		lc.nullable = c.Optional()
		lc.leaf, lc.maxDef, lc.maxRep = c.Index(), c.MaxDefinitionLevel(), c.MaxRepetitionLevel()
		lc.elem, lc.conv, lc.scale, lc.err = primitiveType(se)
		lc.typ = lc.elem
	case c.Leaf() && c.Repeated():
		// Legacy "repeated int64 x": a non-null list of non-null values.
		lc.isList = true
		lc.leaf, lc.maxDef, lc.maxRep = c.Index(), c.MaxDefinitionLevel(), c.MaxRepetitionLevel()
		lc.listDef, lc.elemDef = 0, 1
		lc.elem, lc.conv, lc.scale, lc.err = primitiveType(se)
		if lc.err == nil { // ListOf panics on the nil type of an unreadable element
			lc.typ = arrow.ListOf(lc.elem)
		}
	default:
		lc.err = fmt.Errorf("%w: column %q is a group (struct or map): nested fields are not read; write them as top-level columns (e.g. %s_os instead of %s.os)", ErrUnsupportedType, lc.name, lc.name, lc.name)
		isListType := se != nil && (isListLogical(se) || (se.ConvertedType.Valid && se.ConvertedType.V == deprecated.List))
		kids := c.Columns()
		if !isListType || len(kids) != 1 || !kids[0].Repeated() {
			return lc
		}
		rep := kids[0]
		leaf := rep
		if !rep.Leaf() {
			if len(rep.Columns()) != 1 || !rep.Columns()[0].Leaf() {
				lc.err = fmt.Errorf("%w: column %q is a list of groups", ErrUnsupportedType, lc.name)
				return lc
			}
			leaf = rep.Columns()[0]
		}
		if leaf.MaxRepetitionLevel() != 1 {
			lc.err = fmt.Errorf("%w: column %q is a nested list", ErrUnsupportedType, lc.name)
			return lc
		}
		lc.isList, lc.err = true, nil
		lc.nullable = c.Optional()
		lc.leaf, lc.maxDef, lc.maxRep = leaf.Index(), leaf.MaxDefinitionLevel(), leaf.MaxRepetitionLevel()
		lc.listDef = 0
		if c.Optional() {
			lc.listDef = 1
		}
		lc.elemDef = lc.listDef + 1
		lc.elem, lc.conv, lc.scale, lc.err = primitiveType(elemOf(leaf))
		if lc.err == nil {
			lc.typ = arrow.ListOf(lc.elem)
		}
	}
	if lc.err != nil {
		lc.err = fmt.Errorf("column %q: %w", lc.name, lc.err)
	}
	return lc
}

func isListLogical(se *format.SchemaElement) bool {
	_, ok := se.LogicalType.Value.(*format.ListType)
	return ok
}

// primitiveType maps a Parquet leaf to its Arrow type, following what
// pyarrow's reader produces, except that decimals become float64.
func primitiveType(se *format.SchemaElement) (arrow.DataType, convKind, int32, error) {
	if se == nil || !se.Type.Valid {
		return nil, 0, 0, fmt.Errorf("%w: leaf without physical type", ErrUnsupportedType)
	}
	lt := se.LogicalType.Value
	var ct deprecated.ConvertedType = -1
	if se.ConvertedType.Valid {
		ct = se.ConvertedType.V
	}
	scale := int32(0)
	if se.Scale.Valid {
		scale = se.Scale.V
	}
	if d, ok := lt.(*format.DecimalType); ok {
		scale = d.Scale
		ct = deprecated.Decimal
	}
	isDecimal := ct == deprecated.Decimal
	switch se.Type.V {
	case format.Boolean:
		return arrow.FixedWidthTypes.Boolean, convBool, 0, nil
	case format.Int32:
		if isDecimal {
			return arrow.PrimitiveTypes.Float64, convDecimal32, scale, nil
		}
		if _, ok := lt.(*format.DateType); ok || ct == deprecated.Date {
			return arrow.FixedWidthTypes.Date32, convDate32, 0, nil
		}
		bits, signed := 32, true
		if it, ok := lt.(*format.IntType); ok {
			bits, signed = int(it.BitWidth), it.IsSigned
		} else {
			switch ct {
			case deprecated.Int8:
				bits = 8
			case deprecated.Int16:
				bits = 16
			case deprecated.Uint8:
				bits, signed = 8, false
			case deprecated.Uint16:
				bits, signed = 16, false
			case deprecated.Uint32:
				bits, signed = 32, false
			}
		}
		switch {
		case bits == 8 && signed:
			return arrow.PrimitiveTypes.Int8, convInt8, 0, nil
		case bits == 16 && signed:
			return arrow.PrimitiveTypes.Int16, convInt16, 0, nil
		case bits == 8:
			return arrow.PrimitiveTypes.Uint8, convUint8, 0, nil
		case bits == 16:
			return arrow.PrimitiveTypes.Uint16, convUint16, 0, nil
		case bits == 32 && !signed:
			return arrow.PrimitiveTypes.Uint32, convUint32, 0, nil
		}
		return arrow.PrimitiveTypes.Int32, convInt32, 0, nil
	case format.Int64:
		if isDecimal {
			return arrow.PrimitiveTypes.Float64, convDecimal64, scale, nil
		}
		if ts, ok := lt.(*format.TimestampType); ok {
			tz := ""
			if ts.IsAdjustedToUTC {
				tz = "UTC"
			}
			unit := arrow.Microsecond
			switch ts.Unit.Value.(type) {
			case *format.MilliSeconds:
				unit = arrow.Millisecond
			case *format.NanoSeconds:
				unit = arrow.Nanosecond
			}
			return &arrow.TimestampType{Unit: unit, TimeZone: tz}, convInt64, 0, nil
		}
		switch ct {
		case deprecated.TimestampMillis:
			return &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}, convInt64, 0, nil
		case deprecated.TimestampMicros:
			return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, convInt64, 0, nil
		case deprecated.Uint64:
			return arrow.PrimitiveTypes.Uint64, convInt64, 0, nil
		}
		if it, ok := lt.(*format.IntType); ok && !it.IsSigned {
			return arrow.PrimitiveTypes.Uint64, convInt64, 0, nil
		}
		return arrow.PrimitiveTypes.Int64, convInt64, 0, nil
	case format.Int96:
		return &arrow.TimestampType{Unit: arrow.Nanosecond}, convInt96, 0, nil
	case format.Float:
		return arrow.PrimitiveTypes.Float32, convFloat32, 0, nil
	case format.Double:
		return arrow.PrimitiveTypes.Float64, convFloat64, 0, nil
	case format.ByteArray, format.FixedLenByteArray:
		if isDecimal {
			return arrow.PrimitiveTypes.Float64, convDecimalBytes, scale, nil
		}
		switch lt.(type) {
		case *format.StringType, *format.EnumType, *format.JsonType:
			return arrow.BinaryTypes.String, convBinary, 0, nil
		}
		if ct == deprecated.UTF8 || ct == deprecated.Enum || ct == deprecated.Json {
			return arrow.BinaryTypes.String, convBinary, 0, nil
		}
		return arrow.BinaryTypes.Binary, convBinary, 0, nil
	}
	return nil, 0, 0, fmt.Errorf("%w: physical type %v", ErrUnsupportedType, se.Type.V)
}
