package train

import "fmt"

// Batch is a mini-batch of sparse examples in compressed sparse row form, the
// shape the featurizer (train/feature) produces. Row r owns the entries
// Indptr[r] … Indptr[r+1]-1 of Indices (hashed feature keys), Values and
// Fields (the field, i.e. source column or cross, of each entry).
//
// A Batch only refers to its slices; the featurizer that filled it owns and
// reuses them, so a model must not keep a Batch past the call it was given in.
type Batch struct {
	Indptr  []int32
	Indices []uint64
	Values  []float32
	Fields  []int32
	// Labels holds one target per row: 0 or 1 for binary models, the class
	// number for softmax, the value for regression.
	Labels []float32
	// Weights holds one example weight per row; nil means every weight is 1.
	Weights []float32
}

// Rows returns the number of examples in b.
func (b *Batch) Rows() int {
	if len(b.Indptr) == 0 {
		return 0
	}
	return len(b.Indptr) - 1
}

// weight returns the weight of row r.
func (b *Batch) weight(r int) float64 {
	if b.Weights == nil {
		return 1
	}
	return float64(b.Weights[r])
}

// Validate checks that b's slices agree in length and that Indptr is a
// non-decreasing offset array. The trainer calls it once per batch, outside
// the kernels, which trust it.
func (b *Batch) Validate() error {
	n := b.Rows()
	nnz := len(b.Indices)
	switch {
	case len(b.Values) != nnz:
		return fmt.Errorf("%w: %d values for %d indices", ErrBadBatch, len(b.Values), nnz)
	case len(b.Fields) != nnz:
		return fmt.Errorf("%w: %d fields for %d indices", ErrBadBatch, len(b.Fields), nnz)
	case len(b.Labels) != n:
		return fmt.Errorf("%w: %d labels for %d rows", ErrBadBatch, len(b.Labels), n)
	case b.Weights != nil && len(b.Weights) != n:
		return fmt.Errorf("%w: %d weights for %d rows", ErrBadBatch, len(b.Weights), n)
	}
	if n > 0 && (b.Indptr[0] != 0 || int(b.Indptr[n]) != nnz) {
		return fmt.Errorf("%w: indptr spans [%d,%d], want [0,%d]", ErrBadBatch, b.Indptr[0], b.Indptr[n], nnz)
	}
	for r := 0; r < n; r++ {
		if b.Indptr[r+1] < b.Indptr[r] {
			return fmt.Errorf("%w: indptr decreases at row %d", ErrBadBatch, r)
		}
	}
	return nil
}
