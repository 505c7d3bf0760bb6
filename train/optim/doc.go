// Package optim holds the first-order optimizers that update Lakestream's
// parameters: SGD with decay schedules, momentum (classic and Nesterov),
// AdaGrad, RMSProp, Adam and FTRL-Proximal.
//
// The same code runs in two places: in process, when a trainer keeps its
// parameters locally, and on the parameter server, which applies a table's
// rule to every pushed gradient. To make that possible a rule keeps no state
// of its own. Its per-parameter state (accumulators, moments) lives in a flat
// float32 slice owned by the caller, Slots() values per parameter, stored next
// to the weights wherever those live:
//
//	rule, err := optim.New(optim.DefaultConfig("adam"))
//	w := make([]float32, n)
//	state := make([]float32, n*rule.Slots())
//	for step := int64(1); ; step++ {
//		g := gradient(w)
//		rule.Update(w, state, g, step)
//	}
//
// The state of w[i] is state[i*Slots() : (i+1)*Slots()]. The slot order of each
// rule is documented on its type (for example FTRL stores z then n). Zero
// state is the correct initial state for every rule.
//
// Update works on a block of any length, so a caller can update a whole dense
// tensor, one sparse row (an embedding of width k) or the rows of a
// mini-batch's deduplicated keys, one call per row or per contiguous run.
// Rules are immutable after New and safe for concurrent use on disjoint
// blocks; Update never allocates.
//
// # Step counts and schedules
//
// step is the 1-based number of the update being applied. Adam uses it for bias
// correction and every learning-rate schedule uses it for decay. A parameter
// server passes the table's global update count; for sparse tables this means
// a rarely seen key is corrected as if it had been updated every step, the
// usual approximation of lazy Adam.
//
// The learning rate of sgd, momentum, adagrad, rmsprop and adam follows
// Config.Schedule:
//
//	constant      η_t = η
//	inverse-time  η_t = η / (1 + Decay·(t−1)/DecaySteps)
//	step          η_t = η · Decay^⌊(t−1)/DecaySteps⌋
//
// FTRL-Proximal has its own per-coordinate rates and ignores the schedule.
//
// # Regularization
//
// Config.L2 adds an L2 penalty ½·L2·w² to every rule. For the gradient rules it
// is folded into the gradient (g ← g + L2·w, "coupled" weight decay); FTRL
// applies it in closed form in the proximal step. Config.L1 is supported by
// FTRL only, whose closed-form step produces exact zeros; the other rules
// reject it in Validate because a subgradient step does not give sparsity.
package optim
