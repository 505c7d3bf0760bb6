package paramserver

import (
	"context"
	"fmt"
	"maps"
	mrand "math/rand/v2"
	"net"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	pb "github.com/lakestream/lakestream/api/paramserver"
	"github.com/lakestream/lakestream/train/optim"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// exchangeSpecs are an LR-like pair (sparse w, dense bias) plus a wider
// sparse table with a random start and a wider dense table, all FTRL.
func exchangeSpecs() []TableSpec {
	ftrl := optim.DefaultConfig(optim.FTRL)
	return []TableSpec{
		{Name: "w", Width: 1, Optimizer: ftrl},
		{Name: "v", Width: 4, Optimizer: ftrl, Init: InitConfig{Kind: InitNormal, Std: 0.1, Seed: 5}},
		{Name: "bias", Width: 1, Dense: true, Rows: 1, Optimizer: ftrl},
		{Name: "d", Width: 3, Dense: true, Rows: 20, Optimizer: ftrl},
	}
}

// serveStores serves each store as shard i of len(stores) on loopback and
// returns the addresses; the servers stop at test cleanup.
func serveStores(t testing.TB, stores []*Local, maxMsg int) []string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make([]string, len(stores))
	done := make(chan error, len(stores))
	for i, st := range stores {
		srv, err := NewServer(ServerConfig{Store: st, MaxMsgBytes: maxMsg})
		if err != nil {
			t.Fatal(err)
		}
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = lis.Addr().String()
		go func() { done <- srv.Serve(ctx, lis) }()
	}
	t.Cleanup(func() {
		cancel()
		for range stores {
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		}
	})
	return addrs
}

// newShards returns n stores of specs, Deferred (bulk-synchronous) or not.
func newShards(t testing.TB, n int, specs []TableSpec, deferred bool) []*Local {
	t.Helper()
	out := make([]*Local, n)
	for i := range out {
		out[i] = mustLocal(t, Config{Tables: specs, Shard: i, Shards: n, Deferred: deferred})
	}
	return out
}

// tableStep is one random multi-table call: keys and values per table.
type tableStep struct {
	names []string
	keys  [][]uint64
	vals  [][]float32
}

// randomTableStep draws distinct keys for a random subset of the tables, in
// random order: sparse keys from a small range so that rows are revisited,
// dense rows below Rows.
func randomTableStep(rng *mrand.Rand, specs []TableSpec) tableStep {
	var st tableStep
	for _, i := range rng.Perm(len(specs)) {
		s := specs[i]
		if rng.IntN(5) == 0 {
			continue
		}
		n := 1 + rng.IntN(200)
		keys := make([]uint64, n)
		for j := range keys {
			if s.Dense {
				keys[j] = uint64(rng.IntN(s.Rows))
			} else {
				keys[j] = rng.Uint64() % 3000
			}
		}
		keys = dedup(keys)
		vals := make([]float32, len(keys)*s.Width)
		for j := range vals {
			vals[j] = float32(rng.NormFloat64())
		}
		st.names, st.keys, st.vals = append(st.names, s.Name), append(st.keys, keys), append(st.vals, vals)
	}
	return st
}

