package feature_test

import (
	"reflect"
	"testing"

	"github.com/lakestream/lakestream/train/feature"
)

// FuzzParse checks that Parse never panics and that every spec it accepts
// survives Marshal and Parse with the same fields.
func FuzzParse(f *testing.F) {
	f.Add([]byte("label: {column: y, type: binary}\ncategorical: [{column: c}]\n"))
	f.Add([]byte("numeric:\n  - {column: x, clip: [0, 1], log1p: true, standardize: true, mean: 0, std: 1}\n"))
	f.Add([]byte("label: {column: y, type: multiclass, classes: [a, b]}\ncategorical: [{column: a}, {column: b}]\ncrosses: [{columns: [a, b]}]\n"))
	f.Add([]byte("numeric: [{column: n, bucketize: [1, 2], invalid: impute, impute: 3}]\nhash_bits: 12\nweight: w\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		spec, err := feature.Parse(src)
		if err != nil {
			return
		}
		out, err := spec.Marshal()
		if err != nil {
			t.Fatalf("Marshal of an accepted spec: %v", err)
		}
		back, err := feature.Parse(out)
		if err != nil {
			t.Fatalf("re-Parse of\n%s\nfailed: %v", out, err)
		}
		if !reflect.DeepEqual(spec.Fields(), back.Fields()) {
			t.Fatalf("fields changed in a round trip:\n%v\n%v", spec.Fields(), back.Fields())
		}
	})
}
