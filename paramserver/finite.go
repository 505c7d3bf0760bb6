package paramserver

import (
	"fmt"
	"math"
)

// MaxGradient is the largest gradient magnitude a shard accepts. Every
// adaptive rule (AdaGrad, RMSProp, Adam, FTRL) squares the gradient, and the
// square of anything above 2^64 is +Inf in float32, so a larger gradient can
// only poison a row; SGD and momentum get the same bound so that a table's
// rule does not change what a shard accepts.
const MaxGradient = 1 << 64

// NonFiniteError is returned by Push (and the Exchange, PushPull and Flush
// that apply pushes) when a gradient is not finite or exceeds MaxGradient,
// or when applying the optimizer would make a row's weights or state
// non-finite. Such rows keep their previous values; Rows counts them and Key
// is the first. A shard refuses bad gradients before it applies anything of
// the call; a row whose update would overflow is refused alone, since whether
// it overflows is only known while its stripe is locked.
type NonFiniteError struct {
	Table string
	Key   uint64
	// Grad is the refused gradient value, when the gradient was the cause
	// (Result false).
	Grad float32
	// Result is true when the update's result, not the gradient, was not
	// finite.
	Result bool
	Rows   int
}

// Unwrap returns ErrNonFinite, so errors.Is works on both sides of the wire.
func (e *NonFiniteError) Unwrap() error { return ErrNonFinite }

func (e *NonFiniteError) Error() string {
	if e.Result {
		return fmt.Sprintf("%v: table %q: the update of %d row(s) (first key %d) would make weights or optimizer state non-finite; they were left unchanged (lower the learning rate or clip gradients)", ErrNonFinite, e.Table, e.Rows, e.Key)
	}
	return fmt.Sprintf("%v: table %q: gradient %g for key %d is not finite or exceeds %g in magnitude; nothing of the call was applied", ErrNonFinite, e.Table, e.Grad, e.Key, float64(MaxGradient))
}

// maxGradBits is the float32 bit pattern of MaxGradient without the sign.
// NaN and ±Inf have every exponent bit set, so their patterns (sign
// dropped) are above it too.
const maxGradBits = 0x5f800000

// checkGrads returns a *NonFiniteError for the first gradient of grads (rows
// of width w for keys) that is not finite or exceeds MaxGradient. The common
// case is one pass of integer maxima over the bit patterns, with no branch
// per value.
func checkGrads(table string, keys []uint64, w int, grads []float32) error {
	var m uint32
	for _, g := range grads {
		m = max(m, math.Float32bits(g)&0x7fffffff)
	}
	if m <= maxGradBits {
		return nil
	}
	for i, g := range grads {
		if math.Float32bits(g)&0x7fffffff > maxGradBits {
			return &NonFiniteError{Table: table, Key: keys[i/w], Grad: g, Rows: 1}
		}
	}
	return nil
}

// finite reports whether every value of v is finite: a value is NaN or
// ±Inf exactly when its exponent bits are all set, so the maximum of the
// exponent fields tells (integer maxima, two independent chains, no branch
// per value).
func finite(v []float32) bool {
	const exp = 0x7f800000
	var a, b uint32
	i := 0
	for ; i+1 < len(v); i += 2 {
		a = max(a, math.Float32bits(v[i])&exp)
		b = max(b, math.Float32bits(v[i+1])&exp)
	}
	if i < len(v) {
		a = max(a, math.Float32bits(v[i])&exp)
	}
	return max(a, b) != exp
}

// checkedUpdate applies r to one row — kept holds its weights (w values)
// followed by their optimizer state — with gradient g and update count step,
// and reports whether the result is finite. When it is not, the row gets
// back its previous values (saved in undo, grown as needed and returned), so
// a shard's rows never become NaN or ±Inf. The caller holds the row's lock.
func checkedUpdate(r rule, kept []float32, w int, g []float32, step int64, undo []float32) ([]float32, bool) {
	if cap(undo) < len(kept) {
		undo = make([]float32, len(kept))
	}
	undo = undo[:len(kept)]
	copy(undo, kept)
	r.Update(kept[:w], kept[w:], g, step)
	if finite(kept) {
		return undo, true
	}
	copy(kept, undo)
	return undo, false
}

// refusals counts the rows of one call whose update was refused.
type refusals struct {
	rows int
	key  uint64
}

func (r *refusals) add(key uint64) {
	if r.rows == 0 {
		r.key = key
	}
	r.rows++
}

func (r refusals) err(table string) error {
	if r.rows == 0 {
		return nil
	}
	return &NonFiniteError{Table: table, Key: r.key, Result: true, Rows: r.rows}
}
