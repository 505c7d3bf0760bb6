package feature_test

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/lakestream/lakestream/train/feature"
	"github.com/lakestream/lakestream/train/feature/featuretest"
)

// column is one test column: a name and an array.
type column struct {
	name string
	arr  arrow.Array
}

func record(t testing.TB, cols ...column) arrow.Record {
	t.Helper()
	fields := make([]arrow.Field, len(cols))
	arrs := make([]arrow.Array, len(cols))
	for i, c := range cols {
		fields[i] = arrow.Field{Name: c.name, Type: c.arr.DataType(), Nullable: true}
		arrs[i] = c.arr
	}
	rec := array.NewRecord(arrow.NewSchema(fields, nil), arrs, int64(arrs[0].Len()))
	for _, a := range arrs {
		a.Release()
	}
	t.Cleanup(rec.Release)
	return rec
}

var mem = memory.DefaultAllocator

func strs(vals ...string) arrow.Array { // "<null>" is a null
	b := array.NewStringBuilder(mem)
	defer b.Release()
	for _, v := range vals {
		if v == "<null>" {
			b.AppendNull()
		} else {
			b.Append(v)
		}
	}
	return b.NewArray()
}

func f64s(vals ...float64) arrow.Array { // NaN with a negative sign bit... simpler: math.Inf(-1)-1 unused; use nullF for null
	b := array.NewFloat64Builder(mem)
	defer b.Release()
	for _, v := range vals {
		if v == nullF {
			b.AppendNull()
		} else {
			b.Append(v)
		}
	}
	return b.NewArray()
}

const nullF = -12345.678 // marks a null in f64s

func i64s(vals ...int64) arrow.Array {
	b := array.NewInt64Builder(mem)
	defer b.Release()
	b.AppendValues(vals, nil)
	return b.NewArray()
}

func stringLists(rows ...[]string) arrow.Array { // a nil row is a null list
	b := array.NewListBuilder(mem, arrow.BinaryTypes.String)
	defer b.Release()
	vb := b.ValueBuilder().(*array.StringBuilder)
	for _, r := range rows {
		if r == nil {
			b.AppendNull()
			continue
		}
		b.Append(true)
		for _, v := range r {
			vb.Append(v)
		}
	}
	return b.NewArray()
}

func dictStrs(vals ...string) arrow.Array {
	dt := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
	b := array.NewDictionaryBuilder(mem, dt).(*array.BinaryDictionaryBuilder)
	defer b.Release()
	for _, v := range vals {
		if err := b.AppendString(v); err != nil {
			panic(err)
		}
	}
	return b.NewArray()
}

func ptr(x float64) *float64 { return &x }

func featurize(t *testing.T, spec *feature.Spec, rec arrow.Record, opts ...feature.Option) *feature.Batch {
	t.Helper()
	f, err := feature.NewFeaturizer(spec, opts...)
	if err != nil {
		t.Fatal(err)
	}
	var b feature.Batch
	if err := f.Featurize(rec, &b); err != nil {
		t.Fatal(err)
	}
	return &b
}

// closeTo compares float32 features with 1e-6: they are float64 computations
// rounded once to float32 (relative error 6e-8) on values of order 1.
func closeTo(a, b float32) bool { return math.Abs(float64(a-b)) <= 1e-6 }

