package train

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/lakestream/lakestream/train/feature"
)

// recordsOf iterates over records held in memory; it owns and releases them.
type recordsOf struct {
	recs []arrow.Record
	i    int
}

func (r *recordsOf) Next() bool {
	if r.i >= len(r.recs) {
		return false
	}
	r.i++
	return true
}
func (r *recordsOf) At() arrow.Record { return r.recs[r.i-1] }
func (r *recordsOf) Err() error       { return nil }
func (r *recordsOf) Close() error {
	for _, rec := range r.recs {
		rec.Release()
	}
	r.recs = nil
	return nil
}

// clickRecord builds a record with user (string), price (float64) and click
// (int32) columns.
func clickRecord(users []string, prices []float64, clicks []int32) arrow.Record {
	mem := memory.DefaultAllocator
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "user", Type: arrow.BinaryTypes.String},
		{Name: "price", Type: arrow.PrimitiveTypes.Float64},
		{Name: "click", Type: arrow.PrimitiveTypes.Int32},
	}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).AppendValues(users, nil)
	b.Field(1).(*array.Float64Builder).AppendValues(prices, nil)
	b.Field(2).(*array.Int32Builder).AppendValues(clicks, nil)
	return b.NewRecord()
}

func mustSpec(t *testing.T, y string) *feature.Spec {
	t.Helper()
	s, err := feature.Parse([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func drain(bs Batches) (rows int, err error) {
	ctx := context.Background()
	for bs.Next(ctx) {
		rows += bs.At().Rows()
		if err := bs.At().Validate(); err != nil {
			return rows, err
		}
	}
	return rows, bs.Err()
}

func TestSourceBatchesCutsRecords(t *testing.T) {
	spec := mustSpec(t, "label: {column: click, type: binary}\ncategorical: [{column: user}]\nnumeric: [{column: price}]\n")
	users := make([]string, 1000)
	prices := make([]float64, 1000)
	clicks := make([]int32, 1000)
	for i := range users {
		users[i] = string(rune('a' + i%26))
		prices[i] = float64(i)
		clicks[i] = int32(i % 2)
	}
	fz, err := feature.NewFeaturizer(spec)
	if err != nil {
		t.Fatal(err)
	}
	bs := NewSourceBatches(&recordsOf{recs: []arrow.Record{clickRecord(users, prices, clicks), clickRecord(users[:10], prices[:10], clicks[:10])}}, fz, 300)
	var sizes []int
	ctx := context.Background()
	for bs.Next(ctx) {
		b := bs.At()
		if err := b.Validate(); err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, b.Rows())
	}
	if err := bs.Err(); err != nil {
		t.Fatal(err)
	}
	want := []int{300, 300, 300, 100, 10}
	if len(sizes) != len(want) {
		t.Fatalf("batch sizes %v, want %v", sizes, want)
	}
	for i := range want {
		if sizes[i] != want[i] {
			t.Fatalf("batch sizes %v, want %v", sizes, want)
		}
	}
}

// TestSourceBatchesBadInput covers the documented policies: a spec column
// missing from the data, a label outside its type and NaN/Inf numbers are
// errors (the numeric policy "error" is the default); "impute" replaces
// them.
func TestSourceBatchesBadInput(t *testing.T) {
	tests := []struct {
		name    string
		spec    string
		prices  []float64
		clicks  []int32
		wantErr string // substring; "" means no error
	}{
		{"missing column", "label: {column: click, type: binary}\ncategorical: [{column: country}]\n", []float64{1, 2}, []int32{0, 1}, "country"},
		{"label outside type", "label: {column: click, type: binary}\ncategorical: [{column: user}]\n", []float64{1, 2}, []int32{0, 2}, "label"},
		{"NaN number", "label: {column: click, type: binary}\nnumeric: [{column: price}]\n", []float64{1, math.NaN()}, []int32{0, 1}, "price"},
		{"Inf number", "label: {column: click, type: binary}\nnumeric: [{column: price}]\n", []float64{math.Inf(1), 2}, []int32{0, 1}, "price"},
		{"NaN imputed", "label: {column: click, type: binary}\nnumeric: [{column: price, invalid: impute, impute: 0}]\n", []float64{1, math.NaN()}, []int32{0, 1}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fz, err := feature.NewFeaturizer(mustSpec(t, tc.spec))
			if err == nil {
				_, err = drain(NewSourceBatches(&recordsOf{recs: []arrow.Record{clickRecord([]string{"a", "b"}, tc.prices, tc.clicks)}}, fz, DefaultBatchSize))
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one naming %q", err, tc.wantErr)
			}
		})
	}
}

// TestHashSplitPartitionsRows: the held-out and training sides of Fit's
// hash split (holdOut) are disjoint, cover every row, keep each user on one
// side, and the held-out share is near the percentage; a missing column is
// named.
func TestHashSplitPartitionsRows(t *testing.T) {
	n := 5000
	users := make([]string, n)
	prices := make([]float64, n)
	clicks := make([]int32, n)
	for i := range users {
		users[i] = "u" + string(rune('A'+i%500/26)) + string(rune('a'+i%26))
	}
	rec := clickRecord(users, prices, clicks)
	h := HashSplit{Column: "user", Percent: 20}
	trainSide, heldSide := make([]bool, n), make([]bool, n)
	if err := holdOut(h, false)(rec, trainSide); err != nil {
		t.Fatal(err)
	}
	if err := holdOut(h, true)(rec, heldSide); err != nil {
		t.Fatal(err)
	}
	side := map[string]bool{}
	held := 0
	for r := range n {
		if trainSide[r] == heldSide[r] {
			t.Fatalf("row %d: training side %v, held-out side %v; want exactly one", r, trainSide[r], heldSide[r])
		}
		if s, ok := side[users[r]]; ok && s != heldSide[r] {
			t.Fatalf("user %s on both sides", users[r])
		}
		side[users[r]] = heldSide[r]
		if heldSide[r] {
			held++
		}
	}
	// 500 distinct users: the held-out share of users is binomial(500, 0.2),
	// std ≈ 1.8%, so 20% ± 7% is a > 3σ band.
	if f := float64(held) / float64(n); f < 0.13 || f > 0.27 {
		t.Errorf("held-out share %.3f, want ≈ 0.20", f)
	}
	if err := holdOut(HashSplit{Column: "session", Percent: 20}, true)(rec, heldSide); err == nil || !strings.Contains(err.Error(), `"session"`) {
		t.Errorf("a split on a missing column: %v, want the column named", err)
	}
}
