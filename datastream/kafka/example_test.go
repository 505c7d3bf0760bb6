package kafka_test

import (
	"errors"
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/lakestream/lakestream/datastream/kafka"
)

func ExampleDecoder() {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "user", Type: arrow.BinaryTypes.String},
		{Name: "price", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "ts", Type: arrow.FixedWidthTypes.Timestamp_ms},
	}, nil)
	d, err := kafka.NewDecoder(schema, nil, 1<<20)
	if err != nil {
		panic(err)
	}
	defer d.Release()
	for _, msg := range []string{
		`{"user":"ada","price":"12.5","ts":"2026-11-01T12:00:00Z"}`, // numeric string
		`{"user":"bob","ts":1793534400000,"extra":[1,2]}`,           // epoch ms, missing price, unknown key
		`{"user":"eve","price":true,"ts":0}`,                        // wrong type
	} {
		var de *kafka.DecodeError
		if err := d.Decode([]byte(msg)); errors.As(err, &de) {
			fmt.Println("dead letter:", de.Reason, de.Field)
		}
	}
	rec := d.NewRecord()
	defer rec.Release()
	fmt.Println(rec.NumRows(), "rows")
	for i, col := range rec.Columns() {
		fmt.Println(rec.ColumnName(i), col)
	}
	// Output:
	// dead letter: wrong_type price
	// 2 rows
	// user ["ada" "bob"]
	// price [12.5 (null)]
	// ts [1793534400000 1793534400000]
}
