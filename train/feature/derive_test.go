package feature_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/lakestream/lakestream/train/feature"
)

func timestamps(unit arrow.TimeUnit, vals ...int64) arrow.Array {
	b := array.NewTimestampBuilder(mem, &arrow.TimestampType{Unit: unit})
	defer b.Release()
	for _, v := range vals {
		b.Append(arrow.Timestamp(v))
	}
	return b.NewArray()
}

func nullableInts(vals ...int64) arrow.Array { // math.MinInt64 is a null
	b := array.NewInt64Builder(mem)
	defer b.Release()
	for _, v := range vals {
		if v == math.MinInt64 {
			b.AppendNull()
		} else {
			b.Append(v)
		}
	}
	return b.NewArray()
}

// derive computes one derived column named "d" over rec and returns its
// values as float64 (NaN for null) and its Arrow type.
func derive(t *testing.T, rec arrow.Record, expr string) ([]float64, arrow.DataType) {
	t.Helper()
	spec := &feature.Spec{Derived: []feature.Derived{{Name: "d", Expr: expr}}, Numeric: []feature.Numeric{{Column: "d"}}}
	d, err := feature.NewDeriver(spec, "d")
	if err != nil {
		t.Fatalf("NewDeriver(%q): %v", expr, err)
	}
	out, err := d.Derive(rec)
	if err != nil {
		t.Fatalf("Derive(%q): %v", expr, err)
	}
	defer out.Release()
	col := out.Column(int(out.NumCols()) - 1)
	vals := make([]float64, col.Len())
	for i := range vals {
		switch a := col.(type) {
		case *array.Int64:
			vals[i] = float64(a.Value(i))
		case *array.Float64:
			vals[i] = a.Value(i)
		}
		if col.IsNull(i) {
			vals[i] = math.NaN()
		}
	}
	return vals, col.DataType()
}

