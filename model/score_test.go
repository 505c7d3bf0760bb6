package model_test

import (
	"errors"
	"math"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/train/feature"
)

// The fixture: a numeric field x (id 0) and categorical fields a (1) and b
// (2) over two rows,
//
//	row 0: x = 2,  a = "p", b = "q"
//	row 1: x = −1, a = "r", b = null (the missing bucket, absent from tables)
//
// The expected scores below were computed by hand (with a calculator, from
// the textbook definitions: pairwise FM/FFM sums rather than the O(k·n)
// rewriting the kernels use) from the parameters given per test.

func fixtureSpec(label feature.Label) *feature.Spec {
	return &feature.Spec{
		Label:       label,
		HashBits:    16,
		Numeric:     []feature.Numeric{{Column: "x"}},
		Categorical: []feature.Categorical{{Column: "a"}, {Column: "b"}},
	}
}

func fixtureRecord(t testing.TB) arrow.Record {
	t.Helper()
	mem := memory.DefaultAllocator
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "x", Type: arrow.PrimitiveTypes.Float64},
		{Name: "a", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "b", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	b.Field(0).(*array.Float64Builder).AppendValues([]float64{2, -1}, nil)
	b.Field(1).(*array.StringBuilder).AppendValues([]string{"p", "r"}, nil)
	b.Field(2).(*array.StringBuilder).AppendValues([]string{"q", ""}, []bool{true, false})
	rec := b.NewRecord()
	t.Cleanup(rec.Release)
	return rec
}

// fixtureKeys returns the feature keys of x, p, q and r.
func fixtureKeys(t testing.TB) map[string]uint64 {
	t.Helper()
	fz, err := feature.NewFeaturizer(fixtureSpec(feature.Label{}), feature.WithoutLabels())
	if err != nil {
		t.Fatal(err)
	}
	var b feature.Batch
	if err := fz.Featurize(fixtureRecord(t), &b); err != nil {
		t.Fatal(err)
	}
	return map[string]uint64{"x": b.Indices[0], "p": b.Indices[1], "q": b.Indices[2], "r": b.Indices[4]}
}

// sparse builds the "w" table from rows by fixture name.
func sparse(t testing.TB, width int, rows map[string][]float32) model.Table {
	keys := fixtureKeys(t)
	tab := model.Table{Name: model.TableWeights, Width: width}
	for _, name := range []string{"x", "p", "q", "r"} {
		row, ok := rows[name]
		if !ok {
			continue
		}
		if len(row) != width {
			t.Fatalf("row %s has %d values, want %d", name, len(row), width)
		}
		tab.Keys = append(tab.Keys, keys[name])
		tab.Values = append(tab.Values, row...)
	}
	return tab
}

func dense(name string, width int, vals ...float32) model.Table {
	return model.Table{Name: name, Width: width, Dense: true, Values: vals}
}

var (
	binary     = feature.Label{Column: "y", Type: feature.Binary}
	real       = feature.Label{Column: "y", Type: feature.Real}
	multiclass = feature.Label{Column: "y", Type: feature.Multiclass, Classes: []string{"u", "v", "w"}}
)