func TestFeaturizeNumeric(t *testing.T) {
	spec := &feature.Spec{
		Label: feature.Label{Column: "y", Type: feature.Real},
		Numeric: []feature.Numeric{
			{Column: "price", Clip: []float64{0, 99}, Log1p: true},
			{Column: "age", Standardize: true, Mean: ptr(30), Std: ptr(10)},
			{Column: "size", Bucketize: []float64{1, 10, 100}},
			{Column: "score", Invalid: feature.InvalidImpute, Impute: 0.5},
		},
	}
	rec := record(t,
		column{"y", f64s(1.5, -2, 0)},
		column{"price", f64s(-5, 3, 1000)},
		column{"age", f64s(30, 45, 10)},
		column{"size", f64s(0.5, 10, 1e6)},
		column{"score", f64s(nullF, math.NaN(), 2)},
	)
	b := featurize(t, spec, rec)
	if b.Rows != 3 || len(b.Indptr) != 4 || b.Indptr[3] != 12 {
		t.Fatalf("rows %d indptr %v, want 3 rows of 4 features", b.Rows, b.Indptr)
	}
	want := [][]struct {
		key uint64
		val float32
	}{
		// price: clip(-5)=0 → log1p 0; age (30−30)/10; size 0.5 < 1 → bucket 1; score null → impute 0.5
		{{feature.Key(0, 0), 0}, {feature.Key(1, 0), 0}, {feature.Key(2, 1), 1}, {feature.Key(3, 0), 0.5}},
		// log1p(3) = 1.3862944; (45−30)/10; 10 ≥ boundary 10 → bucket 3; NaN → 0.5
		{{feature.Key(0, 0), 1.3862944}, {feature.Key(1, 0), 1.5}, {feature.Key(2, 3), 1}, {feature.Key(3, 0), 0.5}},
		// clip(1000)=99 → log1p 99 = ln 100 = 4.6051702; (10−30)/10; 1e6 → bucket 4
		{{feature.Key(0, 0), 4.6051702}, {feature.Key(1, 0), -2}, {feature.Key(2, 4), 1}, {feature.Key(3, 0), 2}},
	}
	for r := range want {
		keys, vals, fields := b.Row(r)
		for j, w := range want[r] {
			if keys[j] != w.key || !closeTo(vals[j], w.val) || fields[j] != int32(j) {
				t.Errorf("row %d feature %d: key %#x value %v field %d, want key %#x value %v field %d",
					r, j, keys[j], vals[j], fields[j], w.key, w.val, j)
			}
		}
	}
	if got := b.Labels; got[0] != 1.5 || got[1] != -2 || got[2] != 0 {
		t.Errorf("labels %v", got)
	}
	if got := b.Weights; got[0] != 1 || got[1] != 1 || got[2] != 1 {
		t.Errorf("weights %v, want all 1 without a weight column", got)
	}
}

func TestFeaturizeCategorical(t *testing.T) {
	spec := &feature.Spec{
		Label:    feature.Label{Column: "click", Type: feature.Binary},
		Weight:   "w",
		HashBits: 8,
		Categorical: []feature.Categorical{
			{Column: "site"},
			{Column: "pos"},
			{Column: "tags", HashBits: 4},
		},
		Crosses: []feature.Cross{{Columns: []string{"site", "pos"}}},
	}
	rec := record(t,
		column{"click", i64s(0, 1, 1, 0)},
		column{"w", f64s(1, 2, 0.5, 0)},
		column{"site", strs("a", "b", "<null>", "a")},
		column{"pos", i64s(1, 2, 3, 1)},
		column{"tags", stringLists([]string{"x", "y"}, nil, []string{}, []string{"y", "x", "z"})},
	)
	b := featurize(t, spec, rec)
	// 3 single-valued fields (site, pos, cross) then the tags: 2, 1 (null), 1 (empty), 3.
	wantIndptr := []int32{0, 5, 9, 13, 19}
	for i, w := range wantIndptr {
		if b.Indptr[i] != w {
			t.Fatalf("indptr %v, want %v", b.Indptr, wantIndptr)
		}
	}
	key := func(r, j int) uint64 { k, _, _ := b.Row(r); return k[j] }
	field := func(r, j int) int32 { _, _, f := b.Row(r); return f[j] }
	// Field ids follow the spec: site 0, pos 1, tags 2, cross 3; slots put
	// single-valued fields (site, pos, cross) before the list.
	for r := range 4 {
		if field(r, 0) != 0 || field(r, 1) != 1 || field(r, 2) != 3 || field(r, 3) != 2 {
			t.Errorf("row %d fields %v", r, b.Fields[b.Indptr[r]:b.Indptr[r+1]])
		}
	}
	if key(0, 0) != key(3, 0) || key(0, 0) == key(1, 0) {
		t.Error("equal strings must share a key and different ones differ")
	}
	if key(2, 0) != feature.Key(0, feature.MissingBucket) {
		t.Errorf("null string: key %#x, want the missing bucket", key(2, 0))
	}
	if key(0, 2) != key(3, 2) || key(0, 2) == key(1, 2) {
		t.Error("cross keys: (a,1) twice must match, (b,2) must differ")
	}
	if key(2, 2) != feature.Key(3, feature.MissingBucket) {
		t.Error("a cross with a null component must use the missing bucket")
	}
	if key(1, 3) != feature.Key(2, feature.MissingBucket) || key(2, 3) != feature.Key(2, feature.MissingBucket) {
		t.Error("null and empty lists must use the missing bucket")
	}
	// Row 3's tags are y, x, z; row 0's are x, y.
	if key(3, 3) != key(0, 4) || key(3, 4) != key(0, 3) {
		t.Error("list elements must hash like equal values in other rows")
	}
	for i, k := range b.Indices {
		bucket := feature.KeyBucket(k)
		limit := uint32(1) << 8
		if feature.KeyField(k) == 2 {
			limit = 1 << 4
		}
		if bucket >= limit {
			t.Errorf("entry %d: bucket %d ≥ 2^bits %d", i, bucket, limit)
		}
	}
	for i, v := range b.Values {
		if v != 1 {
			t.Errorf("entry %d: value %v, want 1 for categorical features", i, v)
		}
	}
	if w := b.Weights; w[0] != 1 || w[1] != 2 || w[2] != 0.5 || w[3] != 0 {
		t.Errorf("weights %v", w)
	}
	if l := b.Labels; l[0] != 0 || l[1] != 1 || l[2] != 1 || l[3] != 0 {
		t.Errorf("labels %v", l)
	}
}

