package paramserver

import (
	"context"
	"crypto/tls"
	"errors"
	mrand "math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/lakestream/lakestream/internal/tlstest"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/lake/laketest"
	"github.com/lakestream/lakestream/train/optim"
)

// shardOpts tweak the servers a test starts.
type shardOpts struct {
	token       string
	tls         *tls.Config
	maxMsg      int
	lake        lake.Store
	consistency *ConsistencyConfig
}

// startShards serves n shards of specs on loopback and returns their
// addresses and stores; they stop at test cleanup.
func startShards(t testing.TB, n int, specs []TableSpec, o shardOpts) ([]string, []*Local) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make([]string, n)
	stores := make([]*Local, n)
	done := make(chan error, n)
	for i := range n {
		st, err := New(Config{Tables: specs, Shard: i, Shards: n})
		if err != nil {
			t.Fatal(err)
		}
		var clocks *Clocks
		if i == 0 && o.consistency != nil {
			if clocks, err = NewClocks(*o.consistency); err != nil {
				t.Fatal(err)
			}
		}
		var stated ConsistencyConfig
		if o.consistency != nil {
			stated = *o.consistency
		}
		srv, err := NewServer(ServerConfig{Store: st, Clocks: clocks, Consistency: stated, Lake: o.lake, SnapshotPrefix: "ckpt",
			Token: o.token, TLS: o.tls, MaxMsgBytes: o.maxMsg})
		if err != nil {
			t.Fatal(err)
		}
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[i], stores[i] = lis.Addr().String(), st
		go func() { done <- srv.Serve(ctx, lis) }()
	}
	t.Cleanup(func() {
		cancel()
		for range n {
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		}
	})
	return addrs, stores
}

func dial(t testing.TB, cfg ClientConfig) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func remoteSpecs() []TableSpec {
	return []TableSpec{
		{Name: "w", Width: 1, Optimizer: optim.DefaultConfig(optim.FTRL)},
		{Name: "v", Width: 8, Optimizer: optim.DefaultConfig(optim.AdaGrad), Init: InitConfig{Kind: InitNormal, Std: 0.01, Seed: 3}},
		{Name: "d", Width: 4, Dense: true, Rows: 50, Optimizer: optim.DefaultConfig(optim.Adam)},
	}
}

// TestClientMatchesLocal runs the same pushes and pulls against a single
// in-process store and against sharded servers (with tiny chunks, so every
// request is split) and requires bit-identical results.
func TestClientMatchesLocal(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		shards int
		chunk  int
	}{{"1shard", 1, 0}, {"2shards", 2, 0}, {"3shards-chunked", 3, 200}} {
		t.Run(tc.name, func(t *testing.T) {
			addrs, _ := startShards(t, tc.shards, remoteSpecs(), shardOpts{})
			remote := dial(t, ClientConfig{Shards: addrs, ChunkBytes: tc.chunk})
			local := mustLocal(t, Config{Tables: remoteSpecs()})
			rng := mrand.New(mrand.NewPCG(1, 2))
			for round := range 20 {
				for _, s := range remoteSpecs() {
					n := 1 + rng.IntN(300)
					keys := make([]uint64, n)
					for i := range keys {
						if s.Dense {
							keys[i] = uint64(rng.IntN(s.Rows))
						} else {
							keys[i] = rng.Uint64() % 1000
						}
					}
					keys = dedup(keys)
					grads := make([]float32, len(keys)*s.Width)
					for i := range grads {
						grads[i] = float32(rng.NormFloat64())
					}
					want, got := make([]float32, len(grads)), make([]float32, len(grads))
					if round%2 == 0 {
						if err := local.Push(ctx, s.Name, keys, grads); err != nil {
							t.Fatal(err)
						}
						if err := remote.Push(ctx, s.Name, keys, grads); err != nil {
							t.Fatal(err)
						}
						if err := local.Pull(ctx, s.Name, keys, want); err != nil {
							t.Fatal(err)
						}
						if err := remote.Pull(ctx, s.Name, keys, got); err != nil {
							t.Fatal(err)
						}
					} else {
						// PushPull pulls a shifted key set to mix hits and misses.
						pull := make([]uint64, len(keys))
						for i, k := range keys {
							pull[i] = k
							if !s.Dense {
								pull[i] = k + 500
							}
						}
						if err := local.Push(ctx, s.Name, keys, grads); err != nil {
							t.Fatal(err)
						}
						if err := local.Pull(ctx, s.Name, pull, want); err != nil {
							t.Fatal(err)
						}
						if err := remote.PushPull(ctx, s.Name, keys, grads, pull, got); err != nil {
							t.Fatal(err)
						}
					}
					if !equalFloats(want, got) {
						t.Fatalf("round %d table %s: remote pull differs from local", round, s.Name)
					}
				}
			}
		})
	}
}

