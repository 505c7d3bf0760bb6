package modeltest

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/train/feature"
)

// MFConfig shapes the random mf model and interactions of RandomMF.
type MFConfig struct {
	Users, Items, PerUser, Factors int
	// IntIDs makes the user and item columns int64 instead of strings.
	IntIDs bool
	// Loss is model.LossSquared (ratings) or model.LossLogistic (implicit).
	Loss string
	// Unmodelled users and items appear in the interactions but have no
	// row in the model (cold start): the last Unmodelled of each.
	Unmodelled int
	// NaNItems gives the first NaNItems items a NaN bias, as a training
	// run that diverged leaves them: their scores are NaN.
	NaNItems int
	Seed     uint64
}

// RandomMF returns an mf model with random rows (biases and factors drawn
// from a normal distribution) for users "u0"… and items "i0"… (or 0…, 1…
// with IntIDs), and interactions (columns user, item): PerUser random
// items per user, then every item once (for user 0), so every item is in
// the catalogue. The caller releases the record.
func RandomMF(t testing.TB, c MFConfig) (*model.Model, arrow.Record) {
	t.Helper()
	rng := rand.New(rand.NewPCG(c.Seed, 7))
	typ := arrow.DataType(arrow.BinaryTypes.String)
	if c.IntIDs {
		typ = arrow.PrimitiveTypes.Int64
	}
	schema := arrow.NewSchema([]arrow.Field{{Name: "user", Type: typ, Nullable: true}, {Name: "item", Type: typ, Nullable: true}}, nil)
	rb := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer rb.Release()
	for u := range c.Users {
		for range c.PerUser {
			add(rb, 0, u, "u", c.IntIDs)
			add(rb, 1, rng.IntN(c.Items), "i", c.IntIDs)
		}
	}
	for i := range c.Items {
		add(rb, 0, 0, "u", c.IntIDs)
		add(rb, 1, i, "i", c.IntIDs)
	}
	rec := rb.NewRecord()

	spec := &feature.Spec{Version: 1, Label: feature.Label{Column: "rating", Type: feature.Real},
		Categorical: []feature.Categorical{{Column: "user"}, {Column: "item"}}}
	if c.Loss == model.LossLogistic {
		spec.Label.Type = feature.Binary
	}
	// Every (user, item) key, from the featurizer itself: one record of
	// every user beside every item position.
	kb := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer kb.Release()
	n := max(c.Users, c.Items)
	for r := range n {
		if r < c.Users-c.Unmodelled {
			add(kb, 0, r, "u", c.IntIDs)
		} else {
			kb.Field(0).AppendNull()
		}
		if r < c.Items-c.Unmodelled {
			add(kb, 1, r, "i", c.IntIDs)
		} else {
			kb.Field(1).AppendNull()
		}
	}
	keys := kb.NewRecord()
	defer keys.Release()
	fz, err := feature.NewFeaturizer(spec, feature.WithoutLabels())
	if err != nil {
		t.Fatal(err)
	}
	var b feature.Batch
	if err := fz.Featurize(keys, &b); err != nil {
		t.Fatal(err)
	}
	w := model.Table{Name: model.TableWeights, Width: 1 + c.Factors}
	seen := map[uint64]bool{}
	for r := range n {
		keys, _, fields := b.Row(r)
		for j, k := range keys {
			// A null takes the field's missing bucket: no row for it. Two
			// ids that hash alike share a row, as in training.
			if fields[j] == 0 && r >= c.Users-c.Unmodelled || fields[j] == 1 && r >= c.Items-c.Unmodelled || seen[k] {
				continue
			}
			seen[k] = true
			w.Keys = append(w.Keys, k)
			for range 1 + c.Factors {
				w.Values = append(w.Values, float32(rng.NormFloat64()*0.5))
			}
			if fields[j] == 1 && r < c.NaNItems {
				w.Values[len(w.Values)-1-c.Factors] = float32(math.NaN())
			}
		}
	}
	inputs, err := model.InputsOf(schema, spec)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(model.Metadata{Kind: model.KindMF, Inputs: inputs,
		Arch: model.Arch{Factors: c.Factors, Loss: c.Loss, UserField: 0, ItemField: 1}},
		spec, []model.Table{w, {Name: model.TableBias, Width: 1, Dense: true, Values: []float32{3.5}}})
	if err != nil {
		t.Fatal(err)
	}
	return m, rec
}

func add(rb *array.RecordBuilder, col, id int, prefix string, ints bool) {
	if ints {
		rb.Field(col).(*array.Int64Builder).Append(int64(id))
	} else {
		rb.Field(col).(*array.StringBuilder).Append(prefix + strconv.Itoa(id))
	}
}

// Catalogue returns the catalogue of the interactions rec (columns user,
// item), built as the trainer builds it.
func Catalogue(t testing.TB, rec arrow.Record) *model.Catalogue {
	t.Helper()
	b := model.NewCatalogueBuilder()
	for r := range int(rec.NumRows()) {
		if err := b.Add(rec.Column(0).ValueStr(r), rec.Column(1).ValueStr(r)); err != nil {
			t.Fatal(err)
		}
	}
	return b.Catalogue()
}
