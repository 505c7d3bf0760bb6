package job_test

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/paramserver"
	"github.com/lakestream/lakestream/train"
	"github.com/lakestream/lakestream/train/job"
)

// exportJob is an FM model (k = 8) of the click log's spec with rows
// trained rows in its weights table: in two loopback shards (the Client
// that reads them) and in one in-process store holding the same rows.
type exportJob struct {
	sj     *job.ShardJob
	client *paramserver.Client
	local  *paramserver.Local
	store  lake.Store
	keys   []uint64
}

func newExportJob(tb testing.TB, rows int) *exportJob {
	tb.Helper()
	ctx := context.Background()
	c, _ := clickLake(tb, 4096)
	c.Model = train.DefaultModelConfig(train.KindFM)
	c.Model.Factors = 8
	c.Output = "fm-export"
	m, mc, err := job.NewModel(&c)
	if err != nil {
		tb.Fatal(err)
	}
	store, err := lake.Open(ctx, c.Lake)
	if err != nil {
		tb.Fatal(err)
	}
	plan, err := job.Plan(ctx, store, &c, nil, "training")
	if err != nil {
		tb.Fatal(err)
	}
	specs := job.TableSpecs(m, c.Optimizer, c.Seed, false)
	srvCtx, stop := context.WithCancel(ctx)
	addrs := make([]string, 2)
	done := make(chan error, 2)
	for i := range addrs {
		st, err := paramserver.New(paramserver.Config{Tables: specs, Shard: i, Shards: 2})
		if err != nil {
			tb.Fatal(err)
		}
		srv, err := paramserver.NewServer(paramserver.ServerConfig{Store: st})
		if err != nil {
			tb.Fatal(err)
		}
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		addrs[i] = lis.Addr().String()
		go func() { done <- srv.Serve(srvCtx, lis) }()
	}
	tb.Cleanup(func() {
		stop()
		<-done
		<-done
	})
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	client, err := paramserver.Dial(dctx, paramserver.ClientConfig{Shards: addrs})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { client.Close() })
	local, err := paramserver.NewLocal(specs...)
	if err != nil {
		tb.Fatal(err)
	}
	// Push every key once (one FTRL step of a small gradient) into both.
	w := m.Tables()[0]
	keys := make([]uint64, rows)
	for i := range keys {
		keys[i] = uint64(i)*0x9e3779b97f4a7c15 | 1
	}
	const chunk = 1 << 16
	grads := make([]float32, chunk*w.Width)
	for i := range grads {
		grads[i] = float32(i%7-3) / 100
	}
	for lo := 0; lo < rows; lo += chunk {
		hi := min(lo+chunk, rows)
		for _, s := range []train.ParamStore{client, local} {
			if err := s.Push(ctx, w.Name, keys[lo:hi], grads[:(hi-lo)*w.Width]); err != nil {
				tb.Fatal(err)
			}
		}
	}
	bias := m.Tables()[1].Name
	if err := client.Push(ctx, bias, []uint64{0}, []float32{0.5}); err != nil {
		tb.Fatal(err)
	}
	if err := local.Push(ctx, bias, []uint64{0}, []float32{0.5}); err != nil {
		tb.Fatal(err)
	}
	slices.Sort(keys)
	sj := &job.ShardJob{Config: c, Spec: c.Spec, Plan: plan, Model: m, ModelConfig: mc, Examples: int64(rows)}
	return &exportJob{sj: sj, client: client, local: local, store: store, keys: keys}
}

// TestSaveShards: the version SaveShards writes from two shards holds the
// rows of the in-process store that trained the same pushes, bit for bit,
// and loads.
func TestSaveShards(t *testing.T) {
	ctx := context.Background()
	e := newExportJob(t, 5000)
	v, _, err := job.SaveShards(ctx, e.store, e.client, e.sj)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(ctx, e.store, "fm-export", v.Version)
	if err != nil {
		t.Fatal(err)
	}
	if lin := m.Meta().Lineage; m.Meta().Rows != 5000 || m.Meta().Kind != model.Kind(train.KindFM) || lin == nil || lin.Examples != 5000 {
		t.Errorf("meta %+v", m.Meta())
	}
	for _, tab := range e.sj.Model.Tables() {
		got := m.Table(tab.Name)
		if got == nil {
			t.Fatalf("no table %s", tab.Name)
		}
		keys := e.keys
		if tab.Dense {
			keys = []uint64{0}
		}
		if !slices.Equal(got.Keys, keys) && !tab.Dense {
			t.Fatalf("table %s: %d keys, want the %d pushed", tab.Name, len(got.Keys), len(keys))
		}
		want := make([]float32, len(keys)*tab.Width)
		if err := e.local.Pull(ctx, tab.Name, keys, want); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Values, want) {
			t.Errorf("table %s: values differ from the in-process store's", tab.Name)
		}
	}
}

// BenchmarkSaveModel2Pow20 saves a 2^20-row FM model (k = 8: 40 MiB of
// weights and 8 MiB of keys) to a local lake: from two loopback shards
// (SaveShards: paged Export calls, then model.Save), and, side by side,
// from the in-process store as "trainer train" does (sorted keys pulled,
// then model.Save). export-s is the time to read the rows.
func BenchmarkSaveModel2Pow20(b *testing.B) {
	ctx := context.Background()
	e := newExportJob(b, 1<<20)
	b.Run("shards=2", func(b *testing.B) {
		var exp time.Duration
		for b.Loop() {
			_, d, err := job.SaveShards(ctx, e.store, e.client, e.sj)
			if err != nil {
				b.Fatal(err)
			}
			exp += d
		}
		b.ReportMetric(exp.Seconds()/float64(b.N), "export-s")
	})
	b.Run("in-process", func(b *testing.B) {
		var exp time.Duration
		for b.Loop() {
			start := time.Now()
			var tables []train.TableData
			for _, t := range e.sj.Model.Tables() {
				keys := e.keys
				if t.Dense {
					keys = []uint64{0}
				}
				vals := make([]float32, len(keys)*t.Width)
				if err := e.local.Pull(ctx, t.Name, keys, vals); err != nil {
					b.Fatal(err)
				}
				tables = append(tables, train.TableData{Name: t.Name, Width: t.Width, Dense: t.Dense, Keys: keys, Values: vals})
			}
			exp += time.Since(start)
			art, err := train.NewArtifact(e.sj.ModelConfig, e.sj.Spec, tables, model.Metadata{})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := art.Save(ctx, e.store, "fm-local"); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(exp.Seconds()/float64(b.N), "export-s")
	})
}