func TestDerivedExpressions(t *testing.T) {
	// 2014-10-21 00:00 UTC is a Tuesday; 2026-03-01 23:30 a Sunday.
	tue := time.Date(2014, 10, 21, 0, 0, 0, 0, time.UTC).Unix()
	sun := time.Date(2026, 3, 1, 23, 30, 0, 0, time.UTC).Unix()
	rec := record(t,
		column{"delay", f64s(20, 15, nullF, -3)},
		column{"n", nullableInts(3, 4, 5, math.MinInt64)},
		column{"hour", i64s(14102100, 14102113, 14022900, 14123123)}, // Avazu's YYMMDDHH; 14-02-29 is not a date
		column{"ts", timestamps(arrow.Millisecond, tue*1000, sun*1000+999, 0, -1)},
		column{"day", strs("2014-10-21 05:07:09", "2026-03-01 23:30:00", "2026-13-01 00:00:00", "<null>")},
		column{"carrier", strs("AA", "UA", "<null>", "aa")},
	)
	nan := math.NaN()
	tests := []struct {
		expr  string
		want  []float64
		isInt bool
	}{
		{"delay > 15", []float64{1, 0, nan, 0}, true},
		{"delay >= 15 and n < 4", []float64{1, 0, nan, nan}, true},
		{"not (delay > 15) or n == 5", []float64{0, 1, nan, nan}, true},
		{"n * 2 + 1", []float64{7, 9, 11, nan}, true},
		{"n % 2", []float64{1, 0, 1, nan}, true},
		{"n / 2", []float64{1.5, 2, 2.5, nan}, false},
		{"-delay + 0.5", []float64{-19.5, -14.5, nan, 3.5}, false},
		{"abs(delay) - max(n, 4)", []float64{16, 11, nan, nan}, false},
		{"hour(hour, \"YYMMDDHH\")", []float64{0, 13, nan, 23}, true},
		{"day_of_week(hour, 'YYMMDDHH')", []float64{1, 1, nan, 2}, true},
		{"hour_of_week(time(hour, \"YYMMDDHH\"))", []float64{24, 37, nan, 71}, true},
		{"epoch_ms(hour, \"YYMMDDHH\")", []float64{float64(tue * 1000), float64((tue + 13*3600) * 1000), nan,
			float64(time.Date(2014, 12, 31, 23, 0, 0, 0, time.UTC).UnixMilli())}, true},
		{"epoch_ms(ts)", []float64{float64(tue * 1000), float64(sun*1000 + 999), 0, -1}, true},
		{"hour(ts)", []float64{0, 23, 0, 23}, true},
		{"minute(ts)", []float64{0, 30, 0, 59}, true},
		{"day_of_week(ts)", []float64{1, 6, 3, 2}, true},
		{"year(ts) * 10000 + month(ts) * 100 + day_of_month(ts)", []float64{20141021, 20260301, 19700101, 19691231}, true},
		{"hour(day, \"YYYY-MM-DD HH:mm:ss\") * 100 + minute(day, \"YYYY-MM-DD HH:mm:ss\")", []float64{507, 2330, nan, nan}, true},
		{"carrier == \"AA\"", []float64{1, 0, nan, 0}, true},
		{"'AA' != carrier", []float64{0, 1, nan, 1}, true},
		{"sin_cycle(hour(ts), 24)", []float64{0, math.Sin(2 * math.Pi * 23 / 24), 0, math.Sin(2 * math.Pi * 23 / 24)}, false},
		{"cos_cycle(hour(ts), 24)", []float64{1, math.Cos(2 * math.Pi * 23 / 24), 1, math.Cos(2 * math.Pi * 23 / 24)}, false},
		{"`delay` > 15 && true", []float64{1, 0, nan, 0}, true},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			got, typ := derive(t, rec, tt.expr)
			if want := arrow.PrimitiveTypes.Float64; tt.isInt {
				if !arrow.TypeEqual(typ, arrow.PrimitiveTypes.Int64) {
					t.Errorf("type %s, want int64", typ)
				}
			} else if !arrow.TypeEqual(typ, want) {
				t.Errorf("type %s, want float64", typ)
			}
			for i := range got {
				same := got[i] == tt.want[i] || math.IsNaN(got[i]) && math.IsNaN(tt.want[i]) ||
					math.Abs(got[i]-tt.want[i]) < 1e-12 // sin/cos of the same argument
				if !same {
					t.Errorf("row %d = %v, want %v (all %v)", i, got[i], tt.want[i], got)
				}
			}
		})
	}
}

// TestTimePartsMatchTimePackage checks the calendar arithmetic against the
// time package over random instants from 1900 to 2200.
func TestTimePartsMatchTimePackage(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 2000
	secs := make([]int64, n)
	ymdh := make([]int64, n)
	for i := range secs {
		secs[i] = rng.Int64N(300*365*86400) - 70*365*86400
		tm := time.Unix(secs[i], 0).UTC()
		ymdh[i] = int64(tm.Year())*1000000 + int64(tm.Month())*10000 + int64(tm.Day())*100 + int64(tm.Hour())
	}
	rec := record(t, column{"ts", timestamps(arrow.Second, secs...)}, column{"h", i64s(ymdh...)})
	parts := map[string]func(time.Time) int{
		"hour":         time.Time.Hour,
		"minute":       time.Time.Minute,
		"day_of_week":  func(tm time.Time) int { return (int(tm.Weekday()) + 6) % 7 },
		"hour_of_week": func(tm time.Time) int { return (int(tm.Weekday())+6)%7*24 + tm.Hour() },
		"day_of_month": time.Time.Day,
		"month":        func(tm time.Time) int { return int(tm.Month()) },
		"year":         time.Time.Year,
	}
	for name, ref := range parts {
		got, _ := derive(t, rec, name+"(ts)")
		fromInt, _ := derive(t, rec, name+"(h, \"YYYYMMDDHH\")")
		for i, s := range secs {
			tm := time.Unix(s, 0).UTC()
			want := float64(ref(tm))
			if name == "minute" {
				want = float64(tm.Minute()) // the YYYYMMDDHH form has minute 0
			}
			if got[i] != want {
				t.Fatalf("%s(%v) = %v, want %v", name, tm, got[i], want)
			}
			if name != "minute" && fromInt[i] != want {
				t.Fatalf("%s(%d, YYYYMMDDHH) = %v, want %v", name, ymdh[i], fromInt[i], want)
			}
		}
	}
}

