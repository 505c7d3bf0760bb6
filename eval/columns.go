package eval

import (
	"fmt"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/lakestream/lakestream/train/feature"
)

// column returns the record's column called name.
func column(rec arrow.Record, name string) (arrow.Array, error) {
	idx := rec.Schema().FieldIndices(name)
	if len(idx) == 0 {
		return nil, fmt.Errorf("column %q not in record (columns %v): %w", name, fieldNames(rec.Schema()), ErrColumn)
	}
	return rec.Column(idx[0]), nil
}

func fieldNames(s *arrow.Schema) []string {
	out := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		out[i] = f.Name
	}
	return out
}

// appendFloats appends the values of the numeric or boolean column name to
// dst. Nulls are an error naming the row.
func appendFloats(dst []float64, rec arrow.Record, name string) ([]float64, error) {
	col, err := column(rec, name)
	if err != nil {
		return dst, err
	}
	if col.NullN() > 0 {
		for i := range col.Len() {
			if col.IsNull(i) {
				return dst, fmt.Errorf("column %q row %d is null: %w", name, i, ErrColumn)
			}
		}
	}
	switch c := col.(type) {
	case *array.Float64:
		return append(dst, c.Float64Values()...), nil
	case *array.Float32:
		dst = appendConverted(dst, c.Float32Values())
	case *array.Int64:
		dst = appendConverted(dst, c.Int64Values())
	case *array.Int32:
		dst = appendConverted(dst, c.Int32Values())
	case *array.Int16:
		dst = appendConverted(dst, c.Int16Values())
	case *array.Int8:
		dst = appendConverted(dst, c.Int8Values())
	case *array.Uint8:
		dst = appendConverted(dst, c.Uint8Values())
	case *array.Boolean:
		for i := range c.Len() {
			v := 0.0
			if c.Value(i) {
				v = 1
			}
			dst = append(dst, v)
		}
	default:
		return dst, fmt.Errorf("column %q has type %s, want a number or boolean: %w", name, col.DataType(), ErrColumn)
	}
	return dst, nil
}

// AppendMillis appends the event times of column name of rec to dst, in
// milliseconds since the Unix epoch: a timestamp column of any unit, or an
// int64 holding milliseconds, read as feature.AppendMillis reads them (the
// Featurizer reads a spec's event_time the same way, derived columns
// included, into feature.Batch.EventTimes). A missing column, another type
// or a null is an error wrapping ErrColumn.
func AppendMillis(dst []int64, rec arrow.Record, name string) ([]int64, error) {
	col, err := column(rec, name)
	if err != nil {
		return dst, err
	}
	if dst, err = feature.AppendMillis(dst, col, name); err != nil {
		return dst, fmt.Errorf("%w: %w", err, ErrColumn)
	}
	return dst, nil
}

// groupKeys maps the values of a group column (integers or strings) to
// int64 keys; strings get dense ids from ids, which the caller keeps across
// records so a user keeps one key.
func appendGroups(dst []int64, rec arrow.Record, name string, ids map[string]int64) ([]int64, error) {
	col, err := column(rec, name)
	if err != nil {
		return dst, err
	}
	if col.NullN() > 0 {
		return dst, fmt.Errorf("group column %q holds %d nulls: %w", name, col.NullN(), ErrColumn)
	}
	switch c := col.(type) {
	case *array.Int64:
		return append(dst, c.Int64Values()...), nil
	case *array.Int32:
		for _, v := range c.Int32Values() {
			dst = append(dst, int64(v))
		}
		return dst, nil
	case *array.String:
		for i := range c.Len() {
			s := c.Value(i) // aliases the record's buffer
			id, ok := ids[s]
			if !ok {
				id = int64(len(ids))
				ids[strings.Clone(s)] = id
			}
			dst = append(dst, id)
		}
		return dst, nil
	}
	return dst, fmt.Errorf("group column %q has type %s, want int64, int32 or string: %w", name, col.DataType(), ErrColumn)
}

// ColumnScorer is a Scorer that reads precomputed scores from the record
// column it names (any numeric type), for evaluating predictions a model
// already wrote into a table.
type ColumnScorer string

// Score copies the column's values into dst.
func (c ColumnScorer) Score(rec arrow.Record, dst []float64) error {
	if len(dst) == 0 {
		return nil
	}
	vals, err := appendFloats(dst[:0], rec, string(c))
	if err != nil {
		return err
	}
	if len(vals) != len(dst) || &vals[0] != &dst[0] {
		panic("eval: ColumnScorer: len(dst) != rec.NumRows()")
	}
	return nil
}

// ReadFloats appends the values of the numeric or boolean column named
// column of rec to dst, as the evaluators read labels, weights and
// precomputed scores (booleans become 0 and 1). A missing column, another
// type or a null is an error wrapping ErrColumn that names the column and
// row.
func ReadFloats(dst []float64, rec arrow.Record, column string) ([]float64, error) {
	return appendFloats(dst, rec, column)
}

// appendConverted appends vals converted to float64.
func appendConverted[T float32 | int64 | int32 | int16 | int8 | uint8](dst []float64, vals []T) []float64 {
	for _, v := range vals {
		dst = append(dst, float64(v))
	}
	return dst
}