// TestTablesMatchPerTableCalls runs a random sequence of steps — pull
// several tables, push several tables, and under sync consistency Flush —
// once with PullTables/PushTables and once with per-table Pull/Push, on two
// separate sets of loopback shards, and requires every pull to be
// bit-identical. Tiny chunks force the chunked fallback.
func TestTablesMatchPerTableCalls(t *testing.T) {
	ctx := context.Background()
	specs := exchangeSpecs()
	for _, tc := range []struct {
		name     string
		shards   int
		deferred bool
		chunk    int
	}{
		{"1shard", 1, false, 0},
		{"2shards", 2, false, 0},
		{"2shards-sync-flush", 2, true, 0},
		{"2shards-chunked", 2, false, 300},
		{"3shards-sync-chunked", 3, true, 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			batched := dial(t, ClientConfig{Shards: serveStores(t, newShards(t, tc.shards, specs, tc.deferred), 0), ChunkBytes: tc.chunk})
			single := dial(t, ClientConfig{Shards: serveStores(t, newShards(t, tc.shards, specs, tc.deferred), 0), ChunkBytes: tc.chunk})
			rng := mrand.New(mrand.NewPCG(7, uint64(tc.shards)))
			for step := range 30 {
				pull := randomTableStep(rng, specs)
				got, want := make([][]float32, len(pull.vals)), make([][]float32, len(pull.vals))
				for i, v := range pull.vals {
					got[i], want[i] = make([]float32, len(v)), make([]float32, len(v))
				}
				if err := batched.PullTables(ctx, pull.names, pull.keys, got); err != nil {
					t.Fatalf("step %d: PullTables: %v", step, err)
				}
				for i, name := range pull.names {
					if err := single.Pull(ctx, name, pull.keys[i], want[i]); err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(got[i], want[i]) {
						t.Fatalf("step %d: PullTables of %q differs from Pull", step, name)
					}
				}
				push := randomTableStep(rng, specs)
				if err := batched.PushTables(ctx, push.names, push.keys, push.vals); err != nil {
					t.Fatalf("step %d: PushTables: %v", step, err)
				}
				for i, name := range push.names {
					if err := single.Push(ctx, name, push.keys[i], push.vals[i]); err != nil {
						t.Fatal(err)
					}
				}
				if tc.deferred {
					if err := batched.Flush(ctx, int64(step+1)); err != nil {
						t.Fatal(err)
					}
					if err := single.Flush(ctx, int64(step+1)); err != nil {
						t.Fatal(err)
					}
				}
			}
			// Every row both ever touched, through the per-table path.
			for _, s := range specs {
				keys := make([]uint64, 0, 3000)
				if s.Dense {
					for k := range s.Rows {
						keys = append(keys, uint64(k))
					}
				} else {
					for k := range 3000 {
						keys = append(keys, uint64(k))
					}
				}
				got, want := make([]float32, len(keys)*s.Width), make([]float32, len(keys)*s.Width)
				if err := batched.PullTrained(ctx, s.Name, keys, got); err != nil {
					t.Fatal(err)
				}
				if err := single.PullTrained(ctx, s.Name, keys, want); err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want) {
					t.Errorf("table %q differs after the run", s.Name)
				}
			}
		})
	}
}

// TestLocalTables: Local's PullTables/PushTables equal its per-table calls,
// and a bad table anywhere in the call changes nothing.
func TestLocalTables(t *testing.T) {
	ctx := context.Background()
	specs := exchangeSpecs()
	batched := mustLocal(t, Config{Tables: specs})
	single := mustLocal(t, Config{Tables: specs})
	rng := mrand.New(mrand.NewPCG(3, 4))
	for step := range 20 {
		push := randomTableStep(rng, specs)
		if err := batched.PushTables(ctx, push.names, push.keys, push.vals); err != nil {
			t.Fatal(err)
		}
		for i, name := range push.names {
			if err := single.Push(ctx, name, push.keys[i], push.vals[i]); err != nil {
				t.Fatal(err)
			}
		}
		pull := randomTableStep(rng, specs)
		got := make([][]float32, len(pull.vals))
		for i, v := range pull.vals {
			got[i] = make([]float32, len(v))
		}
		if err := batched.PullTables(ctx, pull.names, pull.keys, got); err != nil {
			t.Fatal(err)
		}
		for i, name := range pull.names {
			want := make([]float32, len(got[i]))
			if err := single.Pull(ctx, name, pull.keys[i], want); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got[i], want) {
				t.Fatalf("step %d: PullTables of %q differs from Pull", step, name)
			}
		}
	}
	n0, _ := batched.Len("w")
	for _, tc := range []struct {
		name  string
		names []string
		keys  [][]uint64
	}{
		{"unknown table", []string{"w", "nope"}, [][]uint64{{1 << 40}, {1}}},
		{"dense row out of range", []string{"w", "bias"}, [][]uint64{{1 << 40}, {1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			grads := [][]float32{{1}, {1}}
			err := batched.PushTables(ctx, tc.names, tc.keys, grads)
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", tc.names[1])) {
				t.Fatalf("PushTables: %v, want an error naming table %q", err, tc.names[1])
			}
			if n, _ := batched.Len("w"); n != n0 {
				t.Errorf("table w went from %d to %d rows: the failed call applied its first table", n0, n)
			}
		})
	}
}

// rawExchange dials addr without the Client, to send requests the Client
// never would.
func rawExchange(t *testing.T, addr string, maxMsg int) pb.ParamServerClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(maxMsg), grpc.MaxCallRecvMsgSize(maxMsg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return pb.NewParamServerClient(conn)
}

