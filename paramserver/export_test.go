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
