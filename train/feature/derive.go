package feature

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"gopkg.in/yaml.v3"
)

// Derived is a column computed from other columns by an expression (the
// grammar is in the package documentation). Fields, crosses, the weight and
// later derived columns name it like a record column.
type Derived struct {
	Name string `yaml:"name"`
	Expr string `yaml:"expr"`

	line int
}

// UnmarshalYAML records the line of the entry for error messages.
func (d *Derived) UnmarshalYAML(n *yaml.Node) (err error) {
	type plain Derived // without the method, so Decode does not recurse
	d.line, err = decodeEntry(n, (*plain)(d))
	return err
}

// derivations lists the spec's computed columns in evaluation order: the
// derived columns, then the label when it is an expression.
func (s *Spec) derivations() []Derived {
	ds := s.Derived
	if s.Label.Expr != "" {
		ds = append(ds[:len(ds):len(ds)], Derived{Name: s.Label.Column, Expr: s.Label.Expr, line: s.Label.line})
	}
	return ds
}

// exprError wraps a parse or type error of a derived column's expression as
// a *SpecError naming the column and the spec line.
func exprError(d Derived, err error) error {
	return &SpecError{Line: d.line, Column: d.Name, Reason: err.Error(), Err: err}
}

// InputColumns lists the record columns the spec reads, in spec order, with
// derived columns replaced by the columns their expressions read. With
// labels false the label, weight and event-time columns are left out, as
// scoring needs, and a windowed feature is an input of its own (the
// predictor's client sends its value); with labels true a windowed feature
// stands for its key, value and event-time columns, which training reads.
// The spec must be valid.
func (s *Spec) InputColumns(labels bool) []string {
	ds := s.derivations()
	byName := map[string]int{}
	for i, d := range ds {
		byName[d.Name] = i
	}
	var cols []string
	seen := map[string]bool{}
	var add func(name string, depth int)
	add = func(name string, depth int) {
		if name == "" || seen[name] {
			return
		}
		seen[name] = true
		if w := s.window(name); w != nil && labels {
			// Training reads what the window aggregates; a scorer gets
			// the window's value as an input.
			add(w.Key, depth+1)
			add(w.Column, depth+1)
			add(w.Denominator, depth+1)
			add(s.EventTime, depth+1)
			return
		}
		if i, ok := byName[name]; ok && depth < len(ds) {
			n, err := parseExpr(ds[i].Expr)
			if err != nil {
				return // Validate reports it
			}
			for _, c := range n.columns(nil, func(string) bool { return false }) {
				add(c, depth+1)
			}
			return
		}
		cols = append(cols, name)
	}
	if labels {
		add(s.Label.Column, 0)
		add(s.Weight, 0)
		add(s.EventTime, 0)
		for _, w := range s.Windows {
			add(w.Name, 0) // the runtime computes every window
		}
	}
	for _, n := range s.Numeric {
		add(n.Column, 0)
	}
	for _, c := range s.Categorical {
		add(c.Column, 0)
	}
	for _, x := range s.Crosses {
		for _, c := range x.Columns {
			add(c, 0)
		}
	}
	return cols
}

// validateDerived checks the derived columns and the label expression on
// their own: names, and that every expression parses.
func (s *Spec) validateDerived() error {
	names := map[string]int{}
	for _, d := range s.derivations() {
		if d.Name == "" {
			return &SpecError{Line: d.line, Reason: "derived column has no name"}
		}
		if d.Expr == "" {
			return &SpecError{Line: d.line, Column: d.Name, Reason: "derived column has no expr"}
		}
		if prev, dup := names[d.Name]; dup {
			return &SpecError{Line: d.line, Column: d.Name, Reason: fmt.Sprintf("derived column name already used on line %d", prev)}
		}
		names[d.Name] = d.line
		if _, err := parseExpr(d.Expr); err != nil {
			return exprError(d, err)
		}
	}
	return nil
}

// A Deriver appends a spec's derived columns to records. Create one with
// NewDeriver; it is not safe for concurrent use. The Featurizer uses one
// internally; callers that read a derived column themselves (an evaluator
// reading a label expression) use their own.
type Deriver struct {
	ds      []Derived
	trees   []*node // nil for derived columns no output needs
	outputs []int   // indexes of the appended columns, in spec order

	in, out *arrow.Schema
	vals    [][]float64 // by derived index, valid after Derive
	ints    [][]int64   // by output position
	valid   [][]byte    // by output position
}

// NewDeriver returns a Deriver that appends the derived columns named in
// outputs (a derived column of spec.Derived, or the label's column when the
// label is an expression), computing whatever derived columns those read.
// Names that are not derived columns are ignored, so callers may pass every
// column they read.
func NewDeriver(spec *Spec, outputs ...string) (*Deriver, error) {
	if err := spec.validateDerived(); err != nil {
		return nil, err
	}
	d := &Deriver{ds: spec.Clone().derivations()}
	byName := map[string]int{}
	for i, dv := range d.ds {
		byName[dv.Name] = i
	}
	d.trees = make([]*node, len(d.ds))
	var need func(i int) error
	need = func(i int) error {
		if d.trees[i] != nil {
			return nil
		}
		n, err := parseExpr(d.ds[i].Expr)
		if err != nil {
			return exprError(d.ds[i], err)
		}
		d.trees[i] = n
		for _, c := range n.columns(nil, func(string) bool { return false }) {
			if j, ok := byName[c]; ok && j < i {
				if err := need(j); err != nil {
					return err
				}
			}
		}
		return nil
	}
	want := map[int]bool{}
	for _, name := range outputs {
		if i, ok := byName[name]; ok && !want[i] {
			want[i] = true
			if err := need(i); err != nil {
				return nil, err
			}
		}
	}
	for i := range d.ds {
		if want[i] {
			d.outputs = append(d.outputs, i)
		}
	}
	d.vals = make([][]float64, len(d.ds))
	d.ints = make([][]int64, len(d.outputs))
	d.valid = make([][]byte, len(d.outputs))
	return d, nil
}

