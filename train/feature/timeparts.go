package feature

import (
	"fmt"
	"math"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
)

// Times inside expressions are float64 seconds since the Unix epoch, UTC.
// Calendar arithmetic uses the proleptic Gregorian calendar through Howard
// Hinnant's days_from_civil and civil_from_days algorithms, so nothing
// allocates per row (time.Time would not either, but costs a division chain
// per call that these avoid).

const secondsPerDay = 86400

func secondOfDay(t float64) float64 { return t - math.Floor(t/secondsPerDay)*secondsPerDay }

// dayOfWeek is 0 for Monday … 6 for Sunday (1970-01-01 was a Thursday).
func dayOfWeek(t float64) float64 {
	d := math.Floor(t / secondsPerDay)
	return d + 3 - math.Floor((d+3)/7)*7
}

// civil returns the year, month (1–12) and day (1–31) of t.
func civil(t float64) (y, m, d int64) {
	z := int64(math.Floor(t/secondsPerDay)) + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era = (z - 146096) / 146097
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	m = mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

// daysFromCivil returns the days since 1970-01-01 of a valid date.
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

func daysInMonth(y, m int64) int64 {
	switch m {
	case 4, 6, 9, 11:
		return 30
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	}
	return 31
}

// timeColumn writes a timestamp, date32 or date64 column as seconds since
// the epoch into dst, NaN for nulls.
func timeColumn(arr arrow.Array, dst []float64) {
	switch a := arr.(type) {
	case *array.Timestamp:
		scale := 1.0
		switch a.DataType().(*arrow.TimestampType).Unit {
		case arrow.Millisecond:
			scale = 1e-3
		case arrow.Microsecond:
			scale = 1e-6
		case arrow.Nanosecond:
			scale = 1e-9
		}
		for i, ts := range a.TimestampValues()[:len(dst)] {
			v := int64(ts)
			if scale == 1 {
				dst[i] = float64(v)
				continue
			}
			// Whole seconds first, so a nanosecond timestamp keeps its
			// exact second.
			per := int64(math.Round(1 / scale))
			s, f := v/per, v%per
			if f < 0 {
				s, f = s-1, f+per
			}
			dst[i] = float64(s) + float64(f)*scale
		}
	case *array.Date32:
		for i, v := range a.Date32Values()[:len(dst)] {
			dst[i] = float64(v) * secondsPerDay
		}
	case *array.Date64:
		for i, v := range a.Date64Values()[:len(dst)] {
			dst[i] = float64(v) / 1e3
		}
	default:
		panic(fmt.Sprintf("feature: timeColumn: unsupported type %s (the expression check should have rejected it)", arr.DataType()))
	}
	if arr.NullN() > 0 {
		for i := range dst {
			if arr.IsNull(i) {
				dst[i] = math.NaN()
			}
		}
	}
}

// timeFormat is a fixed-width layout of an integer or string time: YYYY, YY,
// MM, DD, HH, mm and ss fields at fixed positions, other characters literal;
// or unix_s / unix_ms for a number of seconds or milliseconds since the
// epoch.
type timeFormat struct {
	text   string
	unix   float64 // seconds per unit for unix_s / unix_ms, else 0
	width  int
	fields []timeField
}

type timeField struct {
	part       byte // Y (4-digit), y (2-digit), M, D, H, m, s
	pos, width int
}

func parseTimeFormat(s string, integer bool) (*timeFormat, error) {
	switch s {
	case "unix_s":
		return &timeFormat{text: s, unix: 1}, nil
	case "unix_ms":
		return &timeFormat{text: s, unix: 1e-3}, nil
	}
	tf := &timeFormat{text: s, width: len(s)}
	seen := map[byte]bool{}
	for i := 0; i < len(s); {
		var f timeField
		switch {
		case strings.HasPrefix(s[i:], "YYYY"):
			f = timeField{'Y', i, 4}
		case strings.HasPrefix(s[i:], "YY"):
			f = timeField{'y', i, 2}
		case strings.HasPrefix(s[i:], "MM"):
			f = timeField{'M', i, 2}
		case strings.HasPrefix(s[i:], "DD"):
			f = timeField{'D', i, 2}
		case strings.HasPrefix(s[i:], "HH"):
			f = timeField{'H', i, 2}
		case strings.HasPrefix(s[i:], "mm"):
			f = timeField{'m', i, 2}
		case strings.HasPrefix(s[i:], "ss"):
			f = timeField{'s', i, 2}
		default:
			if integer {
				return nil, fmt.Errorf("format %q of an integer column may hold only YYYY, YY, MM, DD, HH, mm and ss (found %q)", s, s[i])
			}
			i++
			continue
		}
		key := f.part
		if key == 'y' {
			key = 'Y'
		}
		if seen[key] {
			return nil, fmt.Errorf("format %q has two %c fields", s, key)
		}
		seen[key] = true
		tf.fields = append(tf.fields, f)
		i += f.width
	}
	if !seen['Y'] || !seen['M'] || !seen['D'] {
		return nil, fmt.Errorf("format %q needs a year (YYYY or YY), a month (MM) and a day (DD), or is unix_s or unix_ms", s)
	}
	return tf, nil
}

var pow10 = [...]int64{1, 10, 100, 1000, 10000, 100000, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18}

// parseColumn writes the times of an integer or string column into dst as
// seconds since the epoch; NaN for nulls and values that do not fit the
// format (a month 13, a string of another length).
func (tf *timeFormat) parseColumn(arr arrow.Array, dst []float64) {
	if tf.unix != 0 {
		floatColumn(arr, dst)
		for i, v := range dst {
			dst[i] = v * tf.unix
		}
		return
	}
	switch a := arr.(type) {
	case *array.String:
		for i := range dst {
			dst[i] = tf.parseString(a.Value(i))
		}
	case *array.LargeString:
		for i := range dst {
			dst[i] = tf.parseString(a.Value(i))
		}
	default:
		floatColumn(arr, dst)
		limit := float64(pow10[tf.width])
		for i, v := range dst {
			if !(v >= 0 && v < limit) || v != math.Trunc(v) {
				dst[i] = math.NaN()
				continue
			}
			dst[i] = tf.fromInt(int64(v))
		}
	}
	if arr.NullN() > 0 {
		for i := range dst {
			if arr.IsNull(i) {
				dst[i] = math.NaN()
			}
		}
	}
}

// fromInt reads the fields of v's decimal digits, zero-padded to the
// format's width (so 14102100 under YYMMDDHH is 2014-10-21 00:00).
func (tf *timeFormat) fromInt(v int64) float64 {
	var parts [7]int64
	for _, f := range tf.fields {
		parts[partIndex(f.part)] = v / pow10[tf.width-f.pos-f.width] % pow10[f.width]
	}
	return tf.assemble(parts)
}

func (tf *timeFormat) parseString(s string) float64 {
	if len(s) != tf.width {
		return math.NaN()
	}
	var parts [7]int64
	fi := 0
	for i := 0; i < len(s); {
		if fi < len(tf.fields) && tf.fields[fi].pos == i {
			f := tf.fields[fi]
			var v int64
			for _, c := range []byte(s[i : i+f.width]) {
				if !isDigit(c) {
					return math.NaN()
				}
				v = v*10 + int64(c-'0')
			}
			parts[partIndex(f.part)] = v
			i += f.width
			fi++
			continue
		}
		if s[i] != tf.text[i] {
			return math.NaN()
		}
		i++
	}
	return tf.assemble(parts)
}

func partIndex(p byte) int {
	switch p {
	case 'Y':
		return 0
	case 'y':
		return 1
	case 'M':
		return 2
	case 'D':
		return 3
	case 'H':
		return 4
	case 'm':
		return 5
	}
	return 6
}

// assemble checks the fields and returns the time, NaN if it is not one.
// A two-digit year YY is 19YY from 69 on and 20YY below, as POSIX strptime
// reads %y.
func (tf *timeFormat) assemble(p [7]int64) float64 {
	y := p[0]
	for _, f := range tf.fields {
		if f.part == 'y' {
			y = 2000 + p[1]
			if p[1] >= 69 {
				y = 1900 + p[1]
			}
		}
	}
	mo, d, h, mi, s := p[2], p[3], p[4], p[5], p[6]
	if mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h > 23 || mi > 59 || s > 60 {
		return math.NaN()
	}
	return float64(daysFromCivil(y, mo, d)*secondsPerDay + h*3600 + mi*60 + s)
}
