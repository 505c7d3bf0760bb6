package feature

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Label types accepted by Label.Type.
const (
	Binary     = "binary"
	Multiclass = "multiclass"
	Real       = "real"
)

// Invalid-value policies accepted by Numeric.Invalid.
const (
	InvalidError  = "error"
	InvalidImpute = "impute"
)

const (
	// DefaultHashBits is the bucket count exponent used when the spec sets
	// none: 2^20 buckets per categorical field.
	DefaultHashBits = 20
	// MaxHashBits bounds hash_bits so a bucket fits the low 32 bits of a key.
	MaxHashBits = 30
	// MissingBucket is the bucket of a missing categorical value or cross.
	MissingBucket = 0
)

// Sentinel errors.
var (
	// ErrNotFitted is returned (wrapped in a *SpecError) when a numeric field
	// asks for standardize but the spec carries no statistics; run a Stats
	// pass over the training data and use the spec Freeze returns.
	ErrNotFitted = errors.New("feature: standardize statistics not fitted")
	// ErrNoLabel is returned by Stats and Featurizer when asked for labels
	// but the spec names no label column.
	ErrNoLabel = errors.New("feature: spec has no label column")
)

// Spec is a feature spec. Load one with Parse; write one with Marshal. The
// zero value is not valid: a spec needs at least one field.
type Spec struct {
	// Version is the spec format version; 0 and 1 mean 1.
	Version int `yaml:"version,omitempty"`
	// Label is the target column. It may be empty for scoring-only specs.
	Label Label `yaml:"label,omitempty"`
	// Weight optionally names a column of per-example weights.
	Weight string `yaml:"weight,omitempty"`
	// EventTime optionally names the event-time column: a timestamp, int64
	// milliseconds since the epoch, or a derived column such as
	// epoch_ms(hour, "YYMMDDHH"). A Featurizer with labels reads it into
	// Batch.EventTimes.
	EventTime string `yaml:"event_time,omitempty"`
	// HashBits is the default bucket exponent of categorical fields and
	// crosses; 0 means DefaultHashBits.
	HashBits int `yaml:"hash_bits,omitempty"`

	// Derived lists computed columns, evaluated in order; each may read
	// record columns and the derived columns before it.
	Derived []Derived `yaml:"derived,omitempty"`
	// Windows lists windowed per-key aggregates (clicks per device over the
	// last hour), computed by the runtime before featurizing; fields name
	// them like record columns.
	Windows []Window `yaml:"windows,omitempty"`

	Numeric     []Numeric     `yaml:"numeric,omitempty"`
	Categorical []Categorical `yaml:"categorical,omitempty"`
	Crosses     []Cross       `yaml:"crosses,omitempty"`

	// Lines of the weight and event_time keys, for error messages.
	weightLine, eventTimeLine int
}

// UnmarshalYAML rejects unknown keys and records the lines of the weight and
// event_time keys for error messages.
func (s *Spec) UnmarshalYAML(n *yaml.Node) error {
	type plain Spec
	if err := knownKeys(n, plain{}); err != nil {
		return err
	}
	if err := n.Decode((*plain)(s)); err != nil {
		return err
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch n.Content[i].Value {
		case "weight":
			s.weightLine = n.Content[i].Line
		case "event_time":
			s.eventTimeLine = n.Content[i].Line
		}
	}
	return nil
}

// Label describes the target column.
type Label struct {
	// Column is the label column; with Expr, the name the computed label
	// gets (Parse sets "label" when it is empty).
	Column string `yaml:"column,omitempty"`
	// Expr, if set, computes the label from other columns ("delay > 15").
	// Parse sets an empty Type to binary for a comparison or logical
	// expression and to real otherwise.
	Expr string `yaml:"expr,omitempty"`
	// Type is binary (bool, or numbers that are 0 or 1), multiclass (string
	// or integer values listed in Classes; the label is the class index) or
	// real (any finite number).
	Type string `yaml:"type,omitempty"`
	// Classes lists the classes of a multiclass label in index order. For an
	// integer column they are the decimal values ("0", "7").
	Classes []string `yaml:"classes,omitempty"`

	line int
}

