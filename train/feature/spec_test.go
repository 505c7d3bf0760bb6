package feature_test

import (
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/lakestream/lakestream/train/feature"
)

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name   string
		src    string
		line   int
		column string
		is     error
	}{
		{"no fields", "label: {column: y, type: binary}\n", 0, "", nil},
		{"bad label type", "label: {column: y, type: ordinal}\ncategorical: [{column: c}]\n", 1, "y", nil},
		{"multiclass without classes", "label: {column: y, type: multiclass}\ncategorical: [{column: c}]\n", 1, "y", nil},
		{"duplicate class", "label: {column: y, type: multiclass, classes: [a, a]}\ncategorical: [{column: c}]\n", 1, "y", nil},
		{"classes on binary", "label: {column: y, type: binary, classes: [a, b]}\ncategorical: [{column: c}]\n", 1, "y", nil},
		{"bad clip", "numeric:\n  - {column: x}\n  - {column: z, clip: [3, 1]}\n", 3, "z", nil},
		{"unsorted buckets", "numeric:\n  - {column: x, bucketize: [3, 1]}\n", 2, "x", nil},
		{"standardize and bucketize", "numeric:\n  - {column: x, standardize: true, bucketize: [1], mean: 0, std: 1}\n", 2, "x", nil},
		{"unfitted", "numeric:\n  - {column: x, standardize: true}\n", 2, "x", feature.ErrNotFitted},
		{"zero std", "numeric:\n  - {column: x, standardize: true, mean: 1, std: 0}\n", 2, "x", nil},
		{"bad policy", "numeric:\n  - {column: x, invalid: drop}\n", 2, "x", nil},
		{"hash bits", "categorical:\n  - {column: c, hash_bits: 40}\n", 2, "c", nil},
		{"duplicate field", "categorical:\n  - {column: c}\n  - {column: c}\n", 3, "c", nil},
		{"cross of one", "categorical: [{column: c}]\ncrosses:\n  - {columns: [c]}\n", 3, "", nil},
		{"cross of undeclared", "categorical: [{column: c}]\ncrosses:\n  - {columns: [c, d]}\n", 3, "d", nil},
		{"cross of plain numeric", "numeric: [{column: x}]\ncategorical: [{column: c}]\ncrosses:\n  - {columns: [c, x]}\n", 4, "x", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := feature.Parse([]byte(tt.src))
			var se *feature.SpecError
			if !errors.As(err, &se) {
				t.Fatalf("Parse = %v, want a *SpecError", err)
			}
			if se.Line != tt.line || se.Column != tt.column {
				t.Errorf("error at line %d column %q (%v), want line %d column %q", se.Line, se.Column, err, tt.line, tt.column)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v does not wrap %v", err, tt.is)
			}
		})
	}
}