// TestHashStability pins the buckets of a few values. Saved models store
// parameters by key, so a change to the hashing silently breaks every
// published model: if this test fails, the change is the bug.
func TestHashStability(t *testing.T) {
	spec := &feature.Spec{Label: feature.Label{Column: "y", Type: feature.Binary}, HashBits: 20,
		Categorical: []feature.Categorical{{Column: "s"}, {Column: "i"}}}
	rec := record(t, column{"y", i64s(0, 1)}, column{"s", strs("1005", "85f751fd")}, column{"i", i64s(1005, -1)})
	b := featurize(t, spec, rec)
	want := []uint64{0xa5e92, 0x1_000e_ccc0, 0x5726e, 0x1_0002_cd1b}
	got := []uint64{b.Indices[0], b.Indices[1], b.Indices[2], b.Indices[3]}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("key %d = %#x, want %#x (hashing changed: saved models would no longer match)", i, got[i], want[i])
		}
	}
}

func TestDictionaryMatchesPlainStrings(t *testing.T) {
	spec := &feature.Spec{Categorical: []feature.Categorical{{Column: "c"}}}
	vals := []string{"u", "v", "u", "w"}
	plain := featurize(t, spec, record(t, column{"c", strs(vals...)}), feature.WithoutLabels())
	dict := featurize(t, spec, record(t, column{"c", dictStrs(vals...)}), feature.WithoutLabels())
	for i := range vals {
		if plain.Indices[i] != dict.Indices[i] {
			t.Errorf("row %d: plain key %#x, dictionary key %#x", i, plain.Indices[i], dict.Indices[i])
		}
	}
	if len(plain.Labels) != 0 {
		t.Errorf("WithoutLabels: %d labels", len(plain.Labels))
	}
}

func TestSlicedRecord(t *testing.T) {
	spec := &feature.Spec{Categorical: []feature.Categorical{{Column: "c"}, {Column: "l"}}}
	full := record(t, column{"c", strs("a", "b", "c", "d")},
		column{"l", stringLists([]string{"p"}, []string{"q", "r"}, []string{"s"}, nil)})
	whole := featurize(t, spec, full, feature.WithoutLabels())
	sl := full.NewSlice(1, 3)
	defer sl.Release()
	part := featurize(t, spec, sl, feature.WithoutLabels())
	for r := range 2 {
		wk, _, _ := whole.Row(r + 1)
		pk, _, _ := part.Row(r)
		if len(wk) != len(pk) {
			t.Fatalf("row %d: %d features in the slice, %d in the whole", r, len(pk), len(wk))
		}
		for j := range wk {
			if wk[j] != pk[j] {
				t.Errorf("row %d feature %d: slice %#x, whole %#x", r, j, pk[j], wk[j])
			}
		}
	}
}