// Empty reports whether the Deriver appends nothing, so Derive would return
// its input.
func (d *Deriver) Empty() bool { return len(d.outputs) == 0 }

// bind types every needed expression against schema and builds the output
// schema. Until it succeeds the Deriver is unbound.
func (d *Deriver) bind(schema *arrow.Schema) error {
	d.in, d.out = nil, nil
	scope := &exprScope{schema: schema, derived: map[string]int{}, types: make([]exprType, len(d.ds))}
	for i, n := range d.trees {
		if n == nil {
			continue
		}
		dv := d.ds[i]
		if len(schema.FieldIndices(dv.Name)) > 0 {
			return &SpecError{Line: dv.line, Column: dv.Name, Reason: "the records already have a column of this name; give the derived column another name"}
		}
		scope.src = dv.Expr
		if err := scope.check(n); err != nil {
			return exprError(dv, err)
		}
		switch n.typ {
		case tTime:
			return exprError(dv, &ExprError{Expr: dv.Expr, Reason: "the result is a time; take a part of it (hour, day_of_week, hour_of_week, …)"})
		case tString:
			return exprError(dv, &ExprError{Expr: dv.Expr, Reason: "the result is a string; derived columns are numbers"})
		}
		scope.derived[dv.Name], scope.types[i] = i, n.typ
	}
	fields := append([]arrow.Field(nil), schema.Fields()...)
	for _, i := range d.outputs {
		t := arrow.DataType(arrow.PrimitiveTypes.Float64)
		if d.trees[i].typ == tInt {
			t = arrow.PrimitiveTypes.Int64
		}
		fields = append(fields, arrow.Field{Name: d.ds[i].Name, Type: t, Nullable: true})
	}
	md := schema.Metadata()
	d.in, d.out = schema, arrow.NewSchema(fields, &md)
	return nil
}

// Derive returns rec with the derived columns appended: integer results
// (comparisons, time parts, integer arithmetic) as int64, others as float64,
// null where an input is null or the value is not a number. The caller
// releases the returned record. Its derived columns view the Deriver's
// buffers: they are valid until the next call of Derive. When the Deriver
// is Empty, Derive returns rec retained.
func (d *Deriver) Derive(rec arrow.Record) (arrow.Record, error) {
	if d.Empty() {
		rec.Retain()
		return rec, nil
	}
	if s := rec.Schema(); s != d.in {
		if d.in == nil || !s.Equal(d.in) {
			if err := d.bind(s); err != nil {
				return nil, err
			}
		}
		d.in = s
	}
	n := int(rec.NumRows())
	for i, t := range d.trees {
		if t != nil {
			t.eval(rec, n, d.vals)
			d.vals[i] = t.out[:n]
		}
	}
	cols := make([]arrow.Array, 0, int(rec.NumCols())+len(d.outputs))
	cols = append(cols, rec.Columns()...)
	for o, i := range d.outputs {
		cols = append(cols, d.array(o, i, n))
	}
	out := array.NewRecord(d.out, cols, int64(n))
	for _, c := range cols[rec.NumCols():] {
		c.Release()
	}
	return out, nil
}

// array wraps derived column i (output o) as an Arrow array over the
// Deriver's buffers.
func (d *Deriver) array(o, i, n int) arrow.Array {
	vals := d.vals[i]
	nulls := 0
	for _, v := range vals {
		if v != v || math.IsInf(v, 0) && d.trees[i].typ == tInt {
			nulls++
		}
	}
	var bitmap *memory.Buffer
	if nulls > 0 {
		d.valid[o] = grow(d.valid[o], (n+7)/8)
		bits := d.valid[o]
		clear(bits)
		for r, v := range vals {
			if !(v != v || math.IsInf(v, 0) && d.trees[i].typ == tInt) {
				bits[r/8] |= 1 << (r % 8)
			}
		}
		bitmap = memory.NewBufferBytes(bits)
	}
	var data arrow.ArrayData
	if d.trees[i].typ == tInt {
		d.ints[o] = grow(d.ints[o], n)
		ints := d.ints[o]
		for r, v := range vals {
			ints[r] = 0
			if v == v && !math.IsInf(v, 0) {
				ints[r] = int64(v)
			}
		}
		data = array.NewData(arrow.PrimitiveTypes.Int64, n, []*memory.Buffer{bitmap, memory.NewBufferBytes(int64Bytes(ints))}, nil, nulls, 0)
	} else {
		data = array.NewData(arrow.PrimitiveTypes.Float64, n, []*memory.Buffer{bitmap, memory.NewBufferBytes(float64Bytes(vals))}, nil, nulls, 0)
	}
	defer data.Release()
	return array.MakeFromData(data)
}

func int64Bytes(s []int64) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*8)
}

func float64Bytes(s []float64) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*8)
}
