package feature

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
)

// ValueError reports a value the featurizer cannot use: a label outside its
// type, a null or non-finite number under the error policy, a negative
// weight. Row is the 0-based row within the record; callers that know the
// file and offset wrap the error with them.
type ValueError struct {
	Column string
	Row    int
	Value  string
	Reason string
}

// Error names the column, the row and the value.
func (e *ValueError) Error() string {
	return fmt.Sprintf("feature: column %q row %d: value %s: %s", e.Column, e.Row, e.Value, e.Reason)
}

// Option configures a Featurizer.
type Option func(*options)

type options struct {
	noLabels      bool
	allowUnfitted bool
}

// WithoutLabels makes the featurizer ignore the label and weight columns, as
// scoring needs: they need not be in the records, Batch.Labels stays empty
// and Batch.Weights is all ones.
func WithoutLabels() Option { return func(o *options) { o.noLabels = true } }

// Featurizer turns records into Batches according to a spec. Create one with
// NewFeaturizer; it is not safe for concurrent use.
type Featurizer struct {
	spec   *Spec
	opts   options
	fields []field
	single []int32 // field ids of single-valued fields, in slot order
	multi  []int32 // field ids of multi-valued fields

	deriver   *Deriver // nil when the spec derives nothing the featurizer reads
	bound     *arrow.Schema
	labelCol  int
	weightCol int
	timeCol   int // the event-time column, or -1

	classByName map[string]int32
	classByInt  map[int64]int32

	floats []float64
	offs   []int64
	cursor []int32
	elems  []uint64
	dict   []uint64 // dictionary hashes of multi-valued columns
}

type field struct {
	id     int32
	kind   FieldKind
	name   string
	column string
	line   int
	seed   uint64
	bits   uint
	num    *Numeric
	mean   float64
	invStd float64
	comps  []int32 // component field ids of a cross
	// crossed is set on fields that are components of a cross: their value
	// hashes must be kept per row.
	crossed bool

	// Set by bind.
	col   int
	multi bool

	// Scratch: value hashes of the current row block, and the hashes of a
	// dictionary column's dictionary.
	hashes []uint64
	dict   []uint64
}

// NewFeaturizer validates spec (Validate) and compiles it. The featurizer
// keeps its own copy of the spec. Record schemas are checked on first use and
// whenever they change; ValidateSchema checks one up front.
func NewFeaturizer(spec *Spec, opts ...Option) (*Featurizer, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	return newFeaturizer(spec, o)
}

func newFeaturizer(spec *Spec, o options) (*Featurizer, error) {
	if err := spec.Validate(); err != nil {
		if !(o.allowUnfitted && isNotFitted(err)) {
			return nil, err
		}
	}
	s := spec.Clone()
	if !o.noLabels && s.Label.Column == "" {
		return nil, ErrNoLabel
	}
	f := &Featurizer{spec: s, opts: o}
	byColumn := map[string]int32{}
	for i := range s.Numeric {
		n := &s.Numeric[i]
		fd := field{id: int32(len(f.fields)), kind: KindNumeric, name: n.fieldName(), column: n.Column, line: n.line, num: n}
		if len(n.Bucketize) > 0 {
			fd.kind = KindBucketized
		}
		if n.Standardize && n.Mean != nil && n.Std != nil {
			fd.mean, fd.invStd = *n.Mean, 1 / *n.Std
		}
		byColumn[n.Column] = fd.id
		f.fields = append(f.fields, fd)
	}
	for _, c := range s.Categorical {
		fd := field{id: int32(len(f.fields)), kind: KindCategorical, name: c.fieldName(), column: c.Column, line: c.line,
			seed: fieldSeed(c.fieldName()), bits: s.bits(c.HashBits)}
		byColumn[c.Column] = fd.id
		f.fields = append(f.fields, fd)
	}
	for _, x := range s.Crosses {
		fd := field{id: int32(len(f.fields)), kind: KindCross, name: x.fieldName(), line: x.line,
			seed: fieldSeed(x.fieldName()), bits: s.bits(x.HashBits)}
		for _, col := range x.Columns {
			c := byColumn[col]
			fd.comps = append(fd.comps, c)
			f.fields[c].crossed = true
		}
		f.fields = append(f.fields, fd)
	}
	var reads []string
	for _, fd := range f.fields {
		reads = append(reads, fd.column)
	}
	if !o.noLabels {
		reads = append(reads, s.Label.Column, s.Weight, s.EventTime)
	}
	d, err := NewDeriver(s, reads...)
	if err != nil {
		return nil, err
	}
	if !d.Empty() {
		f.deriver = d
	}
	if !o.noLabels && s.Label.Type == Multiclass {
		f.classByName = make(map[string]int32, len(s.Label.Classes))
		f.classByInt = make(map[int64]int32, len(s.Label.Classes))
		for i, c := range s.Label.Classes {
			f.classByName[c] = int32(i)
			if v, err := strconv.ParseInt(c, 10, 64); err == nil {
				f.classByInt[v] = int32(i)
			}
		}
	}
	return f, nil
}

