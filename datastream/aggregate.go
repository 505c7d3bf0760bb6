package datastream

import (
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
)

// Aggregator folds rows into an accumulator of type A incrementally, so a
// window keeps one accumulator per key and window instead of its rows. The
// zero value of A is the empty accumulator. A must be encodable with
// encoding/gob (exported fields) because accumulators go into checkpoints.
// One Aggregator serves every subtask of its operator, so its methods are
// called concurrently and must keep no per-call state in the receiver.
type Aggregator[A any] interface {
	// Add folds row rows[i] of rec into *accs[i] for every i. A pointer may
	// appear more than once. rec is only valid during the call.
	Add(rec arrow.Record, rows []int32, accs []*A) error
	// Merge folds src into dst (session windows merge when they meet).
	Merge(dst, src *A)
	// Fields are the output columns; they must not depend on the input.
	Fields() []arrow.Field
	// Append appends the results of acc, one value per field, to bs.
	Append(bs []array.Builder, acc *A)
}

// AggKind selects a built-in aggregate.
type AggKind uint8

// Built-in aggregates.
const (
	AggCount  AggKind = iota // number of rows, Int64
	AggSum                   // sum of a numeric column as Float64, nulls skipped
	AggSumInt                // sum of an integer column as Int64, nulls skipped
	AggMin                   // minimum of a numeric column as Float64 (null when no value)
	AggMax                   // maximum, as AggMin
	AggMean                  // mean of a numeric column as Float64 (null when no value)
)

// Agg is one output column of Aggregates.
type Agg struct {
	Kind   AggKind
	Column string // input column; unused by AggCount
	As     string // output column name
}

// Count counts rows into column as.
func Count(as string) Agg { return Agg{Kind: AggCount, As: as} }

// Sum sums a numeric column into a Float64 column as.
func Sum(column, as string) Agg { return Agg{Kind: AggSum, Column: column, As: as} }

// SumInt sums an integer column exactly into an Int64 column as.
func SumInt(column, as string) Agg { return Agg{Kind: AggSumInt, Column: column, As: as} }

// Min takes the minimum of a numeric column into a Float64 column as.
func Min(column, as string) Agg { return Agg{Kind: AggMin, Column: column, As: as} }

// Max takes the maximum of a numeric column into a Float64 column as.
func Max(column, as string) Agg { return Agg{Kind: AggMax, Column: column, As: as} }

// Mean averages a numeric column into a Float64 column as.
func Mean(column, as string) Agg { return Agg{Kind: AggMean, Column: column, As: as} }

// AggState is the accumulator of Aggregates: per aggregate, an integer
// (count or integer sum) and a float (sum, min or max) slot.
type AggState struct {
	I []int64
	F []float64
}

// Aggregates returns an Aggregator computing the given built-in aggregates.
func Aggregates(aggs ...Agg) Aggregator[AggState] {
	return &builtinAgg{aggs: aggs}
}

type builtinAgg struct {
	aggs []Agg
}

func (b *builtinAgg) Fields() []arrow.Field {
	fs := make([]arrow.Field, len(b.aggs))
	for i, a := range b.aggs {
		switch a.Kind {
		case AggCount, AggSumInt:
			fs[i] = arrow.Field{Name: a.As, Type: arrow.PrimitiveTypes.Int64}
		case AggSum:
			fs[i] = arrow.Field{Name: a.As, Type: arrow.PrimitiveTypes.Float64}
		default:
			fs[i] = arrow.Field{Name: a.As, Type: arrow.PrimitiveTypes.Float64, Nullable: true}
		}
	}
	return fs
}

func (b *builtinAgg) Add(rec arrow.Record, rows []int32, accs []*AggState) error {
	n := len(b.aggs)
	var vals []numColumn
	for k, a := range b.aggs {
		if a.Kind == AggCount {
			continue
		}
		if vals == nil {
			vals = make([]numColumn, n)
		}
		if err := vals[k].bind(rec, a.Column, a.Kind == AggSumInt); err != nil {
			return err
		}
	}
	for _, acc := range accs {
		if acc.I == nil {
			acc.I, acc.F = make([]int64, n), make([]float64, n)
		}
	}
	for k, a := range b.aggs {
		var v *numColumn
		if vals != nil {
			v = &vals[k]
		}
		switch a.Kind {
		case AggCount:
			for _, acc := range accs {
				acc.I[k]++
			}
		case AggSumInt:
			for i, r := range rows {
				if v.valid(int(r)) {
					accs[i].I[k] += v.int(int(r))
				}
			}
		case AggSum, AggMean:
			for i, r := range rows {
				if v.valid(int(r)) {
					accs[i].F[k] += v.float(int(r))
					accs[i].I[k]++
				}
			}
		case AggMin, AggMax:
			for i, r := range rows {
				if !v.valid(int(r)) {
					continue
				}
				x, acc := v.float(int(r)), accs[i]
				if acc.I[k] == 0 || (a.Kind == AggMin && x < acc.F[k]) || (a.Kind == AggMax && x > acc.F[k]) {
					acc.F[k] = x
				}
				acc.I[k]++
			}
		}
	}
	return nil
}

