package optim

import (
	"errors"
	"fmt"
	"math"
)

// Optimizer names accepted by Config.Name.
const (
	SGD      = "sgd"
	Momentum = "momentum"
	AdaGrad  = "adagrad"
	RMSProp  = "rmsprop"
	Adam     = "adam"
	FTRL     = "ftrl"
)

// Schedule names accepted by Config.Schedule. The empty string means
// ScheduleConstant.
const (
	ScheduleConstant    = "constant"
	ScheduleInverseTime = "inverse-time"
	ScheduleStep        = "step"
)

// Sentinel errors.
var (
	// ErrUnknownOptimizer is returned (wrapped) by Validate, New and
	// DefaultConfig's Validate when Config.Name is not one of the names above.
	ErrUnknownOptimizer = errors.New("optim: unknown optimizer")
)

// Names lists the supported optimizer names in documentation order.
func Names() []string { return []string{SGD, Momentum, AdaGrad, RMSProp, Adam, FTRL} }

// Config selects an optimizer and its hyperparameters. Fields a rule does not
// use are ignored. Start from DefaultConfig and override what you need; the
// YAML/JSON names are those a trainer config file uses.
type Config struct {
	// Name is one of sgd, momentum, adagrad, rmsprop, adam, ftrl.
	Name string `yaml:"name" json:"name"`

	// LearningRate is the base step size η of every rule except ftrl.
	LearningRate float64 `yaml:"learning_rate,omitempty" json:"learning_rate,omitempty"`
	// Schedule is the learning-rate schedule: constant (the default),
	// inverse-time or step. See the package documentation.
	Schedule string `yaml:"schedule,omitempty" json:"schedule,omitempty"`
	// Decay is the schedule's rate: for inverse-time the increase of the
	// divisor per DecaySteps steps (≥ 0), for step the factor applied every
	// DecaySteps steps (in (0, 1]).
	Decay float64 `yaml:"decay,omitempty" json:"decay,omitempty"`
	// DecaySteps is the schedule's period in steps; 0 means 1.
	DecaySteps int64 `yaml:"decay_steps,omitempty" json:"decay_steps,omitempty"`

	// Momentum is μ in [0, 1) for the momentum rule.
	Momentum float64 `yaml:"momentum,omitempty" json:"momentum,omitempty"`
	// Nesterov selects Nesterov's accelerated gradient in the momentum rule.
	Nesterov bool `yaml:"nesterov,omitempty" json:"nesterov,omitempty"`

	// Beta1 and Beta2 are Adam's exponential decay rates in [0, 1) for the
	// first and second moments.
	Beta1 float64 `yaml:"beta1,omitempty" json:"beta1,omitempty"`
	Beta2 float64 `yaml:"beta2,omitempty" json:"beta2,omitempty"`
	// Epsilon (> 0) keeps adagrad, rmsprop and adam's divisions finite.
	Epsilon float64 `yaml:"epsilon,omitempty" json:"epsilon,omitempty"`
	// Rho is RMSProp's decay rate in [0, 1) of the mean squared gradient.
	Rho float64 `yaml:"rho,omitempty" json:"rho,omitempty"`

	// Alpha (> 0) and Beta (≥ 0) set FTRL-Proximal's per-coordinate learning
	// rate η_i = Alpha / (Beta + √n_i). FTRL ignores LearningRate.
	Alpha float64 `yaml:"alpha,omitempty" json:"alpha,omitempty"`
	Beta  float64 `yaml:"beta,omitempty" json:"beta,omitempty"`

	// L1 (≥ 0) is the L1 penalty; only ftrl supports it.
	L1 float64 `yaml:"l1,omitempty" json:"l1,omitempty"`
	// L2 (≥ 0) is the L2 penalty ½·L2·w², for every rule.
	L2 float64 `yaml:"l2,omitempty" json:"l2,omitempty"`
}

