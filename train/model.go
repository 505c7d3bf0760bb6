package train

import (
	"fmt"
	"math"
)

// Kind names a model family. The names are the ones the CLI, the YAML config
// and the model artifact use.
type Kind string

// Model kinds.
const (
	KindLogistic    Kind = "logistic"     // logistic regression: binary labels, log loss
	KindLinear      Kind = "linear"       // linear regression: real labels, squared loss
	KindSoftmax     Kind = "softmax"      // multinomial logistic regression over Classes
	KindFM          Kind = "fm"           // factorization machine (Rendle 2010)
	KindFFM         Kind = "ffm"          // field-aware factorization machine (Juan et al. 2016)
	KindMF          Kind = "mf"           // matrix factorization of user × item ratings
	KindBayesLinear Kind = "bayes-linear" // Bayesian linear regression, diagonal Gaussian posterior
	KindAdPredictor Kind = "adpredictor"  // probit regression with Gaussian weights (Graepel et al. 2010)
)

// Kinds lists every model kind NewModel accepts, in the order help text
// shows them.
var Kinds = []Kind{KindLogistic, KindLinear, KindSoftmax, KindFM, KindFFM, KindMF, KindBayesLinear, KindAdPredictor, KindMLP, KindDeepFM}

// Loss selects the target type of models that support both (fm, ffm, mf).
type Loss string

// Losses.
const (
	LossLogistic Loss = "logistic" // binary labels 0/1, predictions are probabilities
	LossSquared  Loss = "squared"  // real labels, predictions are values
)

// Table names every model uses.
const (
	// TableWeights is the hashed sparse table: one row per feature key.
	TableWeights = "w"
	// TableBias is the dense table holding the intercept(s), one row.
	TableBias = "bias"
)

// ModelConfig chooses a model and its shape. Fields a kind does not use are
// ignored.
type ModelConfig struct {
	Kind Kind
	// Loss is the target type for fm, ffm, mf, mlp and deepfm (default
	// logistic, squared for mf). Other kinds have a fixed loss.
	Loss Loss
	// Factors is the latent dimension k of fm, ffm and mf, and the
	// embedding size of mlp and deepfm (default 8).
	Factors int
	// Hidden lists the hidden layer widths of the mlp and deepfm towers
	// (default [64, 32]).
	Hidden []int
	// FactorStd is the standard deviation of the factors' random start
	// (default 0.01).
	FactorStd float64
	// Classes is the number of classes of softmax (≥ 2).
	Classes int
	// Fields is the number of feature fields, which ffm, mlp and deepfm
	// need (≥ 1; the spec's NumFields).
	Fields int
	// UserField and ItemField are the field numbers of the user and item
	// columns for mf.
	UserField, ItemField int
	// Negatives is the number of sampled negative items per example for
	// implicit-feedback mf (0 means explicit ratings). Negatives are drawn
	// from the items of recent batches with Seed.
	Negatives int
	// BiasL2 and FactorL2 are mf's L2 penalties on the user/item biases
	// and on their factors, applied at every rating of the user or item
	// (Koren et al. 2009, eq. 5): the gradient of b gains BiasL2·b and
	// that of p_u and q_i FactorL2·p_u and FactorL2·q_i. Defaults:
	// DefaultModelConfig, chosen on data (bench/RESULTS.md).
	BiasL2, FactorL2 float64
	Seed             uint64
	// PriorVariance is the prior variance of each weight of the Bayesian
	// models (default 1 for bayes-linear, AdPredictorPriorVariance for
	// adpredictor); NoiseVariance is the observation noise σ² of
	// bayes-linear and β² of adpredictor (default 1).
	PriorVariance, NoiseVariance float64
}

// DefaultModelConfig returns the defaults for kind.
func DefaultModelConfig(kind Kind) ModelConfig {
	c := ModelConfig{Kind: kind, Factors: 8, FactorStd: 0.01, PriorVariance: 1, NoiseVariance: 1, UserField: 0, ItemField: 1, Hidden: []int{64, 32}}
	switch kind {
	case KindMF:
		c.Loss = LossSquared
		c.BiasL2, c.FactorL2 = MFBiasL2, MFFactorL2
	default:
		c.Loss = LossLogistic
	}
	if kind == KindSoftmax {
		c.Classes = 2
	}
	if kind == KindAdPredictor {
		c.PriorVariance = AdPredictorPriorVariance
	}
	return c
}