func dedup(keys []uint64) []uint64 {
	seen := make(map[uint64]bool, len(keys))
	out := keys[:0]
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

func TestClientErrors(t *testing.T) {
	ctx := context.Background()
	addrs, _ := startShards(t, 2, remoteSpecs(), shardOpts{token: "s3cret", maxMsg: 1 << 16})
	c := dial(t, ClientConfig{Shards: addrs, Token: "s3cret"})
	if err := c.Pull(ctx, "nope", []uint64{1}, make([]float32, 1)); !errors.Is(err, ErrUnknownTable) {
		t.Fatalf("unknown table: %v", err)
	}
	if err := c.Push(ctx, "d", []uint64{1, 50}, make([]float32, 8)); err == nil {
		t.Fatal("dense key out of range accepted")
	}
	// Chunks larger than the shard's message limit are rejected by the shard.
	big := dial(t, ClientConfig{Shards: addrs, Token: "s3cret", ChunkBytes: 1 << 20, MaxMsgBytes: 4 << 20})
	keys := make([]uint64, 20000)
	for i := range keys {
		keys[i] = uint64(i)
	}
	if err := big.Push(ctx, "w", keys, make([]float32, len(keys))); err == nil {
		t.Fatal("a 240 KB request passed a 64 KiB message limit")
	}
	// The default client splits it below the limit... when told the limit.
	small := dial(t, ClientConfig{Shards: addrs, Token: "s3cret", MaxMsgBytes: 1 << 16})
	if err := small.Push(ctx, "w", keys, make([]float32, len(keys))); err != nil {
		t.Fatalf("chunked push: %v", err)
	}
	// Wrong token and shard map errors.
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := Dial(dctx, ClientConfig{Shards: addrs, Token: "guess"}); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("wrong token: %v", err)
	}
	if _, err := Dial(dctx, ClientConfig{Shards: addrs}); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("no token: %v", err)
	}
	if _, err := Dial(dctx, ClientConfig{Shards: []string{addrs[1], addrs[0]}, Token: "s3cret"}); err == nil {
		t.Fatal("swapped shard map accepted")
	}
}

func TestTLSAndToken(t *testing.T) {
	ctx := context.Background()
	cert := tlstest.New(t)
	srvTLS, cliTLS := cert.Server, cert.Client
	addrs, _ := startShards(t, 1, remoteSpecs(), shardOpts{token: "tok", tls: srvTLS})
	c := dial(t, ClientConfig{Shards: addrs, Token: "tok", TLS: cliTLS})
	if err := c.Push(ctx, "w", []uint64{9}, []float32{1}); err != nil {
		t.Fatal(err)
	}
	dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if _, err := Dial(dctx, ClientConfig{Shards: addrs, Token: "tok"}); err == nil {
		t.Fatal("plaintext client reached a TLS shard")
	}
}

