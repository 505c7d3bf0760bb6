package eval

import (
	"math"
	"testing"
)

// TestPoisson16 checks the bootstrap's count table against the Poisson(1)
// probabilities: each count's share of the 65,536 entries is within the
// table's quantization (1.5/65536) of e⁻¹/k!, the mean within 1e-4 of 1.
func TestPoisson16(t *testing.T) {
	var freq [8]float64
	mean := 0.0
	for _, k := range poisson16 {
		freq[k] += 1.0 / (1 << 16)
		mean += float64(k) / (1 << 16)
	}
	p := math.Exp(-1)
	for k := range 7 {
		if math.Abs(freq[k]-p) > 1.5/(1<<16) {
			t.Errorf("P(count = %d) = %.6f, want %.6f", k, freq[k], p)
		}
		p /= float64(k + 1)
	}
	if math.Abs(mean-1) > 1e-4 {
		t.Errorf("mean count %.6f, want 1", mean)
	}
}
