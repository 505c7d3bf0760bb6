package vec32

import "golang.org/x/sys/cpu"

// haveFMA selects the AVX2 + FMA kernels.
var haveFMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// axpyFMA is Axpy over n > 0 elements at x and y (vec32_amd64.s).
//
//go:noescape
func axpyFMA(alpha float32, x, y *float32, n int)

// dotFMA is Dot over n > 0 elements at x and y (vec32_amd64.s).
//
//go:noescape
func dotFMA(x, y *float32, n int) float32
