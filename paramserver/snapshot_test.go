package paramserver

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/lake/laketest"
	"github.com/lakestream/lakestream/train/optim"
)

func snapshotSpecs() []TableSpec {
	return []TableSpec{
		{Name: "lin", Width: 1, Optimizer: optim.DefaultConfig(optim.FTRL), TTL: time.Hour},
		{Name: "emb", Width: 4, Optimizer: optim.DefaultConfig(optim.Adam), Init: InitConfig{Kind: InitNormal, Std: 0.01, Seed: 7}},
		{Name: "mlp", Width: 3, Dense: true, Rows: 10, Optimizer: optim.DefaultConfig(optim.AdaGrad)},
	}
}

// fill pushes deterministic gradients so that every table has rows with
// non-trivial weights, optimizer state and step counts.
func fill(t testing.TB, l *Local, nkeys int) {
	t.Helper()
	ctx := context.Background()
	for round := range 3 {
		for _, s := range l.Tables() {
			n := nkeys
			if s.Dense {
				n = s.Rows
			}
			keys := make([]uint64, n)
			g := make([]float32, n*s.Width)
			for i := range keys {
				keys[i] = uint64(i)
				if !s.Dense {
					keys[i] = mix64(uint64(i))
				}
			}
			for i := range g {
				g[i] = float32((i*31+round*7)%13) - 6
			}
			m := max(0, n-round)
			if err := l.Push(ctx, s.Name, keys[:m], g[:m*s.Width]); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// sameTables compares every row, step and optimizer state of two stores.
func sameTables(t *testing.T, a, b *Local) {
	t.Helper()
	for _, s := range a.Tables() {
		ta, tb := a.tables.Load().byName[s.Name], b.tables.Load().byName[s.Name]
		if ta.dense != nil {
			if !equalFloats(ta.dense.vals, tb.dense.vals) {
				t.Fatalf("dense table %s differs", s.Name)
			}
			continue
		}
		na, nb := ta.sparse.len(), tb.sparse.len()
		if na != nb {
			t.Fatalf("table %s: %d rows vs %d", s.Name, na, nb)
		}
		for i := range ta.sparse.stripes {
			sa := &ta.sparse.stripes[i]
			for r, k := range sa.keys {
				sb := tb.sparse.stripeOf(mix64(k))
				rb := sb.find(k, mix64(k))
				if rb < 0 {
					t.Fatalf("table %s: key %d missing after restore", s.Name, k)
				}
				st := ta.sparse.stride
				if sa.steps[r] != sb.steps[rb] || sa.seen[r] != sb.seen[rb] ||
					!equalFloats(sa.vals[r*st:(r+1)*st], sb.vals[rb*st:(rb+1)*st]) {
					t.Fatalf("table %s: key %d differs after restore", s.Name, k)
				}
			}
		}
	}
}

func equalFloats(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSnapshotRoundTrip(t *testing.T) {
	ctx := context.Background()
	for _, nkeys := range []int{0, 1, 5000, 70000} { // 70000 lin rows span several 1 MiB blocks
		clk := &fakeClock{now: time.Unix(1_800_000_000, 0)}
		cfg := Config{Tables: snapshotSpecs(), Shard: 1, Shards: 3, Now: clk.Now}
		a := mustLocal(t, cfg)
		if nkeys > 0 {
			fill(t, a, nkeys)
		}
		store := laketest.NewMemory()
		if err := a.SaveSnapshot(ctx, store, "ckpt/1/shard-1-of-3.pssnap"); err != nil {
			t.Fatal(err)
		}
		b := mustLocal(t, cfg)
		fill(t, b, 10) // restore must replace, not merge
		if err := b.LoadSnapshot(ctx, store, "ckpt/1/shard-1-of-3.pssnap"); err != nil {
			t.Fatal(err)
		}
		sameTables(t, a, b)
		// Training continues identically after a restore.
		fill(t, a, 100)
		fill(t, b, 100)
		sameTables(t, a, b)
	}
}

func TestSnapshotRejects(t *testing.T) {
	ctx := context.Background()
	cfg := Config{Tables: snapshotSpecs(), Shard: 0, Shards: 2}
	a := mustLocal(t, cfg)
	fill(t, a, 300)
	var buf bytes.Buffer
	if err := a.WriteSnapshot(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	otherShard := cfg
	otherShard.Shard = 1
	otherWidth := Config{Tables: snapshotSpecs(), Shards: 2}
	otherWidth.Tables[1].Width = 5
	otherOptim := Config{Tables: snapshotSpecs(), Shards: 2}
	otherOptim.Tables[1].Optimizer = optim.DefaultConfig(optim.SGD)
	flip := func(off int) []byte {
		b := bytes.Clone(good)
		b[off] ^= 0x10
		return b
	}
	tests := []struct {
		name string
		cfg  Config
		data []byte
	}{
		{"truncated", cfg, good[:len(good)-9]},
		{"empty", cfg, nil},
		{"bad magic", cfg, flip(0)},
		{"flipped header bit", cfg, flip(30)},
		{"flipped row bit", cfg, flip(len(good) / 2)},
		{"wrong shard", otherShard, good},
		{"wrong width", otherWidth, good},
		{"wrong optimizer state", otherOptim, good},
		{"trailing end marker missing", cfg, good[:len(good)-len(snapEnd)]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustLocal(t, tt.cfg)
			fill(t, b, 5)
			before, _ := b.Len("lin")
			err := b.ReadSnapshot(ctx, bytes.NewReader(tt.data))
			if !errors.Is(err, ErrBadSnapshot) {
				t.Fatalf("ReadSnapshot = %v, want ErrBadSnapshot", err)
			}
			if after, _ := b.Len("lin"); after != before {
				t.Fatalf("failed restore changed the store: %d rows, had %d", after, before)
			}
		})
	}
}

func FuzzReadSnapshot(f *testing.F) {
	ctx := context.Background()
	cfg := Config{Tables: []TableSpec{
		{Name: "a", Width: 2, Optimizer: optim.DefaultConfig(optim.AdaGrad)},
		{Name: "d", Width: 1, Dense: true, Rows: 3, Optimizer: optim.DefaultConfig(optim.SGD)},
	}}
	src := mustLocal(f, cfg)
	fill(f, src, 20)
	var buf bytes.Buffer
	if err := src.WriteSnapshot(ctx, &buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte(snapMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		l := mustLocal(t, cfg)
		if err := l.ReadSnapshot(ctx, bytes.NewReader(data)); err != nil {
			if !errors.Is(err, ErrBadSnapshot) {
				t.Fatalf("error %v does not wrap ErrBadSnapshot", err)
			}
			return
		}
		// A snapshot that decodes re-encodes to something that decodes to
		// the same tables.
		var out bytes.Buffer
		if err := l.WriteSnapshot(ctx, &out); err != nil {
			t.Fatal(err)
		}
		m := mustLocal(t, cfg)
		if err := m.ReadSnapshot(ctx, &out); err != nil {
			t.Fatalf("re-encoded snapshot does not decode: %v", err)
		}
		sameTables(t, l, m)
	})
}

// TestSnapshotMinIO round-trips a snapshot through S3 (the test MinIO).
func TestSnapshotMinIO(t *testing.T) {
	ctx := context.Background()
	store := laketest.MinIO(t)
	clk := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	cfg := Config{Tables: snapshotSpecs(), Now: clk.Now}
	a := mustLocal(t, cfg)
	fill(t, a, 50000)
	key := SnapshotKey("jobs/x/checkpoints", "ckpt-000001", 0, 1)
	if err := a.SaveSnapshot(ctx, store, key); err != nil {
		t.Fatal(err)
	}
	b := mustLocal(t, cfg)
	if err := b.LoadSnapshot(ctx, store, key); err != nil {
		t.Fatal(err)
	}
	sameTables(t, a, b)
	if err := b.LoadSnapshot(ctx, store, "jobs/x/checkpoints/missing"); !errors.Is(err, lake.ErrNotExist) {
		t.Fatalf("missing snapshot: %v", err)
	}
}
