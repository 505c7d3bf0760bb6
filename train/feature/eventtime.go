package feature

import (
	"errors"
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
)

// ErrEventTime is wrapped by the errors of AppendMillis: an event-time
// column of another type, or holding a null.
var ErrEventTime = errors.New("feature: unusable event-time column")

// AppendMillis appends the event times of col, the column called name, to
// dst in milliseconds since the Unix epoch: a timestamp column of any unit
// (truncated to the millisecond), or an int64 column holding milliseconds
// (a derived epoch_ms column is one). Another type, or a null, is an error
// naming the column (and the row) that wraps ErrEventTime. It is the one
// reading of event times: the Featurizer fills Batch.EventTimes with it,
// and package eval reads record columns with it.
func AppendMillis(dst []int64, col arrow.Array, name string) ([]int64, error) {
	if col.NullN() > 0 {
		for i := range col.Len() {
			if col.IsNull(i) {
				return dst, fmt.Errorf("event-time column %q row %d is null (%d nulls in %d rows): %w", name, i, col.NullN(), col.Len(), ErrEventTime)
			}
		}
	}
	switch c := col.(type) {
	case *array.Int64:
		return append(dst, c.Int64Values()...), nil
	case *array.Timestamp:
		vals := c.TimestampValues()
		switch c.DataType().(*arrow.TimestampType).Unit {
		case arrow.Second:
			for _, v := range vals {
				dst = append(dst, int64(v)*1000)
			}
		case arrow.Millisecond:
			for _, v := range vals {
				dst = append(dst, int64(v))
			}
		case arrow.Microsecond:
			for _, v := range vals {
				dst = append(dst, floorDiv(int64(v), 1000))
			}
		default:
			for _, v := range vals {
				dst = append(dst, floorDiv(int64(v), 1_000_000))
			}
		}
		return dst, nil
	}
	return dst, fmt.Errorf("event-time column %q has type %s, want a timestamp or int64 milliseconds: %w", name, col.DataType(), ErrEventTime)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