func isNotFitted(err error) bool {
	se, ok := err.(*SpecError)
	return ok && se.Err == ErrNotFitted
}

// Spec returns the featurizer's copy of its spec; do not modify it.
func (f *Featurizer) Spec() *Spec { return f.spec }

// ValidateSchema checks that every column the spec reads is in schema with a
// usable type. Errors are *SpecError naming the column and the spec line.
// With WithoutLabels the label and weight columns are not required.
func (s *Spec) ValidateSchema(schema *arrow.Schema, opts ...Option) error {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	o.allowUnfitted = true
	f, err := newFeaturizer(s, o)
	if err != nil {
		return err
	}
	schema, err = s.windowSchema(schema, !o.noLabels)
	if err != nil {
		return err
	}
	if f.deriver != nil {
		if err := f.deriver.bind(schema); err != nil {
			return err
		}
		schema = f.deriver.out
	}
	return f.bind(schema)
}

// bind resolves the spec's columns in schema and checks their types. Until it
// succeeds the featurizer is unbound, so a failed bind (which may have
// resolved some fields) is never mistaken for a binding to the previous
// schema.
func (f *Featurizer) bind(schema *arrow.Schema) error {
	f.bound = nil
	find := func(col string, line int) (int, arrow.DataType, error) {
		idx := schema.FieldIndices(col)
		if len(idx) == 0 {
			return 0, nil, &SpecError{Line: line, Column: col, Reason: "not in the record schema (has " + columnList(schema) + ")"}
		}
		return idx[0], schema.Field(idx[0]).Type, nil
	}
	mistyped := func(col string, line int, dt arrow.DataType, want string) error {
		return &SpecError{Line: line, Column: col, Reason: fmt.Sprintf("has type %s, want %s", dt, want)}
	}
	f.single = f.single[:0]
	f.multi = f.multi[:0]
	for i := range f.fields {
		fd := &f.fields[i]
		if fd.kind == KindCross {
			f.single = append(f.single, fd.id)
			continue
		}
		col, dt, err := find(fd.column, fd.line)
		if err != nil {
			return err
		}
		fd.col, fd.multi = col, false
		switch fd.kind {
		case KindNumeric, KindBucketized:
			if !isNumber(dt.ID()) && dt.ID() != arrow.BOOL {
				return mistyped(fd.column, fd.line, dt, "a numeric field: an integer, float or bool column")
			}
		case KindCategorical:
			if elem := listElem(dt); elem != nil {
				if !hashableScalar(elem) {
					return mistyped(fd.column, fd.line, dt, "a list of strings, binaries, integers or bools")
				}
				if fd.crossed {
					return &SpecError{Line: fd.line, Column: fd.column, Reason: "is a list column: multi-valued columns cannot be crossed"}
				}
				fd.multi = true
			} else if !hashableScalar(dt) {
				return mistyped(fd.column, fd.line, dt, "a categorical field: a string, binary, integer, bool or dictionary column, or a list of those")
			}
		}
		if fd.multi {
			f.multi = append(f.multi, fd.id)
		} else {
			f.single = append(f.single, fd.id)
		}
	}
	f.labelCol, f.weightCol, f.timeCol = -1, -1, -1
	if !f.opts.noLabels {
		l := &f.spec.Label
		col, dt, err := find(l.Column, l.line)
		if err != nil {
			return err
		}
		id := dt.ID()
		switch l.Type {
		case Binary:
			if !isNumber(id) && id != arrow.BOOL {
				return mistyped(l.Column, l.line, dt, "a binary label: a bool, integer or float column of 0/1")
			}
		case Real:
			if !isNumber(id) {
				return mistyped(l.Column, l.line, dt, "a real label: an integer or float column")
			}
		case Multiclass:
			ok := isInteger(id) || id == arrow.STRING || id == arrow.LARGE_STRING
			if d, isDict := dt.(*arrow.DictionaryType); isDict {
				ok = d.ValueType.ID() == arrow.STRING || d.ValueType.ID() == arrow.LARGE_STRING
			}
			if !ok {
				return mistyped(l.Column, l.line, dt, "a multiclass label: a string, dictionary or integer column")
			}
		}
		f.labelCol = col
		if f.spec.Weight != "" {
			col, dt, err := find(f.spec.Weight, f.spec.weightLine)
			if err != nil {
				return fmt.Errorf("weight: %w", err)
			}
			if !isNumber(dt.ID()) {
				return fmt.Errorf("weight: %w", mistyped(f.spec.Weight, f.spec.weightLine, dt, "an integer or float column"))
			}
			f.weightCol = col
		}
	}
	if et := f.spec.EventTime; et != "" && !f.opts.noLabels {
		col, dt, err := find(et, f.spec.eventTimeLine)
		if err != nil {
			return fmt.Errorf("event_time: %w", err)
		}
		if dt.ID() != arrow.TIMESTAMP && dt.ID() != arrow.INT64 {
			return fmt.Errorf("event_time: %w", mistyped(et, f.spec.eventTimeLine, dt, "a timestamp or int64 (ms since epoch) column, or a derived column epoch_ms(…)"))
		}
		f.timeCol = col
	}
	f.bound = schema
	return nil
}