func TestParseRejectsUnknownKeys(t *testing.T) {
	for src, line := range map[string]int{
		"numeric:\n  - {column: x, log1P: true}\n":   2,
		"categorical: [{column: c}]\nhashbits: 12\n": 2,
	} {
		_, err := feature.Parse([]byte(src))
		var se *feature.SpecError
		if !errors.As(err, &se) || se.Line != line {
			t.Errorf("Parse(%q) = %v, want a *SpecError at line %d", src, err, line)
		}
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	src := `version: 1
label: {column: y, type: multiclass, classes: [a, b, c]}
weight: w
event_time: ts
hash_bits: 18
numeric:
  - {column: x, clip: [0, 10], log1p: true, standardize: true, mean: 1.25, std: 0.5}
  - {column: n, name: n_b, bucketize: [1, 2, 3], invalid: impute, impute: 2}
categorical:
  - {column: c, hash_bits: 12}
  - {column: d}
crosses:
  - {columns: [c, n], name: cn}
`
	spec, err := feature.Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	out, err := spec.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := feature.Parse(out)
	if err != nil {
		t.Fatalf("re-parse of\n%s: %v", out, err)
	}
	if !reflect.DeepEqual(spec.Fields(), back.Fields()) {
		t.Errorf("fields differ after a round trip:\n%v\n%v", spec.Fields(), back.Fields())
	}
	a, b := spec.Clone(), back.Clone()
	if *a.Numeric[0].Mean != *b.Numeric[0].Mean || *a.Numeric[0].Std != *b.Numeric[0].Std ||
		!reflect.DeepEqual(a.Label.Classes, b.Label.Classes) || a.Weight != b.Weight || a.EventTime != b.EventTime ||
		a.Numeric[1].Impute != b.Numeric[1].Impute || a.Numeric[1].Invalid != b.Numeric[1].Invalid {
		t.Errorf("round trip changed the spec:\n%s", out)
	}
	want := []feature.Field{
		{ID: 0, Name: "x", Kind: feature.KindNumeric, Columns: []string{"x"}, Buckets: 1},
		{ID: 1, Name: "n_b", Kind: feature.KindBucketized, Columns: []string{"n"}, Buckets: 5},
		{ID: 2, Name: "c", Kind: feature.KindCategorical, Columns: []string{"c"}, Buckets: 1 << 12},
		{ID: 3, Name: "d", Kind: feature.KindCategorical, Columns: []string{"d"}, Buckets: 1 << 18},
		{ID: 4, Name: "cn", Kind: feature.KindCross, Columns: []string{"c", "n"}, Buckets: 1 << 18},
	}
	if got := spec.Fields(); !reflect.DeepEqual(got, want) {
		t.Errorf("Fields() =\n%v\nwant\n%v", got, want)
	}
	if spec.NumClasses() != 3 {
		t.Errorf("NumClasses = %d", spec.NumClasses())
	}
}

func TestStats(t *testing.T) {
	spec := &feature.Spec{Numeric: []feature.Numeric{
		{Column: "x", Standardize: true},
		{Column: "z", Standardize: true, Clip: []float64{0, 3}},
		{Column: "k"},
	}}
	if _, err := feature.NewFeaturizer(spec, feature.WithoutLabels()); !errors.Is(err, feature.ErrNotFitted) {
		t.Fatalf("NewFeaturizer on an unfitted spec = %v, want ErrNotFitted", err)
	}
	st, err := feature.NewStats(spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Freeze(); err == nil {
		t.Error("Freeze with no rows succeeded")
	}
	// x: 1, 2, 3, 6 → mean 3, population variance (4+1+0+9)/4 = 3.5.
	// z: 5, 5, 5, 5 clipped to 3 → mean 3, std 0 → 1.
	first := record(t, column{"x", f64s(1, 2)}, column{"z", f64s(5, 5)}, column{"k", f64s(0, 0)})
	second := record(t, column{"x", f64s(3, 6)}, column{"z", f64s(5, 5)}, column{"k", f64s(0, 0)})
	if err := st.Add(first); err != nil {
		t.Fatal(err)
	}
	other, err := feature.NewStats(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Add(second); err != nil {
		t.Fatal(err)
	}
	if err := st.Merge(other); err != nil {
		t.Fatal(err)
	}
	fitted, err := st.Freeze()
	if err != nil {
		t.Fatal(err)
	}
	if st.Rows() != 4 {
		t.Errorf("Rows = %d, want 4", st.Rows())
	}
	// 1e-12: a handful of float64 operations on values below 10.
	if m, s := *fitted.Numeric[0].Mean, *fitted.Numeric[0].Std; math.Abs(m-3) > 1e-12 || math.Abs(s-math.Sqrt(3.5)) > 1e-12 {
		t.Errorf("x: mean %v std %v, want 3 and √3.5", m, s)
	}
	if m, s := *fitted.Numeric[1].Mean, *fitted.Numeric[1].Std; m != 3 || s != 1 {
		t.Errorf("z: mean %v std %v, want 3 and 1 (constant column)", m, s)
	}
	if fitted.Numeric[2].Mean != nil || spec.Numeric[0].Mean != nil {
		t.Error("Freeze touched a field without standardize, or the input spec")
	}
	b := featurize(t, fitted, first, feature.WithoutLabels())
	// (2 − 3)/√3.5 = −0.5345225
	if k, v, _ := b.Row(1); k[0] != feature.Key(0, 0) || !closeTo(v[0], -0.5345225) {
		t.Errorf("standardized x = %v, want −0.5345225", v[0])
	}
}
