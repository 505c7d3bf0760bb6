package eval_test

import (
	"fmt"
	"testing"

	"github.com/lakestream/lakestream/eval"
)

// BenchmarkROCAUC measures the exact AUC (two sorts of copies plus a merge)
// on click-model scores. Run: go test -run '^$' -bench ROCAUC -benchmem ./eval/
func BenchmarkROCAUC(b *testing.B) {
	for _, n := range []int{1_000_000, 10_000_000} {
		s, y := clickScores(9, n)
		w := make([]float64, n)
		for i := range w {
			w[i] = float64(1 + i%3)
		}
		b.Run(fmt.Sprintf("n=%dM", n/1_000_000), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := eval.ROCAUC(s, y, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "scores/s")
		})
		b.Run(fmt.Sprintf("weighted/n=%dM", n/1_000_000), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := eval.ROCAUC(s, y, w); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "scores/s")
		})
	}
}

// BenchmarkStreamingUpdate measures accumulator updates per second on
// batches of 4,096 examples: the AUC sketch alone, and the full Binary
// accumulator (sketch, confusion, log loss, calibration).
func BenchmarkStreamingUpdate(b *testing.B) {
	const batch = 4096
	s, y := clickScores(10, 1<<20)
	sk, _ := eval.NewAUCSketch(eval.DefaultSketchConfig())
	bin, _ := eval.NewBinary(eval.DefaultBinaryConfig())
	for _, tc := range []struct {
		name string
		add  func(s, y []float64) error
	}{
		{"AUCSketch/batch=4096", func(s, y []float64) error { return sk.AddBatch(s, y, nil) }},
		{"Binary/batch=4096", func(s, y []float64) error { return bin.Add(s, y, nil) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			off := 0
			for b.Loop() {
				if off+batch > len(s) {
					off = 0
				}
				if err := tc.add(s[off:off+batch], y[off:off+batch]); err != nil {
					b.Fatal(err)
				}
				off += batch
			}
			b.ReportMetric(float64(batch)*float64(b.N)/b.Elapsed().Seconds(), "updates/s")
		})
	}
}

// BenchmarkCompareAUC measures the paired bootstrap (sorted once, O(n) per
// resample, four resamples per sweep).
func BenchmarkCompareAUC(b *testing.B) {
	const n = 100_000
	s, y := clickScores(11, n)
	s2, _ := clickScores(12, n)
	cfg := eval.BootstrapConfig{Resamples: 100, Level: 0.95, Seed: 1}
	b.Run("n=100k/resamples=100", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := eval.CompareAUC(s, s2, y, nil, cfg); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The size: a champion/challenger gate over a 600k-row day with
	// the default 1000 resamples.
	big, yBig := clickScores(13, 600_000)
	big2, _ := clickScores(14, 600_000)
	b.Run("n=600k/resamples=1000", func(b *testing.B) {
		for b.Loop() {
			if _, err := eval.CompareAUC(big, big2, yBig, nil, eval.DefaultBootstrapConfig()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