// storeState is what a failed Exchange must leave alone: the rows of every
// table for the keys the requests use, and the sparse tables' sizes.
func storeState(t *testing.T, l *Local) []float32 {
	t.Helper()
	var out []float32
	for _, s := range l.Tables() {
		keys := []uint64{0, 1, 2, 3}
		if s.Dense {
			keys = keys[:min(len(keys), s.Rows)]
		}
		v := make([]float32, len(keys)*s.Width)
		if err := l.PullTrained(context.Background(), s.Name, keys, v); err != nil {
			t.Fatal(err)
		}
		n, _ := l.Len(s.Name)
		out = append(append(out, v...), float32(n))
	}
	return out
}

// TestExchangeRejectsBadRequests sends hostile Exchange requests straight
// to a shard: each must fail with the right code and a message naming the
// section, table or limit to fix, and must change nothing — not even the
// valid push sections that precede the bad one.
func TestExchangeRejectsBadRequests(t *testing.T) {
	ctx := context.Background()
	const maxMsg = 1 << 16
	specs := append(exchangeSpecs(), TableSpec{Name: "wide", Width: 64, Optimizer: optim.DefaultConfig(optim.SGD)})
	store := mustLocal(t, Config{Tables: specs})
	// Give the tables some trained rows, so "unchanged" is not "empty".
	if err := store.PushTables(ctx, []string{"w", "bias"}, [][]uint64{{0, 1, 2}, {0}}, [][]float32{{1, 2, 3}, {4}}); err != nil {
		t.Fatal(err)
	}
	rpc := rawExchange(t, serveStores(t, []*Local{store}, maxMsg)[0], 4*maxMsg)
	good := &pb.TablePush{Table: "w", Keys: keyBytes([]uint64{1, 3}), Grads: floatBytes([]float32{0.5, -0.5})}
	goodBias := &pb.TablePush{Table: "bias", Keys: keyBytes([]uint64{0}), Grads: floatBytes([]float32{0.5})}
	for _, tc := range []struct {
		name string
		req  *pb.ExchangeRequest
		code codes.Code
		want []string // substrings of the message
	}{
		{"unknown push table", &pb.ExchangeRequest{Pushes: []*pb.TablePush{good, {Table: "nope", Keys: keyBytes([]uint64{1}), Grads: floatBytes([]float32{1})}}},
			codes.NotFound, []string{"push section 1", `"nope"`}},
		{"unknown pull table", &pb.ExchangeRequest{Pushes: []*pb.TablePush{good}, Pulls: []*pb.TablePull{{Table: "w", Keys: keyBytes([]uint64{1})}, {Table: "nope"}}},
			codes.NotFound, []string{"pull section 1", `"nope"`}},
		{"push keys not a multiple of 8", &pb.ExchangeRequest{Pushes: []*pb.TablePush{good, {Table: "bias", Keys: make([]byte, 12), Grads: floatBytes([]float32{1})}}},
			codes.InvalidArgument, []string{"push section 1", `"bias"`, "12 bytes", "multiple of 8"}},
		{"pull keys not a multiple of 8", &pb.ExchangeRequest{Pushes: []*pb.TablePush{good}, Pulls: []*pb.TablePull{{Table: "v", Keys: make([]byte, 7)}}},
			codes.InvalidArgument, []string{"pull section 0", `"v"`, "7 bytes", "multiple of 8"}},
		{"grads of the wrong width", &pb.ExchangeRequest{Pushes: []*pb.TablePush{good, {Table: "v", Keys: keyBytes([]uint64{1, 2}), Grads: floatBytes(make([]float32, 2))}}},
			codes.InvalidArgument, []string{"push section 1", `"v"`, "width 4", "8 bytes", "want 32"}},
		{"grads missing", &pb.ExchangeRequest{Pushes: []*pb.TablePush{goodBias, {Table: "w", Keys: keyBytes([]uint64{1})}}},
			codes.InvalidArgument, []string{"push section 1", `"w"`, "0 bytes", "want 4"}},
		{"dense push row out of range", &pb.ExchangeRequest{Pushes: []*pb.TablePush{good, {Table: "d", Keys: keyBytes([]uint64{20}), Grads: floatBytes(make([]float32, 3))}}},
			codes.OutOfRange, []string{`"d"`, "20", "[0, 20)"}},
		{"dense pull row out of range", &pb.ExchangeRequest{Pushes: []*pb.TablePush{good, goodBias}, Pulls: []*pb.TablePull{{Table: "bias", Keys: keyBytes([]uint64{1})}}},
			codes.OutOfRange, []string{`"bias"`, "[0, 1)"}},
		{"answer above the message limit", &pb.ExchangeRequest{Pushes: []*pb.TablePush{good}, Pulls: []*pb.TablePull{{Table: "w", Keys: keyBytes([]uint64{1})}, {Table: "wide", Keys: keyBytes(benchKeys(300, 1))}}},
			codes.ResourceExhausted, []string{"pull section 1", `"wide"`, "message limit", "65536", "split"}},
		{"request above the message limit", &pb.ExchangeRequest{Pushes: []*pb.TablePush{good, {Table: "w", Keys: keyBytes(benchKeys(6000, 2)), Grads: floatBytes(make([]float32, 6000))}}},
			codes.ResourceExhausted, []string{"larger than max", "65536"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := storeState(t, store)
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			_, err := rpc.Exchange(cctx, tc.req)
			st := status.Convert(err)
			if err == nil || st.Code() != tc.code {
				t.Fatalf("Exchange: %v, want code %v", err, tc.code)
			}
			for _, w := range tc.want {
				if !strings.Contains(st.Message(), w) {
					t.Errorf("message %q does not say %q", st.Message(), w)
				}
			}
			if after := storeState(t, store); !slices.Equal(before, after) {
				t.Errorf("the rejected request changed the store: %v → %v", before, after)
			}
		})
	}
	// The same shard still serves a good request, and its pulls see its
	// pushes.
	resp, err := rpc.Exchange(ctx, &pb.ExchangeRequest{Pushes: []*pb.TablePush{good}, Pulls: []*pb.TablePull{{Table: "w", Keys: keyBytes([]uint64{3, 4})}, {Table: "bias", Keys: keyBytes([]uint64{0})}}})
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float32, 2)
	if err := store.Pull(ctx, "w", []uint64{3, 4}, want); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, 2)
	if len(resp.Values) != 2 || decodeFloats(got, resp.Values[0]) != nil || !slices.Equal(got, want) || got[0] == 0 || len(resp.Values[1]) != 4 {
		t.Errorf("good exchange answered %d fields, w = %v, want w = %v with row 3 trained", len(resp.Values), got, want)
	}
}