func TestBadValues(t *testing.T) {
	tests := []struct {
		name   string
		spec   *feature.Spec
		rec    func(t *testing.T) arrow.Record
		column string
		row    int
	}{
		{
			name: "binary label 2",
			spec: &feature.Spec{Label: feature.Label{Column: "y", Type: feature.Binary}, Categorical: []feature.Categorical{{Column: "c"}}},
			rec: func(t *testing.T) arrow.Record {
				return record(t, column{"y", i64s(0, 1, 2)}, column{"c", strs("a", "b", "c")})
			},
			column: "y", row: 2,
		},
		{
			name: "unknown class",
			spec: &feature.Spec{Label: feature.Label{Column: "y", Type: feature.Multiclass, Classes: []string{"cat", "dog"}},
				Categorical: []feature.Categorical{{Column: "c"}}},
			rec: func(t *testing.T) arrow.Record {
				return record(t, column{"y", strs("dog", "cow")}, column{"c", strs("a", "b")})
			},
			column: "y", row: 1,
		},
		{
			name: "integer class not listed",
			spec: &feature.Spec{Label: feature.Label{Column: "y", Type: feature.Multiclass, Classes: []string{"0", "1", "2"}},
				Categorical: []feature.Categorical{{Column: "c"}}},
			rec: func(t *testing.T) arrow.Record {
				return record(t, column{"y", i64s(2, 0, 3)}, column{"c", strs("a", "b", "c")})
			},
			column: "y", row: 2,
		},
		{
			name: "null label",
			spec: &feature.Spec{Label: feature.Label{Column: "y", Type: feature.Real}, Categorical: []feature.Categorical{{Column: "c"}}},
			rec: func(t *testing.T) arrow.Record {
				return record(t, column{"y", f64s(1, nullF)}, column{"c", strs("a", "b")})
			},
			column: "y", row: 1,
		},
		{
			name: "infinite real label",
			spec: &feature.Spec{Label: feature.Label{Column: "y", Type: feature.Real}, Categorical: []feature.Categorical{{Column: "c"}}},
			rec: func(t *testing.T) arrow.Record {
				return record(t, column{"y", f64s(math.Inf(1))}, column{"c", strs("a")})
			},
			column: "y", row: 0,
		},
		{
			name: "NaN numeric under error policy",
			spec: &feature.Spec{Label: feature.Label{Column: "y", Type: feature.Real}, Numeric: []feature.Numeric{{Column: "x"}}},
			rec: func(t *testing.T) arrow.Record {
				return record(t, column{"y", f64s(1, 2)}, column{"x", f64s(1, math.NaN())})
			},
			column: "x", row: 1,
		},
		{
			name: "null numeric under error policy",
			spec: &feature.Spec{Label: feature.Label{Column: "y", Type: feature.Real}, Numeric: []feature.Numeric{{Column: "x"}}},
			rec: func(t *testing.T) arrow.Record {
				return record(t, column{"y", f64s(1, 2)}, column{"x", f64s(nullF, 1)})
			},
			column: "x", row: 0,
		},
		{
			name:   "log1p below -1",
			spec:   &feature.Spec{Label: feature.Label{Column: "y", Type: feature.Real}, Numeric: []feature.Numeric{{Column: "x", Log1p: true}}},
			rec:    func(t *testing.T) arrow.Record { return record(t, column{"y", f64s(1, 2)}, column{"x", f64s(0, -3)}) },
			column: "x", row: 1,
		},
		{
			name: "negative weight",
			spec: &feature.Spec{Label: feature.Label{Column: "y", Type: feature.Real}, Weight: "w",
				Numeric: []feature.Numeric{{Column: "x"}}},
			rec: func(t *testing.T) arrow.Record {
				return record(t, column{"y", f64s(1, 2)}, column{"x", f64s(0, 0)}, column{"w", f64s(1, -1)})
			},
			column: "w", row: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := feature.NewFeaturizer(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			var b feature.Batch
			err = f.Featurize(tt.rec(t), &b)
			var ve *feature.ValueError
			if !errors.As(err, &ve) {
				t.Fatalf("Featurize = %v, want a *ValueError", err)
			}
			if ve.Column != tt.column || ve.Row != tt.row {
				t.Errorf("error names column %q row %d (%v), want column %q row %d", ve.Column, ve.Row, err, tt.column, tt.row)
			}
		})
	}
}