// Numeric is a numeric field: a number column with transforms.
type Numeric struct {
	Column string `yaml:"column"`
	// Name is the field name; empty means Column.
	Name string `yaml:"name,omitempty"`
	// Clip, if set, is [lo, hi]: values are clamped into it.
	Clip []float64 `yaml:"clip,omitempty,flow"`
	// Log1p replaces x by ln(1+x).
	Log1p bool `yaml:"log1p,omitempty"`
	// Standardize replaces x by (x−Mean)/Std, with Mean and Std fitted by
	// Stats. Mutually exclusive with Bucketize.
	Standardize bool     `yaml:"standardize,omitempty"`
	Mean        *float64 `yaml:"mean,omitempty"`
	Std         *float64 `yaml:"std,omitempty"`
	// Bucketize, if set, lists ascending boundaries; the field becomes
	// categorical with one bucket per interval.
	Bucketize []float64 `yaml:"bucketize,omitempty,flow"`
	// Invalid is the policy for null, NaN and ±Inf values: error (the
	// default) or impute.
	Invalid string `yaml:"invalid,omitempty"`
	// Impute is the raw value substituted under the impute policy.
	Impute float64 `yaml:"impute,omitempty"`

	line int
}

// Categorical is a hashed categorical field over a string, binary, integer,
// bool or dictionary column, or a list of those (multi-valued).
type Categorical struct {
	Column string `yaml:"column"`
	// Name is the field name; empty means Column.
	Name string `yaml:"name,omitempty"`
	// HashBits overrides Spec.HashBits for this field.
	HashBits int `yaml:"hash_bits,omitempty"`

	line int
}

// Cross is the conjunction of two or more single-valued fields, named by
// column.
type Cross struct {
	Columns []string `yaml:"columns,flow"`
	// Name is the field name; empty means the columns joined by "_x_".
	Name string `yaml:"name,omitempty"`
	// HashBits overrides Spec.HashBits for this cross.
	HashBits int `yaml:"hash_bits,omitempty"`

	line int
}

// UnmarshalYAML records the line of the entry for error messages.
func (l *Label) UnmarshalYAML(n *yaml.Node) (err error) {
	type plain Label // without the method, so Decode does not recurse
	if l.line, err = decodeEntry(n, (*plain)(l)); err != nil || l.Expr == "" {
		return err
	}
	if l.Column == "" {
		l.Column = "label"
	}
	if t, err := parseExpr(l.Expr); err == nil && l.Type == "" {
		l.Type = Real
		if t.isBoolean() {
			l.Type = Binary
		}
	}
	return nil
}

// UnmarshalYAML records the line of the entry for error messages.
func (f *Numeric) UnmarshalYAML(n *yaml.Node) (err error) {
	type plain Numeric // without the method, so Decode does not recurse
	f.line, err = decodeEntry(n, (*plain)(f))
	return err
}

// UnmarshalYAML records the line of the entry for error messages.
func (f *Categorical) UnmarshalYAML(n *yaml.Node) (err error) {
	type plain Categorical // without the method, so Decode does not recurse
	f.line, err = decodeEntry(n, (*plain)(f))
	return err
}

// UnmarshalYAML records the line of the entry for error messages.
func (f *Cross) UnmarshalYAML(n *yaml.Node) (err error) {
	type plain Cross // without the method, so Decode does not recurse
	f.line, err = decodeEntry(n, (*plain)(f))
	return err
}

// decodeEntry decodes a spec entry strictly (unknown keys are errors) into
// dst, a pointer to a method-less copy of the entry's type, and returns the
// entry's line for error messages.
func decodeEntry[P any](n *yaml.Node, dst *P) (int, error) {
	if err := knownKeys(n, *dst); err != nil {
		return 0, err
	}
	if err := n.Decode(dst); err != nil {
		return 0, err
	}
	return n.Line, nil
}

