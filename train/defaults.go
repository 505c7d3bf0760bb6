package train

import "github.com/lakestream/lakestream/train/optim"

// mf's L2 penalties by default (ModelConfig.BiasL2 and FactorL2), chosen
// with the rest of KindDefaults on planted and MovieLens 100k ratings
// (bench/RESULTS.md, "Defaults").
const (
	MFBiasL2   = 0.02
	MFFactorL2 = 0.05
)

// AdPredictorPriorVariance is adpredictor's prior variance of each weight
// by default (ModelConfig.PriorVariance), chosen on the quickstart's click
// log and on Adult (bench/RESULTS.md, "Defaults"): with β² = 1, a prior of
// 1 let the first impressions of a key move its weight too far.
const AdPredictorPriorVariance = 0.1

// Defaults are the training settings a job of a model kind uses for what
// its user leaves unset. They were chosen on data, recorded with the search
// in bench/RESULTS.md ("Defaults"), so a model trained with default flags
// does at least as well as its simple baseline and does not get worse with
// more epochs.
type Defaults struct {
	// Optimizer is the optimizer and its settings.
	Optimizer optim.Config
	// Epochs is the number of passes over the training data.
	Epochs int
	// Patience is the early-stopping patience when the job has a
	// validation split (0: none); the job then keeps the best epoch.
	Patience int
	// ShuffleBuffer is the shuffle window of a training scan, in rows
	// (0: file order); a new permutation every epoch.
	ShuffleBuffer int
}

// KindDefaults returns the defaults of kind. Kinds without their own
// (every kind but mf, adpredictor, bayes-linear and linear) train one epoch of FTRL (α = 0.1,
// β = 1) in file order, with no early stopping: on the quickstart's click
// log and on Adult their second epoch did not do worse (bench/RESULTS.md).
func KindDefaults(kind Kind) Defaults {
	switch kind {
	case KindMF:
		o := optim.DefaultConfig(optim.Adam)
		o.LearningRate = 0.01
		return Defaults{Optimizer: o, Epochs: 30, Patience: 3, ShuffleBuffer: 1 << 18}
	case KindAdPredictor, KindBayesLinear:
		// A second pass counts the same evidence twice and makes the
		// posterior overconfident: validated, it keeps the best epoch.
		return Defaults{Optimizer: optim.DefaultConfig(optim.FTRL), Epochs: 1, Patience: 1}
	case KindLinear:
		// On the quickstart's click label a second pass did worse on
		// validation and held out alike: validated, it keeps the best epoch.
		return Defaults{Optimizer: optim.DefaultConfig(optim.FTRL), Epochs: 1, Patience: 1}
	}
	return Defaults{Optimizer: optim.DefaultConfig(optim.FTRL), Epochs: 1}
}
