//go:build !amd64

package vec32

const haveFMA = false

func axpyFMA(alpha float32, x, y *float32, n int) {
	panic("vec32: no FMA kernels on this architecture")
}

func dotFMA(x, y *float32, n int) float32 { panic("vec32: no FMA kernels on this architecture") }
