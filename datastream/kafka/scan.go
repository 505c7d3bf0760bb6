package kafka

import (
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// This file holds the JSON tokenizer the decoder is built on. It works on a
// byte slice and a position, validates as strictly as encoding/json, and never
// allocates: strings without escapes are returned as sub-slices of the input,
// escaped ones are unescaped into a caller-supplied buffer.

// maxDepth bounds the nesting of skipped values and lists.
const maxDepth = 64

func skipWS(b []byte, p int) int {
	for p < len(b) {
		switch b[p] {
		case ' ', '\t', '\n', '\r':
			p++
		default:
			return p
		}
	}
	return p
}

// scanString reads the string whose opening quote is at b[p]. It returns the
// string's contents (a sub-slice of b if there were no escapes, otherwise
// unescaped into *buf), and the position after the closing quote. ok is false
// for malformed strings. ascii says the contents are ASCII, so valid UTF-8
// without a further check (it is false for escaped strings, which may or
// may not be).
func scanString(b []byte, p int, buf *[]byte) (s []byte, end int, ok, ascii bool) {
	p++ // opening quote
	start := p
	var high byte
	for p < len(b) {
		c := b[p]
		high |= c
		if c == '"' {
			return b[start:p], p + 1, true, high < 0x80
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return nil, p, false, false
		}
		p++
	}
	if p >= len(b) {
		return nil, p, false, false
	}
	out := append((*buf)[:len(*buf)], b[start:p]...)
	first := len(*buf)
	for p < len(b) {
		c := b[p]
		switch {
		case c == '"':
			*buf = out
			return out[first:], p + 1, true, false
		case c < 0x20:
			return nil, p, false, false
		case c != '\\':
			out = append(out, c)
			p++
			continue
		}
		if p+1 >= len(b) {
			return nil, p, false, false
		}
		switch b[p+1] {
		case '"', '\\', '/':
			out = append(out, b[p+1])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(b, p+2)
			if !ok {
				return nil, p, false, false
			}
			p += 6
			if utf16.IsSurrogate(r) {
				r2, ok2 := rune(-1), false
				if p+1 < len(b) && b[p] == '\\' && b[p+1] == 'u' {
					r2, ok2 = hex4(b, p+2)
				}
				if dec := utf16.DecodeRune(r, r2); ok2 && dec != utf8.RuneError {
					r = dec
					p += 6
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
			continue
		default:
			return nil, p, false, false
		}
		p += 2
	}
	return nil, p, false, false
}

func hex4(b []byte, p int) (rune, bool) {
	if p+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[p : p+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// scanNumber checks the JSON number grammar from b[p] and returns the
// position after it. integer reports that it has no fraction or exponent.
func scanNumber(b []byte, p int) (end int, integer, ok bool) {
	integer = true
	if p < len(b) && b[p] == '-' {
		p++
	}
	switch {
	case p < len(b) && b[p] == '0':
		p++
	case p < len(b) && b[p] >= '1' && b[p] <= '9':
		for p < len(b) && b[p] >= '0' && b[p] <= '9' {
			p++
		}
	default:
		return p, false, false
	}
	if p < len(b) && b[p] == '.' {
		integer = false
		p++
		d := p
		for p < len(b) && b[p] >= '0' && b[p] <= '9' {
			p++
		}
		if p == d {
			return p, false, false
		}
	}
	if p < len(b) && (b[p] == 'e' || b[p] == 'E') {
		integer = false
		p++
		if p < len(b) && (b[p] == '+' || b[p] == '-') {
			p++
		}
		d := p
		for p < len(b) && b[p] >= '0' && b[p] <= '9' {
			p++
		}
		if p == d {
			return p, false, false
		}
	}
	return p, integer, true
}

// parseInt parses a token that scanNumber accepted as an integer.
func parseInt(s []byte) (int64, bool) {
	neg := false
	if len(s) > 0 && s[0] == '-' {
		neg = true
		s = s[1:]
	}
	if len(s) == 0 || len(s) > 19 {
		return 0, false
	}
	var u uint64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return -int64(u), true
	}
	if u > math.MaxInt64 {
		return 0, false
	}
	return int64(u), true
}

// parseFloat parses any JSON number token.
func parseFloat(s []byte, integer bool) (float64, bool) {
	if integer && len(s) < 16 {
		// Integers below 2^53 convert exactly; skip strconv.
		if v, ok := parseInt(s); ok {
			return float64(v), true
		}
	}
	if len(s) == 0 {
		return 0, false
	}
	// strconv copies the string into any error it returns, so viewing s
	// without a copy is safe.
	f, err := strconv.ParseFloat(unsafe.String(&s[0], len(s)), 64)
	if err != nil {
		return 0, false
	}
	return f, true
}

// toInt converts a number token to an int64: integers directly, others only
// when the value is integral and in range (1.0 and 1e3 convert, 1.5 does not).
func toInt(s []byte, integer bool) (int64, bool) {
	if integer {
		return parseInt(s)
	}
	f, ok := parseFloat(s, false)
	if !ok || f != math.Trunc(f) || f < -(1<<63) || f >= 1<<63 {
		return 0, false
	}
	return int64(f), true
}

// numericString reports whether s (the contents of a JSON string) is a JSON
// number token, and whether it is an integer.
func numericString(s []byte) (integer, ok bool) {
	end, integer, ok := scanNumber(s, 0)
	return integer, ok && end == len(s)
}

func matchLit(b []byte, p int, lit string) bool {
	return len(b)-p >= len(lit) && string(b[p:p+len(lit)]) == lit
}

// skipValue validates and skips any JSON value at b[p].
func skipValue(b []byte, p, depth int, buf *[]byte) (int, bool) {
	if p >= len(b) {
		return p, false
	}
	switch c := b[p]; {
	case c == '"':
		mark := len(*buf)
		_, end, ok, _ := scanString(b, p, buf)
		*buf = (*buf)[:mark]
		return end, ok
	case c == '-' || (c >= '0' && c <= '9'):
		end, _, ok := scanNumber(b, p)
		return end, ok
	case c == 't':
		return p + 4, matchLit(b, p, "true")
	case c == 'f':
		return p + 5, matchLit(b, p, "false")
	case c == 'n':
		return p + 4, matchLit(b, p, "null")
	case c == '[' || c == '{':
		if depth >= maxDepth {
			return p, false
		}
		obj := c == '{'
		closer := byte(']')
		if obj {
			closer = '}'
		}
		p = skipWS(b, p+1)
		if p < len(b) && b[p] == closer {
			return p + 1, true
		}
		for {
			var ok bool
			if obj {
				if p >= len(b) || b[p] != '"' {
					return p, false
				}
				mark := len(*buf)
				_, p, ok, _ = scanString(b, p, buf)
				*buf = (*buf)[:mark]
				if !ok {
					return p, false
				}
				p = skipWS(b, p)
				if p >= len(b) || b[p] != ':' {
					return p, false
				}
				p = skipWS(b, p+1)
			}
			if p, ok = skipValue(b, p, depth+1, buf); !ok {
				return p, false
			}
			p = skipWS(b, p)
			if p >= len(b) {
				return p, false
			}
			if b[p] == closer {
				return p + 1, true
			}
			if b[p] != ',' {
				return p, false
			}
			p = skipWS(b, p+1)
		}
	}
	return p, false
}