func columnList(s *arrow.Schema) string {
	var b strings.Builder
	for i, fd := range s.Fields() {
		if i == 20 {
			fmt.Fprintf(&b, ", … %d more", s.NumFields()-i)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(fd.Name)
	}
	return b.String()
}

// Featurize fills dst from rec, reusing dst's slices. It reads rec but does
// not retain it. On error dst's contents are unspecified.
func (f *Featurizer) Featurize(rec arrow.Record, dst *Batch) error {
	if f.deriver != nil {
		var err error
		if rec, err = f.deriver.Derive(rec); err != nil {
			return err
		}
		defer rec.Release()
	}
	if s := rec.Schema(); s != f.bound {
		if f.bound == nil || !s.Equal(f.bound) {
			if err := f.bind(s); err != nil {
				return err
			}
		}
		f.bound = s
	}
	n := int(rec.NumRows())
	nSingle := len(f.single)

	// Row extents: every single-valued field contributes one entry per row,
	// a multi-valued one max(1, list length).
	dst.Indptr = grow(dst.Indptr, n+1)
	indptr := dst.Indptr
	if len(f.multi) == 0 {
		for r := range indptr {
			indptr[r] = int32(r * nSingle)
		}
	} else {
		f.offs = grow(f.offs, n+1)
		indptr[0] = 0
		for r := 1; r <= n; r++ {
			indptr[r] = int32(nSingle)
		}
		for _, id := range f.multi {
			arr := rec.Column(f.fields[id].col)
			listOffsets(arr, f.offs)
			for r := range n {
				indptr[r+1] += int32(max(1, f.offs[r+1]-f.offs[r]))
			}
		}
		for r := 1; r <= n; r++ {
			indptr[r] += indptr[r-1]
		}
	}
	dst.resize(n, int(indptr[n]), !f.opts.noLabels)

	// Single-valued fields are filled in blocks of rows, so the part of
	// the batch being written stays in cache while every field visits it.
	for _, id := range f.single {
		if fd := &f.fields[id]; fd.kind == KindCategorical {
			fd.dict = dictionaryHashes(rec.Column(fd.col), fd.dict)
		}
	}
	for lo := 0; lo < n; lo += rowBlock {
		m := min(rowBlock, n-lo)
		for slot, id := range f.single {
			fd := &f.fields[id]
			switch fd.kind {
			case KindNumeric, KindBucketized:
				if err := f.numeric(fd, rec.Column(fd.col), lo, m, slot, dst); err != nil {
					return err
				}
			case KindCategorical:
				f.categorical(fd, rec.Column(fd.col), lo, m, slot, dst)
			case KindCross:
				f.cross(fd, lo, m, slot, dst)
			}
		}
	}
	if len(f.multi) > 0 {
		f.cursor = grow(f.cursor, n)
		for r := range n {
			f.cursor[r] = indptr[r] + int32(nSingle)
		}
		for _, id := range f.multi {
			fd := &f.fields[id]
			f.multiValued(fd, rec.Column(fd.col), n, dst)
		}
	}

	for r := range dst.Weights {
		dst.Weights[r] = 1
	}
	if f.opts.noLabels {
		return nil
	}
	if err := f.readLabels(rec.Column(f.labelCol), dst.Labels); err != nil {
		return err
	}
	if f.timeCol >= 0 {
		var err error
		if dst.EventTimes, err = AppendMillis(dst.EventTimes[:0], rec.Column(f.timeCol), f.spec.EventTime); err != nil {
			return err
		}
	}
	if f.weightCol >= 0 {
		return f.readWeights(rec.Column(f.weightCol), dst.Weights)
	}
	return nil
}

// prepare applies impute, clip and log1p to one raw value.
func (fd *field) prepare(x float64, row int) (float64, error) {
	y := fd.num.pre(x)
	if isFinite(y) {
		return y, nil
	}
	if fd.num.Invalid == InvalidImpute {
		if y = fd.num.pre(fd.num.Impute); isFinite(y) {
			return y, nil
		}
		return 0, &ValueError{Column: fd.column, Row: row, Value: formatFloat(fd.num.Impute), Reason: "the impute value is not finite after the transforms"}
	}
	reason := "null, NaN or infinite numeric value (set invalid: impute to replace it)"
	if isFinite(x) {
		reason = "not finite after log1p (values must be > -1; clip them or set invalid: impute)"
	}
	return 0, &ValueError{Column: fd.column, Row: row, Value: formatFloat(x), Reason: reason}
}

// pre is clip then log1p; it returns NaN for a non-finite input.
func (n *Numeric) pre(x float64) float64 {
	if !isFinite(x) {
		return math.NaN()
	}
	if n.Clip != nil {
		x = min(max(x, n.Clip[0]), n.Clip[1])
	}
	if n.Log1p {
		x = math.Log1p(x)
	}
	return x
}

// rowBlock is the number of rows Featurize fills before moving to the next
// block: 256 rows × 22 fields × 16 bytes per entry ≈ 90 KB, within L2.
const rowBlock = 256

// numeric fills rows lo … lo+m−1 of a numeric or bucketized field.
func (f *Featurizer) numeric(fd *field, arr arrow.Array, lo, m, slot int, dst *Batch) error {
	f.floats = grow(f.floats, m)
	floatRange(arr, lo, f.floats)
	if fd.crossed {
		fd.hashes = grow(fd.hashes, m)
	}
	bounds := fd.num.Bucketize
	indptr := dst.Indptr[lo : lo+m]
	for r, x := range f.floats {
		v, err := fd.prepare(x, lo+r)
		if err != nil {
			return err
		}
		pos := int(indptr[r]) + slot
		dst.Fields[pos] = fd.id
		if fd.kind == KindBucketized {
			b := bucketOf(bounds, v)
			dst.Indices[pos] = Key(fd.id, b)
			dst.Values[pos] = 1
			if fd.crossed {
				fd.hashes[r] = hashInt(uint64(b))
			}
			continue
		}
		if fd.num.Standardize {
			v = (v - fd.mean) * fd.invStd
		}
		dst.Indices[pos] = Key(fd.id, 0)
		dst.Values[pos] = float32(v)
	}
	return nil
}

// bucketOf returns 1 + the number of boundaries ≤ v.
func bucketOf(bounds []float64, v float64) uint32 {
	lo, hi := 0, len(bounds)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if bounds[m] <= v {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return uint32(lo) + 1
}

// categorical fills rows lo … lo+m−1 of a single-valued categorical field
// and keeps their value hashes in fd.hashes for crosses.
func (f *Featurizer) categorical(fd *field, arr arrow.Array, lo, m, slot int, dst *Batch) {
	if a, ok := arr.(*array.String); ok && !fd.crossed && a.NullN() == 0 {
		// The common case (a string column without nulls that no cross
		// needs) in one pass, without the per-row hash scratch.
		offs, data := a.ValueOffsets(), a.ValueBytes()
		base := offs[0]
		offs = offs[lo : lo+m+1]
		indptr := dst.Indptr[lo : lo+m]
		for r, p := range indptr {
			h := hashBytes(data[offs[r]-base : offs[r+1]-base])
			pos := int(p) + slot
			dst.Indices[pos] = Key(fd.id, hashedBucket(h, fd.seed, fd.bits))
			dst.Values[pos] = 1
			dst.Fields[pos] = fd.id
		}
		return
	}
	if a, ok := arr.(*array.Int64); ok && !fd.crossed && a.NullN() == 0 {
		vals := a.Int64Values()[lo : lo+m]
		indptr := dst.Indptr[lo : lo+m]
		vals = vals[:len(indptr)]
		for r, p := range indptr {
			pos := int(p) + slot
			dst.Indices[pos] = Key(fd.id, hashedBucket(hashInt(uint64(vals[r])), fd.seed, fd.bits))
			dst.Values[pos] = 1
			dst.Fields[pos] = fd.id
		}
		return
	}
	fd.hashes = grow(fd.hashes, m)
	hashRange(arr, lo, fd.hashes, fd.dict)
	indptr := dst.Indptr[lo : lo+m]
	for r, h := range fd.hashes {
		pos := int(indptr[r]) + slot
		var b uint32 = MissingBucket
		if h != 0 {
			b = hashedBucket(h, fd.seed, fd.bits)
		}
		dst.Indices[pos] = Key(fd.id, b)
		dst.Values[pos] = 1
		dst.Fields[pos] = fd.id
	}
}

// cross fills rows lo … lo+m−1 of a cross from its components' hashes of
// the same block.
func (f *Featurizer) cross(fd *field, lo, m, slot int, dst *Batch) {
	indptr := dst.Indptr[lo : lo+m]
	for r := range m {
		acc := fd.seed
		for _, c := range fd.comps {
			h := f.fields[c].hashes[r]
			if h == 0 {
				acc = 0
				break
			}
			acc = mix64(acc ^ h)
		}
		pos := int(indptr[r]) + slot
		var b uint32 = MissingBucket
		if acc != 0 {
			b = hashedBucket(acc, fd.seed, fd.bits)
		}
		dst.Indices[pos] = Key(fd.id, b)
		dst.Values[pos] = 1
		dst.Fields[pos] = fd.id
	}
}

func (f *Featurizer) multiValued(fd *field, arr arrow.Array, n int, dst *Batch) {
	f.offs = grow(f.offs, n+1)
	child := listOffsets(arr, f.offs)
	// Hash only the child elements these rows reference: a sliced list
	// array shares its parent's whole child array.
	base := f.offs[0]
	f.elems = grow(f.elems, int(f.offs[n]-base))
	f.dict = dictionaryHashes(child, f.dict)
	hashRange(child, int(base), f.elems, f.dict)
	nulls := arr.NullN() > 0
	for r := range n {
		pos := f.cursor[r]
		lo, hi := f.offs[r]-base, f.offs[r+1]-base
		if lo == hi || (nulls && arr.IsNull(r)) {
			dst.Indices[pos] = Key(fd.id, MissingBucket)
			dst.Values[pos] = 1
			dst.Fields[pos] = fd.id
			f.cursor[r] = pos + 1
			continue
		}
		for _, h := range f.elems[lo:hi] {
			var b uint32 = MissingBucket
			if h != 0 {
				b = hashedBucket(h, fd.seed, fd.bits)
			}
			dst.Indices[pos] = Key(fd.id, b)
			dst.Values[pos] = 1
			dst.Fields[pos] = fd.id
			pos++
		}
		f.cursor[r] = pos
	}
}

func (f *Featurizer) readLabels(arr arrow.Array, dst []float32) error {
	l := &f.spec.Label
	bad := func(r int, v, reason string) error {
		return &ValueError{Column: l.Column, Row: r, Value: v, Reason: reason}
	}
	if arr.NullN() > 0 {
		for r := range dst {
			if arr.IsNull(r) {
				if l.Expr != "" {
					return bad(r, "null", fmt.Sprintf("the label expression %q is null: a column it reads is null or not a number", l.Expr))
				}
				return bad(r, "null", "the label is null")
			}
		}
	}
	switch l.Type {
	case Binary:
		if b, ok := arr.(*array.Boolean); ok {
			for r := range dst {
				dst[r] = 0
				if b.Value(r) {
					dst[r] = 1
				}
			}
			return nil
		}
		f.floats = grow(f.floats, len(dst))
		floatColumn(arr, f.floats)
		for r, v := range f.floats {
			if v != 0 && v != 1 {
				return bad(r, formatFloat(v), "a binary label must be 0 or 1")
			}
			dst[r] = float32(v)
		}
	case Real:
		f.floats = grow(f.floats, len(dst))
		floatColumn(arr, f.floats)
		for r, v := range f.floats {
			if !isFinite(v) {
				return bad(r, formatFloat(v), "a real label must be finite")
			}
			dst[r] = float32(v)
		}
	case Multiclass:
		return f.readClasses(arr, dst)
	}
	return nil
}

func (f *Featurizer) readClasses(arr arrow.Array, dst []float32) error {
	l := &f.spec.Label
	unknown := func(r int, v string) error {
		return &ValueError{Column: l.Column, Row: r, Value: v, Reason: fmt.Sprintf("not one of the %d classes %v", len(l.Classes), l.Classes)}
	}
	// Arrow's string Value views the buffer, so lookups do not allocate.
	byName := func(at func(int) string) error {
		for r := range dst {
			s := at(r)
			c, ok := f.classByName[s]
			if !ok {
				return unknown(r, strconv.Quote(s))
			}
			dst[r] = float32(c)
		}
		return nil
	}
	switch a := arr.(type) {
	case *array.String:
		return byName(a.Value)
	case *array.LargeString:
		return byName(a.Value)
	case *array.Dictionary:
		d := a.Dictionary()
		for r := range dst {
			i := a.GetValueIndex(r)
			var s string
			switch dv := d.(type) {
			case *array.String:
				s = dv.Value(i)
			case *array.LargeString:
				s = dv.Value(i)
			}
			c, ok := f.classByName[s]
			if !ok {
				return unknown(r, strconv.Quote(s))
			}
			dst[r] = float32(c)
		}
		return nil
	}
	// Integers, which bind guaranteed.
	f.floats = grow(f.floats, len(dst))
	floatColumn(arr, f.floats)
	for r, v := range f.floats {
		c, ok := f.classByInt[int64(v)]
		if !ok || float64(int64(v)) != v {
			return unknown(r, formatFloat(v))
		}
		dst[r] = float32(c)
	}
	return nil
}

func (f *Featurizer) readWeights(arr arrow.Array, dst []float32) error {
	f.floats = grow(f.floats, len(dst))
	floatColumn(arr, f.floats)
	for r, v := range f.floats {
		if !isFinite(v) || v < 0 {
			return &ValueError{Column: f.spec.Weight, Row: r, Value: formatFloat(v), Reason: "a weight must be finite and ≥ 0"}
		}
		dst[r] = float32(v)
	}
	return nil
}

func isFinite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

func formatFloat(x float64) string {
	if math.IsNaN(x) {
		return "null/NaN"
	}
	return strconv.FormatFloat(x, 'g', -1, 64)
}
