package optim

import "math"

// schedule computes the learning rate η_t of step t (1-based). See the package
// documentation for the formulas.
type schedule struct {
	kind  string
	lr    float64
	decay float64
	every int64
}

func newSchedule(c Config) schedule {
	every := c.DecaySteps
	if every == 0 {
		every = 1
	}
	kind := c.Schedule
	if kind == "" {
		kind = ScheduleConstant
	}
	return schedule{kind: kind, lr: c.LearningRate, decay: c.Decay, every: every}
}

// rate returns η_t. It is evaluated once per Update call, not per coordinate.
func (s schedule) rate(t int64) float64 {
	switch s.kind {
	case ScheduleInverseTime:
		return s.lr / (1 + s.decay*float64(t-1)/float64(s.every))
	case ScheduleStep:
		return s.lr * math.Pow(s.decay, float64((t-1)/s.every))
	default:
		return s.lr
	}
}
