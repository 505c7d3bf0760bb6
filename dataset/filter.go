package dataset

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
)

// Op is a comparison operator of a Predicate.
type Op int

// The comparison operators. In compares with a list of literals.
const (
	Eq Op = iota
	Ne
	Lt
	Le
	Gt
	Ge
	In
)

func (o Op) String() string {
	switch o {
	case Eq:
		return "="
	case Ne:
		return "!="
	case Lt:
		return "<"
	case Le:
		return "<="
	case Gt:
		return ">"
	case Ge:
		return ">="
	case In:
		return "IN"
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

type literalKind uint8

const (
	litString literalKind = iota + 1
	litInt
	litFloat
	litBool
)

// Literal is a constant in a Predicate. Make one with String, Int, Float or
// Bool. A literal is converted to the type of the column it is compared
// with: a string literal compared with a date32 partition or column is
// parsed as YYYY-MM-DD, with a timestamp as RFC 3339 or YYYY-MM-DD.
type Literal struct {
	kind literalKind
	s    string
	i    int64
	f    float64
	b    bool
}

// String returns a string literal.
func String(s string) Literal { return Literal{kind: litString, s: s} }

// Int returns an integer literal.
func Int(i int64) Literal { return Literal{kind: litInt, i: i} }

// Float returns a floating-point literal.
func Float(f float64) Literal { return Literal{kind: litFloat, f: f} }

// Bool returns a boolean literal.
func Bool(b bool) Literal { return Literal{kind: litBool, b: b} }

func (l Literal) String() string {
	switch l.kind {
	case litString:
		return "'" + strings.ReplaceAll(l.s, "'", "''") + "'"
	case litInt:
		return strconv.FormatInt(l.i, 10)
	case litFloat:
		return strconv.FormatFloat(l.f, 'g', -1, 64)
	case litBool:
		return strconv.FormatBool(l.b)
	}
	return "NULL"
}

// Predicate compares a column with literals: Column Op Values[0], or for In,
// Column IN (Values...). A row whose column is null satisfies no predicate.
type Predicate struct {
	Column string
	Op     Op
	Values []Literal
}

// Where returns the predicate column op values.
func Where(column string, op Op, values ...Literal) Predicate {
	return Predicate{Column: column, Op: op, Values: values}
}

func (p Predicate) String() string {
	if p.Op == In {
		parts := make([]string, len(p.Values))
		for i, v := range p.Values {
			parts[i] = v.String()
		}
		return fmt.Sprintf("%s IN (%s)", p.Column, strings.Join(parts, ", "))
	}
	if len(p.Values) != 1 {
		return fmt.Sprintf("%s %s <%d values>", p.Column, p.Op, len(p.Values))
	}
	return fmt.Sprintf("%s %s %s", p.Column, p.Op, p.Values[0])
}

// Filter is a conjunction (AND) of predicates; the empty filter keeps
// everything. A scan yields exactly the rows that satisfy every predicate,
// and reads as little as it can: predicates on partition columns drop whole
// files before they are opened, predicates on data columns skip row groups
// whose min/max statistics prove that no row matches, and the rows of the
// row groups that are kept are then filtered one by one (reading the
// predicate's column even when it is not projected).
type Filter []Predicate

func (f Filter) String() string {
	parts := make([]string, len(f))
	for i, p := range f {
		parts[i] = p.String()
	}
	return strings.Join(parts, " AND ")
}

// family groups Arrow types by how their values compare.
type family uint8

const (
	famNone family = iota // not comparable here: no pruning
	famInt
	famUint
	famFloat
	famString
	famBool
)

// scalar is a value of one family, used for partition values, literals
// converted to a column's type, and statistics.
type scalar struct {
	fam  family
	null bool
	i    int64
	u    uint64
	f    float64
	s    string
	b    bool
}

func familyOf(t arrow.DataType) family {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.DATE32, arrow.TIMESTAMP:
		return famInt
	case arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return famUint
	case arrow.FLOAT32, arrow.FLOAT64:
		return famFloat
	case arrow.STRING, arrow.BINARY:
		return famString
	case arrow.BOOL:
		return famBool
	}
	return famNone
}

// coerce converts a literal to a scalar comparable with values of type t.
func coerce(t arrow.DataType, l Literal) (scalar, error) {
	fam := familyOf(t)
	bad := func() (scalar, error) {
		return scalar{}, fmt.Errorf("cannot compare %s with %s", t, l)
	}
	switch fam {
	case famString:
		if l.kind != litString {
			return bad()
		}
		return scalar{fam: fam, s: l.s}, nil
	case famBool:
		if l.kind != litBool {
			return bad()
		}
		return scalar{fam: fam, b: l.b}, nil
	case famFloat:
		switch l.kind {
		case litFloat:
			return scalar{fam: fam, f: l.f}, nil
		case litInt:
			return scalar{fam: fam, f: float64(l.i)}, nil
		}
		return bad()
	case famUint:
		if l.kind == litInt && l.i >= 0 {
			return scalar{fam: fam, u: uint64(l.i)}, nil
		}
		return bad()
	case famInt:
		switch {
		case l.kind == litInt && t.ID() != arrow.DATE32 && t.ID() != arrow.TIMESTAMP:
			return scalar{fam: fam, i: l.i}, nil
		case l.kind == litString && t.ID() == arrow.DATE32:
			d, err := time.Parse(time.DateOnly, l.s)
			if err != nil {
				return scalar{}, fmt.Errorf("date %s: want YYYY-MM-DD", l)
			}
			return scalar{fam: fam, i: daysSinceEpoch(d)}, nil
		case l.kind == litString && t.ID() == arrow.TIMESTAMP:
			ts, err := time.Parse(time.RFC3339Nano, l.s)
			if err != nil {
				ts, err = time.Parse(time.DateOnly, l.s)
			}
			if err != nil {
				return scalar{}, fmt.Errorf("timestamp %s: want RFC 3339 or YYYY-MM-DD", l)
			}
			v, err := arrow.TimestampFromTime(ts, t.(*arrow.TimestampType).Unit)
			if err != nil {
				return scalar{}, fmt.Errorf("timestamp %s: %w", l, err)
			}
			return scalar{fam: fam, i: int64(v)}, nil
		}
		return bad()
	}
	return scalar{}, fmt.Errorf("cannot filter on a %s column", t)
}

// cmp compares two non-null scalars of the same family.
func (a scalar) cmp(b scalar) int {
	switch a.fam {
	case famInt:
		return cmpOrdered(a.i, b.i)
	case famUint:
		return cmpOrdered(a.u, b.u)
	case famFloat:
		return cmpOrdered(a.f, b.f)
	case famString:
		return strings.Compare(a.s, b.s)
	case famBool:
		switch {
		case a.b == b.b:
			return 0
		case !a.b:
			return -1
		}
		return 1
	}
	return 0
}

func cmpOrdered[T int64 | uint64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// boundPredicate is a predicate whose literals are converted to its
// column's type.
type boundPredicate struct {
	Predicate
	typ  arrow.DataType
	vals []scalar
}

func bind(p Predicate, t arrow.DataType) (boundPredicate, error) {
	bp := boundPredicate{Predicate: p, typ: t}
	if p.Op < Eq || p.Op > In {
		return bp, fmt.Errorf("predicate %s: unknown operator", p)
	}
	if (p.Op == In && len(p.Values) == 0) || (p.Op != In && len(p.Values) != 1) {
		return bp, fmt.Errorf("predicate %s: wrong number of values", p)
	}
	for _, l := range p.Values {
		s, err := coerce(t, l)
		if err != nil {
			return bp, fmt.Errorf("predicate %s on column %q: %w", p, p.Column, err)
		}
		bp.vals = append(bp.vals, s)
	}
	return bp, nil
}

// matches reports whether the value v satisfies the predicate.
func (bp boundPredicate) matches(v scalar) bool {
	if v.null {
		return false
	}
	for _, l := range bp.vals {
		c := v.cmp(l)
		switch bp.Op {
		case Eq, In:
			if c == 0 {
				return true
			}
		case Ne:
			return c != 0
		case Lt:
			return c < 0
		case Le:
			return c <= 0
		case Gt:
			return c > 0
		case Ge:
			return c >= 0
		}
	}
	return false
}

// mayMatch reports whether some value in [lo, hi] may satisfy the predicate.
func (bp boundPredicate) mayMatch(lo, hi scalar) bool {
	for _, l := range bp.vals {
		switch bp.Op {
		case Eq, In:
			if lo.cmp(l) <= 0 && hi.cmp(l) >= 0 {
				return true
			}
		case Ne:
			return !(lo.cmp(l) == 0 && hi.cmp(l) == 0)
		case Lt:
			return lo.cmp(l) < 0
		case Le:
			return lo.cmp(l) <= 0
		case Gt:
			return hi.cmp(l) > 0
		case Ge:
			return hi.cmp(l) >= 0
		}
	}
	return false
}

// valueAt returns row i of a (a flat column of a comparable type) as a
// scalar of family fam.
func valueAt(a arrow.Array, i int, fam family) scalar {
	v := scalar{fam: fam}
	if a.IsNull(i) {
		v.null = true
		return v
	}
	switch a := a.(type) {
	case *array.Int8:
		v.i = int64(a.Value(i))
	case *array.Int16:
		v.i = int64(a.Value(i))
	case *array.Int32:
		v.i = int64(a.Value(i))
	case *array.Int64:
		v.i = a.Value(i)
	case *array.Date32:
		v.i = int64(a.Value(i))
	case *array.Timestamp:
		v.i = int64(a.Value(i))
	case *array.Uint8:
		v.u = uint64(a.Value(i))
	case *array.Uint16:
		v.u = uint64(a.Value(i))
	case *array.Uint32:
		v.u = uint64(a.Value(i))
	case *array.Uint64:
		v.u = a.Value(i)
	case *array.Float32:
		v.f = float64(a.Value(i))
	case *array.Float64:
		v.f = a.Value(i)
	case *array.String:
		v.s = a.Value(i)
	case *array.Binary:
		v.s = string(a.Value(i))
	case *array.Boolean:
		v.b = a.Value(i)
	default:
		v.null = true // bind rejects other types; never matches
	}
	return v
}