func TestDerivedErrors(t *testing.T) {
	tests := []struct {
		name, src string
		line      int
		column    string
		mention   string
	}{
		{"syntax", "derived:\n  - {name: late, expr: \"delay >\"}\nnumeric: [{column: late}]\n", 2, "late", "end of expression"},
		{"single =", "derived:\n  - {name: late, expr: \"delay = 15\"}\nnumeric: [{column: late}]\n", 2, "late", "=="},
		{"unknown function", "derived:\n  - {name: h, expr: \"hours(ts)\"}\nnumeric: [{column: h}]\n", 2, "h", "unknown function hours"},
		{"arity", "derived:\n  - {name: h, expr: \"sin_cycle(x)\"}\nnumeric: [{column: h}]\n", 2, "h", "sin_cycle takes"},
		{"no name", "derived:\n  - {expr: \"x + 1\"}\nnumeric: [{column: x}]\n", 2, "", "no name"},
		{"duplicate", "derived:\n  - {name: a, expr: \"x\"}\n  - {name: a, expr: \"x\"}\nnumeric: [{column: a}]\n", 3, "a", "already used"},
		{"label", "label: {expr: \"delay >> 15\"}\nnumeric: [{column: x}]\n", 1, "label", "delay >> 15"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := feature.Parse([]byte(tt.src))
			var se *feature.SpecError
			if !errors.As(err, &se) {
				t.Fatalf("Parse = %v, want a *SpecError", err)
			}
			if se.Line != tt.line || se.Column != tt.column || !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q at line %d column %q, want line %d column %q mentioning %q", err, se.Line, se.Column, tt.line, tt.column, tt.mention)
			}
		})
	}
}

func TestDerivedBindErrors(t *testing.T) {
	rec := record(t,
		column{"delay", f64s(1)}, column{"hour", i64s(14102100)}, column{"carrier", strs("AA")},
		column{"ts", timestamps(arrow.Second, 0)})
	tests := []struct{ expr, mention string }{
		{"dely > 15", `column "dely" is not in the record schema`},
		{"hour(hour)", `give its format`},
		{"hour(hour, \"YYMMDDXX\")", `may hold only`},
		{"hour(hour, \"HH\")", `needs a year`},
		{"carrier > 1", `a string can only be compared`},
		{"carrier == 1", `compares a string with a integer`},
		{"ts + 1", `a time cannot be computed with`},
		{"time(hour, \"YYMMDDHH\")", `the result is a time`},
		{"carrier", `the result is a string`},
		{"hour(delay * 2, \"YYMMDDHH\")", `parses an integer or string column`},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			spec := &feature.Spec{Derived: []feature.Derived{{Name: "d", Expr: tt.expr}}, Numeric: []feature.Numeric{{Column: "d"}}}
			err := spec.ValidateSchema(rec.Schema(), feature.WithoutLabels())
			var se *feature.SpecError
			if !errors.As(err, &se) || se.Column != "d" || !strings.Contains(err.Error(), tt.mention) || !strings.Contains(err.Error(), tt.expr) {
				t.Errorf("ValidateSchema = %v, want a *SpecError on column \"d\" quoting the expression and mentioning %q", err, tt.mention)
			}
		})
	}
	spec := &feature.Spec{Derived: []feature.Derived{{Name: "delay", Expr: "delay * 60"}}, Numeric: []feature.Numeric{{Column: "delay"}}}
	if err := spec.ValidateSchema(rec.Schema(), feature.WithoutLabels()); err == nil || !strings.Contains(err.Error(), "already have a column") {
		t.Errorf("a derived column named like an input: %v, want an error", err)
	}
}

const derivedSpec = `
label: {expr: "delay > 15"}
derived:
  - {name: hod, expr: "hour(hour, \"YYMMDDHH\")"}
  - {name: hod_sin, expr: "sin_cycle(hod, 24)"}
  - {name: unused, expr: "missing_column + 1"}
numeric:
  - {column: hod_sin}
  - {column: distance, log1p: true}
categorical:
  - {column: hod}
  - {column: carrier}
crosses:
  - {columns: [hod, carrier]}
`

