package model

import (
	"fmt"
	"slices"

	"github.com/lakestream/lakestream/train/feature"
)

// Kind names a model family. The names match the trainer's --model flag.
type Kind string

// Model kinds.
const (
	KindLogistic    Kind = "logistic"     // logistic regression
	KindLinear      Kind = "linear"       // linear regression
	KindSoftmax     Kind = "softmax"      // multinomial logistic regression
	KindFM          Kind = "fm"           // factorization machine (Rendle 2010)
	KindFFM         Kind = "ffm"          // field-aware FM (Juan et al. 2016)
	KindMF          Kind = "mf"           // matrix factorization (Koren et al. 2009)
	KindBayesLinear Kind = "bayes-linear" // Bayesian linear regression, diagonal posterior
	KindAdPredictor Kind = "adpredictor"  // probit regression (Graepel et al. 2010)
	KindMLP         Kind = "mlp"          // MLP over field embeddings
	KindDeepFM      Kind = "deepfm"       // FM + MLP sharing embeddings (Guo et al. 2017)
)

// Kinds lists every kind in documentation order.
var Kinds = []Kind{KindLogistic, KindLinear, KindSoftmax, KindFM, KindFFM, KindMF,
	KindBayesLinear, KindAdPredictor, KindMLP, KindDeepFM}

// Losses: the target type of kinds that support both.
const (
	LossLogistic = "logistic" // binary labels; scores are probabilities
	LossSquared  = "squared"  // real labels; scores are values
)

// Table names.
const (
	// TableWeights is the hashed sparse table every kind has.
	TableWeights = "w"
	// TableBias is the dense intercept table.
	TableBias = "bias"
)

// LayerWeights and LayerBias name the dense tables of MLP layer i.
func LayerWeights(i int) string { return fmt.Sprintf("mlp.%d.w", i) }

// LayerBias names the bias of MLP layer i; see LayerWeights.
func LayerBias(i int) string { return fmt.Sprintf("mlp.%d.b", i) }

// Arch holds the shape hyperparameters scoring needs. Fields a kind does not
// use are ignored (and should be left zero).
type Arch struct {
	// Loss is logistic or squared for fm, ffm, mf, mlp and deepfm. For mlp
	// with a multiclass label it is ignored: the output is a softmax.
	Loss string `json:"loss,omitempty"`
	// Factors is k: the latent dimension of fm, ffm, mf and deepfm, the
	// embedding width of mlp.
	Factors int `json:"factors,omitempty"`
	// UserField and ItemField are the field ids of mf's user and item.
	UserField int `json:"user_field,omitempty"`
	ItemField int `json:"item_field,omitempty"`
	// PriorVariance σ₀² and NoiseVariance (σ² for bayes-linear, β² for
	// adpredictor) of the Bayesian kinds.
	PriorVariance float64 `json:"prior_variance,omitempty"`
	NoiseVariance float64 `json:"noise_variance,omitempty"`
	// Hidden lists the hidden layer widths of mlp and deepfm.
	Hidden []int `json:"hidden,omitempty"`
}

// TableShape is one table of a layout.
type TableShape struct {
	Name  string
	Width int
	Dense bool
	// Rows is the row count of a dense table (0 for sparse tables).
	Rows int
}

// LayoutOf returns the tables a model of kind with arch over spec has, the
// sparse "w" table first. It checks that arch and spec suit the kind (for
// example softmax needs a multiclass label, mf two fields).
func LayoutOf(kind Kind, arch Arch, spec *feature.Spec) ([]TableShape, error) {
	bad := func(format string, args ...any) error {
		return &LayoutError{Kind: kind, Reason: fmt.Sprintf(format, args...)}
	}
	label := spec.Label.Type
	fields := spec.NumFields()
	needLoss := func() error {
		if arch.Loss != LossLogistic && arch.Loss != LossSquared {
			return bad("loss %q: want logistic or squared", arch.Loss)
		}
		return nil
	}
	needFactors := func() error {
		if arch.Factors < 1 {
			return bad("factors = %d, want ≥ 1", arch.Factors)
		}
		return nil
	}
	bias := TableShape{Name: TableBias, Width: 1, Dense: true, Rows: 1}
	switch kind {
	case KindLogistic, KindLinear:
		if kind == KindLogistic && label != "" && label != feature.Binary {
			return nil, bad("needs a binary label, the spec's is %s", label)
		}
		return []TableShape{{Name: TableWeights, Width: 1}, bias}, nil
	case KindSoftmax:
		c := spec.NumClasses()
		if label != feature.Multiclass {
			return nil, bad("needs a multiclass label with classes, the spec's is %q", label)
		}
		return []TableShape{{Name: TableWeights, Width: c}, {Name: TableBias, Width: c, Dense: true, Rows: 1}}, nil
	case KindFM, KindMF:
		if err := needLoss(); err != nil {
			return nil, err
		}
		if err := needFactors(); err != nil {
			return nil, err
		}
		if kind == KindMF {
			u, i := arch.UserField, arch.ItemField
			if u == i || u < 0 || i < 0 || u >= fields || i >= fields {
				return nil, bad("user field %d and item field %d must be distinct fields of the spec (it has %d)", u, i, fields)
			}
		}
		return []TableShape{{Name: TableWeights, Width: 1 + arch.Factors}, bias}, nil
	case KindFFM:
		if err := needLoss(); err != nil {
			return nil, err
		}
		if err := needFactors(); err != nil {
			return nil, err
		}
		return []TableShape{{Name: TableWeights, Width: 1 + fields*arch.Factors}, bias}, nil
	case KindBayesLinear, KindAdPredictor:
		if !(arch.PriorVariance > 0) || !(arch.NoiseVariance > 0) {
			return nil, bad("prior variance %v and noise variance %v must be > 0", arch.PriorVariance, arch.NoiseVariance)
		}
		if kind == KindAdPredictor && label != "" && label != feature.Binary {
			return nil, bad("needs a binary label, the spec's is %s", label)
		}
		return []TableShape{{Name: TableWeights, Width: 2}, {Name: TableBias, Width: 2, Dense: true, Rows: 1}}, nil
	case KindMLP, KindDeepFM:
		if err := needFactors(); err != nil {
			return nil, err
		}
		out := 1
		if kind == KindMLP && label == feature.Multiclass {
			out = spec.NumClasses()
		} else if err := needLoss(); err != nil {
			return nil, err
		}
		if slices.ContainsFunc(arch.Hidden, func(h int) bool { return h < 1 }) {
			return nil, bad("hidden layer widths %v must be ≥ 1", arch.Hidden)
		}
		var ts []TableShape
		if kind == KindMLP {
			ts = []TableShape{{Name: TableWeights, Width: arch.Factors}}
		} else {
			ts = []TableShape{{Name: TableWeights, Width: 1 + arch.Factors}, bias}
		}
		in := fields * arch.Factors
		for i, h := range append(slices.Clone(arch.Hidden), out) {
			ts = append(ts, TableShape{Name: LayerWeights(i), Width: h, Dense: true, Rows: in},
				TableShape{Name: LayerBias(i), Width: h, Dense: true, Rows: 1})
			in = h
		}
		return ts, nil
	}
	return nil, &LayoutError{Kind: kind, Reason: fmt.Sprintf("unknown kind (known: %v)", Kinds)}
}
