package paramserver

import "github.com/lakestream/lakestream/train/optim"

// rule is the part of optim.Rule the tables use.
type rule interface {
	Slots() int
	Update(w, state, g []float32, step int64)
}

func newRule(c optim.Config) (rule, error) { return optim.New(c) }
