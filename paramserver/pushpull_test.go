package paramserver

import (
	"context"
	"maps"
	mrand "math/rand/v2"
	"slices"
	"testing"
)

// pushPullStore is what TestPushPullTablesMatchesTwoCalls drives: Local and
// Client both have it.
type pushPullStore interface {
	PullTables(ctx context.Context, tables []string, keys [][]uint64, dst [][]float32) error
	PushTables(ctx context.Context, tables []string, keys [][]uint64, grads [][]float32) error
	PushPullTables(ctx context.Context, tables []string, pushKeys [][]uint64, grads [][]float32, pullKeys [][]uint64, dst [][]float32) error
	PullTrained(ctx context.Context, table string, keys []uint64, dst []float32) error
}

// alignTables lays a random table step out over every table of specs (in
// spec order), with no keys for the tables the step left out, so that a
// push step and a pull step can share one table list.
func alignTables(st tableStep, specs []TableSpec) tableStep {
	out := tableStep{names: make([]string, len(specs)), keys: make([][]uint64, len(specs)), vals: make([][]float32, len(specs))}
	for i, s := range specs {
		out.names[i], out.keys[i], out.vals[i] = s.Name, []uint64{}, []float32{}
		if j := slices.Index(st.names, s.Name); j >= 0 {
			out.keys[i], out.vals[i] = st.keys[j], st.vals[j]
		}
	}
	return out
}

// TestPushPullTablesMatchesTwoCalls runs a random sequence of steps, each
// pushing some rows and pulling others (overlapping, so the pull must see
// the push), once with PushPullTables and once with PushTables followed by
// PullTables, on two separate stores, and requires every pull and the final
// tables to be bit-identical: on Local, and on 1, 2 and 3 loopback shards,
// with tiny chunks forcing the chunked fallback.
func TestPushPullTablesMatchesTwoCalls(t *testing.T) {
	ctx := context.Background()
	specs := exchangeSpecs()
	for _, tc := range []struct {
		name   string
		shards int // 0: Local
		chunk  int
	}{
		{"local", 0, 0},
		{"1shard", 1, 0},
		{"2shards", 2, 0},
		{"2shards-chunked", 2, 300},
		{"3shards-chunked", 3, 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			open := func() pushPullStore {
				if tc.shards == 0 {
					return mustLocal(t, Config{Tables: specs, Shard: 0, Shards: 1})
				}
				return dial(t, ClientConfig{Shards: serveStores(t, newShards(t, tc.shards, specs, false), 0), ChunkBytes: tc.chunk})
			}
			piped, twice := open(), open()
			rng := mrand.New(mrand.NewPCG(11, uint64(tc.shards)))
			for step := range 30 {
				push := alignTables(randomTableStep(rng, specs), specs)
				pull := alignTables(randomTableStep(rng, specs), specs)
				got, want := make([][]float32, len(pull.vals)), make([][]float32, len(pull.vals))
				for i, v := range pull.vals {
					got[i], want[i] = make([]float32, len(v)), make([]float32, len(v))
				}
				if err := piped.PushPullTables(ctx, push.names, push.keys, push.vals, pull.keys, got); err != nil {
					t.Fatalf("step %d: PushPullTables: %v", step, err)
				}
				if err := twice.PushTables(ctx, push.names, push.keys, push.vals); err != nil {
					t.Fatal(err)
				}
				if err := twice.PullTables(ctx, pull.names, pull.keys, want); err != nil {
					t.Fatal(err)
				}
				for i, name := range pull.names {
					if !slices.Equal(got[i], want[i]) {
						t.Fatalf("step %d: PushPullTables pulled other rows of %q than PushTables then PullTables", step, name)
					}
				}
			}
			for _, s := range specs {
				n := 3000
				if s.Dense {
					n = s.Rows
				}
				keys := make([]uint64, n)
				for k := range keys {
					keys[k] = uint64(k)
				}
				got, want := make([]float32, n*s.Width), make([]float32, n*s.Width)
				if err := piped.PullTrained(ctx, s.Name, keys, got); err != nil {
					t.Fatal(err)
				}
				if err := twice.PullTrained(ctx, s.Name, keys, want); err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want) {
					t.Errorf("table %q differs after the run", s.Name)
				}
			}
		})
	}
}

// TestPushPullTablesOneRPCPerShard: PushPullTables sends each shard one
// Exchange carrying both sides.
func TestPushPullTablesOneRPCPerShard(t *testing.T) {
	ctx := context.Background()
	specs := exchangeSpecs()
	addrs, take := countingShards(t, newShards(t, 2, specs, false))
	c := dial(t, ClientConfig{Shards: addrs})
	for s := range 2 {
		take(s) // Dial's Info calls
	}
	names := []string{"w", "bias"}
	pushKeys := [][]uint64{benchKeys(300, 1), {0}}
	pullKeys := [][]uint64{benchKeys(200, 2), {0}}
	grads := [][]float32{make([]float32, 300), {1}}
	dst := [][]float32{make([]float32, 200), make([]float32, 1)}
	if err := c.PushPullTables(ctx, names, pushKeys, grads, pullKeys, dst); err != nil {
		t.Fatal(err)
	}
	for s := range 2 {
		if got, want := take(s), map[string]int{"Exchange": 1}; !maps.Equal(got, want) {
			t.Errorf("shard %d got calls %v, want %v", s, got, want)
		}
	}
}

// TestPushPullTablesUnknownTable: an undeclared table fails before anything
// is pushed, on Local and over the wire.
func TestPushPullTablesUnknownTable(t *testing.T) {
	ctx := context.Background()
	specs := exchangeSpecs()
	local := mustLocal(t, Config{Tables: specs, Shard: 0, Shards: 1})
	remote := dial(t, ClientConfig{Shards: serveStores(t, newShards(t, 2, specs, false), 0)})
	for name, st := range map[string]pushPullStore{"local": local, "client": remote} {
		names := []string{"w", "nope"}
		keys := [][]uint64{{1, 2}, {3}}
		err := st.PushPullTables(ctx, names, keys, [][]float32{{1, 1}, {1}}, keys, [][]float32{make([]float32, 2), make([]float32, 1)})
		if err == nil {
			t.Fatalf("%s: PushPullTables with an unknown table succeeded", name)
		}
		got := make([]float32, 2)
		if err := st.PullTrained(ctx, "w", []uint64{1, 2}, got); err != nil {
			t.Fatal(err)
		}
		if got[0] != 0 || got[1] != 0 {
			t.Errorf("%s: a failed PushPullTables updated table w: %v", name, got)
		}
	}
}
