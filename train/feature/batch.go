package feature

// Batch is a featurized mini-batch in CSR form. Row r's features are entries
// Indptr[r] to Indptr[r+1]−1 of Indices (keys, see Key), Values and Fields
// (field ids). Labels and Weights have one entry per row; Weights is all ones
// when the spec has no weight column, and Labels is empty when the featurizer
// was built WithoutLabels. For a multiclass label, Labels holds the class
// index.
//
// A Featurizer overwrites a Batch in place and reuses its slices, so the
// Batch (and any slice taken from it) is valid until the next Featurize into
// it. Within a row, single-valued fields come first in field order, then the
// elements of multi-valued fields.
type Batch struct {
	Rows    int
	Indptr  []int32
	Indices []uint64
	Values  []float32
	Fields  []int32
	Labels  []float32
	Weights []float32
	// EventTimes holds each row's event time in milliseconds since the
	// Unix epoch when the spec names event_time (a record column or a
	// derived one) and the featurizer reads labels; it is empty otherwise.
	EventTimes []int64
}

// Row returns row r's keys, values and field ids, sharing the Batch's memory.
func (b *Batch) Row(r int) (keys []uint64, values []float32, fields []int32) {
	lo, hi := b.Indptr[r], b.Indptr[r+1]
	return b.Indices[lo:hi], b.Values[lo:hi], b.Fields[lo:hi]
}

// NNZ returns the number of feature entries in the batch.
func (b *Batch) NNZ() int { return len(b.Indices) }

// resize sets the row count and entry count, growing slices as needed.
func (b *Batch) resize(rows, nnz int, labels bool) {
	b.Rows = rows
	b.Indptr = grow(b.Indptr, rows+1)
	b.Indices = grow(b.Indices, nnz)
	b.Values = grow(b.Values, nnz)
	b.Fields = grow(b.Fields, nnz)
	if labels {
		b.Labels = grow(b.Labels, rows)
	} else {
		b.Labels = b.Labels[:0]
	}
	b.Weights = grow(b.Weights, rows)
	b.EventTimes = b.EventTimes[:0]
}

// grow returns s with length n, reallocating with headroom only when its
// capacity is too small. Contents are not preserved.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n, n+n/4)
	}
	return s[:n]
}
