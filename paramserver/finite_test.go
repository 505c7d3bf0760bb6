package paramserver

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	pb "github.com/lakestream/lakestream/api/paramserver"
	"github.com/lakestream/lakestream/train/optim"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestShardRefusesNonFiniteGradients: a client pushing NaN, +Inf, -Inf or a
// finite 1e38 gradient through every push RPC (Push, PushPull, Exchange) gets
// InvalidArgument from the shard, and no row changes — not even the good
// keys and tables of the same call — on async and bulk-synchronous
// (Deferred) shards, for a plain and two adaptive rules. The Client refuses
// the same calls before sending anything, so a call split over two shards
// changes neither.
func TestShardRefusesNonFiniteGradients(t *testing.T) {
	ctx := context.Background()
	bad := []float32{float32(math.NaN()), float32(math.Inf(1)), 1e38, float32(math.Inf(-1))}
	for _, opt := range []string{optim.SGD, optim.FTRL, optim.Adam} {
		for _, deferred := range []bool{false, true} {
			specs := []TableSpec{
				{Name: "w", Width: 1, Optimizer: optim.DefaultConfig(opt)},
				{Name: "v", Width: 2, Optimizer: optim.DefaultConfig(opt), Init: InitConfig{Kind: InitNormal, Std: 0.1, Seed: 3}},
				{Name: "bias", Width: 1, Dense: true, Rows: 1, Optimizer: optim.DefaultConfig(opt)},
			}
			name := opt
			if deferred {
				name += "/sync"
			}
			t.Run(name, func(t *testing.T) {
				stores := newShards(t, 2, specs, deferred)
				addrs := serveStores(t, stores, 0)
				c := dial(t, ClientConfig{Shards: addrs})
				keys := []uint64{1, 2, 3, 4, 5, 6, 7, 8}
				// Train every row once, so "unchanged" is not "initial".
				grads := []float32{0.5, -0.5, 0.25, 1, -1, 0.1, 0.2, 0.3}
				if err := c.PushTables(ctx, []string{"w", "v", "bias"}, [][]uint64{keys, keys, {0}}, [][]float32{grads, slices.Concat(grads, grads), {0.5}}); err != nil {
					t.Fatal(err)
				}
				if err := c.Flush(ctx, -1); err != nil {
					t.Fatal(err)
				}
				// A shard's state: its rows of every key the test uses
				// (untrained rows as zeros) and its table sizes.
				state := func(st *Local) []float32 {
					w, v, b := make([]float32, len(keys)), make([]float32, 2*len(keys)), make([]float32, 1)
					for i, p := range []struct {
						name string
						keys []uint64
						dst  []float32
					}{{"w", keys, w}, {"v", keys, v}, {"bias", []uint64{0}, b}} {
						if err := st.PullTrained(ctx, p.name, p.keys, p.dst); err != nil {
							t.Fatal(i, err)
						}
					}
					nw, _ := st.Len("w")
					nv, _ := st.Len("v")
					return slices.Concat(w, v, b, []float32{float32(nw), float32(nv)})
				}
				before := [][]float32{state(stores[0]), state(stores[1])}
				unchanged := func(what string) {
					t.Helper()
					if err := c.Flush(ctx, -1); err != nil {
						t.Fatal(err)
					}
					for i, st := range stores {
						if after := state(st); !slices.Equal(before[i], after) {
							t.Fatalf("%s changed shard %d: %v → %v", what, i, before[i], after)
						}
					}
				}
				// The keys shard 0 owns: the raw calls go there.
				var own []uint64
				for _, k := range keys {
					if ShardOf(k, 2) == 0 {
						own = append(own, k)
					}
				}
				rpc := rawExchange(t, addrs[0], DefaultMaxMsgBytes)
				for _, g := range bad {
					// One bad value among good ones, in the last key's row.
					wg := slices.Clone(grads[:len(own)])
					wg[len(wg)-1] = g
					vg := make([]float32, 2*len(own))
					vg[1] = g
					okBias := &pb.TablePush{Table: "bias", Keys: keyBytes([]uint64{0}), Grads: floatBytes([]float32{1})}
					okW := &pb.TablePush{Table: "w", Keys: keyBytes(own), Grads: floatBytes(grads[:len(own)])}
					badW := &pb.TablePush{Table: "w", Keys: keyBytes(own), Grads: floatBytes(wg)}
					badV := &pb.TablePush{Table: "v", Keys: keyBytes(own), Grads: floatBytes(vg)}
					raw := map[string]func(context.Context) error{
						"Push": func(ctx context.Context) error {
							_, err := rpc.Push(ctx, &pb.PushRequest{Table: "w", Keys: badW.Keys, Grads: badW.Grads})
							return err
						},
						"Push dense": func(ctx context.Context) error {
							_, err := rpc.Push(ctx, &pb.PushRequest{Table: "bias", Keys: okBias.Keys, Grads: floatBytes([]float32{g})})
							return err
						},
						"PushPull": func(ctx context.Context) error {
							_, err := rpc.PushPull(ctx, &pb.PushPullRequest{Table: "w", PushKeys: badW.Keys, Grads: badW.Grads, PullKeys: badW.Keys})
							return err
						},
						"Exchange": func(ctx context.Context) error {
							_, err := rpc.Exchange(ctx, &pb.ExchangeRequest{Pushes: []*pb.TablePush{okBias, badW}})
							return err
						},
						"Exchange second table": func(ctx context.Context) error {
							_, err := rpc.Exchange(ctx, &pb.ExchangeRequest{Pushes: []*pb.TablePush{okW, okBias, badV}, Pulls: []*pb.TablePull{{Table: "w", Keys: okW.Keys}}})
							return err
						},
					}
					for call, fn := range raw {
						cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
						err := fn(cctx)
						cancel()
						if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "nothing of the call was applied") {
							t.Fatalf("%s of gradient %g: %v, want InvalidArgument saying nothing was applied", call, g, err)
						}
						unchanged(fmt.Sprintf("%s of gradient %g", call, g))
					}
					// Through the Client, over both shards.
					wg = slices.Clone(grads)
					wg[len(wg)-1] = g
					vg = make([]float32, 2*len(keys))
					vg[3] = g
					calls := map[string]func() error{
						"Client.Push": func() error { return c.Push(ctx, "w", keys, wg) },
						"Client.PushPull": func() error {
							return c.PushPull(ctx, "w", keys, wg, keys, make([]float32, len(keys)))
						},
						"Client.PushTables": func() error {
							return c.PushTables(ctx, []string{"w", "v"}, [][]uint64{keys, keys}, [][]float32{grads, vg})
						},
						"Client.PushPullTables": func() error {
							return c.PushPullTables(ctx, []string{"w", "bias"}, [][]uint64{keys, {0}}, [][]float32{wg, {1}},
								[][]uint64{keys, {0}}, [][]float32{make([]float32, len(keys)), make([]float32, 1)})
						},
					}
					for call, fn := range calls {
						if err := fn(); !errors.Is(err, ErrNonFinite) {
							t.Fatalf("%s of gradient %g: %v, want ErrNonFinite", call, g, err)
						}
						unchanged(fmt.Sprintf("%s of gradient %g", call, g))
					}
				}
			})
		}
	}
}