// Validate reports the first setting out of range for c.Kind.
func (c ModelConfig) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: model %s: %s", ErrBadConfig, c.Kind, fmt.Sprintf(format, args...))
	}
	switch c.Kind {
	case KindLogistic, KindLinear:
	case KindSoftmax:
		if c.Classes < 2 {
			return bad("classes = %d, want ≥ 2", c.Classes)
		}
	case KindFM, KindFFM, KindMF, KindMLP, KindDeepFM:
		if c.Factors < 1 {
			return bad("factors = %d, want ≥ 1", c.Factors)
		}
		if c.Loss != LossLogistic && c.Loss != LossSquared {
			return bad("loss %q, want logistic or squared", c.Loss)
		}
		if !(c.FactorStd >= 0) {
			return bad("factor std = %v, want ≥ 0", c.FactorStd)
		}
		if (c.Kind == KindFFM || c.Kind == KindMLP || c.Kind == KindDeepFM) && c.Fields < 1 {
			return bad("fields = %d, want ≥ 1", c.Fields)
		}
		for _, h := range c.Hidden {
			if (c.Kind == KindMLP || c.Kind == KindDeepFM) && h < 1 {
				return bad("hidden layer width %d, want ≥ 1", h)
			}
		}
		if c.Kind == KindMF {
			if c.UserField == c.ItemField || c.UserField < 0 || c.ItemField < 0 {
				return bad("user field %d and item field %d must differ and be ≥ 0", c.UserField, c.ItemField)
			}
			if c.Negatives < 0 {
				return bad("negatives = %d, want ≥ 0", c.Negatives)
			}
			if !(c.BiasL2 >= 0) || !(c.FactorL2 >= 0) || math.IsInf(c.BiasL2, 0) || math.IsInf(c.FactorL2, 0) {
				return bad("bias L2 %v and factor L2 %v must be finite and ≥ 0", c.BiasL2, c.FactorL2)
			}
			if c.Negatives > 0 && c.Loss != LossLogistic {
				return bad("implicit feedback (negatives > 0) needs the logistic loss")
			}
		}
	case KindBayesLinear, KindAdPredictor:
		if !(c.PriorVariance > 0) || !(c.NoiseVariance > 0) {
			return bad("prior variance %v and noise variance %v must be > 0", c.PriorVariance, c.NoiseVariance)
		}
	default:
		return fmt.Errorf("%w %q (known: %v)", ErrUnknownModel, c.Kind, Kinds)
	}
	return nil
}

// Params is the slice of a model's parameters one mini-batch touches, as
// pulled from the parameter store; gradients use the same layout.
type Params struct {
	// Slot[j] is the row of Sparse that holds entry j of the batch
	// (Batch.Indices[j]); rows are the batch's distinct keys.
	Slot []int32
	// Sparse holds the distinct rows of the "w" table, Width values each.
	Sparse []float32
	// Dense holds the whole of each dense table, in the order of
	// Model.Tables (after the sparse table).
	Dense [][]float32
}

// Model computes predictions and gradients for mini-batches with hand-written
// sparse kernels. A Model holds scratch space, so it is not safe for
// concurrent use; each worker owns one.
//
// Shape mismatches between a batch and the parameters (a field number beyond
// Fields, a short Params) are programmer errors and panic.
type Model interface {
	// Kind returns the model's family.
	Kind() Kind
	// Tables lists the parameter tables: the sparse "w" table first, then
	// the dense tables in the order of Params.Dense.
	Tables() []Table
	// Outputs is the number of predictions per example (Classes for
	// softmax, else 1).
	Outputs() int
	// CheckLabel reports whether y is a valid target.
	CheckLabel(y float32) bool
	// Predict writes Outputs() predictions per row of b into dst:
	// probabilities for logistic losses, values for squared losses.
	Predict(dst []float64, b *Batch, p *Params)
	// Gradient adds to g the gradient of the batch's summed, weighted loss
	// with respect to p (posterior models add the exact change old−new
	// instead, see Table.Posterior), writes predictions into pred like
	// Predict, and returns the summed weighted loss. p is left unchanged.
	Gradient(g *Params, pred []float64, b *Batch, p *Params) float64
}

// NewModel returns the model c describes.
func NewModel(c ModelConfig) (Model, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	switch c.Kind {
	case KindLogistic:
		return &linearModel{kind: c.Kind, loss: LossLogistic}, nil
	case KindLinear:
		return &linearModel{kind: c.Kind, loss: LossSquared}, nil
	case KindSoftmax:
		return newSoftmax(c.Classes), nil
	case KindFM:
		return newFM(c), nil
	case KindFFM:
		return newFFM(c), nil
	case KindMF:
		return newMF(c), nil
	case KindBayesLinear:
		return newBayesLinear(c), nil
	case KindAdPredictor:
		return newAdPredictor(c), nil
	case KindMLP, KindDeepFM:
		return newDeep(c), nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownModel, c.Kind)
}

// link maps a score to a prediction.
func (l Loss) link(z float64) float64 {
	if l == LossLogistic {
		return sigmoid(z)
	}
	return z
}

// lossGrad returns the loss of score z for label y, its derivative in z and
// the prediction link(z).
func (l Loss) lossGrad(z, y float64) (loss, dz, pred float64) {
	if l == LossLogistic {
		// loss = log(1+e^z) − y·z and dz = σ(z) − y, sharing one exp:
		// with e = e^−|z|, σ(z) = 1/(1+e) or e/(1+e) and
		// log(1+e^z) = max(z,0) + log1p(e); no overflow for any z.
		e := math.Exp(-math.Abs(z))
		sp := math.Log1p(e) + max(z, 0)
		p := 1 / (1 + e)
		if z < 0 {
			p = e / (1 + e)
		}
		return sp - y*z, p - y, p
	}
	d := z - y
	return 0.5 * d * d, d, z
}

func (l Loss) checkLabel(y float32) bool {
	if l == LossLogistic {
		return y == 0 || y == 1
	}
	return !math.IsNaN(float64(y)) && !math.IsInf(float64(y), 0)
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

// grow returns s resized to n, reusing its storage when large enough.
func grow[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]T, n, n+n/4)
}
