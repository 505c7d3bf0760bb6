package datastream

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/cespare/xxhash/v2"
)

// A key is the byte encoding of a row's key columns: per column, a null flag
// byte and then the value (8 little-endian bytes for integers, timestamps and
// floats, 1 byte for booleans, a uvarint length and the bytes for strings and
// binaries). Equal key values give equal bytes regardless of the Arrow
// column's chunking, so keys work as Go map keys (map[string]...) and hash
// the same in every process, which keyed state in checkpoints relies on.

// keyColumns binds key column names to the columns of one record.
type keyColumns struct {
	names []string
	types []arrow.DataType // fixed by the first record seen
	enc   []func(buf []byte, row int) []byte
}

func newKeyColumns(names []string) *keyColumns {
	return &keyColumns{names: names, enc: make([]func([]byte, int) []byte, len(names))}
}

// bind prepares the encoders for rec. The key column types must not change
// between records.
func (k *keyColumns) bind(rec arrow.Record) error {
	sc := rec.Schema()
	first := k.types == nil
	if first {
		k.types = make([]arrow.DataType, len(k.names))
	}
	for i, name := range k.names {
		idx := sc.FieldIndices(name)
		if len(idx) == 0 {
			return fmt.Errorf("key column %q not in record (columns %v)", name, columnNames(sc))
		}
		col := rec.Column(idx[0])
		if first {
			k.types[i] = col.DataType()
		} else if !arrow.TypeEqual(k.types[i], col.DataType()) {
			return fmt.Errorf("key column %q changed type from %s to %s", name, k.types[i], col.DataType())
		}
		enc, err := keyEncoder(col)
		if err != nil {
			return fmt.Errorf("key column %q: %w", name, err)
		}
		k.enc[i] = enc
	}
	return nil
}

// key appends the key of row to buf[:0] and returns it.
func (k *keyColumns) key(buf []byte, row int) []byte {
	buf = buf[:0]
	for _, enc := range k.enc {
		buf = enc(buf, row)
	}
	return buf
}

func columnNames(sc *arrow.Schema) []string {
	names := make([]string, sc.NumFields())
	for i := range names {
		names[i] = sc.Field(i).Name
	}
	return names
}

func hashKey(key []byte) uint64 { return xxhash.Sum64(key) }