// TestDerivedFeaturesEqualPrecomputed featurizes with derived columns and
// with the same values precomputed as plain columns: the batches must match
// (the derived fields hash as int64 columns).
func TestDerivedFeaturesEqualPrecomputed(t *testing.T) {
	spec, err := feature.Parse([]byte(derivedSpec))
	if err != nil {
		t.Fatal(err)
	}
	if spec.Label.Column != "label" || spec.Label.Type != feature.Binary {
		t.Fatalf("label = %+v, want column label, type binary", spec.Label)
	}
	if got, want := spec.InputColumns(true), []string{"delay", "hour", "distance", "carrier"}; !slices.Equal(got, want) {
		t.Errorf("InputColumns(true) = %v, want %v", got, want)
	}
	if got, want := spec.InputColumns(false), []string{"hour", "distance", "carrier"}; !slices.Equal(got, want) {
		t.Errorf("InputColumns(false) = %v, want %v", got, want)
	}
	raw := record(t,
		column{"delay", f64s(20, 3, 16, 15)},
		column{"hour", i64s(14102100, 14102113, 14102205, 14102223)},
		column{"distance", f64s(100, 200, 300, 400)},
		column{"carrier", strs("AA", "UA", "AA", "DL")})
	hods := []int64{0, 13, 5, 23}
	sins := make([]float64, len(hods))
	for i, h := range hods {
		sins[i] = math.Sin(2 * math.Pi * float64(h) / 24)
	}
	pre := record(t,
		column{"label", i64s(1, 0, 1, 0)},
		column{"hod", i64s(hods...)},
		column{"hod_sin", f64s(sins...)},
		column{"distance", f64s(100, 200, 300, 400)},
		column{"carrier", strs("AA", "UA", "AA", "DL")})
	plain := spec.Clone()
	plain.Derived, plain.Label = nil, feature.Label{Column: "label", Type: feature.Binary}

	var got, want feature.Batch
	fz, err := feature.NewFeaturizer(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := fz.Featurize(raw, &got); err != nil {
		t.Fatal(err)
	}
	fp, err := feature.NewFeaturizer(plain)
	if err != nil {
		t.Fatal(err)
	}
	if err := fp.Featurize(pre, &want); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Indices, want.Indices) || !slices.Equal(got.Values, want.Values) || !slices.Equal(got.Labels, want.Labels) {
		t.Errorf("derived batch\n%v %v %v\nwant\n%v %v %v", got.Indices, got.Values, got.Labels, want.Indices, want.Values, want.Labels)
	}

	// Scoring needs neither the label's column nor the label.
	score, err := feature.NewFeaturizer(spec, feature.WithoutLabels())
	if err != nil {
		t.Fatal(err)
	}
	noDelay := record(t, column{"hour", i64s(14102100)}, column{"distance", f64s(100)}, column{"carrier", strs("AA")})
	var sb feature.Batch
	if err := score.Featurize(noDelay, &sb); err != nil {
		t.Fatalf("scoring without the label's column: %v", err)
	}
	if !slices.Equal(sb.Indices, got.Indices[:len(sb.Indices)]) {
		t.Errorf("scoring keys %v, want %v", sb.Indices, got.Indices[:len(sb.Indices)])
	}

	// A null in the label expression's column names the expression.
	bad := record(t,
		column{"delay", f64s(20, nullF)}, column{"hour", i64s(14102100, 14102100)},
		column{"distance", f64s(1, 1)}, column{"carrier", strs("AA", "AA")})
	err = fz.Featurize(bad, &got)
	var ve *feature.ValueError
	if !errors.As(err, &ve) || ve.Row != 1 || !strings.Contains(err.Error(), "delay > 15") {
		t.Errorf("null label input: %v, want a *ValueError on row 1 quoting the expression", err)
	}

	// Round trip through YAML keeps the derived columns and the label.
	text, err := spec.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := feature.Parse(text)
	if err != nil {
		t.Fatalf("Parse(Marshal()) = %v\n%s", err, text)
	}
	same := back.Label.Column == spec.Label.Column && back.Label.Expr == spec.Label.Expr && back.Label.Type == spec.Label.Type &&
		len(back.Derived) == len(spec.Derived)
	for i := range back.Derived {
		same = same && back.Derived[i].Name == spec.Derived[i].Name && back.Derived[i].Expr == spec.Derived[i].Expr
	}
	if !same {
		t.Errorf("round trip: %+v %+v, want %+v %+v", back.Label, back.Derived, spec.Label, spec.Derived)
	}
}