// TestExchangeTrainedOnly: a pull section's trained_only reads untrained
// rows as zeros, as PullTrained does.
func TestExchangeTrainedOnly(t *testing.T) {
	ctx := context.Background()
	store := mustLocal(t, Config{Tables: exchangeSpecs()})
	rpc := rawExchange(t, serveStores(t, []*Local{store}, 0)[0], DefaultMaxMsgBytes)
	keys := []uint64{1, 2}
	resp, err := rpc.Exchange(ctx, &pb.ExchangeRequest{Pulls: []*pb.TablePull{{Table: "v", Keys: keyBytes(keys), TrainedOnly: true}, {Table: "v", Keys: keyBytes(keys)}}})
	if err != nil {
		t.Fatal(err)
	}
	trained, initial := make([]float32, 8), make([]float32, 8)
	if err := decodeFloats(trained, resp.Values[0]); err != nil {
		t.Fatal(err)
	}
	if err := decodeFloats(initial, resp.Values[1]); err != nil {
		t.Fatal(err)
	}
	want := make([]float32, 8)
	if err := store.Pull(ctx, "v", keys, want); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(trained, make([]float32, 8)) || !slices.Equal(initial, want) || slices.Equal(initial, trained) {
		t.Errorf("trained_only pull %v, plain pull %v, want zeros and the initial values %v", trained, initial, want)
	}
}

// countingShards serves stores like serveStores, through an interceptor
// that counts each shard's calls by method.
func countingShards(t *testing.T, stores []*Local) ([]string, func(shard int) map[string]int) {
	t.Helper()
	var mu sync.Mutex
	counts := make([]map[string]int, len(stores))
	addrs := make([]string, len(stores))
	for i, st := range stores {
		counts[i] = map[string]int{}
		srv, err := NewServer(ServerConfig{Store: st})
		if err != nil {
			t.Fatal(err)
		}
		g := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			mu.Lock()
			counts[i][path.Base(info.FullMethod)]++
			mu.Unlock()
			return h(ctx, req)
		}))
		pb.RegisterParamServerServer(g, srv)
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = lis.Addr().String()
		go func() { _ = g.Serve(lis) }()
		t.Cleanup(g.Stop)
	}
	take := func(shard int) map[string]int {
		mu.Lock()
		defer mu.Unlock()
		c := counts[shard]
		counts[shard] = map[string]int{}
		return c
	}
	return addrs, take
}