// TestShardRefusesNonFiniteResults: a finite gradient whose update would
// overflow (SGD at learning rate 1e30) leaves its row unchanged and fails
// the call with InvalidArgument; the other rows of the call are updated.
// On a Deferred shard the refusal comes from Flush.
func TestShardRefusesNonFiniteResults(t *testing.T) {
	ctx := context.Background()
	sgd := optim.DefaultConfig(optim.SGD)
	sgd.LearningRate = 1e30
	specs := []TableSpec{{Name: "w", Width: 1, Optimizer: sgd}, {Name: "d", Width: 1, Dense: true, Rows: 2, Optimizer: sgd}}
	for _, deferred := range []bool{false, true} {
		t.Run(map[bool]string{false: "async", true: "sync"}[deferred], func(t *testing.T) {
			stores := newShards(t, 1, specs, deferred)
			c := dial(t, ClientConfig{Shards: serveStores(t, stores, 0)})
			for _, table := range []string{"w", "d"} {
				// Row 0 moves by -1e30·1e-31; row 1 would reach -1e30·1e10 = -Inf.
				err := c.Push(ctx, table, []uint64{0, 1}, []float32{1e-31, 1e10})
				if deferred {
					if err != nil {
						t.Fatal(err)
					}
					err = c.Flush(ctx, -1)
				}
				// The Client maps only InvalidArgument carrying the
				// marker to ErrNonFinite.
				if !errors.Is(err, ErrNonFinite) || !strings.Contains(err.Error(), "1 row(s) (first key 1)") {
					t.Fatalf("table %s: %v, want InvalidArgument (ErrNonFinite) naming key 1", table, err)
				}
				got := make([]float32, 2)
				if err := c.PullTrained(ctx, table, []uint64{0, 1}, got); err != nil {
					t.Fatal(err)
				}
				// -0.1 to float32 rounding of 1e30·1e-31.
				if math.Abs(float64(got[0])+0.1) > 1e-6 || got[1] != 0 {
					t.Errorf("table %s: rows %v, want [-0.1 0]: the good row updated, the overflowing one untouched", table, got)
				}
			}
		})
	}
}

