package feature

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
)

// This file parses and evaluates the expressions of derived columns and
// label expressions. The grammar is in doc.go. An expression is parsed once
// (Validate), typed against a record schema when the featurizer binds, and
// evaluated column at a time: every node writes one float64 per row into its
// own reused buffer, NaN standing for null.

// exprType is the static type of an expression node.
type exprType uint8

const (
	tNumber exprType = iota // a float
	tInt                    // an integer (exact up to 2^53), also booleans
	tTime                   // seconds since the epoch, UTC
	tString                 // a string column or literal: only compared or parsed
)

func (t exprType) String() string {
	return [...]string{"number", "integer", "time", "string"}[t]
}

type opcode uint8

const (
	opNum opcode = iota
	opStr
	opCol
	opNeg
	opNot
	opAdd
	opSub
	opMul
	opDiv
	opMod
	opLt
	opLe
	opGt
	opGe
	opEq
	opNe
	opAnd
	opOr
	opCall
)

var binaryOps = map[string]opcode{
	"+": opAdd, "-": opSub, "*": opMul, "/": opDiv, "%": opMod,
	"<": opLt, "<=": opLe, ">": opGt, ">=": opGe, "==": opEq, "!=": opNe,
	"and": opAnd, "&&": opAnd, "or": opOr, "||": opOr,
}

// node is a parsed expression node. Parsing fills op, text fields and args;
// typing (check) fills typ, the bound column, the time format and the
// function; eval fills out.
type node struct {
	op   opcode
	pos  int     // byte offset in the expression, for errors
	num  float64 // opNum
	str  string  // opStr literal, opCol column name, opCall function name
	args []*node

	typ     exprType
	col     int // opCol: index in the record, or -1 for a derived column
	derived int // opCol of a derived column: its index in the deriver
	fn      *exprFunc
	format  *timeFormat // opCall of a time part over an integer or string
	out     []float64
}

// ExprError reports an expression that does not parse or type-check. Pos is
// the byte offset of the problem in Expr.
type ExprError struct {
	Expr   string
	Pos    int
	Reason string
}

// Error quotes the expression and points at the offset.
func (e *ExprError) Error() string {
	quoted := "`" + e.Expr + "`"
	if strings.Contains(e.Expr, "`") {
		quoted = strconv.Quote(e.Expr)
	}
	return fmt.Sprintf("expression %s at offset %d: %s", quoted, e.Pos, e.Reason)
}

// parseExpr parses src into an untyped tree.
func parseExpr(src string) (*node, error) {
	p := &exprParser{src: src}
	p.next()
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.tok != "" {
		return nil, p.errorf(p.tokPos, "unexpected %q", p.tok)
	}
	return n, nil
}

type tokenKind uint8

const (
	tkEnd tokenKind = iota
	tkNum
	tkIdent
	tkString
	tkOp
)

type exprParser struct {
	src    string
	pos    int
	tok    string // the current token's text ("" at the end); a string literal unquoted
	tokPos int
	kind   tokenKind
	err    error // a lexical error, reported by the next parse step
}

func (p *exprParser) errorf(pos int, format string, args ...any) error {
	return &ExprError{Expr: p.src, Pos: pos, Reason: fmt.Sprintf(format, args...)}
}

