package serve

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	pb "github.com/lakestream/lakestream/api/inference"
	"github.com/lakestream/lakestream/lake/laketest"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/model/modeltest"
)

// cpuTime is the user and system CPU time of the process so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkTopN measures one user's top N over a catalogue of 10,000 items
// (1,000 users, 50 items each, k = 32), asking users in turn: model.TopN in
// process, the service's ModelInfer in process (request to response, no
// network), one request at a time over loopback gRPC (client included), and
// the peer, the way the pieces before it would rank: Model.Score over a
// 10,000-row (user, item) record, then a stable sort. Each reports its
// p50 and p99 latency besides ns/op.
func BenchmarkTopN(b *testing.B) {
	const users, items = 1000, 10000
	store := laketest.NewMemory()
	m := saveRec(b, store, modeltest.MFConfig{Users: users, Items: items, PerUser: 50, Factors: 32, Loss: model.LossSquared, Seed: 1})
	e, err := NewEngine(NewRegistryLoader(store), []ModelRef{{Name: "rec"}})
	if err != nil {
		b.Fatal(err)
	}
	if err := e.RefreshAll(context.Background()); err != nil {
		b.Fatal(err)
	}
	svc, conn := startServer(b, e, DefaultServerConfig())
	cl := pb.NewGRPCInferenceServiceClient(conn)
	reqs := make([]*pb.ModelInferRequest, users)
	for _, n := range []int{100, 1000} {
		for u := range reqs {
			reqs[u] = topNRequest("u"+strconv.Itoa(u), int64(n))
		}
		run := func(name string, op func(u int)) {
			b.Run("items=10000/n="+strconv.Itoa(n)+"/"+name, func(b *testing.B) {
				b.ReportAllocs()
				lat := make([]time.Duration, 0, 1<<16)
				u := 0
				cpu0 := cpuTime(b)
				for b.Loop() {
					t0 := time.Now()
					op(u)
					lat = append(lat, time.Since(t0))
					u = (u + 1) % users
				}
				// CPU time per request (client and server for grpc): the
				// figure a loaded machine does not inflate.
				b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
				b.ReportMetric(float64(lat[(len(lat)*99)/100].Microseconds()), "p99-µs")
			})
		}
		var r model.Recommendation
		run("model", func(u int) {
			if err := m.TopN("u"+strconv.Itoa(u), n, &r); err != nil {
				b.Fatal(err)
			}
		})
		run("service", func(u int) {
			if _, err := svc.ModelInfer(context.Background(), reqs[u]); err != nil {
				b.Fatal(err)
			}
		})
		run("grpc", func(u int) {
			if _, err := cl.ModelInfer(context.Background(), reqs[u]); err != nil {
				b.Fatal(err)
			}
		})
		schema, _, err := m.InputSchema()
		if err != nil {
			b.Fatal(err)
		}
		cat := m.Catalogue()
		scores := make([]float64, items)
		order := make([]int, 0, items)
		run("peer-score-and-sort", func(u int) {
			rb := array.NewRecordBuilder(memory.DefaultAllocator, schema)
			defer rb.Release()
			user := "u" + strconv.Itoa(u)
			for _, it := range cat.Items {
				rb.Field(0).(*array.StringBuilder).Append(user)
				rb.Field(1).(*array.StringBuilder).Append(it)
			}
			rec := rb.NewRecord()
			defer rec.Release()
			if err := m.Score(rec, scores); err != nil {
				b.Fatal(err)
			}
			seen := cat.SeenBy(u)
			order = order[:0]
			for i := range items {
				if len(seen) > 0 && int(seen[0]) == i {
					seen = seen[1:]
					continue
				}
				order = append(order, i)
			}
			slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(scores[b], scores[a]) })
			_ = order[:n]
		})
	}
}
