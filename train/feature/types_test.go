package feature_test

import (
	"encoding/base64"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/lakestream/lakestream/train/feature"
)

// build makes an array of dt from string forms ("(null)" is a null).
func build(t *testing.T, dt arrow.DataType, vals ...string) arrow.Array {
	t.Helper()
	b := array.NewBuilder(mem, dt)
	defer b.Release()
	for _, v := range vals {
		if err := b.AppendValueFromString(v); err != nil {
			t.Fatalf("%s from %q: %v", dt, v, err)
		}
	}
	return b.NewArray()
}

// TestEveryColumnType featurizes each supported Arrow type as a categorical
// and as a numeric field. Categorical: equal values share a key across rows
// and across integer widths (and across string/binary for bytes), nulls use
// the missing bucket. Numeric: the value is the number. Rows 300… exercise
// the second row block.
func TestEveryColumnType(t *testing.T) {
	const n = 300 + 4
	intVals := func(a, b string) []string {
		v := make([]string, n)
		for i := range v {
			v[i] = a
		}
		v[n-3], v[n-2], v[n-1] = array.NullValueStr, a, b
		return v
	}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	ints := []arrow.DataType{arrow.PrimitiveTypes.Int8, arrow.PrimitiveTypes.Int16, arrow.PrimitiveTypes.Int32,
		arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Uint8, arrow.PrimitiveTypes.Uint16,
		arrow.PrimitiveTypes.Uint32, arrow.PrimitiveTypes.Uint64}
	type tcase struct {
		dt   arrow.DataType
		vals []string
	}
	var cases []tcase
	for _, dt := range ints {
		cases = append(cases, tcase{dt, intVals("7", "9")})
	}
	cases = append(cases,
		tcase{arrow.BinaryTypes.String, intVals("7", "9")},
		tcase{arrow.BinaryTypes.LargeString, intVals("7", "9")},
		tcase{arrow.BinaryTypes.Binary, intVals(b64("7"), b64("9"))},
		tcase{arrow.BinaryTypes.LargeBinary, intVals(b64("7"), b64("9"))},
		tcase{arrow.FixedWidthTypes.Boolean, intVals("true", "false")},
	)
	keysOf := map[string][]uint64{} // "int" or "bytes" → keys of the 4 last rows of the first type seen
	for _, c := range cases {
		t.Run(c.dt.String(), func(t *testing.T) {
			spec := &feature.Spec{HashBits: 16, Categorical: []feature.Categorical{{Column: "c"}}}
			b := featurize(t, spec, record(t, column{"c", build(t, c.dt, c.vals...)}), feature.WithoutLabels())
			k := b.Indices
			if k[0] != k[n-4] || k[0] != k[n-2] || k[n-1] == k[0] {
				t.Errorf("equal values must share a key, different ones differ: %#x %#x %#x %#x", k[0], k[n-4], k[n-2], k[n-1])
			}
			if k[n-3] != feature.Key(0, feature.MissingBucket) {
				t.Errorf("null: key %#x, want the missing bucket", k[n-3])
			}
			group := "bytes"
			switch {
			case c.dt.ID() == arrow.BOOL:
				group = "bool"
			case arrow.IsInteger(c.dt.ID()):
				group = "int"
			}
			last := []uint64{k[n-4], k[n-3], k[n-2], k[n-1]}
			if prev, ok := keysOf[group]; ok {
				for i := range last {
					if prev[i] != last[i] {
						t.Errorf("%s values hash differently from other %s columns", c.dt, group)
					}
				}
			} else {
				keysOf[group] = last
			}
		})
	}

	numeric := append(ints, arrow.PrimitiveTypes.Float32, arrow.PrimitiveTypes.Float64)
	for _, dt := range numeric {
		t.Run("numeric/"+dt.String(), func(t *testing.T) {
			spec := &feature.Spec{Numeric: []feature.Numeric{{Column: "x", Invalid: feature.InvalidImpute, Impute: 3}}}
			b := featurize(t, spec, record(t, column{"x", build(t, dt, intVals("7", "9")...)}), feature.WithoutLabels())
			v := b.Values
			if v[0] != 7 || v[n-4] != 7 || v[n-3] != 3 || v[n-1] != 9 {
				t.Errorf("values %v %v %v %v, want 7 7 3 (imputed) 9", v[0], v[n-4], v[n-3], v[n-1])
			}
		})
	}
	t.Run("numeric/bool", func(t *testing.T) {
		spec := &feature.Spec{Numeric: []feature.Numeric{{Column: "x"}}}
		b := featurize(t, spec, record(t, column{"x", build(t, arrow.FixedWidthTypes.Boolean, "true", "false")}), feature.WithoutLabels())
		if b.Values[0] != 1 || b.Values[1] != 0 {
			t.Errorf("bool values %v, want [1 0]", b.Values)
		}
	})
	t.Run("large list", func(t *testing.T) {
		lb := array.NewLargeListBuilder(mem, arrow.PrimitiveTypes.Int32)
		defer lb.Release()
		vb := lb.ValueBuilder().(*array.Int32Builder)
		lb.Append(true)
		vb.AppendValues([]int32{7, 9}, nil)
		lb.AppendNull()
		lb.Append(true)
		vb.Append(9)
		spec := &feature.Spec{HashBits: 16, Categorical: []feature.Categorical{{Column: "c"}}}
		b := featurize(t, spec, record(t, column{"c", lb.NewArray()}), feature.WithoutLabels())
		if b.Indptr[3] != 4 || b.Indices[1] != b.Indices[3] || b.Indices[2] != feature.Key(0, feature.MissingBucket) {
			t.Errorf("indptr %v keys %#x", b.Indptr, b.Indices)
		}
		if b.Indices[1] != keysOf["int"][3] {
			t.Error("a list of int32 must hash its elements like an int column of the same field")
		}
	})
}