func isIdentStart(c byte) bool { return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool      { return '0' <= c && c <= '9' }

func (p *exprParser) next() {
	s := p.src
	for p.pos < len(s) && (s[p.pos] == ' ' || s[p.pos] == '\t' || s[p.pos] == '\n' || s[p.pos] == '\r') {
		p.pos++
	}
	p.tokPos = p.pos
	if p.pos == len(s) {
		p.tok, p.kind = "", tkEnd
		return
	}
	c := s[p.pos]
	switch {
	case isDigit(c) || c == '.' && p.pos+1 < len(s) && isDigit(s[p.pos+1]):
		end := p.pos
		for end < len(s) && (isDigit(s[end]) || s[end] == '.' || s[end] == 'e' || s[end] == 'E' ||
			(s[end] == '+' || s[end] == '-') && (s[end-1] == 'e' || s[end-1] == 'E')) {
			end++
		}
		p.tok, p.kind, p.pos = s[p.pos:end], tkNum, end
	case isIdentStart(c):
		end := p.pos
		for end < len(s) && (isIdentStart(s[end]) || isDigit(s[end]) || s[end] == '.') {
			end++
		}
		p.tok, p.kind, p.pos = s[p.pos:end], tkIdent, end
	case c == '`' || c == '"' || c == '\'':
		end := strings.IndexByte(s[p.pos+1:], c)
		if end < 0 {
			p.err = p.errorf(p.pos, "unterminated %c", c)
			p.tok, p.kind = "", tkEnd
			return
		}
		p.tok, p.kind = s[p.pos+1:p.pos+1+end], tkString
		if c == '`' {
			p.kind = tkIdent
		}
		p.pos += end + 2
	default:
		for _, op := range [...]string{"<=", ">=", "==", "!=", "&&", "||", "<", ">", "+", "-", "*", "/", "%", "(", ")", ",", "!", "="} {
			if strings.HasPrefix(s[p.pos:], op) {
				p.tok, p.kind = op, tkOp
				p.pos += len(op)
				return
			}
		}
		p.err = p.errorf(p.pos, "unexpected character %q", c)
		p.tok, p.kind = "", tkEnd
	}
}

// binary parses a left-associative chain of the operators in ops over
// operands parsed by sub.
func (p *exprParser) binary(sub func() (*node, error), ops ...string) (*node, error) {
	left, err := sub()
	if err != nil {
		return nil, err
	}
	for {
		if p.err != nil {
			return nil, p.err
		}
		var matched string
		for _, op := range ops {
			if p.tok == op && (p.kind == tkOp || p.kind == tkIdent) {
				matched = op
			}
		}
		if matched == "" {
			return left, nil
		}
		pos := p.tokPos
		p.next()
		right, err := sub()
		if err != nil {
			return nil, err
		}
		left = &node{op: binaryOps[matched], pos: pos, args: []*node{left, right}}
	}
}

func (p *exprParser) or() (*node, error)  { return p.binary(p.and, "or", "||") }
func (p *exprParser) and() (*node, error) { return p.binary(p.not, "and", "&&") }

func (p *exprParser) not() (*node, error) {
	if (p.tok == "not" && p.kind == tkIdent) || (p.tok == "!" && p.kind == tkOp) {
		pos := p.tokPos
		p.next()
		x, err := p.not()
		if err != nil {
			return nil, err
		}
		return &node{op: opNot, pos: pos, args: []*node{x}}, nil
	}
	return p.cmp()
}

func (p *exprParser) cmp() (*node, error) {
	left, err := p.sum()
	if err != nil {
		return nil, err
	}
	if p.tok == "=" && p.kind == tkOp {
		return nil, p.errorf(p.tokPos, "= is not an operator; compare with ==")
	}
	switch p.tok {
	case "<", "<=", ">", ">=", "==", "!=":
		op, pos := binaryOps[p.tok], p.tokPos
		p.next()
		right, err := p.sum()
		if err != nil {
			return nil, err
		}
		switch p.tok {
		case "<", "<=", ">", ">=", "==", "!=":
			return nil, p.errorf(p.tokPos, "comparisons do not chain; join them with and")
		}
		return &node{op: op, pos: pos, args: []*node{left, right}}, nil
	}
	return left, nil
}

func (p *exprParser) sum() (*node, error)  { return p.binary(p.prod, "+", "-") }
func (p *exprParser) prod() (*node, error) { return p.binary(p.unary, "*", "/", "%") }

func (p *exprParser) unary() (*node, error) {
	if p.tok == "-" && p.kind == tkOp {
		pos := p.tokPos
		p.next()
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &node{op: opNeg, pos: pos, args: []*node{x}}, nil
	}
	return p.primary()
}

func (p *exprParser) primary() (*node, error) {
	if p.err != nil {
		return nil, p.err
	}
	pos, tok := p.tokPos, p.tok
	switch p.kind {
	case tkEnd:
		return nil, p.errorf(pos, "unexpected end of expression")
	case tkNum:
		v, err := strconv.ParseFloat(tok, 64)
		if err != nil || math.IsInf(v, 0) {
			return nil, p.errorf(pos, "bad number %q", tok)
		}
		p.next()
		return &node{op: opNum, pos: pos, num: v, str: tok}, nil
	case tkString:
		p.next()
		return &node{op: opStr, pos: pos, str: tok}, nil
	case tkIdent:
		quoted := p.src[pos] == '`'
		p.next()
		if !quoted && p.tok == "(" && p.kind == tkOp {
			return p.call(tok, pos)
		}
		if !quoted {
			switch tok {
			case "true", "false":
				v := 0.0
				if tok == "true" {
					v = 1
				}
				return &node{op: opNum, pos: pos, num: v, str: tok, typ: tInt}, nil
			case "and", "or", "not":
				return nil, p.errorf(pos, "unexpected %q", tok)
			}
		}
		return &node{op: opCol, pos: pos, str: tok}, nil
	}
	if tok == "(" {
		p.next()
		x, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.tok != ")" {
			return nil, p.errorf(p.tokPos, "missing )")
		}
		p.next()
		return x, nil
	}
	return nil, p.errorf(pos, "unexpected %q", tok)
}

func (p *exprParser) call(name string, pos int) (*node, error) {
	fn, ok := exprFuncs[name]
	if !ok {
		return nil, p.errorf(pos, "unknown function %s (have %s)", name, funcNames())
	}
	p.next() // (
	n := &node{op: opCall, pos: pos, str: name, fn: fn}
	for p.tok != ")" {
		if len(n.args) > 0 {
			if p.tok != "," {
				return nil, p.errorf(p.tokPos, "want , or ) in the arguments of %s", name)
			}
			p.next()
		}
		a, err := p.or()
		if err != nil {
			return nil, err
		}
		n.args = append(n.args, a)
	}
	if p.err != nil {
		return nil, p.err
	}
	p.next()
	if len(n.args) < fn.minArgs || len(n.args) > fn.maxArgs {
		return nil, p.errorf(pos, "%s takes %s", name, fn.usage)
	}
	return n, nil
}

// exprFunc is a function of the expression language.
type exprFunc struct {
	minArgs, maxArgs int
	usage            string
	timePart         func(t float64) float64 // a part of a time, or nil
	unary            func(x float64) float64
	binary           func(x, y float64) float64
}

var exprFuncs = map[string]*exprFunc{
	"hour":         timePart(func(t float64) float64 { return math.Floor(secondOfDay(t) / 3600) }),
	"minute":       timePart(func(t float64) float64 { return math.Floor(math.Mod(secondOfDay(t), 3600) / 60) }),
	"day_of_week":  timePart(dayOfWeek),
	"hour_of_week": timePart(func(t float64) float64 { return dayOfWeek(t)*24 + math.Floor(secondOfDay(t)/3600) }),
	"day_of_month": timePart(func(t float64) float64 { _, _, d := civil(t); return float64(d) }),
	"month":        timePart(func(t float64) float64 { _, m, _ := civil(t); return float64(m) }),
	"year":         timePart(func(t float64) float64 { y, _, _ := civil(t); return float64(y) }),
	"epoch_ms":     timePart(func(t float64) float64 { return math.Round(t * 1000) }),
	"time":         {minArgs: 2, maxArgs: 2, usage: `(column, "format"): an integer or string column and its format`, timePart: func(t float64) float64 { return t }},
	"sin_cycle": {minArgs: 2, maxArgs: 2, usage: "(x, period): sin(2π·x/period)",
		binary: func(x, p float64) float64 { return math.Sin(2 * math.Pi * x / p) }},
	"cos_cycle": {minArgs: 2, maxArgs: 2, usage: "(x, period): cos(2π·x/period)",
		binary: func(x, p float64) float64 { return math.Cos(2 * math.Pi * x / p) }},
	"abs":   {minArgs: 1, maxArgs: 1, usage: "(x)", unary: math.Abs},
	"log1p": {minArgs: 1, maxArgs: 1, usage: "(x)", unary: math.Log1p},
	"min":   {minArgs: 2, maxArgs: 2, usage: "(x, y)", binary: math.Min},
	"max":   {minArgs: 2, maxArgs: 2, usage: "(x, y)", binary: math.Max},
}

func timePart(f func(float64) float64) *exprFunc {
	return &exprFunc{minArgs: 1, maxArgs: 2, usage: `(t) of a timestamp or date column, or (column, "format") of an integer or string column`, timePart: f}
}

func funcNames() string {
	return "abs, cos_cycle, day_of_month, day_of_week, epoch_ms, hour, hour_of_week, log1p, max, min, minute, month, sin_cycle, time, year"
}

// exprScope resolves column names while typing an expression: the record
// schema first, then the derived columns defined before this one.
type exprScope struct {
	schema  *arrow.Schema
	derived map[string]int // name → index among the deriver's columns
	types   []exprType     // by derived index
	src     string
}

func (sc *exprScope) errorf(pos int, format string, args ...any) error {
	return &ExprError{Expr: sc.src, Pos: pos, Reason: fmt.Sprintf(format, args...)}
}

// check types n and binds its columns. It returns the column names the
// expression reads from the record, for error messages.
func (sc *exprScope) check(n *node) error {
	for _, a := range n.args {
		if err := sc.check(a); err != nil {
			return err
		}
	}
	n.col = -1
	switch n.op {
	case opNum:
		if n.str != "true" && n.str != "false" {
			n.typ = tNumber
			if n.num == math.Trunc(n.num) && !strings.ContainsAny(n.str, ".eE") {
				n.typ = tInt
			}
		}
	case opStr:
		n.typ = tString
	case opCol:
		if i, ok := sc.derived[n.str]; ok {
			n.derived, n.typ = i, sc.types[i]
			return nil
		}
		idx := sc.schema.FieldIndices(n.str)
		if len(idx) == 0 {
			return sc.errorf(n.pos, "column %q is not in the record schema (has %s)", n.str, columnList(sc.schema))
		}
		n.col = idx[0]
		dt := sc.schema.Field(n.col).Type
		switch id := dt.ID(); {
		case isInteger(id) || id == arrow.BOOL:
			n.typ = tInt
		case id == arrow.FLOAT32 || id == arrow.FLOAT64:
			n.typ = tNumber
		case id == arrow.TIMESTAMP || id == arrow.DATE32 || id == arrow.DATE64:
			n.typ = tTime
		case id == arrow.STRING || id == arrow.LARGE_STRING:
			n.typ = tString
		default:
			return sc.errorf(n.pos, "column %q has type %s; expressions read numbers, bools, timestamps, dates and strings", n.str, dt)
		}
	case opNeg, opNot:
		a := n.args[0]
		if a.typ != tInt && a.typ != tNumber {
			return sc.errorf(n.pos, "%s of a %s", map[opcode]string{opNeg: "minus", opNot: "not"}[n.op], a.typ)
		}
		n.typ = a.typ
		if n.op == opNot {
			n.typ = tInt
		}
	case opAdd, opSub, opMul, opDiv, opMod, opAnd, opOr, opLt, opLe, opGt, opGe:
		a, b := n.args[0], n.args[1]
		for _, x := range n.args {
			if x.typ == tTime {
				return sc.errorf(x.pos, "a time cannot be computed with; take a part of it (hour, day_of_week, …)")
			}
			if x.typ == tString {
				return sc.errorf(x.pos, "a string can only be compared with == or != to a string, or parsed with time()")
			}
		}
		switch n.op {
		case opDiv:
			n.typ = tNumber
		case opAdd, opSub, opMul, opMod:
			n.typ = tNumber
			if a.typ == tInt && b.typ == tInt {
				n.typ = tInt
			}
		default:
			n.typ = tInt
		}
	case opEq, opNe:
		a, b := n.args[0], n.args[1]
		if (a.typ == tString) != (b.typ == tString) {
			return sc.errorf(n.pos, "compares a %s with a %s", a.typ, b.typ)
		}
		if a.typ == tTime || b.typ == tTime {
			return sc.errorf(n.pos, "a time cannot be compared; take a part of it (hour, day_of_week, …)")
		}
		if a.typ == tString && (a.op == opStr) == (b.op == opStr) {
			return sc.errorf(n.pos, "compares a string column with a string literal, not two of either")
		}
		n.typ = tInt
	case opCall:
		return sc.checkCall(n)
	}
	return nil
}

func (sc *exprScope) checkCall(n *node) error {
	fn := n.fn
	if fn.timePart != nil {
		a := n.args[0]
		n.typ = tInt
		if n.str == "time" {
			n.typ = tTime
		}
		if len(n.args) == 1 {
			if a.typ != tTime {
				return sc.errorf(a.pos, "%s of a %s: give its format, %s(x, \"YYMMDDHH\"), or a timestamp or date column", n.str, a.typ, n.str)
			}
			return nil
		}
		f := n.args[1]
		if f.op != opStr {
			return sc.errorf(f.pos, "the format of %s must be a string literal such as \"YYYY-MM-DD HH:mm:ss\"", n.str)
		}
		if a.op != opCol || a.col < 0 || (a.typ != tInt && a.typ != tString) {
			return sc.errorf(a.pos, "%s(x, format) parses an integer or string column of the records", n.str)
		}
		tf, err := parseTimeFormat(f.str, a.typ == tInt)
		if err != nil {
			return sc.errorf(f.pos, "%v", err)
		}
		n.format = tf
		return nil
	}
	for _, a := range n.args {
		if a.typ != tInt && a.typ != tNumber {
			return sc.errorf(a.pos, "%s takes numbers, got a %s", n.str, a.typ)
		}
	}
	n.typ = tNumber
	if (n.str == "abs" || n.str == "min" || n.str == "max") && n.args[0].typ == tInt && (len(n.args) == 1 || n.args[1].typ == tInt) {
		n.typ = tInt
	}
	return nil
}

// eval computes n for every row of rec into n.out (length rows). derived
// holds the values of the deriver's columns computed so far.
func (n *node) eval(rec arrow.Record, rows int, derived [][]float64) {
	for _, a := range n.args {
		if a.typ != tString || a.op != opCol {
			a.eval(rec, rows, derived)
		}
	}
	if n.op == opCol && n.col < 0 {
		n.out = derived[n.derived]
		return
	}
	n.out = grow(n.out, rows)
	out := n.out
	switch n.op {
	case opNum:
		for i := range out {
			out[i] = n.num
		}
	case opStr:
		// Read in place by the comparison.
	case opCol:
		if n.typ == tTime {
			timeColumn(rec.Column(n.col), out)
		} else if n.typ != tString {
			floatColumn(rec.Column(n.col), out)
		}
	case opNeg:
		for i, x := range n.args[0].out {
			out[i] = -x
		}
	case opNot:
		for i, x := range n.args[0].out {
			out[i] = boolValue(x == 0, x)
		}
	case opEq, opNe:
		if n.args[0].typ == tString {
			n.compareStrings(rec)
			return
		}
		fallthrough
	default:
		n.arith()
	case opCall:
		n.call(rec)
	}
}

// boolValue is 1 or 0, NaN when x is null.
func boolValue(b bool, x float64) float64 {
	if x != x {
		return math.NaN()
	}
	if b {
		return 1
	}
	return 0
}

func (n *node) arith() {
	a, b, out := n.args[0].out, n.args[1].out, n.out
	a, b = a[:len(out)], b[:len(out)]
	switch n.op {
	case opAdd:
		for i := range out {
			out[i] = a[i] + b[i]
		}
	case opSub:
		for i := range out {
			out[i] = a[i] - b[i]
		}
	case opMul:
		for i := range out {
			out[i] = a[i] * b[i]
		}
	case opDiv:
		for i := range out {
			out[i] = a[i] / b[i]
		}
	case opMod:
		for i := range out {
			out[i] = math.Mod(a[i], b[i])
		}
	case opLt:
		for i := range out {
			out[i] = boolValue(a[i] < b[i], a[i]+b[i])
		}
	case opLe:
		for i := range out {
			out[i] = boolValue(a[i] <= b[i], a[i]+b[i])
		}
	case opGt:
		for i := range out {
			out[i] = boolValue(a[i] > b[i], a[i]+b[i])
		}
	case opGe:
		for i := range out {
			out[i] = boolValue(a[i] >= b[i], a[i]+b[i])
		}
	case opEq:
		for i := range out {
			out[i] = boolValue(a[i] == b[i], a[i]+b[i])
		}
	case opNe:
		for i := range out {
			out[i] = boolValue(a[i] != b[i], a[i]+b[i])
		}
	case opAnd:
		for i := range out {
			out[i] = boolValue(a[i] != 0 && b[i] != 0, a[i]+b[i])
		}
	case opOr:
		for i := range out {
			out[i] = boolValue(a[i] != 0 || b[i] != 0, a[i]+b[i])
		}
	}
}

// compareStrings evaluates == or != between a string column and a literal.
func (n *node) compareStrings(rec arrow.Record) {
	colNode, lit := n.args[0], n.args[1]
	if colNode.op == opStr {
		colNode, lit = lit, colNode
	}
	want := lit.str
	eq := n.op == opEq
	arr := rec.Column(colNode.col)
	out := n.out
	switch a := arr.(type) {
	case *array.String:
		for i := range out {
			out[i] = boolValue((a.Value(i) == want) == eq, 0)
		}
	case *array.LargeString:
		for i := range out {
			out[i] = boolValue((a.Value(i) == want) == eq, 0)
		}
	}
	if arr.NullN() > 0 {
		for i := range out {
			if arr.IsNull(i) {
				out[i] = math.NaN()
			}
		}
	}
}

func (n *node) call(rec arrow.Record) {
	out, fn := n.out, n.fn
	switch {
	case fn.timePart != nil:
		in := n.args[0].out
		if n.format != nil {
			n.format.parseColumn(rec.Column(n.args[0].col), out)
			in = out
		}
		in = in[:len(out)]
		for i, t := range in {
			if t != t {
				out[i] = t
				continue
			}
			out[i] = fn.timePart(t)
		}
	case fn.unary != nil:
		for i, x := range n.args[0].out[:len(out)] {
			out[i] = fn.unary(x)
		}
	default:
		a, b := n.args[0].out[:len(out)], n.args[1].out[:len(out)]
		for i := range out {
			out[i] = fn.binary(a[i], b[i])
		}
	}
}

// columns appends the record columns n reads.
func (n *node) columns(dst []string, isDerived func(string) bool) []string {
	if n.op == opCol && !isDerived(n.str) {
		dst = append(dst, n.str)
	}
	for _, a := range n.args {
		dst = a.columns(dst, isDerived)
	}
	return dst
}

// isBoolean reports whether the untyped tree's result is a truth value,
// which is what makes a label expression binary by default.
func (n *node) isBoolean() bool {
	switch n.op {
	case opLt, opLe, opGt, opGe, opEq, opNe, opAnd, opOr, opNot:
		return true
	case opNum:
		return n.str == "true" || n.str == "false"
	}
	return false
}
