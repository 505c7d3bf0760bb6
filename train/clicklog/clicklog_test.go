package clicklog

import (
	"bytes"
	"context"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/lake/laketest"
)

func TestGenerate(t *testing.T) {
	ctx := context.Background()
	store := laketest.NewMemory()
	c := DefaultConfig()
	c.Rows = 40_003
	c.RowGroupRows = 4096
	sum, err := Generate(ctx, store, "clicks", c)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Days) != 4 {
		t.Fatalf("%d days, want 4", len(sum.Days))
	}
	total := 0
	for i, d := range sum.Days {
		total += d.Rows
		t.Logf("%s: %d rows, CTR %.3f, best AUC %.4f, best log loss %.4f", d.DT, d.Rows, d.CTR, d.BestAUC, d.BestLogLoss)
		if d.CTR < 0.08 || d.CTR > 0.3 {
			t.Errorf("day %d: CTR %.3f outside Avazu-like [0.08, 0.3]", i, d.CTR)
		}
		if d.BestAUC < 0.7 || d.BestAUC > 0.95 {
			t.Errorf("day %d: best AUC %.3f outside [0.7, 0.95]", i, d.BestAUC)
		}
		if _, err := store.Stat(ctx, "clicks/dt="+d.DT+"/"+lake.SuccessMarker); err != nil {
			t.Errorf("day %s not committed: %v", d.DT, err)
		}
	}
	if total != c.Rows {
		t.Errorf("%d rows in all, want %d", total, c.Rows)
	}
	if got := sum.Days[0].DT; got != "2014-10-21" {
		t.Errorf("first day %s, want 2014-10-21", got)
	}
	// The file reads back as 24 columns with the rows' count.
	data, err := lake.ReadAll(ctx, store, sum.Days[1].Key)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(f.Schema().Fields()); got != 24 {
		t.Errorf("%d columns, want 24", got)
	}
	if got := f.NumRows(); got != int64(sum.Days[1].Rows) {
		t.Errorf("%d rows in %s, want %d", got, sum.Days[1].Key, sum.Days[1].Rows)
	}
	// Same seed, same bytes.
	store2 := laketest.NewMemory()
	if _, err := Generate(ctx, store2, "clicks", c); err != nil {
		t.Fatal(err)
	}
	data2, _ := lake.ReadAll(ctx, store2, sum.Days[1].Key)
	if !bytes.Equal(data, data2) {
		t.Error("two runs with the same seed wrote different files")
	}
}