func TestScoreHandComputed(t *testing.T) {
	lrRows := map[string][]float32{"x": {0.5}, "p": {1}, "q": {-2}, "r": {0.25}}
	fmRows := map[string][]float32{"x": {0.5, 1, 0}, "p": {1, 0.5, 0.5}, "q": {-2, -1, 2}, "r": {0.25, 2, 1}}
	mlpLayers := []model.Table{
		dense("mlp.0.w", 3,
			0.1, -0.2, 0.3,
			0.4, 0.5, -0.6,
			-0.7, 0.8, 0.9,
			1.0, -1.1, 1.2,
			0.3, 0.2, 0.1,
			-0.5, 0.4, -0.3),
		dense("mlp.0.b", 3, 0.1, -0.1, 0.2),
		dense("mlp.1.w", 1, 1.5, -0.5, 0.25),
		dense("mlp.1.b", 1, -0.2),
	}
	tests := []struct {
		name   string
		kind   model.Kind
		arch   model.Arch
		label  feature.Label
		tables func(t *testing.T) []model.Table
		want   []float64
	}{
		{
			// z = 0.1 + 0.5·2 + 1 − 2 = 0.1; z = 0.1 − 0.5 + 0.25 = −0.15; σ(z)
			name: "logistic", kind: model.KindLogistic, label: binary,
			tables: func(t *testing.T) []model.Table {
				return []model.Table{sparse(t, 1, lrRows), dense("bias", 1, 0.1)}
			},
			want: []float64{0.52497918747894, 0.46257015465625045},
		},
		{
			name: "linear", kind: model.KindLinear, label: real,
			tables: func(t *testing.T) []model.Table {
				return []model.Table{sparse(t, 1, lrRows), dense("bias", 1, 0.1)}
			},
			want: []float64{0.1, -0.15},
		},
		{
			// z_c = b_c + Σ w_jc x_j, softmax over c.
			name: "softmax", kind: model.KindSoftmax, label: multiclass,
			tables: func(t *testing.T) []model.Table {
				return []model.Table{
					sparse(t, 3, map[string][]float32{"x": {0.5, -0.5, 0}, "p": {1, 0, -1}, "q": {-2, 1, 0.5}, "r": {0.25, 0.5, 0.75}}),
					dense("bias", 3, 0.1, 0.2, 0.3),
				}
			},
			want: []float64{0.351371685289223, 0.3883257680168782, 0.2603025466938988,
				0.12228612761039571, 0.4717096306944085, 0.4060042416951958},
		},
		{
			// row 0: linear 1+1−2 = 0; pairs ⟨v_x,v_p⟩·2 = 1, ⟨v_x,v_q⟩·2 = −2,
			// ⟨v_p,v_q⟩ = 0.5; z = 0.1 − 0.5 = −0.4.
			// row 1: linear −0.5+0.25; ⟨v_x,v_r⟩·(−1) = −2; z = −2.15.
			name: "fm", kind: model.KindFM, arch: model.Arch{Factors: 2, Loss: model.LossLogistic}, label: binary,
			tables: func(t *testing.T) []model.Table {
				return []model.Table{sparse(t, 3, fmRows), dense("bias", 1, 0.1)}
			},
			want: []float64{0.401312339887548, 0.10433122311900131},
		},
		{
			name: "fm squared", kind: model.KindFM, arch: model.Arch{Factors: 2, Loss: model.LossSquared}, label: real,
			tables: func(t *testing.T) []model.Table {
				return []model.Table{sparse(t, 3, fmRows), dense("bias", 1, 0.1)}
			},
			want: []float64{-0.4, -2.15},
		},
		{
			// z = b + Σ w_j x_j + Σ_{i<j} ⟨v_{i,f_j}, v_{j,f_i}⟩ x_i x_j with
			// rows (w, v_·0, v_·1, v_·2); row 0 = 0.1 + 0 + (0.5·2·... ) = −0.3.
			name: "ffm", kind: model.KindFFM, arch: model.Arch{Factors: 2, Loss: model.LossSquared}, label: real,
			tables: func(t *testing.T) []model.Table {
				return []model.Table{
					sparse(t, 7, map[string][]float32{
						"x": {0.5, 1, 0, 0.5, -0.5, 0.2, 0.1},
						"p": {1, 0.3, 0.4, 0, 1, -1, 0.5},
						"q": {-2, 0.6, -0.2, 1, 1, 0.7, 0.7},
						"r": {0.25, -0.3, 0.9, 0.4, 0.4, 0.1, -0.8},
					}),
					dense("bias", 1, 0.1),
				}
			},
			want: []float64{-0.3, 0.45},
		},
		{
			// user a, item b: 3.5 + 0.2 − 0.1 + (0.5 − 0.5) = 3.6; row 1 has
			// no item: 3.5 + 0.3.
			name: "mf", kind: model.KindMF, arch: model.Arch{Factors: 2, Loss: model.LossSquared, UserField: 1, ItemField: 2}, label: real,
			tables: func(t *testing.T) []model.Table {
				return []model.Table{
					sparse(t, 3, map[string][]float32{"p": {0.2, 1, 2}, "q": {-0.1, 0.5, -0.25}, "r": {0.3, 1, 1}}),
					dense("bias", 1, 3.5),
				}
			},
			want: []float64{3.6, 3.8},
		},
		{
			// mean as logistic; the variance does not enter the prediction.
			name: "bayes-linear", kind: model.KindBayesLinear, arch: model.Arch{PriorVariance: 1, NoiseVariance: 0.5}, label: real,
			tables: func(t *testing.T) []model.Table {
				return []model.Table{
					sparse(t, 2, map[string][]float32{"x": {0.5, -0.2}, "p": {1, -0.5}, "q": {-2, 0.3}, "r": {0.25, -0.9}}),
					dense("bias", 2, 0.1, -0.1),
				}
			},
			want: []float64{0.1, -0.15},
		},
		{
			// v = 0.5 + (1−0.1) + 0.8·4 + 0.5 + 1.3 = 6.4, Φ(0.1/√6.4);
			// row 1: 0.5 + 0.9 + 0.8 + 0.1 + 1 (unseen key: the prior) = 3.3.
			name: "adpredictor", kind: model.KindAdPredictor, arch: model.Arch{PriorVariance: 1, NoiseVariance: 0.5}, label: binary,
			tables: func(t *testing.T) []model.Table {
				return []model.Table{
					sparse(t, 2, map[string][]float32{"x": {0.5, -0.2}, "p": {1, -0.5}, "q": {-2, 0.3}, "r": {0.25, -0.9}}),
					dense("bias", 2, 0.1, -0.1),
				}
			},
			want: []float64{0.5157654725639398, 0.46709582072180555},
		},
		{
			// input row 0 = [2,0, 0.5,0.5, −1,2]; h = relu(in·W0 + b0);
			// z = h·W1 + b1 = 0.0875.
			name: "mlp", kind: model.KindMLP, arch: model.Arch{Factors: 2, Loss: model.LossLogistic, Hidden: []int{3}}, label: binary,
			tables: func(t *testing.T) []model.Table {
				return append([]model.Table{sparse(t, 2, map[string][]float32{"x": {1, 0}, "p": {0.5, 0.5}, "q": {-1, 2}, "r": {2, 1}})}, mlpLayers...)
			},
			want: []float64{0.5218610539716015, 0.5560138905446199},
		},
		{
			// the fm z plus the tower over the factors: −0.4 + 0.0875.
			name: "deepfm", kind: model.KindDeepFM, arch: model.Arch{Factors: 2, Loss: model.LossLogistic, Hidden: []int{3}}, label: binary,
			tables: func(t *testing.T) []model.Table {
				return append([]model.Table{sparse(t, 3, fmRows), dense("bias", 1, 0.1)}, mlpLayers...)
			},
			want: []float64{0.4225046348141883, 0.12730503807537172},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := model.New(model.Metadata{Kind: tt.kind, Arch: tt.arch}, fixtureSpec(tt.label), tt.tables(t))
			if err != nil {
				t.Fatal(err)
			}
			if m.Outputs()*2 != len(tt.want) {
				t.Fatalf("Outputs() = %d, want %d", m.Outputs(), len(tt.want)/2)
			}
			got := make([]float64, len(tt.want))
			if err := m.Score(fixtureRecord(t), got); err != nil {
				t.Fatal(err)
			}
			for i := range got {
				// 1e-5: parameters are float32 approximations of the decimal
				// values above (relative error 6e-8) and scores sum up to ~10
				// of them, so deviations stay below 1e-6.
				if math.Abs(got[i]-tt.want[i]) > 1e-5 {
					t.Errorf("score[%d] = %.9g, want %.9g", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestNewRejectsBadLayouts(t *testing.T) {
	lr := func(t *testing.T) []model.Table {
		return []model.Table{sparse(t, 1, map[string][]float32{"x": {1}}), dense("bias", 1, 0)}
	}
	tests := []struct {
		name   string
		kind   model.Kind
		arch   model.Arch
		label  feature.Label
		tables func(t *testing.T) []model.Table
		table  string
	}{
		{"missing bias", model.KindLogistic, model.Arch{}, binary, func(t *testing.T) []model.Table { return lr(t)[:1] }, "bias"},
		{"extra table", model.KindLogistic, model.Arch{}, binary, func(t *testing.T) []model.Table { return append(lr(t), dense("v", 1, 0)) }, "v"},
		{"wrong width", model.KindFM, model.Arch{Factors: 4, Loss: model.LossLogistic}, binary, lr, "w"},
		{"logistic on real label", model.KindLogistic, model.Arch{}, real, lr, ""},
		{"softmax without classes", model.KindSoftmax, model.Arch{}, binary, lr, ""},
		{"fm without loss", model.KindFM, model.Arch{Factors: 1}, binary, lr, ""},
		{"mf same fields", model.KindMF, model.Arch{Factors: 1, Loss: model.LossSquared, UserField: 1, ItemField: 1}, real, lr, ""},
		{"bayes without prior", model.KindAdPredictor, model.Arch{NoiseVariance: 1}, binary, lr, ""},
		{"unknown kind", model.Kind("gbdt"), model.Arch{}, binary, lr, ""},
		{"dense bias with 2 rows", model.KindLogistic, model.Arch{}, binary, func(t *testing.T) []model.Table {
			return []model.Table{lr(t)[0], dense("bias", 1, 0, 0)}
		}, "bias"},
		{"duplicate key", model.KindLogistic, model.Arch{}, binary, func(t *testing.T) []model.Table {
			w := lr(t)[0]
			w.Keys = append(w.Keys, w.Keys[0])
			w.Values = append(w.Values, 2)
			return []model.Table{w, dense("bias", 1, 0)}
		}, "w"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := model.New(model.Metadata{Kind: tt.kind, Arch: tt.arch}, fixtureSpec(tt.label), tt.tables(t))
			le, ok := err.(*model.LayoutError)
			if !ok {
				t.Fatalf("New = %v, want a *LayoutError", err)
			}
			if le.Table != tt.table {
				t.Errorf("error names table %q (%v), want %q", le.Table, err, tt.table)
			}
		})
	}
}

func TestScoreErrors(t *testing.T) {
	m, err := model.New(model.Metadata{Kind: model.KindLinear}, fixtureSpec(real),
		[]model.Table{sparse(t, 1, map[string][]float32{"x": {1}}), dense("bias", 1, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Score(fixtureRecord(t), make([]float64, 3)); err == nil {
		t.Error("Score into a dst of the wrong length succeeded")
	}
	mem := memory.DefaultAllocator
	b := array.NewRecordBuilder(mem, arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Float64}}, nil))
	defer b.Release()
	b.Field(0).(*array.Float64Builder).Append(1)
	rec := b.NewRecord()
	defer rec.Release()
	err = m.Score(rec, make([]float64, 1))
	var se *feature.SpecError
	if !errors.As(err, &se) || se.Column != "a" {
		t.Errorf("Score of a record without column a = %v, want a *feature.SpecError naming a", err)
	}
}

func TestPredictive(t *testing.T) {
	tables := func(t *testing.T) []model.Table {
		return []model.Table{
			sparse(t, 2, map[string][]float32{"x": {0.5, -0.2}, "p": {1, -0.5}, "q": {-2, 0.3}, "r": {0.25, -0.9}}),
			dense("bias", 2, 0.1, -0.1),
		}
	}
	m, err := model.New(model.Metadata{Kind: model.KindAdPredictor, Arch: model.Arch{PriorVariance: 1, NoiseVariance: 0.5}},
		fixtureSpec(binary), tables(t))
	if err != nil {
		t.Fatal(err)
	}
	mean, variance := make([]float64, 2), make([]float64, 2)
	if err := m.Predictive(fixtureRecord(t), mean, variance); err != nil {
		t.Fatal(err)
	}
	// The adpredictor case of TestScoreHandComputed: means 0.1 and −0.15,
	// variances 6.4 and 3.3; 1e-5 as there.
	want := [][2]float64{{0.1, 6.4}, {-0.15, 3.3}}
	for r, w := range want {
		if math.Abs(mean[r]-w[0]) > 1e-5 || math.Abs(variance[r]-w[1]) > 1e-5 {
			t.Errorf("row %d: mean %v variance %v, want %v %v", r, mean[r], variance[r], w[0], w[1])
		}
	}
	lr, err := model.New(model.Metadata{Kind: model.KindLinear}, fixtureSpec(real),
		[]model.Table{sparse(t, 1, map[string][]float32{"x": {1}}), dense("bias", 1, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if err := lr.Predictive(fixtureRecord(t), mean, variance); !errors.Is(err, model.ErrIncompatible) {
		t.Errorf("Predictive of a linear model = %v, want ErrIncompatible", err)
	}
}
