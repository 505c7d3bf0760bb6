package train

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/lakestream/lakestream/datastream"
	"github.com/lakestream/lakestream/train/feature"
)

// The tests of this package draw examples as featurized batches whose
// rows hold one key per field (field f's value v as key f<<32|v or, for
// the item field of MF, 1<<40|v). To train through Fit, the production
// path, they are turned back into Arrow records of integer columns
// f0..f<n-1> and a label column y, which a spec hashing those columns
// featurizes: the keys change, what a model can learn does not.

// fieldSpec is the spec of records: n categorical int64 columns and a
// binary label, or a real one.
func fieldSpec(t testing.TB, n int, real bool) *feature.Spec {
	t.Helper()
	typ := "binary"
	if real {
		typ = "real"
	}
	cols := make([]string, n)
	for f := range cols {
		cols[f] = fmt.Sprintf("{column: f%d}", f)
	}
	s, err := feature.Parse([]byte(fmt.Sprintf("label: {column: y, type: %s}\nhash_bits: 20\ncategorical: [%s]\n", typ, strings.Join(cols, ", "))))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// asRecords turns b (n fields, one key each per row) into records of at
// most size rows.
func asRecords(t testing.TB, b *Batch, n int, real bool, size int) []arrow.Record {
	t.Helper()
	fields := make([]arrow.Field, 0, n+1)
	for f := range n {
		fields = append(fields, arrow.Field{Name: fmt.Sprintf("f%d", f), Type: arrow.PrimitiveTypes.Int64})
	}
	label := arrow.DataType(arrow.PrimitiveTypes.Int64)
	if real {
		label = arrow.PrimitiveTypes.Float64
	}
	schema := arrow.NewSchema(append(fields, arrow.Field{Name: "y", Type: label}), nil)
	var out []arrow.Record
	for lo := 0; lo < b.Rows(); lo += size {
		rb := array.NewRecordBuilder(memory.DefaultAllocator, schema)
		for r := lo; r < min(lo+size, b.Rows()); r++ {
			s, e := b.Indptr[r], b.Indptr[r+1]
			if int(e-s) != n {
				t.Fatalf("row %d has %d keys, want one per field (%d)", r, e-s, n)
			}
			for j := s; j < e; j++ {
				rb.Field(int(b.Fields[j])).(*array.Int64Builder).Append(int64(b.Indices[j] & 0xffffffff))
			}
			if real {
				rb.Field(n).(*array.Float64Builder).Append(float64(b.Labels[r]))
			} else {
				rb.Field(n).(*array.Int64Builder).Append(int64(b.Labels[r]))
			}
		}
		out = append(out, rb.NewRecord())
		rb.Release()
	}
	t.Cleanup(func() {
		for _, r := range out {
			r.Release()
		}
	})
	return out
}

// memSource is a bounded datastream source over records held in memory;
// each read hands the receiver a reference of its own.
type memSource struct {
	recs []arrow.Record
	i    int
}

func (s *memSource) ReadBatch(context.Context) (datastream.Batch, error) {
	if s.i >= len(s.recs) {
		return datastream.Batch{}, datastream.ErrEndOfInput
	}
	r := s.recs[s.i]
	s.i++
	r.Retain()
	return datastream.Batch{Record: r, Watermark: datastream.NoWatermark}, nil
}

func (s *memSource) Close(context.Context) error { return nil }

// memInput is Fit's input over records in memory: train replayed every
// epoch (or trainOf(epoch) when set), val (if any) for validation.
type memInput struct {
	spec      *feature.Spec
	batchSize int
	train     []arrow.Record
	trainOf   func(epoch int) []arrow.Record
	val       []arrow.Record
}

func (m memInput) bounded() *Bounded {
	in := &Bounded{Spec: m.spec, BatchSize: m.batchSize,
		Train: func(_ context.Context, epoch, _, _ int) (datastream.Source, error) {
			if m.trainOf != nil {
				return &memSource{recs: m.trainOf(epoch)}, nil
			}
			return &memSource{recs: m.train}, nil
		}}
	if m.val != nil {
		in.Validation = func(context.Context) (datastream.Source, error) { return &memSource{recs: m.val}, nil }
	}
	return in
}

// recordList iterates over records in memory (Records).
type recordList struct {
	recs []arrow.Record
	i    int
}

func (r *recordList) Next() bool       { r.i++; return r.i <= len(r.recs) }
func (r *recordList) At() arrow.Record { return r.recs[r.i-1] }
func (r *recordList) Err() error       { return nil }
func (r *recordList) Close() error     { return nil }

// featurized featurizes records with spec into mini-batches of size rows,
// each a copy the caller owns.
func featurized(t testing.TB, spec *feature.Spec, recs []arrow.Record, size int) []*Batch {
	t.Helper()
	fz, err := feature.NewFeaturizer(spec)
	if err != nil {
		t.Fatal(err)
	}
	bs := NewSourceBatches(&recordList{recs: recs}, fz, size)
	var out []*Batch
	for bs.Next(context.Background()) {
		b := bs.At()
		out = append(out, &Batch{Indptr: append([]int32(nil), b.Indptr...), Indices: append([]uint64(nil), b.Indices...),
			Values: append([]float32(nil), b.Values...), Fields: append([]int32(nil), b.Fields...),
			Labels: append([]float32(nil), b.Labels...), Weights: append([]float32(nil), b.Weights...)})
	}
	if err := bs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
