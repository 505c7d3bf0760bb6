package feature_test

import (
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/lakestream/lakestream/train/feature"
)

func Example() {
	spec, err := feature.Parse([]byte(`
label: {column: click, type: binary}
hash_bits: 16
numeric:
  - {column: price, log1p: true}
categorical:
  - {column: site}
`))
	if err != nil {
		panic(err)
	}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "click", Type: arrow.PrimitiveTypes.Int64},
		{Name: "price", Type: arrow.PrimitiveTypes.Float64},
		{Name: "site", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	b.Field(0).(*array.Int64Builder).AppendValues([]int64{1, 0}, nil)
	b.Field(1).(*array.Float64Builder).AppendValues([]float64{0, 1.718281828}, nil)
	b.Field(2).(*array.StringBuilder).AppendValues([]string{"news.example", ""}, []bool{true, false})
	rec := b.NewRecord()
	defer rec.Release()

	f, err := feature.NewFeaturizer(spec)
	if err != nil {
		panic(err)
	}
	var batch feature.Batch
	if err := f.Featurize(rec, &batch); err != nil {
		panic(err)
	}
	for r := range batch.Rows {
		keys, values, fields := batch.Row(r)
		for i := range keys {
			kind := "hashed"
			if feature.KeyBucket(keys[i]) == feature.MissingBucket {
				kind = "bucket 0"
			}
			fmt.Printf("row %d field %d %s value %.3f\n", r, fields[i], kind, values[i])
		}
		fmt.Printf("row %d label %v\n", r, batch.Labels[r])
	}
	// Output:
	// row 0 field 0 bucket 0 value 0.000
	// row 0 field 1 hashed value 1.000
	// row 0 label 1
	// row 1 field 0 bucket 0 value 1.000
	// row 1 field 1 bucket 0 value 1.000
	// row 1 label 0
}
