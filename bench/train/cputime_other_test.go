//go:build !unix

package train

// cpuSeconds is not measured on this platform; the benchmarks then report
// wall-clock figures only.
func cpuSeconds() float64 { return 0 }
