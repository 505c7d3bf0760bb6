package modeltest

import (
	"context"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/train/feature"
)

// SaveLogistic saves, as the next version of model name in store, a
// logistic regression on two float64 columns x1 and x2 with label click
// (binary): score = sigmoid(w1·x1 + w2·x2), no bias. It returns the version.
func SaveLogistic(t testing.TB, store lake.Store, name string, w1, w2 float32) int {
	t.Helper()
	spec := &feature.Spec{
		Label:   feature.Label{Column: "click", Type: feature.Binary},
		Numeric: []feature.Numeric{{Column: "x1"}, {Column: "x2"}},
	}
	// The hashed keys of x1 and x2, from the featurizer itself.
	fz, err := feature.NewFeaturizer(spec, feature.WithoutLabels())
	if err != nil {
		t.Fatal(err)
	}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "x1", Type: arrow.PrimitiveTypes.Float64},
		{Name: "x2", Type: arrow.PrimitiveTypes.Float64},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	b.Field(0).(*array.Float64Builder).Append(1)
	b.Field(1).(*array.Float64Builder).Append(1)
	rec := b.NewRecord()
	b.Release()
	defer rec.Release()
	var batch feature.Batch
	if err := fz.Featurize(rec, &batch); err != nil {
		t.Fatal(err)
	}
	if len(batch.Indices) != 2 {
		t.Fatalf("featurizer gave %d keys for two numeric fields", len(batch.Indices))
	}
	m, err := model.New(model.Metadata{Kind: model.KindLogistic}, spec, []model.Table{
		{Name: model.TableWeights, Width: 1, Keys: batch.Indices, Values: []float32{w1, w2}},
		{Name: model.TableBias, Width: 1, Dense: true, Values: []float32{0}},
	})
	if err != nil {
		t.Fatal(err)
	}
	v, err := m.Save(context.Background(), store, name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