func keyEncoder(col arrow.Array) (func([]byte, int) []byte, error) {
	nulls := col.NullN() > 0
	wrap := func(f func([]byte, int) []byte) func([]byte, int) []byte {
		if !nulls {
			return func(b []byte, i int) []byte { return f(append(b, 1), i) }
		}
		return func(b []byte, i int) []byte {
			if col.IsNull(i) {
				return append(b, 0)
			}
			return f(append(b, 1), i)
		}
	}
	switch a := col.(type) {
	case *array.Int64:
		v := a.Int64Values()
		return wrap(func(b []byte, i int) []byte { return binary.LittleEndian.AppendUint64(b, uint64(v[i])) }), nil
	case *array.Int32:
		v := a.Int32Values()
		return wrap(func(b []byte, i int) []byte { return binary.LittleEndian.AppendUint64(b, uint64(v[i])) }), nil
	case *array.Int16:
		return wrap(func(b []byte, i int) []byte { return binary.LittleEndian.AppendUint64(b, uint64(a.Value(i))) }), nil
	case *array.Int8:
		return wrap(func(b []byte, i int) []byte { return binary.LittleEndian.AppendUint64(b, uint64(a.Value(i))) }), nil
	case *array.Uint64:
		v := a.Uint64Values()
		return wrap(func(b []byte, i int) []byte { return binary.LittleEndian.AppendUint64(b, v[i]) }), nil
	case *array.Uint32:
		return wrap(func(b []byte, i int) []byte { return binary.LittleEndian.AppendUint64(b, uint64(a.Value(i))) }), nil
	case *array.Uint16:
		return wrap(func(b []byte, i int) []byte { return binary.LittleEndian.AppendUint64(b, uint64(a.Value(i))) }), nil
	case *array.Uint8:
		return wrap(func(b []byte, i int) []byte { return binary.LittleEndian.AppendUint64(b, uint64(a.Value(i))) }), nil
	case *array.Timestamp:
		return wrap(func(b []byte, i int) []byte { return binary.LittleEndian.AppendUint64(b, uint64(a.Value(i))) }), nil
	case *array.Date32:
		return wrap(func(b []byte, i int) []byte { return binary.LittleEndian.AppendUint64(b, uint64(a.Value(i))) }), nil
	case *array.Date64:
		return wrap(func(b []byte, i int) []byte { return binary.LittleEndian.AppendUint64(b, uint64(a.Value(i))) }), nil
	case *array.Float64:
		return wrap(func(b []byte, i int) []byte {
			return binary.LittleEndian.AppendUint64(b, math.Float64bits(a.Value(i)))
		}), nil
	case *array.Float32:
		return wrap(func(b []byte, i int) []byte {
			return binary.LittleEndian.AppendUint64(b, math.Float64bits(float64(a.Value(i))))
		}), nil
	case *array.Boolean:
		return wrap(func(b []byte, i int) []byte {
			if a.Value(i) {
				return append(b, 1)
			}
			return append(b, 0)
		}), nil
	case *array.String:
		return wrap(func(b []byte, i int) []byte {
			s := a.Value(i)
			return append(binary.AppendUvarint(b, uint64(len(s))), s...)
		}), nil
	case *array.LargeString:
		return wrap(func(b []byte, i int) []byte {
			s := a.Value(i)
			return append(binary.AppendUvarint(b, uint64(len(s))), s...)
		}), nil
	case *array.Binary:
		return wrap(func(b []byte, i int) []byte {
			s := a.Value(i)
			return append(binary.AppendUvarint(b, uint64(len(s))), s...)
		}), nil
	}
	return nil, fmt.Errorf("unsupported key type %s", col.DataType())
}

// appendKey decodes key (as built from columns of types) and appends one value
// per column to bs. It panics on a malformed key: keys only come from
// keyColumns.key or from a checkpoint whose checksum held.
func appendKey(bs []array.Builder, types []arrow.DataType, key []byte) {
	for i, t := range types {
		valid := key[0] == 1
		key = key[1:]
		if !valid {
			bs[i].AppendNull()
			continue
		}
		switch t.ID() {
		case arrow.BOOL:
			bs[i].(*array.BooleanBuilder).Append(key[0] == 1)
			key = key[1:]
		case arrow.STRING, arrow.LARGE_STRING, arrow.BINARY:
			n, w := binary.Uvarint(key)
			v := key[w : w+int(n)]
			key = key[w+int(n):]
			switch b := bs[i].(type) {
			case *array.StringBuilder:
				b.Append(string(v))
			case *array.LargeStringBuilder:
				b.Append(string(v))
			case *array.BinaryBuilder:
				b.Append(v)
			}
		default:
			u := binary.LittleEndian.Uint64(key)
			key = key[8:]
			switch b := bs[i].(type) {
			case *array.Int64Builder:
				b.Append(int64(u))
			case *array.Int32Builder:
				b.Append(int32(u))
			case *array.Int16Builder:
				b.Append(int16(u))
			case *array.Int8Builder:
				b.Append(int8(u))
			case *array.Uint64Builder:
				b.Append(u)
			case *array.Uint32Builder:
				b.Append(uint32(u))
			case *array.Uint16Builder:
				b.Append(uint16(u))
			case *array.Uint8Builder:
				b.Append(uint8(u))
			case *array.TimestampBuilder:
				b.Append(arrow.Timestamp(u))
			case *array.Date32Builder:
				b.Append(arrow.Date32(u))
			case *array.Date64Builder:
				b.Append(arrow.Date64(u))
			case *array.Float64Builder:
				b.Append(math.Float64frombits(u))
			case *array.Float32Builder:
				b.Append(float32(math.Float64frombits(u)))
			default:
				panic(fmt.Sprintf("datastream: key builder %T for type %s", b, t))
			}
		}
	}
}