// TestShardCallLimits: a shard refuses calls with more keys than its
// per-call limit, and pulls whose answer would exceed its message limit,
// before it decodes or builds anything; the Client splits its requests so
// that it never hits either.
func TestShardCallLimits(t *testing.T) {
	ctx := context.Background()
	specs := []TableSpec{{Name: "w", Width: 1, Optimizer: optim.DefaultConfig(optim.SGD)}, {Name: "wide", Width: 64, Optimizer: optim.DefaultConfig(optim.SGD)}}
	store := mustLocal(t, Config{Tables: specs})
	const maxMsg = 1 << 16
	srv, err := NewServer(ServerConfig{Store: store, MaxMsgBytes: maxMsg, MaxKeysPerCall: 100})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveServer(t, srv)
	rpc := rawExchange(t, addr, 4*maxMsg)
	keys := keyBytes(benchKeys(101, 1))
	grads := floatBytes(make([]float32, 101))
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for name, call := range map[string]func() error{
		"pull": func() error { _, err := rpc.Pull(cctx, &pb.PullRequest{Table: "w", Keys: keys}); return err },
		"push": func() error {
			_, err := rpc.Push(cctx, &pb.PushRequest{Table: "w", Keys: keys, Grads: grads})
			return err
		},
		"push-pull": func() error {
			_, err := rpc.PushPull(cctx, &pb.PushPullRequest{Table: "w", PushKeys: keys[:400], Grads: grads[:200], PullKeys: keys[:408]})
			return err
		},
		"exchange": func() error {
			_, err := rpc.Exchange(cctx, &pb.ExchangeRequest{Pushes: []*pb.TablePush{{Table: "w", Keys: keys[:400], Grads: grads[:200]}}, Pulls: []*pb.TablePull{{Table: "w", Keys: keys[:408]}}})
			return err
		},
	} {
		err := call()
		if st := status.Convert(err); st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "101 keys") || !strings.Contains(st.Message(), "limit of 100") {
			t.Errorf("%s of 101 keys: %v, want ResourceExhausted naming 101 keys and the limit of 100", name, err)
		}
	}
	if n, _ := store.Len("w"); n != 0 {
		t.Errorf("refused calls created %d rows", n)
	}
	// 300 keys of width 64 would answer 76.8 KB, above the 64 KiB limit,
	// from a request of 2.4 KB.
	big, err := NewServer(ServerConfig{Store: store, MaxMsgBytes: maxMsg, MaxKeysPerCall: 1000})
	if err != nil {
		t.Fatal(err)
	}
	bigRPC := rawExchange(t, serveServer(t, big), 4*maxMsg)
	wideKeys := keyBytes(benchKeys(300, 2))
	for name, call := range map[string]func() error{
		"pull": func() error { _, err := bigRPC.Pull(cctx, &pb.PullRequest{Table: "wide", Keys: wideKeys}); return err },
		"push-pull": func() error {
			_, err := bigRPC.PushPull(cctx, &pb.PushPullRequest{Table: "wide", PushKeys: wideKeys[:8], Grads: floatBytes(make([]float32, 64)), PullKeys: wideKeys})
			return err
		},
	} {
		err := call()
		if st := status.Convert(err); st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "message limit") {
			t.Errorf("%s with a too large answer: %v, want ResourceExhausted naming the message limit", name, err)
		}
	}
	if n, _ := store.Len("wide"); n != 0 {
		t.Errorf("a push-pull whose answer was refused still pushed (%d rows)", n)
	}
	// The Client stays under both limits by splitting.
	c := dial(t, ClientConfig{Shards: []string{addr}, MaxKeysPerCall: 100})
	many := benchKeys(1000, 3)
	if err := c.PushTables(ctx, []string{"w"}, [][]uint64{many}, [][]float32{make([]float32, 1000)}); err != nil {
		t.Fatalf("client push of 1000 keys: %v", err)
	}
	if err := c.Pull(ctx, "wide", many, make([]float32, 64*1000)); err != nil {
		t.Fatalf("client pull of 1000 wide rows: %v", err)
	}
}

// serveServer serves srv on loopback until test cleanup and returns its
// address.
func serveServer(t *testing.T, srv *Server) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return lis.Addr().String()
}

// TestCheckGradsBound: the bit-pattern test accepts exactly the gradients
// whose magnitude is at most MaxGradient.
func TestCheckGradsBound(t *testing.T) {
	below := math.Nextafter32(MaxGradient, 0)
	above := math.Nextafter32(MaxGradient, float32(math.Inf(1)))
	for _, tc := range []struct {
		g  float32
		ok bool
	}{
		{0, true}, {float32(math.Copysign(0, -1)), true}, {1e-45, true}, {-3, true},
		{below, true}, {MaxGradient, true}, {-MaxGradient, true},
		{above, false}, {-above, false}, {1e38, false}, {math.MaxFloat32, false},
		{float32(math.Inf(1)), false}, {float32(math.Inf(-1)), false}, {float32(math.NaN()), false},
	} {
		err := checkGrads("t", []uint64{1, 2}, 2, []float32{0, 1, 2, tc.g})
		if ok := err == nil; ok != tc.ok {
			t.Errorf("gradient %g: accepted %v, want %v (%v)", tc.g, ok, tc.ok, err)
		}
		if err != nil && !strings.Contains(err.Error(), "key 2") {
			t.Errorf("gradient %g: %v does not name key 2", tc.g, err)
		}
	}
}
