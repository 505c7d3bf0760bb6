package eval_test

import (
	"fmt"

	"github.com/lakestream/lakestream/eval"
)

func ExampleROCAUC() {
	scores := []float64{0.1, 0.4, 0.35, 0.8}
	labels := []float64{0, 0, 1, 1}
	auc, err := eval.ROCAUC(scores, labels, nil)
	if err != nil {
		panic(err)
	}
	fmt.Printf("AUC %.2f\n", auc)
	// Output: AUC 0.75
}

// Workers each fill a sketch over their split; the merged sketch gives the
// AUC of all the data, with a guaranteed error bound.
func ExampleAUCSketch() {
	cfg := eval.DefaultSketchConfig()
	merged, _ := eval.NewAUCSketch(cfg)
	splits := [][2][]float64{
		{{0.1, 0.4, 0.9}, {0, 0, 1}},
		{{0.35, 0.8, 0.2}, {1, 1, 0}},
	}
	for _, s := range splits {
		worker, _ := eval.NewAUCSketch(cfg)
		if err := worker.AddBatch(s[0], s[1], nil); err != nil {
			panic(err)
		}
		if err := merged.Merge(worker); err != nil {
			panic(err)
		}
	}
	auc, bound, _ := merged.Estimate()
	fmt.Printf("AUC %.4f ± %.4f in %d bytes\n", auc, bound, cfg.Bytes())
	// Output: AUC 0.8889 ± 0.0000 in 1048576 bytes
}

func ExampleCompareAUC() {
	labels := []float64{0, 0, 1, 1, 0, 1, 0, 1}
	champion := []float64{0.3, 0.6, 0.5, 0.7, 0.2, 0.4, 0.5, 0.9}
	challenger := []float64{0.2, 0.4, 0.6, 0.8, 0.1, 0.5, 0.3, 0.9}
	c, err := eval.CompareAUC(champion, challenger, labels, nil, eval.BootstrapConfig{Resamples: 500, Level: 0.9, Seed: 1})
	if err != nil {
		panic(err)
	}
	fmt.Printf("champion %.3f, challenger %.3f\n", c.ChampionAUC, c.ChallengerAUC)
	fmt.Printf("difference %+.3f\n", c.Diff)
	// Output:
	// champion 0.781, challenger 1.000
	// difference +0.219
}