func TestValueErrorRowBeyondFirstBlock(t *testing.T) {
	vals := make([]float64, 1000)
	vals[700] = math.Inf(-1)
	spec := &feature.Spec{Numeric: []feature.Numeric{{Column: "x"}}}
	f, err := feature.NewFeaturizer(spec, feature.WithoutLabels())
	if err != nil {
		t.Fatal(err)
	}
	var b feature.Batch
	err = f.Featurize(record(t, column{"x", f64s(vals...)}), &b)
	var ve *feature.ValueError
	if !errors.As(err, &ve) || ve.Row != 700 {
		t.Errorf("Featurize = %v, want a *ValueError at row 700", err)
	}
}

func TestMulticlassLabels(t *testing.T) {
	spec := &feature.Spec{Label: feature.Label{Column: "y", Type: feature.Multiclass, Classes: []string{"cat", "dog", "eel"}},
		Categorical: []feature.Categorical{{Column: "c"}}}
	for name, y := range map[string]arrow.Array{
		"string":     strs("eel", "cat", "dog"),
		"dictionary": dictStrs("eel", "cat", "dog"),
	} {
		t.Run(name, func(t *testing.T) {
			b := featurize(t, spec, record(t, column{"y", y}, column{"c", strs("a", "b", "c")}))
			if l := b.Labels; l[0] != 2 || l[1] != 0 || l[2] != 1 {
				t.Errorf("labels %v, want [2 0 1]", l)
			}
		})
	}
	spec.Label.Classes = []string{"3", "7"}
	b := featurize(t, spec, record(t, column{"y", i64s(7, 3)}, column{"c", strs("a", "b")}))
	if l := b.Labels; l[0] != 1 || l[1] != 0 {
		t.Errorf("integer classes: labels %v, want [1 0]", l)
	}
}

func TestValidateSchema(t *testing.T) {
	src := `label: {column: click, type: binary}
numeric:
  - {column: price, log1p: true}
categorical:
  - {column: site}
  - {column: tags}
weight: w
event_time: ts
`
	spec, err := feature.Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	schema := func(fields ...arrow.Field) *arrow.Schema { return arrow.NewSchema(fields, nil) }
	var (
		w     = arrow.Field{Name: "w", Type: arrow.PrimitiveTypes.Float32}
		ts    = arrow.Field{Name: "ts", Type: arrow.FixedWidthTypes.Timestamp_ms}
		click = arrow.Field{Name: "click", Type: arrow.PrimitiveTypes.Int8}
		price = arrow.Field{Name: "price", Type: arrow.PrimitiveTypes.Float32}
		site  = arrow.Field{Name: "site", Type: arrow.BinaryTypes.String}
		tags  = arrow.Field{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String)}
	)
	tests := []struct {
		name   string
		schema *arrow.Schema
		opts   []feature.Option
		column string
		line   int
	}{
		{"ok", schema(click, price, site, tags, w, ts), nil, "", 0},
		{"scoring needs no label, weight, time", schema(price, site, tags), []feature.Option{feature.WithoutLabels()}, "", 0},
		{"missing label", schema(price, site, tags, w, ts), nil, "click", 1},
		{"missing numeric", schema(click, site, tags, w, ts), nil, "price", 3},
		{"missing categorical", schema(click, price, tags, w, ts), nil, "site", 5},
		{"string numeric", schema(click, arrow.Field{Name: "price", Type: arrow.BinaryTypes.String}, site, tags, w, ts), nil, "price", 3},
		{"float categorical", schema(click, price, arrow.Field{Name: "site", Type: arrow.PrimitiveTypes.Float64}, tags, w, ts), nil, "site", 5},
		{"list of floats", schema(click, price, site, arrow.Field{Name: "tags", Type: arrow.ListOf(arrow.PrimitiveTypes.Float64)}, w, ts), nil, "tags", 6},
		{"string binary label", schema(arrow.Field{Name: "click", Type: arrow.BinaryTypes.String}, price, site, tags, w, ts), nil, "click", 1},
		{"missing weight", schema(click, price, site, tags, ts), nil, "w", 7},
		{"string weight", schema(click, price, site, tags, arrow.Field{Name: "w", Type: arrow.BinaryTypes.String}, ts), nil, "w", 7},
		{"float event time", schema(click, price, site, tags, w, arrow.Field{Name: "ts", Type: arrow.PrimitiveTypes.Float64}), nil, "ts", 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := spec.ValidateSchema(tt.schema, tt.opts...)
			if tt.column == "" {
				if err != nil {
					t.Fatalf("ValidateSchema = %v", err)
				}
				return
			}
			var se *feature.SpecError
			if !errors.As(err, &se) {
				t.Fatalf("ValidateSchema = %v, want a *SpecError", err)
			}
			if se.Column != tt.column || se.Line != tt.line {
				t.Errorf("error names column %q line %d (%v), want %q line %d", se.Column, se.Line, err, tt.column, tt.line)
			}
			if !strings.Contains(err.Error(), tt.column) {
				t.Errorf("message %q does not name the column", err)
			}
		})
	}
}

