package vec32

import "fmt"

// Axpy adds alpha·x to y element by element. x and y must have the same
// length.
func Axpy(alpha float32, x, y []float32) {
	if len(x) != len(y) {
		panic(fmt.Sprintf("vec32: Axpy of vectors of lengths %d and %d", len(x), len(y)))
	}
	if len(x) == 0 {
		return
	}
	if haveFMA {
		axpyFMA(alpha, &x[0], &y[0], len(x))
		return
	}
	axpyGo(alpha, x, y)
}

// Dot returns Σ x[i]·y[i]. x and y must have the same length.
func Dot(x, y []float32) float32 {
	if len(x) != len(y) {
		panic(fmt.Sprintf("vec32: Dot of vectors of lengths %d and %d", len(x), len(y)))
	}
	if len(x) == 0 {
		return 0
	}
	if haveFMA {
		return dotFMA(&x[0], &y[0], len(x))
	}
	return dotGo(x, y)
}

func axpyGo(alpha float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += alpha * v
	}
}

func dotGo(x, y []float32) float32 {
	y = y[:len(x)]
	var s float32
	for i, v := range x {
		s += v * y[i]
	}
	return s
}