// TestTablesOneRPCPerShard: PullTables and PushTables send each shard that
// holds any of the keys exactly one Exchange call carrying every table's
// part; a shard's part above ChunkBytes goes the chunked per-table way.
func TestTablesOneRPCPerShard(t *testing.T) {
	ctx := context.Background()
	specs := exchangeSpecs()
	names := []string{"w", "v", "bias"}
	keys := [][]uint64{benchKeys(300, 1), benchKeys(50, 2), {0}}
	vals := [][]float32{make([]float32, 300), make([]float32, 200), make([]float32, 1)}
	for _, tc := range []struct {
		name  string
		chunk int
		want  map[string]int // calls per shard per PullTables or PushTables
	}{
		{"one exchange", 0, map[string]int{"Exchange": 1}},
		// 100 bytes hold 8 keys of w: every table's part is chunked.
		{"chunked", 100, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addrs, take := countingShards(t, newShards(t, 2, specs, false))
			c := dial(t, ClientConfig{Shards: addrs, ChunkBytes: tc.chunk})
			for s := range 2 {
				take(s) // Dial's Info calls
			}
			for _, op := range []string{"pull", "push"} {
				var err error
				if op == "pull" {
					err = c.PullTables(ctx, names, keys, vals)
				} else {
					err = c.PushTables(ctx, names, keys, vals)
				}
				if err != nil {
					t.Fatal(err)
				}
				for s := range 2 {
					got := take(s)
					if tc.want != nil {
						if !maps.Equal(got, tc.want) {
							t.Errorf("%s tables: shard %d got calls %v, want %v", op, s, got, tc.want)
						}
						continue
					}
					single := map[string]string{"pull": "Pull", "push": "Push"}[op]
					if got["Exchange"] != 0 || got[single] < 2 {
						t.Errorf("%s tables with tiny chunks: shard %d got calls %v, want chunked %s calls only", op, s, got, single)
					}
				}
			}
		})
	}
}

// TestTablesConcurrent: workers sharing one Client call PullTables and
// PushTables at once (run with -race); each owns its sparse keys, so its
// rows must end exactly as a sequential replay of its own pushes on a
// Local, and the shared dense row must have taken every push (SGD at rate
// 0.5 on gradients of 1: exact in float32, in any order).
func TestTablesConcurrent(t *testing.T) {
	ctx := context.Background()
	sgd := optim.Config{Name: optim.SGD, LearningRate: 0.5, Schedule: optim.ScheduleConstant}
	specs := []TableSpec{
		{Name: "w", Width: 2, Optimizer: sgd},
		{Name: "bias", Width: 1, Dense: true, Rows: 1, Optimizer: sgd},
	}
	c := dial(t, ClientConfig{Shards: serveStores(t, newShards(t, 2, specs, false), 0)})
	const workers, steps = 4, 40
	names := []string{"w", "bias"}
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys := [][]uint64{benchKeys(100, uint64(1000*(g+1))), {0}}
			grads := [][]float32{make([]float32, 200), {1}}
			vals := [][]float32{make([]float32, 200), make([]float32, 1)}
			for i := range grads[0] {
				grads[0][i] = float32(i%7) - 3
			}
			for range steps {
				if err := c.PullTables(ctx, names, keys, vals); err != nil {
					errs[g] = err
					return
				}
				if err := c.PushTables(ctx, names, keys, grads); err != nil {
					errs[g] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for g := range workers {
		keys := benchKeys(100, uint64(1000*(g+1)))
		grads := make([]float32, 200)
		for i := range grads {
			grads[i] = float32(i%7) - 3
		}
		ref := mustLocal(t, Config{Tables: specs})
		for range steps {
			if err := ref.Push(ctx, "w", keys, grads); err != nil {
				t.Fatal(err)
			}
		}
		got, want := make([]float32, 200), make([]float32, 200)
		if err := c.Pull(ctx, "w", keys, got); err != nil {
			t.Fatal(err)
		}
		if err := ref.Pull(ctx, "w", keys, want); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("worker %d's rows differ from a sequential replay", g)
		}
	}
	bias := make([]float32, 1)
	if err := c.Pull(ctx, "bias", []uint64{0}, bias); err != nil {
		t.Fatal(err)
	}
	if want := float32(-0.5 * workers * steps); bias[0] != want {
		t.Errorf("bias = %v after %d pushes of 1 at rate 0.5, want %v", bias[0], workers*steps, want)
	}
}
