package featuretest

import (
	"fmt"
	"math/rand/v2"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/lakestream/lakestream/train/feature"
)

// ClickLogStringColumns and ClickLogIntColumns are the categorical columns of
// the click log, as in the Avazu CTR data set. With id, click and hour the
// schema has 24 columns.
var (
	ClickLogStringColumns = []string{"site_id", "site_domain", "site_category", "app_id", "app_domain",
		"app_category", "device_id", "device_ip", "device_model"}
	ClickLogIntColumns = []string{"C1", "banner_pos", "device_type", "device_conn_type",
		"C14", "C15", "C16", "C17", "C18", "C19", "C20", "C21"}
)

// ClickLogSchema returns the 24-column schema: id (string), click (int64 0/1),
// hour (int64 YYMMDDHH), the string columns, then the int64 columns.
func ClickLogSchema() *arrow.Schema {
	fs := []arrow.Field{
		{Name: "id", Type: arrow.BinaryTypes.String},
		{Name: "click", Type: arrow.PrimitiveTypes.Int64},
		{Name: "hour", Type: arrow.PrimitiveTypes.Int64},
	}
	for _, c := range ClickLogStringColumns {
		fs = append(fs, arrow.Field{Name: c, Type: arrow.BinaryTypes.String})
	}
	for _, c := range ClickLogIntColumns {
		fs = append(fs, arrow.Field{Name: c, Type: arrow.PrimitiveTypes.Int64})
	}
	return arrow.NewSchema(fs, nil)
}

// ClickLogSpec returns a spec with click as binary label and hour plus the 21
// categorical columns as hashed fields of 2^bits buckets (22 fields).
func ClickLogSpec(bits int) *feature.Spec {
	s := &feature.Spec{Version: 1, Label: feature.Label{Column: "click", Type: feature.Binary}, HashBits: bits}
	s.Categorical = append(s.Categorical, feature.Categorical{Column: "hour"})
	for _, c := range ClickLogStringColumns {
		s.Categorical = append(s.Categorical, feature.Categorical{Column: c})
	}
	for _, c := range ClickLogIntColumns {
		s.Categorical = append(s.Categorical, feature.Categorical{Column: c})
	}
	return s
}

// ClickLog returns a record of rows random click-log rows drawn from seed.
// Vocabulary sizes follow Avazu's rough shape (device_ip and device_id are
// large, categories small). The caller must Release it.
func ClickLog(mem memory.Allocator, rows int, seed uint64) arrow.Record {
	rng := rand.New(rand.NewPCG(seed, seed^0x5bd1e995))
	b := array.NewRecordBuilder(mem, ClickLogSchema())
	defer b.Release()
	vocab := map[string]int{"site_id": 4000, "site_domain": 5000, "site_category": 25, "app_id": 8000,
		"app_domain": 500, "app_category": 30, "device_id": 200000, "device_ip": 500000, "device_model": 6000}
	var buf []byte
	for r := range rows {
		buf = fmt.Appendf(buf[:0], "%016x", rng.Uint64())
		b.Field(0).(*array.StringBuilder).Append(string(buf))
		b.Field(1).(*array.Int64Builder).Append(int64(rng.IntN(6) / 5)) // ~17% clicks
		b.Field(2).(*array.Int64Builder).Append(int64(14102100 + r%24))
		for i, c := range ClickLogStringColumns {
			buf = fmt.Appendf(buf[:0], "%08x", rng.IntN(vocab[c]))
			b.Field(3 + i).(*array.StringBuilder).Append(string(buf))
		}
		for i := range ClickLogIntColumns {
			b.Field(3 + len(ClickLogStringColumns) + i).(*array.Int64Builder).Append(int64(rng.IntN(1000 + 100*i)))
		}
	}
	return b.NewRecord()
}