// DefaultConfig returns the usual hyperparameters for the named optimizer:
//
//	sgd       LearningRate 0.01, constant schedule
//	momentum  LearningRate 0.01, Momentum 0.9
//	adagrad   LearningRate 0.05, Epsilon 1e-8
//	rmsprop   LearningRate 0.001, Rho 0.9, Epsilon 1e-8
//	adam      LearningRate 0.001, Beta1 0.9, Beta2 0.999, Epsilon 1e-8
//	ftrl      Alpha 0.1, Beta 1, L1 0, L2 0
//
// An unknown name gives a Config with only Name set, which Validate rejects.
func DefaultConfig(name string) Config {
	c := Config{Name: name, Schedule: ScheduleConstant}
	switch name {
	case SGD:
		c.LearningRate = 0.01
	case Momentum:
		c.LearningRate = 0.01
		c.Momentum = 0.9
	case AdaGrad:
		c.LearningRate = 0.05
		c.Epsilon = 1e-8
	case RMSProp:
		c.LearningRate = 0.001
		c.Rho = 0.9
		c.Epsilon = 1e-8
	case Adam:
		c.LearningRate = 0.001
		c.Beta1 = 0.9
		c.Beta2 = 0.999
		c.Epsilon = 1e-8
	case FTRL:
		c.Schedule = ""
		c.Alpha = 0.1
		c.Beta = 1
	default:
		c.Schedule = ""
	}
	return c
}

// ConfigError reports a hyperparameter that is out of range for the
// optimizer. Field is the Go field name of Config (for example
// "LearningRate").
type ConfigError struct {
	Optimizer string
	Field     string
	Value     any
	Reason    string
}

// Error names the optimizer, the field, its value and the reason.
func (e *ConfigError) Error() string {
	return fmt.Sprintf("optim: %s: %s = %v: %s", e.Optimizer, e.Field, e.Value, e.Reason)
}

// Validate checks the fields the named optimizer uses and returns a
// *ConfigError naming the first bad field, or an error wrapping
// ErrUnknownOptimizer.
func (c Config) Validate() error {
	bad := func(field string, v any, reason string) error {
		return &ConfigError{Optimizer: c.Name, Field: field, Value: v, Reason: reason}
	}
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	switch c.Name {
	case SGD, Momentum, AdaGrad, RMSProp, Adam, FTRL:
	default:
		return fmt.Errorf("%w %q (want one of sgd, momentum, adagrad, rmsprop, adam, ftrl)", ErrUnknownOptimizer, c.Name)
	}
	if !finite(c.L2) || c.L2 < 0 {
		return bad("L2", c.L2, "must be finite and ≥ 0")
	}
	if c.Name == FTRL {
		if !finite(c.Alpha) || c.Alpha <= 0 {
			reason := "must be finite and > 0"
			if c.LearningRate > 0 {
				reason += " (ftrl's learning rate is Alpha, not LearningRate)"
			}
			return bad("Alpha", c.Alpha, reason)
		}
		if !finite(c.Beta) || c.Beta < 0 {
			return bad("Beta", c.Beta, "must be finite and ≥ 0")
		}
		if !finite(c.L1) || c.L1 < 0 {
			return bad("L1", c.L1, "must be finite and ≥ 0")
		}
		return nil
	}
	if !finite(c.LearningRate) || c.LearningRate <= 0 {
		return bad("LearningRate", c.LearningRate, "must be finite and > 0")
	}
	if c.L1 != 0 {
		return bad("L1", c.L1, "only ftrl supports an L1 penalty")
	}
	if c.DecaySteps < 0 {
		return bad("DecaySteps", c.DecaySteps, "must be ≥ 0 (0 means 1)")
	}
	switch c.Schedule {
	case "", ScheduleConstant:
	case ScheduleInverseTime:
		if !finite(c.Decay) || c.Decay < 0 {
			return bad("Decay", c.Decay, "must be finite and ≥ 0 for the inverse-time schedule")
		}
	case ScheduleStep:
		if !finite(c.Decay) || c.Decay <= 0 || c.Decay > 1 {
			return bad("Decay", c.Decay, "must be in (0, 1] for the step schedule")
		}
	default:
		return bad("Schedule", c.Schedule, "want constant, inverse-time or step")
	}
	unit := func(field string, x float64) error {
		if !finite(x) || x < 0 || x >= 1 {
			return bad(field, x, "must be in [0, 1)")
		}
		return nil
	}
	positive := func(field string, x float64) error {
		if !finite(x) || x <= 0 {
			return bad(field, x, "must be finite and > 0")
		}
		return nil
	}
	switch c.Name {
	case Momentum:
		return unit("Momentum", c.Momentum)
	case AdaGrad:
		return positive("Epsilon", c.Epsilon)
	case RMSProp:
		if err := unit("Rho", c.Rho); err != nil {
			return err
		}
		return positive("Epsilon", c.Epsilon)
	case Adam:
		if err := unit("Beta1", c.Beta1); err != nil {
			return err
		}
		if err := unit("Beta2", c.Beta2); err != nil {
			return err
		}
		return positive("Epsilon", c.Epsilon)
	}
	return nil
}

