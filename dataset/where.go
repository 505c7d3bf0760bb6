package dataset

import (
	"strconv"
	"strings"
)

// ParseWhere parses the small predicate language of the --where flag:
//
//	dt >= '2026-11-01' AND country IN ('fr', 'de') AND clicks > 3
//
// A filter is comparisons joined by AND (case-insensitive). A comparison is
// a column, an operator (=, ==, !=, <>, <, <=, >, >=, IN) and a literal:
// a single-quoted string (” escapes a quote), an integer, a decimal number,
// true or false. IN takes a parenthesized, comma-separated list. Column names
// are bare identifiers ([A-Za-z_][A-Za-z0-9_]*) or double-quoted. An empty
// string parses to the empty Filter. Errors are *ParseError with the byte
// offset of the problem.
func ParseWhere(s string) (Filter, error) {
	p := &whereParser{in: s}
	p.skipSpace()
	if p.pos == len(s) {
		return nil, nil
	}
	var f Filter
	for {
		pr, err := p.predicate()
		if err != nil {
			return nil, err
		}
		f = append(f, pr)
		p.skipSpace()
		if p.pos == len(s) {
			return f, nil
		}
		if !p.keyword("AND") {
			return nil, p.errorf("expected AND or end of input")
		}
	}
}

type whereParser struct {
	in  string
	pos int
}

func (p *whereParser) errorf(msg string) error {
	return &ParseError{Input: p.in, Offset: p.pos, Msg: msg}
}

func (p *whereParser) skipSpace() {
	for p.pos < len(p.in) && strings.IndexByte(" \t\r\n", p.in[p.pos]) >= 0 {
		p.pos++
	}
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentPart(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

// keyword consumes kw (case-insensitive) if it is the next word.
func (p *whereParser) keyword(kw string) bool {
	p.skipSpace()
	end := p.pos + len(kw)
	if end > len(p.in) || !strings.EqualFold(p.in[p.pos:end], kw) {
		return false
	}
	if end < len(p.in) && isIdentPart(p.in[end]) {
		return false
	}
	p.pos = end
	return true
}

func (p *whereParser) ident() (string, error) {
	p.skipSpace()
	if p.pos < len(p.in) && p.in[p.pos] == '"' {
		end := strings.IndexByte(p.in[p.pos+1:], '"')
		if end < 0 {
			return "", p.errorf("unterminated quoted column name")
		}
		name := p.in[p.pos+1 : p.pos+1+end]
		if name == "" {
			return "", p.errorf("empty column name")
		}
		p.pos += end + 2
		return name, nil
	}
	if p.pos >= len(p.in) || !isIdentStart(p.in[p.pos]) {
		return "", p.errorf("expected a column name")
	}
	start := p.pos
	for p.pos < len(p.in) && isIdentPart(p.in[p.pos]) {
		p.pos++
	}
	return p.in[start:p.pos], nil
}

func (p *whereParser) op() (Op, error) {
	p.skipSpace()
	rest := p.in[p.pos:]
	for _, c := range []struct {
		tok string
		op  Op
	}{{"==", Eq}, {"!=", Ne}, {"<>", Ne}, {"<=", Le}, {">=", Ge}, {"=", Eq}, {"<", Lt}, {">", Gt}} {
		if strings.HasPrefix(rest, c.tok) {
			p.pos += len(c.tok)
			return c.op, nil
		}
	}
	if p.keyword("IN") {
		return In, nil
	}
	return 0, p.errorf("expected an operator (=, !=, <, <=, >, >=, IN)")
}

func (p *whereParser) literal() (Literal, error) {
	p.skipSpace()
	if p.pos >= len(p.in) {
		return Literal{}, p.errorf("expected a value")
	}
	c := p.in[p.pos]
	switch {
	case c == '\'':
		var b strings.Builder
		i := p.pos + 1
		for {
			if i >= len(p.in) {
				return Literal{}, p.errorf("unterminated string")
			}
			if p.in[i] == '\'' {
				if i+1 < len(p.in) && p.in[i+1] == '\'' {
					b.WriteByte('\'')
					i += 2
					continue
				}
				p.pos = i + 1
				return String(b.String()), nil
			}
			b.WriteByte(p.in[i])
			i++
		}
	case c == '-' || c == '+' || c == '.' || (c >= '0' && c <= '9'):
		start := p.pos
		i := p.pos + 1
		for i < len(p.in) && strings.IndexByte("0123456789.eE+-", p.in[i]) >= 0 {
			i++
		}
		tok := p.in[start:i]
		if v, err := strconv.ParseInt(tok, 10, 64); err == nil {
			p.pos = i
			return Int(v), nil
		}
		if v, err := strconv.ParseFloat(tok, 64); err == nil {
			p.pos = i
			return Float(v), nil
		}
		return Literal{}, p.errorf("bad number " + strconv.Quote(tok))
	case p.keyword("true"):
		return Bool(true), nil
	case p.keyword("false"):
		return Bool(false), nil
	}
	return Literal{}, p.errorf("expected a value ('text', a number, true or false)")
}

func (p *whereParser) predicate() (Predicate, error) {
	col, err := p.ident()
	if err != nil {
		return Predicate{}, err
	}
	op, err := p.op()
	if err != nil {
		return Predicate{}, err
	}
	if op != In {
		v, err := p.literal()
		if err != nil {
			return Predicate{}, err
		}
		return Where(col, op, v), nil
	}
	p.skipSpace()
	if p.pos >= len(p.in) || p.in[p.pos] != '(' {
		return Predicate{}, p.errorf("expected ( after IN")
	}
	p.pos++
	var vals []Literal
	for {
		v, err := p.literal()
		if err != nil {
			return Predicate{}, err
		}
		vals = append(vals, v)
		p.skipSpace()
		if p.pos < len(p.in) && p.in[p.pos] == ',' {
			p.pos++
			continue
		}
		if p.pos < len(p.in) && p.in[p.pos] == ')' {
			p.pos++
			return Where(col, In, vals...), nil
		}
		return Predicate{}, p.errorf("expected , or ) in IN list")
	}
}