// TestDerivedFeaturizeAllocations checks that derived columns cost a few
// allocations per record (Arrow wrappers), none per row.
func TestDerivedFeaturizeAllocations(t *testing.T) {
	spec, err := feature.Parse([]byte(derivedSpec))
	if err != nil {
		t.Fatal(err)
	}
	fz, err := feature.NewFeaturizer(spec)
	if err != nil {
		t.Fatal(err)
	}
	const n = 4096
	delay, hour, dist, carrier := make([]float64, n), make([]int64, n), make([]float64, n), make([]string, n)
	for i := range n {
		delay[i], hour[i], dist[i], carrier[i] = float64(i%40), 14102100+int64(i%24), float64(i), []string{"AA", "UA"}[i%2]
	}
	rec := record(t, column{"delay", f64s(delay...)}, column{"hour", i64s(hour...)}, column{"distance", f64s(dist...)}, column{"carrier", strs(carrier...)})
	var b feature.Batch
	if err := fz.Featurize(rec, &b); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(20, func() {
		if err := fz.Featurize(rec, &b); err != nil {
			t.Fatal(err)
		}
	})
	// Per derived output column: the ArrayData, its buffers and the array;
	// plus the record and its column slice: about 20 in all for 3 outputs.
	if allocs > 40 {
		t.Errorf("Featurize with derived columns: %v allocations per %d-row record, want ≤ 40", allocs, n)
	}
}

// FuzzDeriveExpr checks that any expression either fails with a
// *SpecError or evaluates without panicking over a record of every column
// type the language reads.
func FuzzDeriveExpr(f *testing.F) {
	for _, e := range []string{"delay > 15", "hour(h, \"YYMMDDHH\") * 2 % 7", "c == 'AA' or not (n / 0 < 1)",
		"sin_cycle(day_of_week(ts), 7)", "hour(s, \"YYYY-MM-DD HH:mm\")", "-(-(n))", "`n` + true", "min(abs(delay), log1p(n))"} {
		f.Add(e)
	}
	rec := func(t testing.TB) arrow.Record {
		return record(t, column{"delay", f64s(20, nullF, math.Inf(1))}, column{"n", nullableInts(0, 1, math.MinInt64)},
			column{"h", i64s(14102100, -1, 99999999)}, column{"c", strs("AA", "<null>", "")},
			column{"s", strs("2014-10-21 05:07", "x", "<null>")}, column{"ts", timestamps(arrow.Nanosecond, 0, -1, math.MaxInt64)})
	}
	f.Fuzz(func(t *testing.T, expr string) {
		r := rec(t)
		spec := &feature.Spec{Derived: []feature.Derived{{Name: "d", Expr: expr}}, Numeric: []feature.Numeric{{Column: "d", Invalid: feature.InvalidImpute}}}
		if err := spec.ValidateSchema(r.Schema(), feature.WithoutLabels()); err != nil {
			var se *feature.SpecError
			if !errors.As(err, &se) {
				t.Fatalf("ValidateSchema(%q) = %v, want a *SpecError", expr, err)
			}
			return
		}
		fz, err := feature.NewFeaturizer(spec, feature.WithoutLabels())
		if err != nil {
			t.Fatal(err)
		}
		var b feature.Batch
		if err := fz.Featurize(r, &b); err != nil {
			t.Fatalf("Featurize(%q): %v", expr, err)
		}
	})
}
