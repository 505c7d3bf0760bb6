package optim_test

import (
	"fmt"

	"github.com/lakestream/lakestream/train/optim"
)

// Minimize f(w) = ½(w − 2)² with Adam; the rule's state lives next to w.
func Example() {
	c := optim.DefaultConfig("adam")
	c.LearningRate = 0.05
	rule, err := optim.New(c)
	if err != nil {
		panic(err)
	}
	w := []float32{0}
	state := make([]float32, len(w)*rule.Slots())
	g := make([]float32, 1)
	for step := int64(1); step <= 2000; step++ {
		g[0] = w[0] - 2
		rule.Update(w, state, g, step)
	}
	fmt.Printf("w = %.2f\n", w[0])
	// Output: w = 2.00
}
