package paramserver

import "github.com/lakestream/lakestream/train/optim"

// rule is a table's optimizer; the tables keep its state next to the values.
type rule = optim.Rule

func newRule(c optim.Config) (rule, error) { return optim.New(c) }
