package dataset_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/parquet-go/parquet-go"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/internal/pyref"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/lake/laketest"
)

// pyarrowFixtures writes the files of testdata/write_types.py into a
// temporary folder and returns it with the expected values per column.
func pyarrowFixtures(t *testing.T) (string, []map[string]any, map[string][]any) {
	t.Helper()
	dir := t.TempDir()
	pyref.Run(t, filepath.Join("testdata", "write_types.py"), dir)
	var manifest []map[string]any
	readJSON(t, filepath.Join(dir, "manifest.json"), &manifest)
	var expected map[string][]any
	readJSON(t, filepath.Join(dir, "expected.json"), &expected)
	return dir, manifest, expected
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // keep 64-bit integers exact
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestReadPyarrowTypes reads files written by pyarrow with every codec,
// dictionary and plain encodings and both data page versions, and compares
// every value (nulls included) with what pyarrow was given.
func TestReadPyarrowTypes(t *testing.T) {
	dir, manifest, expected := pyarrowFixtures(t)
	store, err := lake.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	wantTypes := map[string]string{
		"b": "bool", "i8": "int8", "i16": "int16", "i32": "int32", "i64": "int64",
		"u8": "uint8", "u16": "uint16", "u32": "uint32", "u64": "uint64",
		"f32": "float32", "f64": "float64", "s": "utf8", "bin": "binary", "fsb": "binary",
		"d": "date32", "ts_ms": "timestamp[ms]", "ts_us": "timestamp[us]", "ts_ns": "timestamp[ns]",
		"ts_utc": "timestamp[us, tz=UTC]", "dec": "float64", "dec_big": "float64", "req": "int64",
		"lst": "list<item: int64, nullable>", "lst_s": "list<item: utf8, nullable>",
	}
	for _, m := range manifest {
		for _, recycle := range []bool{false, true} {
			name := m["file"].(string)
			sub := name
			if recycle {
				sub += "/recycle"
			}
			t.Run(sub, func(t *testing.T) {
				ctx := context.Background()
				ds, err := dataset.Open(ctx, store, name)
				if err != nil {
					t.Fatal(err)
				}
				plan, err := ds.Plan(ctx, dataset.Query{})
				if err != nil {
					t.Fatal(err)
				}
				int96 := m["int96"] == true
				if n := len(plan.Splits()); n != 3 {
					t.Errorf("got %d splits, want 3 row groups", n)
				}
				// 700 rows per batch so batches straddle pages and row groups.
				sc := plan.Scan(ctx, plan.Splits(), dataset.ScanOptions{BatchSize: 700, RecycleBuffers: recycle})
				defer sc.Close()
				got := map[string][]arrow.Array{}
				rows := 0
				for sc.Next() {
					rec := sc.At()
					for i, f := range rec.Schema().Fields() {
						c := rec.Column(i)
						c.Retain()
						got[f.Name] = append(got[f.Name], c)
					}
					rows += int(rec.NumRows())
				}
				if err := sc.Err(); err != nil {
					t.Fatal(err)
				}
				if rows != 3000 {
					t.Fatalf("read %d rows, want 3000", rows)
				}
				for _, f := range plan.Schema().Fields() {
					key := f.Name
					want := wantTypes[f.Name]
					if int96 {
						key, want = "int96_"+f.Name, "timestamp[ns]"
					}
					if f.Type.String() != want {
						t.Errorf("column %s: type %s, want %s", f.Name, f.Type, want)
					}
					if f.Name == "req" && f.Nullable {
						t.Errorf("column req is required in the file but nullable in the schema")
					}
					exp, ok := expected[key]
					if !ok {
						t.Fatalf("no expected values for %s", key)
					}
					row := 0
					for _, a := range got[f.Name] {
						for i := 0; i < a.Len(); i++ {
							if msg := compareValue(a, i, exp[row]); msg != "" {
								t.Fatalf("column %s row %d: %s", f.Name, row, msg)
							}
							row++
						}
						a.Release()
					}
				}
				if int96 && len(plan.Schema().Fields()) != 3 {
					t.Errorf("int96 file: %d columns, want 3", len(plan.Schema().Fields()))
				}
				if !int96 && len(plan.Schema().Fields()) != len(wantTypes) {
					t.Errorf("%d columns, want %d", len(plan.Schema().Fields()), len(wantTypes))
				}
			})
		}
	}
}

// compareValue checks a[i] against a value decoded from expected.json and
// returns a description of the difference, or "".
func compareValue(a arrow.Array, i int, want any) string {
	if want == nil {
		if !a.IsNull(i) {
			return "want null, got " + a.ValueStr(i)
		}
		return ""
	}
	if a.IsNull(i) {
		return "got null, want " + jsonString(want)
	}
	num := func() json.Number { return want.(json.Number) }
	bad := func() string { return "got " + a.ValueStr(i) + ", want " + jsonString(want) }
	switch a := a.(type) {
	case *array.Boolean:
		if a.Value(i) != want.(bool) {
			return bad()
		}
	case *array.Int8, *array.Int16, *array.Int32, *array.Int64, *array.Date32, *array.Timestamp:
		w, err := strconv.ParseInt(num().String(), 10, 64)
		if err != nil || intValue(a, i) != w {
			return bad()
		}
	case *array.Uint8, *array.Uint16, *array.Uint32, *array.Uint64:
		w, err := strconv.ParseUint(num().String(), 10, 64)
		if err != nil || uintValue(a, i) != w {
			return bad()
		}
	case *array.Float32:
		// pyarrow rounded the Python float to float32 when it built the
		// column; do the same rounding to the expected value.
		w, _ := num().Float64()
		if a.Value(i) != float32(w) {
			return bad()
		}
	case *array.Float64:
		w, _ := num().Float64()
		// Plain doubles must be exact. Decimals wider than 8 bytes are
		// converted through big.Float and then divided by 10^scale, two
		// roundings, so allow 2 ulp against Python's correctly rounded
		// float(Decimal).
		if g := a.Value(i); g != w && math.Abs(g-w) > 2*math.Abs(w)*0x1p-52 {
			return bad()
		}
	case *array.String:
		if a.Value(i) != want.(string) {
			return bad()
		}
	case *array.Binary:
		if hex.EncodeToString(a.Value(i)) != want.(string) {
			return bad()
		}
	case *array.List:
		ws := want.([]any)
		lo, hi := a.ValueOffsets(i)
		if int(hi-lo) != len(ws) {
			return "list length " + strconv.Itoa(int(hi-lo)) + ", want " + jsonString(want)
		}
		for j := range ws {
			if msg := compareValue(a.ListValues(), int(lo)+j, ws[j]); msg != "" {
				return "element " + strconv.Itoa(j) + ": " + msg
			}
		}
	default:
		return "unexpected array type " + a.DataType().String()
	}
	return ""
}

func intValue(a arrow.Array, i int) int64 {
	switch a := a.(type) {
	case *array.Int8:
		return int64(a.Value(i))
	case *array.Int16:
		return int64(a.Value(i))
	case *array.Int32:
		return int64(a.Value(i))
	case *array.Int64:
		return a.Value(i)
	case *array.Date32:
		return int64(a.Value(i))
	case *array.Timestamp:
		return int64(a.Value(i))
	}
	panic("not an int array")
}

func uintValue(a arrow.Array, i int) uint64 {
	switch a := a.(type) {
	case *array.Uint8:
		return uint64(a.Value(i))
	case *array.Uint16:
		return uint64(a.Value(i))
	case *array.Uint32:
		return uint64(a.Value(i))
	case *array.Uint64:
		return a.Value(i)
	}
	panic("not a uint array")
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestCorruptFooterNamesTheFile flips every byte of the footer of a file
// with list columns, one at a time: planning and scanning never panic (a
// corrupt element type once reached arrow.ListOf as nil), and every error
// names the file.
func TestCorruptFooterNamesTheFile(t *testing.T) {
	ctx := context.Background()
	store := laketest.NewMemory()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "tags", Type: arrow.ListOf(arrow.PrimitiveTypes.Int64), Nullable: true},
		{Name: "x", Type: arrow.PrimitiveTypes.Float64},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	for i := range 20 {
		lb := b.Field(0).(*array.ListBuilder)
		lb.Append(true)
		lb.ValueBuilder().(*array.Int64Builder).AppendValues([]int64{int64(i), int64(i + 1)}, nil)
		b.Field(1).(*array.Float64Builder).Append(float64(i))
	}
	rec := b.NewRecord()
	b.Release()
	defer rec.Release()
	if err := dataset.WriteFile(ctx, store, "good.parquet", schema, []arrow.Record{rec}, dataset.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	good, err := lake.ReadAll(ctx, store, "good.parquet")
	if err != nil {
		t.Fatal(err)
	}
	footerLen := int(binary.LittleEndian.Uint32(good[len(good)-8:]))
	start := len(good) - 8 - footerLen
	for n := range 4 * (len(good) - 8 - start) {
		i := start + n/4
		bad := bytes.Clone(good)
		bad[i] = [4]byte{0, ^good[i], good[i] + 1, good[i] - 1}[n%4]
		key := "bad/f" + strconv.Itoa(n) + ".parquet"
		if err := lake.PutBytes(ctx, store, key, bad); err != nil {
			t.Fatal(err)
		}
		err := func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("panic: %v", r)
				}
			}()
			ds, err := dataset.Open(ctx, store, key)
			if err != nil {
				return err
			}
			p, err := ds.Plan(ctx, dataset.Query{})
			if err != nil {
				return err
			}
			sc := p.Scan(ctx, p.Splits(), dataset.ScanOptions{})
			defer sc.Close()
			for sc.Next() {
			}
			return sc.Err()
		}()
		if err != nil && (strings.HasPrefix(err.Error(), "panic") || !strings.Contains(err.Error(), key)) {
			t.Fatalf("footer byte %d changed to %#x: %v (want an error naming %s)", i, bad[i], err, key)
		}
	}
}

// TestStructColumnsExplained: a struct column is listed as unsupported with
// the reason, and naming one of its fields says why it cannot be read.
func TestStructColumnsExplained(t *testing.T) {
	type inner struct {
		OS string `parquet:"os"`
	}
	type row struct {
		X   int64 `parquet:"x"`
		Ctx inner `parquet:"ctx"`
	}
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[row](&buf)
	if _, err := w.Write([]row{{1, inner{"ios"}}, {2, inner{"android"}}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	store := laketest.NewMemory()
	if err := lake.PutBytes(ctx, store, "t/part-0.parquet", buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	ds, err := dataset.Open(ctx, store, "t")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ds.Plan(ctx, dataset.Query{})
	if err != nil || len(p.Unsupported()) != 1 || p.Unsupported()[0] != "ctx" {
		t.Fatalf("default projection: %v, unsupported %v", err, p.Unsupported())
	}
	for col, want := range map[string]string{"ctx.os": "nested fields are not read", "ctx": "struct or map"} {
		if _, err := ds.Plan(ctx, dataset.Query{Columns: []string{col}}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("column %s: %v, want an error containing %q", col, err, want)
		}
	}
}