// knownKeys rejects mapping keys that are not yaml tags of v's struct type.
// yaml.v3's KnownFields does not reach into custom unmarshalers.
func knownKeys(n *yaml.Node, v any) error {
	if n.Kind != yaml.MappingNode {
		return nil // Decode reports the type error
	}
	t := reflect.TypeOf(v)
	known := map[string]bool{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			known[name] = true
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if !known[k.Value] {
			names := make([]string, 0, len(known))
			for name := range known {
				names = append(names, name)
			}
			sort.Strings(names)
			return &SpecError{Line: k.Line, Reason: fmt.Sprintf("unknown key %q (want one of %s)", k.Value, strings.Join(names, ", "))}
		}
	}
	return nil
}

// SpecError reports a problem with one entry of a spec, or with its match
// against a record schema. Line is the entry's line in the YAML source (0 when
// the spec was built in Go); Column is the column involved, if any.
type SpecError struct {
	Line   int
	Column string
	Reason string
	Err    error // an underlying sentinel such as ErrNotFitted, or nil
}

// Error names the spec line and column.
func (e *SpecError) Error() string {
	var b bytes.Buffer
	b.WriteString("feature spec")
	if e.Line > 0 {
		fmt.Fprintf(&b, " line %d", e.Line)
	}
	if e.Column != "" {
		fmt.Fprintf(&b, ": column %q", e.Column)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	return b.String()
}

// Unwrap returns the underlying sentinel, if any.
func (e *SpecError) Unwrap() error { return e.Err }

// Parse decodes a YAML spec and validates it (Validate). Unknown keys are
// errors, so a typo does not silently drop a transform.
func Parse(data []byte) (*Spec, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var s Spec
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("feature spec: %w", err)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Marshal encodes the spec as YAML that Parse reads back unchanged, fitted
// statistics included.
func (s *Spec) Marshal() ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(s); err != nil {
		return nil, fmt.Errorf("feature spec: encode: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("feature spec: encode: %w", err)
	}
	return b.Bytes(), nil
}

// Clone returns a deep copy of s.
func (s *Spec) Clone() *Spec {
	c := *s
	c.Label.Classes = append([]string(nil), s.Label.Classes...)
	c.Numeric = make([]Numeric, len(s.Numeric))
	for i, n := range s.Numeric {
		n.Clip = append([]float64(nil), n.Clip...)
		n.Bucketize = append([]float64(nil), n.Bucketize...)
		if n.Mean != nil {
			m := *n.Mean
			n.Mean = &m
		}
		if n.Std != nil {
			d := *n.Std
			n.Std = &d
		}
		c.Numeric[i] = n
	}
	c.Derived = append([]Derived(nil), s.Derived...)
	c.Windows = append([]Window(nil), s.Windows...)
	c.Categorical = append([]Categorical(nil), s.Categorical...)
	c.Crosses = make([]Cross, len(s.Crosses))
	for i, x := range s.Crosses {
		x.Columns = append([]string(nil), x.Columns...)
		c.Crosses[i] = x
	}
	return &c
}

// FieldKind says what a field is.
type FieldKind int

// Field kinds.
const (
	KindNumeric     FieldKind = iota // one key per row, the transformed value
	KindBucketized                   // a numeric column cut into intervals
	KindCategorical                  // a hashed column, single- or multi-valued
	KindCross                        // a hashed combination of fields
)

// String returns the kind's name as Spec documentation uses it.
func (k FieldKind) String() string {
	switch k {
	case KindNumeric:
		return "numeric"
	case KindBucketized:
		return "bucketized"
	case KindCategorical:
		return "categorical"
	case KindCross:
		return "cross"
	}
	return fmt.Sprintf("FieldKind(%d)", int(k))
}

// Field describes one field of a spec, in field-id order.
type Field struct {
	ID   int32
	Name string
	Kind FieldKind
	// Columns is the source column, or a cross's component columns.
	Columns []string
	// Buckets is the number of distinct buckets the field's keys use:
	// 1 for numeric, len(bucketize)+2 for bucketized (bucket 0 unused), 2^b
	// for hashed fields (bucket 0 is the missing bucket).
	Buckets uint32
}

// Fields lists the spec's fields in id order: numeric, categorical, crosses.
func (s *Spec) Fields() []Field {
	fs := make([]Field, 0, s.NumFields())
	for _, n := range s.Numeric {
		f := Field{ID: int32(len(fs)), Name: n.fieldName(), Kind: KindNumeric, Columns: []string{n.Column}, Buckets: 1}
		if len(n.Bucketize) > 0 {
			f.Kind = KindBucketized
			f.Buckets = uint32(len(n.Bucketize) + 2)
		}
		fs = append(fs, f)
	}
	for _, c := range s.Categorical {
		fs = append(fs, Field{ID: int32(len(fs)), Name: c.fieldName(), Kind: KindCategorical,
			Columns: []string{c.Column}, Buckets: 1 << s.bits(c.HashBits)})
	}
	for _, x := range s.Crosses {
		fs = append(fs, Field{ID: int32(len(fs)), Name: x.fieldName(), Kind: KindCross,
			Columns: append([]string(nil), x.Columns...), Buckets: 1 << s.bits(x.HashBits)})
	}
	return fs
}

// NumFields returns the number of fields.
func (s *Spec) NumFields() int { return len(s.Numeric) + len(s.Categorical) + len(s.Crosses) }

// NumClasses returns the number of label classes: len(Classes) for
// multiclass, else 1.
func (s *Spec) NumClasses() int {
	if s.Label.Type == Multiclass {
		return len(s.Label.Classes)
	}
	return 1
}

func (s *Spec) bits(override int) uint {
	switch {
	case override > 0:
		return uint(override)
	case s.HashBits > 0:
		return uint(s.HashBits)
	}
	return DefaultHashBits
}

func (n *Numeric) fieldName() string {
	if n.Name != "" {
		return n.Name
	}
	return n.Column
}

func (c *Categorical) fieldName() string {
	if c.Name != "" {
		return c.Name
	}
	return c.Column
}

func (x *Cross) fieldName() string {
	if x.Name != "" {
		return x.Name
	}
	var b bytes.Buffer
	for i, c := range x.Columns {
		if i > 0 {
			b.WriteString("_x_")
		}
		b.WriteString(c)
	}
	return b.String()
}

// Validate checks the spec on its own (without a schema): label type and
// classes, transforms, hash bits, unique field names, crosses over declared
// single-valued fields, fitted statistics for standardize. Errors are
// *SpecError naming the line and column.
func (s *Spec) Validate() error {
	if s.Version != 0 && s.Version != 1 {
		return &SpecError{Reason: fmt.Sprintf("version %d is not supported (want 1)", s.Version)}
	}
	if s.HashBits < 0 || s.HashBits > MaxHashBits {
		return &SpecError{Reason: fmt.Sprintf("hash_bits %d out of range [1, %d]", s.HashBits, MaxHashBits)}
	}
	if err := s.validateDerived(); err != nil {
		return err
	}
	if err := s.validateWindows(); err != nil {
		return err
	}
	if err := s.Label.validate(); err != nil {
		return err
	}
	if s.NumFields() == 0 {
		return &SpecError{Reason: "no numeric, categorical or cross fields"}
	}
	names := map[string]int{}
	addName := func(name string, line int, col string) error {
		if name == "" {
			return &SpecError{Line: line, Reason: "field has no column"}
		}
		if prev, dup := names[name]; dup {
			return &SpecError{Line: line, Column: col, Reason: fmt.Sprintf("field name %q already used on line %d (set name:)", name, prev)}
		}
		names[name] = line
		return nil
	}
	// crossable maps a column to whether it may be a cross component.
	crossable := map[string]bool{}
	for i := range s.Numeric {
		n := &s.Numeric[i]
		if err := n.validate(); err != nil {
			return err
		}
		if err := addName(n.fieldName(), n.line, n.Column); err != nil {
			return err
		}
		if len(n.Bucketize) > 0 {
			crossable[n.Column] = true
		}
	}
	for i := range s.Categorical {
		c := &s.Categorical[i]
		if c.Column == "" {
			return &SpecError{Line: c.line, Reason: "categorical field has no column"}
		}
		if c.HashBits < 0 || c.HashBits > MaxHashBits {
			return &SpecError{Line: c.line, Column: c.Column, Reason: fmt.Sprintf("hash_bits %d out of range [1, %d]", c.HashBits, MaxHashBits)}
		}
		if err := addName(c.fieldName(), c.line, c.Column); err != nil {
			return err
		}
		crossable[c.Column] = true
	}
	for i := range s.Crosses {
		x := &s.Crosses[i]
		if len(x.Columns) < 2 {
			return &SpecError{Line: x.line, Reason: fmt.Sprintf("a cross needs two or more columns, got %d", len(x.Columns))}
		}
		for _, col := range x.Columns {
			if !crossable[col] {
				return &SpecError{Line: x.line, Column: col, Reason: "cross component must be declared as a categorical or bucketized numeric field"}
			}
		}
		if x.HashBits < 0 || x.HashBits > MaxHashBits {
			return &SpecError{Line: x.line, Reason: fmt.Sprintf("hash_bits %d out of range [1, %d]", x.HashBits, MaxHashBits)}
		}
		if err := addName(x.fieldName(), x.line, ""); err != nil {
			return err
		}
	}
	return nil
}

func (l *Label) validate() error {
	if l.Column == "" {
		if l.Expr != "" {
			return &SpecError{Line: l.line, Reason: "label expr needs a column: the name of the computed label"}
		}
		if l.Type != "" || len(l.Classes) > 0 {
			return &SpecError{Line: l.line, Reason: "label has a type but no column"}
		}
		return nil
	}
	switch l.Type {
	case Binary, Real:
		if len(l.Classes) > 0 {
			return &SpecError{Line: l.line, Column: l.Column, Reason: "classes are only for a multiclass label"}
		}
	case Multiclass:
		if len(l.Classes) < 2 {
			return &SpecError{Line: l.line, Column: l.Column, Reason: fmt.Sprintf("a multiclass label needs classes: a list of two or more, got %d", len(l.Classes))}
		}
		seen := map[string]bool{}
		for _, c := range l.Classes {
			if seen[c] {
				return &SpecError{Line: l.line, Column: l.Column, Reason: fmt.Sprintf("class %q listed twice", c)}
			}
			seen[c] = true
		}
	default:
		return &SpecError{Line: l.line, Column: l.Column, Reason: fmt.Sprintf("label type %q: want binary, multiclass or real", l.Type)}
	}
	return nil
}

func (n *Numeric) validate() error {
	bad := func(format string, args ...any) error {
		return &SpecError{Line: n.line, Column: n.Column, Reason: fmt.Sprintf(format, args...)}
	}
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	if n.Column == "" {
		return &SpecError{Line: n.line, Reason: "numeric field has no column"}
	}
	if n.Clip != nil {
		if len(n.Clip) != 2 || !(n.Clip[0] <= n.Clip[1]) {
			return bad("clip must be [lo, hi] with lo ≤ hi, got %v", n.Clip)
		}
	}
	if n.Standardize && len(n.Bucketize) > 0 {
		return bad("standardize and bucketize are mutually exclusive")
	}
	if len(n.Bucketize) > 0 {
		if !sort.Float64sAreSorted(n.Bucketize) {
			return bad("bucketize boundaries must be ascending, got %v", n.Bucketize)
		}
		for i, b := range n.Bucketize {
			if !finite(b) || (i > 0 && b == n.Bucketize[i-1]) {
				return bad("bucketize boundaries must be finite and distinct, got %v", n.Bucketize)
			}
		}
	}
	if n.Standardize {
		if n.Mean == nil || n.Std == nil {
			return &SpecError{Line: n.line, Column: n.Column, Reason: "standardize: mean and std not fitted (run feature.Stats over the training data)", Err: ErrNotFitted}
		}
		if !finite(*n.Mean) || !finite(*n.Std) || *n.Std <= 0 {
			return bad("standardize: mean %v and std %v must be finite with std > 0", *n.Mean, *n.Std)
		}
	}
	switch n.Invalid {
	case "", InvalidError, InvalidImpute:
	default:
		return bad("invalid policy %q: want error or impute", n.Invalid)
	}
	if !finite(n.Impute) {
		return bad("impute value %v is not finite", n.Impute)
	}
	return nil
}