// Rule applies one optimizer step to a block of parameters. Implementations
// hold only hyperparameters and are safe for concurrent use on disjoint
// blocks.
type Rule interface {
	// Slots returns the number of float32 state values per parameter
	// (sgd 0, momentum 1, adagrad 1, rmsprop 1, adam 2 (m, v), ftrl 2 (z, n)).
	Slots() int
	// Update applies one step to a block of parameters in place: len(g) ==
	// len(w), len(state) == len(w)*Slots() (state of w[i] at
	// state[i*Slots():(i+1)*Slots()]). step is the 1-based update count for
	// bias correction and decay schedules. Update panics on a length mismatch
	// or step < 1 (programmer errors) and never allocates.
	Update(w, state, g []float32, step int64)
}

// InitState writes into state (len(w)·r.Slots() values) the optimizer state
// of parameters that start at w, before their first update. Zero state is
// the start of every rule but one: FTRL-Proximal's weight is a closed-form
// function of its state, so a nonzero starting weight (a random embedding)
// needs a state that maps to it (see ftrl.initState). Stores call InitState
// whenever they create a row; it never allocates.
func InitState(r Rule, w, state []float32) {
	clear(state)
	if s, ok := r.(stateIniter); ok {
		s.initState(w, state)
	}
}

// stateIniter is implemented by rules whose start state depends on w.
type stateIniter interface {
	initState(w, state []float32)
}

// New validates c and returns its rule.
func New(c Config) (Rule, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	sched := newSchedule(c)
	l2 := float32(c.L2)
	switch c.Name {
	case SGD:
		return &sgd{sched: sched, l2: l2}, nil
	case Momentum:
		return &momentum{sched: sched, l2: l2, mu: float32(c.Momentum), nesterov: c.Nesterov}, nil
	case AdaGrad:
		return &adagrad{sched: sched, l2: l2, eps: float32(c.Epsilon)}, nil
	case RMSProp:
		return &rmsprop{sched: sched, l2: l2, rho: float32(c.Rho), eps: float32(c.Epsilon)}, nil
	case Adam:
		return &adam{sched: sched, l2: l2, beta1: c.Beta1, beta2: c.Beta2,
			lnBeta1: math.Log(c.Beta1), lnBeta2: math.Log(c.Beta2), eps: float32(c.Epsilon)}, nil
	default: // FTRL; Validate rejected everything else.
		return &ftrl{alpha: float32(c.Alpha), beta: float32(c.Beta), l1: float32(c.L1), l2: l2}, nil
	}
}

// checkShapes panics when the block's lengths disagree with the contract.
func checkShapes(name string, w, state, g []float32, slots int, step int64) {
	if len(g) != len(w) || len(state) != len(w)*slots || step < 1 {
		panic(fmt.Sprintf("optim: %s.Update: len(w)=%d len(g)=%d len(state)=%d (want %d) step=%d (want ≥ 1)",
			name, len(w), len(g), len(state), len(w)*slots, step))
	}
}
