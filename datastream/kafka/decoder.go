package kafka

import (
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// kind is the decoder's view of a column type.
type kind uint8

const (
	kBool kind = iota + 1
	kInt32
	kInt64
	kFloat32
	kFloat64
	kString
	kTimestamp
)

func kindOf(t arrow.DataType) (kind, bool) {
	switch t.ID() {
	case arrow.BOOL:
		return kBool, true
	case arrow.INT32:
		return kInt32, true
	case arrow.INT64:
		return kInt64, true
	case arrow.FLOAT32:
		return kFloat32, true
	case arrow.FLOAT64:
		return kFloat64, true
	case arrow.STRING:
		return kString, true
	case arrow.TIMESTAMP:
		return kTimestamp, true
	}
	return 0, false
}

// value is one staged scalar.
type value struct {
	null bool
	b    bool
	i    int64 // ints, timestamps (in the column's unit)
	f    float64
	s    []byte // strings: a view of the message or of the decoder's buffer
}

type column struct {
	name     string
	kind     kind
	list     bool // a list of kind
	unit     arrow.TimeUnit
	nullable bool
	gen      uint32 // == Decoder.gen when set in the current message
	lastData int    // string data bytes of the previous record (Reserve)
	v        value
	elems    []value // staged list elements

	bool_ *array.BooleanBuilder
	i32   *array.Int32Builder
	i64   *array.Int64Builder
	f32   *array.Float32Builder
	f64   *array.Float64Builder
	str   *array.StringBuilder
	ts    *array.TimestampBuilder
	lst   *array.ListBuilder
}

// Decoder decodes JSON objects into Arrow columns of a declared schema. It
// appends each message as one row to reused builders; NewRecord cuts the rows
// decoded so far into a record. A Decoder is not safe for concurrent use.
//
// # Schema and coercions
//
// Columns may be bool, int32, int64, float32, float64, string (utf8),
// timestamp (any unit), or a list of one of these. Object keys are matched to
// column names exactly; unknown keys are skipped (but must be valid JSON).
// A value converts to its column as follows; anything else is a
// ReasonWrongType error:
//
//   - bool: true/false, or the strings "true"/"false".
//   - int32, int64: integer numbers; numbers with a fraction or exponent when
//     their value is integral (2.0, 1e3); numeric strings ("42") by the same
//     rules. Values out of the column's range are errors.
//   - float32, float64: any number, and numeric strings. Integers convert to
//     the nearest float.
//   - string: strings (unescaped, must be valid UTF-8); numbers and booleans
//     become their JSON text (12.50 -> "12.50", true -> "true").
//   - timestamp: RFC 3339 strings ("2026-11-01T12:00:00.5Z", "+02:00"
//     offsets) converted to the column's unit and truncated; integer numbers
//     and numeric strings are milliseconds since the Unix epoch.
//   - list<T>: a JSON array whose elements convert to T; null elements are
//     null entries.
//
// null and a missing key give a null entry in a nullable column and a
// ReasonWrongType (null) or ReasonMissingField error in a non-nullable one. A
// key appearing twice is ReasonDuplicateField. Messages longer than the
// configured maximum are ReasonOversized without being parsed.
type Decoder struct {
	schema   *arrow.Schema
	rb       *array.RecordBuilder
	cols     []column
	index    map[string]int
	gen      uint32
	rows     int
	lastRows int // rows of the previous record (Reserve)
	maxBytes int
	buf      []byte // unescaped strings of the current message
	keyBuf   []byte
}

// NewDecoder returns a decoder for schema. mem allocates the builders (nil
// means memory.DefaultAllocator). maxBytes bounds the accepted message size
// (0 means no bound). It fails with ErrUnsupportedType for other column types.
func NewDecoder(schema *arrow.Schema, mem memory.Allocator, maxBytes int) (*Decoder, error) {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	d := &Decoder{schema: schema, index: make(map[string]int, schema.NumFields()), maxBytes: maxBytes}
	d.cols = make([]column, schema.NumFields())
	for i, f := range schema.Fields() {
		c := &d.cols[i]
		c.name, c.nullable = f.Name, f.Nullable
		t := f.Type
		if lt, ok := t.(*arrow.ListType); ok {
			c.list = true
			t = lt.Elem()
		}
		k, ok := kindOf(t)
		if !ok {
			return nil, fmt.Errorf("column %q of type %s: %w", f.Name, f.Type, ErrUnsupportedType)
		}
		c.kind = k
		if ts, ok := t.(*arrow.TimestampType); ok {
			c.unit = ts.Unit
		}
		if _, dup := d.index[f.Name]; dup {
			return nil, fmt.Errorf("column %q declared twice in the schema", f.Name)
		}
		d.index[f.Name] = i
	}
	d.rb = array.NewRecordBuilder(mem, schema)
	for i := range d.cols {
		c := &d.cols[i]
		b := d.rb.Field(i)
		if c.list {
			c.lst = b.(*array.ListBuilder)
			b = c.lst.ValueBuilder()
		}
		switch c.kind {
		case kBool:
			c.bool_ = b.(*array.BooleanBuilder)
		case kInt32:
			c.i32 = b.(*array.Int32Builder)
		case kInt64:
			c.i64 = b.(*array.Int64Builder)
		case kFloat32:
			c.f32 = b.(*array.Float32Builder)
		case kFloat64:
			c.f64 = b.(*array.Float64Builder)
		case kString:
			c.str = b.(*array.StringBuilder)
		case kTimestamp:
			c.ts = b.(*array.TimestampBuilder)
		}
	}
	return d, nil
}

// Schema returns the declared schema.
func (d *Decoder) Schema() *arrow.Schema { return d.schema }

// Len returns the number of rows decoded since the last NewRecord.
func (d *Decoder) Len() int { return d.rows }

// Reserve makes room for n more rows in every builder, and in string
// columns for n values of the mean length of the previous record's, so
// their data buffers do not grow (and copy) row by row.
func (d *Decoder) Reserve(n int) {
	d.rb.Reserve(n)
	if d.lastRows == 0 {
		return
	}
	for i := range d.cols {
		if c := &d.cols[i]; c.kind == kString && !c.list {
			c.str.ReserveData(n * c.lastData / d.lastRows)
		}
	}
}

// NewRecord returns the rows decoded so far as a record, which the caller
// owns and must Release, and resets the builders for the next rows.
func (d *Decoder) NewRecord() arrow.Record {
	if d.rows > 0 {
		d.lastRows = d.rows
		for i := range d.cols {
			if c := &d.cols[i]; c.kind == kString && !c.list {
				c.lastData = c.str.DataLen()
			}
		}
	}
	d.rows = 0
	return d.rb.NewRecord()
}

// Release frees the builders. The decoder must not be used afterwards.
func (d *Decoder) Release() { d.rb.Release() }

// Int64At returns the value staged for column i by the last successful
// Decode, for int and timestamp columns; ok is false when it was null.
func (d *Decoder) Int64At(i int) (v int64, ok bool) {
	c := &d.cols[i]
	return c.v.i, !c.v.null
}

// Decode parses msg as one JSON object and appends it as a row. On failure it
// returns a *DecodeError and leaves the builders unchanged. msg is not
// retained.
func (d *Decoder) Decode(msg []byte) error {
	if d.maxBytes > 0 && len(msg) > d.maxBytes {
		return &DecodeError{Reason: ReasonOversized, Offset: d.maxBytes,
			Detail: fmt.Sprintf("message of %d bytes exceeds the limit of %d", len(msg), d.maxBytes)}
	}
	d.gen++
	if d.gen == 0 { // wrapped: clear stale marks
		for i := range d.cols {
			d.cols[i].gen = 0
		}
		d.gen = 1
	}
	d.buf = d.buf[:0]
	p := skipWS(msg, 0)
	if p >= len(msg) || msg[p] != '{' {
		return syntaxErr(p, "expected a JSON object")
	}
	p = skipWS(msg, p+1)
	next := 0 // the column expected at the next key
	if p < len(msg) && msg[p] == '}' {
		p++
	} else {
		for {
			if p >= len(msg) || msg[p] != '"' {
				return syntaxErr(p, "expected an object key")
			}
			d.keyBuf = d.keyBuf[:0]
			key, end, ok, _ := scanString(msg, p, &d.keyBuf)
			if !ok {
				return syntaxErr(end, "malformed key")
			}
			p = skipWS(msg, end)
			if p >= len(msg) || msg[p] != ':' {
				return syntaxErr(p, "expected ':'")
			}
			p = skipWS(msg, p+1)
			// Producers usually write keys in one order: try the column
			// after the previous key before the map.
			i, known := next, next < len(d.cols) && d.cols[next].name == string(key)
			if !known {
				i, known = d.index[string(key)]
			}
			if known {
				next = i + 1
				c := &d.cols[i]
				if c.gen == d.gen {
					return &DecodeError{Reason: ReasonDuplicateField, Field: c.name, Offset: p, Detail: "key appears twice"}
				}
				c.gen = d.gen
				var err error
				if p, err = d.field(c, msg, p); err != nil {
					return err
				}
			} else if p, ok = skipValue(msg, p, 1, &d.keyBuf); !ok {
				return syntaxErr(p, "malformed value")
			}
			p = skipWS(msg, p)
			if p >= len(msg) {
				return syntaxErr(p, "unterminated object")
			}
			if msg[p] == '}' {
				p++
				break
			}
			if msg[p] != ',' {
				return syntaxErr(p, "expected ',' or '}'")
			}
			p = skipWS(msg, p+1)
		}
	}
	if p = skipWS(msg, p); p != len(msg) {
		return syntaxErr(p, "data after the object")
	}
	for i := range d.cols {
		c := &d.cols[i]
		if c.gen != d.gen {
			if !c.nullable {
				return &DecodeError{Reason: ReasonMissingField, Field: c.name, Offset: p, Detail: "non-nullable column is absent"}
			}
			c.v = value{null: true}
		}
	}
	for i := range d.cols {
		d.cols[i].commit()
	}
	d.rows++
	return nil
}

func syntaxErr(p int, detail string) error {
	return &DecodeError{Reason: ReasonInvalidJSON, Offset: p, Detail: detail}
}

func (c *column) wrongType(p int, detail string) error {
	return &DecodeError{Reason: ReasonWrongType, Field: c.name, Offset: p, Detail: detail}
}

// field stages the value at msg[p] for column c and returns the position
// after it.
func (d *Decoder) field(c *column, msg []byte, p int) (int, error) {
	if !c.list {
		c.v = value{}
		end, err := d.scalar(c, &c.v, msg, p)
		if err == nil && c.v.null && !c.nullable {
			err = c.wrongType(p, "null in a non-nullable column")
		}
		return end, err
	}
	c.v = value{}
	c.elems = c.elems[:0]
	if matchLit(msg, p, "null") {
		if !c.nullable {
			return p, c.wrongType(p, "null in a non-nullable column")
		}
		c.v.null = true
		return p + 4, nil
	}
	if p >= len(msg) || msg[p] != '[' {
		end, ok := skipValue(msg, p, 1, &d.keyBuf)
		if !ok {
			return end, syntaxErr(end, "malformed value")
		}
		return p, c.wrongType(p, "want a JSON array")
	}
	p = skipWS(msg, p+1)
	if p < len(msg) && msg[p] == ']' {
		return p + 1, nil
	}
	for {
		c.elems = append(c.elems, value{})
		end, err := d.scalar(c, &c.elems[len(c.elems)-1], msg, p)
		if err != nil {
			return end, err
		}
		p = skipWS(msg, end)
		if p >= len(msg) {
			return p, syntaxErr(p, "unterminated array")
		}
		if msg[p] == ']' {
			return p + 1, nil
		}
		if msg[p] != ',' {
			return p, syntaxErr(p, "expected ',' or ']'")
		}
		p = skipWS(msg, p+1)
	}
}

// scalar stages one value of c's kind into v.
func (d *Decoder) scalar(c *column, v *value, msg []byte, p int) (int, error) {
	if p >= len(msg) {
		return p, syntaxErr(p, "expected a value")
	}
	switch ch := msg[p]; {
	case ch == 'n':
		if !matchLit(msg, p, "null") {
			return p, syntaxErr(p, "invalid literal")
		}
		v.null = true
		return p + 4, nil
	case ch == 't' || ch == 'f':
		lit := "true"
		if ch == 'f' {
			lit = "false"
		}
		if !matchLit(msg, p, lit) {
			return p, syntaxErr(p, "invalid literal")
		}
		end := p + len(lit)
		switch c.kind {
		case kBool:
			v.b = ch == 't'
		case kString:
			v.s = msg[p:end]
		default:
			return end, c.wrongType(p, "boolean for a "+c.kind.String()+" column")
		}
		return end, nil
	case ch == '-' || (ch >= '0' && ch <= '9'):
		end, integer, ok := scanNumber(msg, p)
		if !ok {
			return end, syntaxErr(end, "malformed number")
		}
		if c.kind == kString {
			v.s = msg[p:end]
			return end, nil
		}
		return end, c.number(v, msg[p:end], integer, p)
	case ch == '"':
		s, end, ok, ascii := scanString(msg, p, &d.buf)
		if !ok {
			return end, syntaxErr(end, "malformed string")
		}
		switch c.kind {
		case kString:
			if !ascii && !utf8.Valid(s) {
				return end, c.wrongType(p, "string is not valid UTF-8")
			}
			v.s = s
			return end, nil
		case kBool:
			switch string(s) {
			case "true":
				v.b = true
				return end, nil
			case "false":
				return end, nil
			}
			return end, c.wrongType(p, "string for a bool column")
		case kTimestamp:
			if sec, nsec, ok := parseRFC3339(s); ok {
				t, ok := fromSeconds(sec, nsec, c.unit)
				if !ok {
					return end, c.wrongType(p, "timestamp out of range")
				}
				v.i = t
				return end, nil
			}
		}
		integer, ok := numericString(s)
		if !ok {
			return end, c.wrongType(p, fmt.Sprintf("string %.40q for a %s column", s, c.kind))
		}
		return end, c.number(v, s, integer, p)
	case ch == '[' || ch == '{':
		end, ok := skipValue(msg, p, 1, &d.keyBuf)
		if !ok {
			return end, syntaxErr(end, "malformed value")
		}
		return end, c.wrongType(p, "nested value for a "+c.kind.String()+" column")
	}
	return p, syntaxErr(p, "unexpected character")
}

// number stages the number token s for c.
func (c *column) number(v *value, s []byte, integer bool, p int) error {
	switch c.kind {
	case kInt32, kInt64, kTimestamp:
		i, ok := toInt(s, integer)
		if !ok {
			return c.wrongType(p, fmt.Sprintf("%.40s is not an integer in range", s))
		}
		switch c.kind {
		case kInt32:
			if i < math.MinInt32 || i > math.MaxInt32 {
				return c.wrongType(p, fmt.Sprintf("%d out of range for int32", i))
			}
		case kTimestamp:
			if i, ok = fromMillis(i, c.unit); !ok {
				return c.wrongType(p, "timestamp out of range")
			}
		}
		v.i = i
	case kFloat32, kFloat64:
		f, ok := parseFloat(s, integer)
		if !ok {
			return c.wrongType(p, fmt.Sprintf("%.40s is not a finite float64", s))
		}
		v.f = f
	default:
		return c.wrongType(p, "number for a "+c.kind.String()+" column")
	}
	return nil
}

func fromMillis(ms int64, u arrow.TimeUnit) (int64, bool) {
	switch u {
	case arrow.Second:
		return floorDiv(ms, 1000), true
	case arrow.Millisecond:
		return ms, true
	case arrow.Microsecond:
		return mulCheck(ms, 1000)
	default:
		return mulCheck(ms, 1_000_000)
	}
}

func fromSeconds(sec, nsec int64, u arrow.TimeUnit) (int64, bool) {
	var scale int64
	switch u {
	case arrow.Second:
		return sec, true
	case arrow.Millisecond:
		scale = 1000
	case arrow.Microsecond:
		scale = 1_000_000
	default:
		scale = 1_000_000_000
	}
	v, ok := mulCheck(sec, scale)
	if !ok {
		return 0, false
	}
	frac := nsec / (1_000_000_000 / scale)
	if v > math.MaxInt64-frac {
		return 0, false
	}
	return v + frac, true
}

func mulCheck(a, b int64) (int64, bool) {
	if a > math.MaxInt64/b || a < math.MinInt64/b {
		return 0, false
	}
	return a * b, true
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

func (k kind) String() string {
	switch k {
	case kBool:
		return "bool"
	case kInt32:
		return "int32"
	case kInt64:
		return "int64"
	case kFloat32:
		return "float32"
	case kFloat64:
		return "float64"
	case kString:
		return "string"
	case kTimestamp:
		return "timestamp"
	}
	return "unknown"
}

// commit appends the staged value to the builders.
func (c *column) commit() {
	if !c.list {
		c.appendValue(&c.v)
		return
	}
	if c.v.null {
		c.lst.AppendNull()
		return
	}
	c.lst.Append(true)
	for i := range c.elems {
		c.appendValue(&c.elems[i])
	}
}

func (c *column) appendValue(v *value) {
	switch c.kind {
	case kBool:
		if v.null {
			c.bool_.AppendNull()
		} else {
			c.bool_.Append(v.b)
		}
	case kInt32:
		if v.null {
			c.i32.AppendNull()
		} else {
			c.i32.Append(int32(v.i))
		}
	case kInt64:
		if v.null {
			c.i64.AppendNull()
		} else {
			c.i64.Append(v.i)
		}
	case kFloat32:
		if v.null {
			c.f32.AppendNull()
		} else {
			c.f32.Append(float32(v.f))
		}
	case kFloat64:
		if v.null {
			c.f64.AppendNull()
		} else {
			c.f64.Append(v.f)
		}
	case kString:
		if v.null {
			c.str.AppendNull()
		} else {
			c.str.BinaryBuilder.Append(v.s)
		}
	case kTimestamp:
		if v.null {
			c.ts.AppendNull()
		} else {
			c.ts.Append(arrow.Timestamp(v.i))
		}
	}
}