func TestFeaturizeDoesNotAllocate(t *testing.T) {
	spec := featuretest.ClickLogSpec(20)
	spec.Categorical = append(spec.Categorical, feature.Categorical{Column: "tags"})
	spec.Crosses = []feature.Cross{{Columns: []string{"site_id", "app_id"}}}
	base := featuretest.ClickLog(mem, 512, 1)
	defer base.Release()
	tags := stringLists(make([][]string, 512)...)
	cols := append(base.Columns(), tags)
	fields := append(base.Schema().Fields(), arrow.Field{Name: "tags", Type: tags.DataType(), Nullable: true})
	rec := array.NewRecord(arrow.NewSchema(fields, nil), cols, 512)
	tags.Release()
	defer rec.Release()

	f, err := feature.NewFeaturizer(spec)
	if err != nil {
		t.Fatal(err)
	}
	var b feature.Batch
	if err := f.Featurize(rec, &b); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(20, func() {
		if err := f.Featurize(rec, &b); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per Featurize of 512 rows after warm-up, want 0", allocs)
	}
}

// TestBlocksMatchSingleRows featurizes 1000 rows at once (several row
// blocks) and each row alone, with numeric, bucketized, categorical and
// crossed fields, and expects identical features.
func TestBlocksMatchSingleRows(t *testing.T) {
	spec := featuretest.ClickLogSpec(18)
	spec.Numeric = []feature.Numeric{
		{Column: "C14", Name: "C14_log", Log1p: true},
		{Column: "C15", Name: "C15_bucket", Bucketize: []float64{100, 500, 900}},
	}
	spec.Crosses = []feature.Cross{{Columns: []string{"site_id", "C15"}}, {Columns: []string{"app_id", "device_model", "banner_pos"}}}
	rec := featuretest.ClickLog(mem, 1000, 3)
	defer rec.Release()
	f, err := feature.NewFeaturizer(spec)
	if err != nil {
		t.Fatal(err)
	}
	var all, one feature.Batch
	if err := f.Featurize(rec, &all); err != nil {
		t.Fatal(err)
	}
	for r := range 1000 {
		row := rec.NewSlice(int64(r), int64(r+1))
		err := f.Featurize(row, &one)
		row.Release()
		if err != nil {
			t.Fatal(err)
		}
		ak, av, af := all.Row(r)
		ok, ov, of := one.Row(0)
		if !slices.Equal(ak, ok) || !slices.Equal(av, ov) || !slices.Equal(af, of) || all.Labels[r] != one.Labels[0] {
			t.Fatalf("row %d: batch %v %v %v, alone %v %v %v", r, ak, av, af, ok, ov, of)
		}
	}
}

// TestRebindAfterSchemaError: a record with a bad schema must not leave the
// featurizer half-bound to it; the next good record featurizes correctly.
func TestRebindAfterSchemaError(t *testing.T) {
	spec := &feature.Spec{Categorical: []feature.Categorical{{Column: "a"}, {Column: "b"}}}
	good := record(t, column{"a", strs("x")}, column{"b", strs("y")})
	// b first and a mistyped: bind resolves b at column 0, then fails on a.
	bad := record(t, column{"b", strs("y")}, column{"a", f64s(1)})
	f, err := feature.NewFeaturizer(spec, feature.WithoutLabels())
	if err != nil {
		t.Fatal(err)
	}
	var want, got feature.Batch
	if err := f.Featurize(good, &want); err != nil {
		t.Fatal(err)
	}
	if err := f.Featurize(bad, &got); err == nil {
		t.Fatal("a float column was accepted as categorical")
	}
	if err := f.Featurize(good, &got); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(want.Indices, got.Indices) {
		t.Errorf("after a schema error: keys %v, want %v", got.Indices, want.Indices)
	}
}
