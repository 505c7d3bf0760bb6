package paramserver

import (
	"context"
	"errors"
	mrand "math/rand/v2"
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/lakestream/lakestream/api/paramserver"
)

// TestExportTableMatchesLocal: the same pushes into one in-process store and
// into two bulk-synchronous shards; ExportTable reads every pushed row of
// each table, sorted by key, with the values one store holds (the shards'
// last step applied by Export's flush), paged in small pages and under a
// small message limit, so that every shard answers several pages.
func TestExportTableMatchesLocal(t *testing.T) {
	ctx := context.Background()
	specs := exchangeSpecs()
	ref := mustLocal(t, Config{Tables: specs, Deferred: true})
	shards := newShards(t, 2, specs, true)
	const maxMsg = 64 << 10 // the smallest limit: pages of ≤ 1365 rows of "v" by default, ~1500 rows per shard
	c := dial(t, ClientConfig{Shards: serveStores(t, shards, maxMsg), MaxMsgBytes: maxMsg})
	rng := mrand.New(mrand.NewPCG(1, 2))
	pushed := map[uint64]bool{}
	for step := range 30 {
		ts := randomTableStep(rng, specs)
		for i, name := range ts.names {
			if name == "w" {
				for _, k := range ts.keys[i] {
					pushed[k] = true
				}
			}
		}
		if err := ref.PushTables(ctx, ts.names, ts.keys, ts.vals); err != nil {
			t.Fatal(err)
		}
		if err := c.PushTables(ctx, ts.names, ts.keys, ts.vals); err != nil {
			t.Fatal(err)
		}
		if step < 29 { // the last step is left for Export to flush
			if err := ref.Flush(ctx, int64(step+1)); err != nil {
				t.Fatal(err)
			}
			if err := c.Flush(ctx, int64(step+1)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := ref.Flush(ctx, -1); err != nil {
		t.Fatal(err)
	}
	for _, spec := range specs {
		for _, page := range []int{0, 7} {
			keys, vals, err := c.ExportTable(ctx, spec, page)
			if err != nil {
				t.Fatalf("export %s: %v", spec.Name, err)
			}
			if !slices.IsSorted(keys) {
				t.Errorf("export %s: keys not sorted", spec.Name)
			}
			if spec.Name == "w" && len(keys) != len(pushed) {
				t.Errorf("export w: %d rows, %d keys were pushed", len(keys), len(pushed))
			}
			n, err := ref.Len(spec.Name)
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != n {
				t.Errorf("export %s (pages of %d): %d rows, the single store holds %d", spec.Name, page, len(keys), n)
			}
			want := make([]float32, len(vals))
			if err := ref.Pull(ctx, spec.Name, keys, want); err != nil {
				t.Fatal(err)
			}
			if !equalFloats(vals, want) {
				t.Errorf("export %s (pages of %d): values differ from the single store's", spec.Name, page)
			}
		}
	}
}

// TestExportRejects: a dense table, an empty page and a cursor past the end
// are InvalidArgument; an unknown table NotFound.
func TestExportRejects(t *testing.T) {
	specs := exchangeSpecs()
	addrs := serveStores(t, newShards(t, 1, specs, false), 0)
	raw := rawExchange(t, addrs[0], DefaultMaxMsgBytes)
	for _, tc := range []struct {
		req  *pb.ExportRequest
		want codes.Code
	}{
		{&pb.ExportRequest{Table: "d", MaxRows: 10}, codes.InvalidArgument},
		{&pb.ExportRequest{Table: "w", MaxRows: 0}, codes.InvalidArgument},
		{&pb.ExportRequest{Table: "w", MaxRows: 10, Cursor: exportEnd}, codes.InvalidArgument},
		{&pb.ExportRequest{Table: "nope", MaxRows: 10}, codes.NotFound},
	} {
		_, err := raw.Export(context.Background(), tc.req)
		if status.Code(err) != tc.want {
			t.Errorf("Export(%v): %v, want %s", tc.req, err, tc.want)
		}
	}
	l := mustLocal(t, Config{Tables: specs})
	if _, _, _, err := l.ExportPage("nope", 0, 1, nil, nil); !errors.Is(err, ErrUnknownTable) {
		t.Errorf("ExportPage of an unknown table: %v, want ErrUnknownTable", err)
	}
}

// TestWarmStartBase: two shards, each given its share (ShardOf) of a base
// model, against one store given all of it: the same pulls (base + change),
// the same pushes, and ExportTable lists every base key and every pushed
// key with base + change, as the single store's pulls give them.
func TestWarmStartBase(t *testing.T) {
	ctx := context.Background()
	ftrl := exchangeSpecs()[0].Optimizer
	specs := []TableSpec{
		{Name: "w", Width: 3, Optimizer: ftrl},
		{Name: "bias", Width: 1, Dense: true, Rows: 2, Optimizer: ftrl},
	}
	rng := mrand.New(mrand.NewPCG(3, 4))
	baseKeys := make([]uint64, 500)
	baseVals := make([]float32, 500*3)
	for i := range baseKeys {
		baseKeys[i] = uint64(i) * 7
	}
	for i := range baseVals {
		baseVals[i] = float32(rng.NormFloat64())
	}
	biasVals := []float32{0.5, -0.25}
	ref := mustLocal(t, Config{Tables: specs})
	if err := ref.SetBase("w", baseKeys, baseVals); err != nil {
		t.Fatal(err)
	}
	if err := ref.SetBase("bias", nil, biasVals); err != nil {
		t.Fatal(err)
	}
	shards := newShards(t, 2, specs, false)
	for s, l := range shards {
		var ks []uint64
		var vs []float32
		for i, k := range baseKeys {
			if ShardOf(k, 2) == s {
				ks, vs = append(ks, k), append(vs, baseVals[3*i:3*i+3]...)
			}
		}
		if err := l.SetBase("w", ks, vs); err != nil {
			t.Fatal(err)
		}
		if err := l.SetBase("bias", nil, biasVals); err != nil {
			t.Fatal(err)
		}
	}
	c := dial(t, ClientConfig{Shards: serveStores(t, shards, 0)})
	// Keys 0..2999: every seventh below 3500 is in the base; push half of
	// them, and keys the base lacks.
	pushed := make([]uint64, 0, 1000)
	for k := uint64(0); k < 3000; k += 3 {
		pushed = append(pushed, k)
	}
	grads := make([]float32, len(pushed)*3)
	for i := range grads {
		grads[i] = float32(rng.NormFloat64()) / 10
	}
	for _, st := range []interface {
		Push(context.Context, string, []uint64, []float32) error
	}{ref, c} {
		if err := st.Push(ctx, "w", pushed, grads); err != nil {
			t.Fatal(err)
		}
		if err := st.Push(ctx, "bias", []uint64{1}, []float32{0.3}); err != nil {
			t.Fatal(err)
		}
	}
	probe := []uint64{0, 7, 3, 14, 9999, 21}
	for _, trained := range []bool{false, true} {
		want, got := make([]float32, len(probe)*3), make([]float32, len(probe)*3)
		pull, cpull := ref.Pull, c.Pull
		if trained {
			pull, cpull = ref.PullTrained, c.PullTrained
		}
		if err := pull(ctx, "w", probe, want); err != nil {
			t.Fatal(err)
		}
		if err := cpull(ctx, "w", probe, got); err != nil {
			t.Fatal(err)
		}
		if !equalFloats(got, want) {
			t.Errorf("pull (trained only %v): shards %v, single store %v", trained, got, want)
		}
		if !equalFloats(want[3*1:3*2], baseVals[3*1:3*2]) && trained {
			t.Errorf("key 7 (in the base, never pushed) reads %v, want its base row %v", want[3:6], baseVals[3:6])
		}
	}
	for _, spec := range specs {
		keys, vals, err := c.ExportTable(ctx, spec, 50)
		if err != nil {
			t.Fatal(err)
		}
		want := map[uint64]bool{}
		if spec.Dense {
			want[0], want[1] = true, true
		} else {
			for _, k := range baseKeys {
				want[k] = true
			}
			for _, k := range pushed {
				want[k] = true
			}
		}
		if len(keys) != len(want) {
			t.Errorf("export %s: %d keys, want %d (base ∪ pushed)", spec.Name, len(keys), len(want))
		}
		ref := ref
		wv := make([]float32, len(vals))
		if err := ref.Pull(ctx, spec.Name, keys, wv); err != nil {
			t.Fatal(err)
		}
		if !equalFloats(vals, wv) {
			t.Errorf("export %s: values differ from the single store's base + change", spec.Name)
		}
	}
	if err := mustLocal(t, Config{Tables: remoteSpecs()}).SetBase("v", []uint64{1}, make([]float32, 8)); err == nil {
		t.Error("SetBase on a table with a random start: no error")
	}
}