func TestRemoteSnapshotRestore(t *testing.T) {
	ctx := context.Background()
	store := laketest.NewMemory()
	addrs, stores := startShards(t, 2, remoteSpecs(), shardOpts{lake: store})
	c := dial(t, ClientConfig{Shards: addrs})
	keys := []uint64{1, 2, 3, 4, 5, 6, 7, 8}
	grads := []float32{1, 2, 3, 4, 5, 6, 7, 8}
	if err := c.Push(ctx, "w", keys, grads); err != nil {
		t.Fatal(err)
	}
	before := make([]float32, len(keys))
	if err := c.Pull(ctx, "w", keys, before); err != nil {
		t.Fatal(err)
	}
	written, err := c.Snapshot(ctx, "ckpt-1")
	if err != nil {
		t.Fatal(err)
	}
	if written[1] != "ckpt/ckpt-1/shard-1-of-2.pssnap" {
		t.Fatalf("snapshot keys %v", written)
	}
	if err := c.Push(ctx, "w", keys, grads); err != nil {
		t.Fatal(err)
	}
	if err := c.Restore(ctx, "ckpt-1"); err != nil {
		t.Fatal(err)
	}
	after := make([]float32, len(keys))
	if err := c.Pull(ctx, "w", keys, after); err != nil {
		t.Fatal(err)
	}
	if !equalFloats(before, after) {
		t.Fatalf("after restore %v, want %v", after, before)
	}
	if n0, _ := stores[0].Len("w"); n0 == 0 || n0 == len(keys) {
		t.Fatalf("shard 0 holds %d of %d keys; keys are not spread", n0, len(keys))
	}
	if err := c.Restore(ctx, "ckpt-missing"); !errors.Is(err, ErrBadSnapshot) {
		t.Fatalf("restore of a missing checkpoint: %v", err)
	}
}

// TestRemoteClocks checks the consistency RPCs end to end: under SSP with
// s=1 a worker cannot finish a third step while the other is at 0.
func TestRemoteClocks(t *testing.T) {
	ctx := context.Background()
	addrs, _ := startShards(t, 2, remoteSpecs(), shardOpts{consistency: &ConsistencyConfig{Mode: SSP, Staleness: 1, Workers: 2}})
	c := dial(t, ClientConfig{Shards: addrs})
	for _, w := range []string{"a", "b"} {
		if _, err := c.Join(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Clock(ctx, "a", 1); err != nil {
		t.Fatal(err)
	}
	tctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := c.Clock(tctx, "a", 2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Clock(a, 2) with b at 0 under SSP(1) = %v, want a wait until the deadline", err)
	}
	if err := c.Leave(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Clock(ctx, "a", 2); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Clock(ctx, "b", 1); !errors.Is(err, ErrWorkerExpired) {
		t.Fatalf("clock of a removed worker: %v", err)
	}
}

func TestPullTrained(t *testing.T) {
	ctx := context.Background()
	addrs, _ := startShards(t, 2, remoteSpecs(), shardOpts{})
	c := dial(t, ClientConfig{Shards: addrs})
	grads := make([]float32, 2*8)
	for i := range grads {
		grads[i] = 1
	}
	if err := c.Push(ctx, "v", []uint64{10, 11}, grads); err != nil {
		t.Fatal(err)
	}
	keys := []uint64{10, 99, 11}
	init, trained := make([]float32, 3*8), make([]float32, 3*8)
	if err := c.Pull(ctx, "v", keys, init); err != nil {
		t.Fatal(err)
	}
	if err := c.PullTrained(ctx, "v", keys, trained); err != nil {
		t.Fatal(err)
	}
	if !equalFloats(init[:8], trained[:8]) || !equalFloats(init[16:], trained[16:]) {
		t.Fatal("trained rows differ between Pull and PullTrained")
	}
	if equalFloats(init[8:16], make([]float32, 8)) || !equalFloats(trained[8:16], make([]float32, 8)) {
		t.Fatalf("untrained row: Pull %v (want its random start), PullTrained %v (want zeros)", init[8:16], trained[8:16])
	}
}

// TestInfoConsistency: every shard reports the job's consistency model, not
// only the one keeping the clocks, and a shard that was told none reports
// none.
func TestInfoConsistency(t *testing.T) {
	for _, tc := range []struct {
		name string
		cc   *ConsistencyConfig
		want string
	}{
		{"ssp", &ConsistencyConfig{Mode: SSP, Staleness: 2}, SSP},
		{"async", &ConsistencyConfig{Mode: Async}, Async},
		{"not stated", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addrs, _ := startShards(t, 2, remoteSpecs(), shardOpts{consistency: tc.cc})
			infos, err := dial(t, ClientConfig{Shards: addrs}).Info(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for i, in := range infos {
				if in.Consistency != tc.want {
					t.Errorf("shard %d reports %q, want %q", i, in.Consistency, tc.want)
				}
				if tc.cc != nil && in.Staleness != tc.cc.Staleness {
					t.Errorf("shard %d reports staleness %d, want %d", i, in.Staleness, tc.cc.Staleness)
				}
			}
		})
	}
}