// Reset empties acc in place, keeping its slices.
func (b *builtinAgg) Reset(acc *AggState) {
	clear(acc.I)
	clear(acc.F)
}

func (b *builtinAgg) Merge(dst, src *AggState) {
	if src.I == nil {
		return
	}
	if dst.I == nil {
		dst.I, dst.F = append([]int64(nil), src.I...), append([]float64(nil), src.F...)
		return
	}
	for k, a := range b.aggs {
		switch a.Kind {
		case AggMin, AggMax:
			if src.I[k] > 0 && (dst.I[k] == 0 || (a.Kind == AggMin && src.F[k] < dst.F[k]) || (a.Kind == AggMax && src.F[k] > dst.F[k])) {
				dst.F[k] = src.F[k]
			}
		default:
			dst.F[k] += src.F[k]
		}
		dst.I[k] += src.I[k]
	}
}

func (b *builtinAgg) Append(bs []array.Builder, acc *AggState) {
	for k, a := range b.aggs {
		var i int64
		var f float64
		if acc.I != nil {
			i, f = acc.I[k], acc.F[k]
		}
		switch a.Kind {
		case AggCount, AggSumInt:
			bs[k].(*array.Int64Builder).Append(i)
		case AggSum:
			bs[k].(*array.Float64Builder).Append(f)
		case AggMean:
			if i == 0 {
				bs[k].AppendNull()
			} else {
				bs[k].(*array.Float64Builder).Append(f / float64(i))
			}
		default:
			if i == 0 {
				bs[k].AppendNull()
			} else {
				bs[k].(*array.Float64Builder).Append(f)
			}
		}
	}
}

// numColumn reads a numeric column as int64 or float64 without a per-row
// type switch for the common types.
type numColumn struct {
	col  arrow.Array
	i64  []int64
	f64  []float64
	get  func(int) float64
	geti func(int) int64
}

func (n *numColumn) bind(rec arrow.Record, name string, wantInt bool) error {
	idx := rec.Schema().FieldIndices(name)
	if len(idx) == 0 {
		return fmt.Errorf("aggregate column %q not in record (columns %v)", name, columnNames(rec.Schema()))
	}
	*n = numColumn{col: rec.Column(idx[0])}
	switch a := n.col.(type) {
	case *array.Int64:
		n.i64 = a.Int64Values()
	case *array.Float64:
		if wantInt {
			return fmt.Errorf("aggregate column %q: integer sum of %s", name, a.DataType())
		}
		n.f64 = a.Float64Values()
	case *array.Int32:
		n.geti = func(i int) int64 { return int64(a.Value(i)) }
	case *array.Int16:
		n.geti = func(i int) int64 { return int64(a.Value(i)) }
	case *array.Int8:
		n.geti = func(i int) int64 { return int64(a.Value(i)) }
	case *array.Uint32:
		n.geti = func(i int) int64 { return int64(a.Value(i)) }
	case *array.Uint16:
		n.geti = func(i int) int64 { return int64(a.Value(i)) }
	case *array.Uint8:
		n.geti = func(i int) int64 { return int64(a.Value(i)) }
	case *array.Uint64:
		n.geti = func(i int) int64 { return int64(a.Value(i)) }
	case *array.Float32:
		if wantInt {
			return fmt.Errorf("aggregate column %q: integer sum of %s", name, a.DataType())
		}
		n.get = func(i int) float64 { return float64(a.Value(i)) }
	default:
		return fmt.Errorf("aggregate column %q has non-numeric type %s", name, n.col.DataType())
	}
	return nil
}

func (n *numColumn) valid(i int) bool { return n.col.IsValid(i) }

func (n *numColumn) float(i int) float64 {
	switch {
	case n.f64 != nil:
		return n.f64[i]
	case n.i64 != nil:
		return float64(n.i64[i])
	case n.geti != nil:
		return float64(n.geti(i))
	}
	return n.get(i)
}

func (n *numColumn) int(i int) int64 {
	if n.i64 != nil {
		return n.i64[i]
	}
	return n.geti(i)
}
