package vec32

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestKernelsMatchGo compares Axpy and Dot with the plain Go loops on every
// length up to 80 (each unrolled path and its tails) and a long vector, at
// offsets that leave the slices unaligned.
func TestKernelsMatchGo(t *testing.T) {
	t.Logf("FMA kernels: %v", haveFMA)
	rng := rand.New(rand.NewPCG(1, 2))
	lengths := []int{1000, 4099}
	for n := range 81 {
		lengths = append(lengths, n)
	}
	for _, n := range lengths {
		for _, off := range []int{0, 1, 3} {
			x, y := make([]float32, n+off), make([]float32, n+off)
			for i := range x {
				x[i], y[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
			}
			x, y = x[off:], y[off:]
			var abs float64
			for i := range x {
				abs += math.Abs(float64(x[i] * y[i]))
			}
			got, want := Dot(x, y), dotGo(x, y)
			if d := math.Abs(float64(got - want)); d > 1e-5*(1+abs) {
				t.Errorf("Dot n=%d off=%d: %g, Go loop %g", n, off, got, want)
			}
			alpha := float32(rng.NormFloat64())
			y1, y2 := append([]float32(nil), y...), append([]float32(nil), y...)
			Axpy(alpha, x, y1)
			axpyGo(alpha, x, y2)
			for i := range y1 {
				if d := math.Abs(float64(y1[i] - y2[i])); d > 1e-6*(1+math.Abs(float64(y2[i]))) {
					t.Fatalf("Axpy n=%d off=%d: y[%d] = %g, Go loop %g", n, off, i, y1[i], y2[i])
				}
			}
		}
	}
}

func TestLengthMismatchPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"Axpy": func() { Axpy(1, make([]float32, 3), make([]float32, 4)) },
		"Dot":  func() { Dot(make([]float32, 3), make([]float32, 2)) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s of different lengths did not panic", name)
				}
			}()
			f()
		}()
	}
}

func BenchmarkDot512(b *testing.B) {
	x, y := make([]float32, 512), make([]float32, 512)
	for b.Loop() {
		Dot(x, y)
	}
}

func BenchmarkAxpy512(b *testing.B) {
	x, y := make([]float32, 512), make([]float32, 512)
	for b.Loop() {
		Axpy(1.5, x, y)
	}
}
