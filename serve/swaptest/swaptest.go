package swaptest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/lakestream/lakestream/api/inference"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/serve"
	"github.com/lakestream/lakestream/serve/loadgen"
	"github.com/lakestream/lakestream/train/feature"
)

// Config sets the scenario.
type Config struct {
	Store   lake.Store
	Brokers []string
	Topic   string // the model topic; must exist with one partition
	Name    string // the model's name in the registry

	Requests int // calls in all
	// Blocks splits the load into this many equal blocks of time; the
	// promotions happen in the odd blocks only, so blocks with and without
	// swaps alternate and drift in the machine's load affects both alike.
	Blocks     int
	Rate       float64 // calls per second
	Workers    int     // concurrent client calls
	Promotions int     // good versions promoted, spread over the odd blocks
	CorruptAt  int     // the corrupt version is promoted after this many promotions
	Keys       int     // rows of the model's weight table
}

// DefaultConfig is the acceptance scenario: 100k requests at 5k/s, 100
// promotions, a corrupt artifact in the middle.
func DefaultConfig() Config {
	return Config{Name: "swap", Requests: 100_000, Rate: 5000, Workers: 32, Blocks: 10, Promotions: 100, CorruptAt: 50, Keys: 20_000}
}

// Report holds what the scenario saw.
type Report struct {
	Baseline, Swapping loadgen.Summary // requests of the even blocks (no swaps), of the odd blocks
	Failures           []string        // failed calls (at most 20 kept)
	Violations         []string        // responses from a version that was not serving (at most 20 kept)
	CorruptServed      int             // responses from the corrupt version (must be 0)
	Promoted, Served   int             // versions promoted; of those, versions seen in a response
	Freshness          []time.Duration // promotion → first response from that version, sorted
	SwapLag            []time.Duration // promotion → swap, for every promoted version swapped in, sorted
	Swaps              int             // versions swapped in, the first load included
	// Superseded counts promoted versions that were never swapped in because
	// the alias had moved on (a later promotion, or the corrupt version)
	// before the predictor's next swap: it resolves the alias when it acts
	// on an announcement, so a version superseded in the meantime is rightly
	// skipped. Missed lists the promoted versions that were neither swapped
	// in nor superseded: announcements the predictor lost.
	Superseded int
	Missed     []string
	Final      string // the version served at the end
}

// FreshnessQuantile returns the q-quantile of the freshness figures.
func (r Report) FreshnessQuantile(q float64) time.Duration { return loadgen.Quantile(r.Freshness, q) }

func (r Report) String() string {
	return fmt.Sprintf("baseline: %v\nswapping: %v\npromoted %d, swapped in %d (final %s), answered a request %d; "+
		"superseded before their swap %d, missed %v; "+
		"promotion→first response p50 %v p99 %v max %v; promotion→swap p50 %v p99 %v max %v; corrupt served %d, violations %d, failures %d",
		r.Baseline, r.Swapping, r.Promoted, len(r.SwapLag), r.Final, r.Served, r.Superseded, r.Missed,
		r.FreshnessQuantile(0.5), r.FreshnessQuantile(0.99), r.FreshnessQuantile(1),
		loadgen.Quantile(r.SwapLag, 0.5), loadgen.Quantile(r.SwapLag, 0.99), loadgen.Quantile(r.SwapLag, 1),
		r.CorruptServed, len(r.Violations), len(r.Failures))
}

var spec = &feature.Spec{
	Label:       feature.Label{Column: "click", Type: feature.Binary},
	HashBits:    16,
	Categorical: []feature.Categorical{{Column: "site"}, {Column: "app"}, {Column: "device"}},
}

// buildModel returns an LR model whose weights depend on seed.
func buildModel(keys int, seed uint64) (*model.Model, error) {
	r := rand.New(rand.NewPCG(seed, 7))
	w := model.Table{Name: model.TableWeights, Width: 1, Keys: make([]uint64, keys), Values: make([]float32, keys)}
	for i := range keys {
		w.Keys[i] = feature.Key(int32(i%3), uint32(i/3))
		w.Values[i] = float32(r.NormFloat64() * 0.1)
	}
	bias := model.Table{Name: model.TableBias, Width: 1, Dense: true, Values: []float32{float32(seed) * 1e-3}}
	return model.New(model.Metadata{Kind: model.KindLogistic, Seed: seed}, spec, []model.Table{w, bias})
}

// SaveModel saves a logistic regression over the string columns site, app
// and device, with keys weights drawn from seed, as the next version of name.
func SaveModel(ctx context.Context, store lake.Store, name string, keys int, seed uint64) (int, error) {
	m, err := buildModel(keys, seed)
	if err != nil {
		return 0, err
	}
	return m.Save(ctx, store, name)
}

// corrupt flips bytes of a stored table file so its checksum fails.
func corrupt(ctx context.Context, store lake.Store, name string, version int) error {
	mf, err := model.ReadManifest(ctx, store, name, version)
	if err != nil {
		return err
	}
	key := model.VersionPrefix(name, version) + mf.Tables[0].Values.Path
	data, err := lake.ReadAll(ctx, store, key)
	if err != nil {
		return err
	}
	for i := range data {
		data[i] ^= 0x5a
	}
	return lake.PutBytes(ctx, store, key, data)
}

// Run runs the scenario.
func Run(ctx context.Context, cfg Config) (Report, error) {
	var rep Report
	// Versions: 1 is the first champion, 2..Promotions+1 are promoted in
	// order, and one corrupt version is saved last.
	for i := 0; i <= cfg.Promotions; i++ {
		if _, err := SaveModel(ctx, cfg.Store, cfg.Name, cfg.Keys, uint64(i+1)); err != nil {
			return rep, err
		}
	}
	bad, err := buildModel(cfg.Keys, 999)
	if err != nil {
		return rep, err
	}
	corruptVersion, err := bad.Save(ctx, cfg.Store, cfg.Name)
	if err != nil {
		return rep, err
	}
	if err := corrupt(ctx, cfg.Store, cfg.Name, corruptVersion); err != nil {
		return rep, err
	}
	if _, err := model.SetAlias(ctx, cfg.Store, cfg.Name, model.Champion, 1, nil); err != nil {
		return rep, err
	}

	// The predictor: engine, gRPC on loopback, watch of the model topic.
	var swapMu sync.Mutex
	swappedOut := map[string]time.Time{} // version → when it stopped serving
	swappedIn := map[string]time.Time{}  // version → when it started serving
	current := ""
	engine, err := serve.NewEngine(serve.NewRegistryLoader(cfg.Store), []serve.ModelRef{{Name: cfg.Name}},
		serve.WithSwapHook(func(_, v string) {
			swapMu.Lock()
			if current != "" {
				swappedOut[current] = time.Now()
			}
			current = v
			swappedIn[v] = time.Now()
			rep.Swaps++
			swapMu.Unlock()
		}))
	if err != nil {
		return rep, err
	}
	if err := engine.RefreshAll(ctx); err != nil {
		return rep, err
	}
	svc := serve.NewService(engine, serve.DefaultServerConfig())
	gs := grpc.NewServer(svc.ServerOptions()...)
	svc.Register(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return rep, err
	}
	go gs.Serve(lis)
	defer gs.Stop()
	ann, err := serve.NewKafkaAnnouncements(ctx, cfg.Topic, kgo.SeedBrokers(cfg.Brokers...))
	if err != nil {
		return rep, err
	}
	defer ann.Close()
	watchCtx, stopWatch := context.WithCancel(ctx)
	watchDone := make(chan struct{})
	go func() {
		serve.Watch(watchCtx, engine, serve.WatchConfig{Poll: time.Minute, Announcements: ann})
		close(watchDone)
	}()
	defer func() { stopWatch(); <-watchDone }()

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return rep, err
	}
	defer conn.Close()
	client := pb.NewGRPCInferenceServiceClient(conn)

	producer, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.DefaultProduceTopic(cfg.Topic))
	if err != nil {
		return rep, err
	}
	defer producer.Close()

	// Requests are built before the load so the generator measures the server.
	reqs := make([]*pb.ModelInferRequest, 256)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range reqs {
		reqs[i] = &pb.ModelInferRequest{ModelName: cfg.Name, Inputs: []*pb.ModelInferRequest_InferInputTensor{
			{Name: "site", Datatype: "BYTES", Shape: []int64{1}, Contents: &pb.InferTensorContents{BytesContents: [][]byte{[]byte("s" + strconv.Itoa(r.IntN(5000)))}}},
			{Name: "app", Datatype: "BYTES", Shape: []int64{1}, Contents: &pb.InferTensorContents{BytesContents: [][]byte{[]byte("a" + strconv.Itoa(r.IntN(5000)))}}},
			{Name: "device", Datatype: "BYTES", Shape: []int64{1}, Contents: &pb.InferTensorContents{BytesContents: [][]byte{[]byte("d" + strconv.Itoa(r.IntN(5000)))}}},
		}}
	}

	// The promoter works in the odd blocks, evenly spaced within them.
	if cfg.Blocks < 2 || cfg.Blocks%2 != 0 {
		return rep, fmt.Errorf("swaptest: Blocks %d: want an even number ≥ 2", cfg.Blocks)
	}
	block := time.Duration(float64(cfg.Requests/cfg.Blocks) / cfg.Rate * float64(time.Second))
	perBlock := (cfg.Promotions + cfg.Blocks/2 - 1) / (cfg.Blocks / 2)
	interval := block / time.Duration(perBlock+2) // the corrupt version takes a slot too
	promoted := map[string]time.Time{"1": {}}
	type move struct {
		version string
		at      time.Time
	}
	var moves []move // every move of the alias, the corrupt version's included
	var promoMu sync.Mutex
	promoErr := make(chan error, 1)
	announce := func(v int) error {
		at := time.Now()
		if _, err := model.SetAlias(ctx, cfg.Store, cfg.Name, model.Champion, v, nil); err != nil {
			return err
		}
		promoMu.Lock()
		moves = append(moves, move{strconv.Itoa(v), at})
		promoMu.Unlock()
		val, _ := json.Marshal(model.Announcement{Name: cfg.Name, Alias: model.Champion, Version: v, Time: time.Now().UTC()})
		return producer.ProduceSync(ctx, &kgo.Record{Value: val}).FirstErr()
	}
	begin := time.Now()
	go func() {
		for i := 1; i <= cfg.Promotions; i++ {
			if (i-1)%perBlock == 0 { // the start of the next odd block
				b := 2*((i-1)/perBlock) + 1
				time.Sleep(time.Until(begin.Add(time.Duration(b)*block + interval)))
			}
			if i == cfg.CorruptAt+1 {
				if err := announce(corruptVersion); err != nil {
					promoErr <- err
					return
				}
				time.Sleep(interval)
			}
			v := i + 1
			promoMu.Lock()
			promoted[strconv.Itoa(v)] = time.Now()
			promoMu.Unlock()
			if err := announce(v); err != nil {
				promoErr <- err
				return
			}
			time.Sleep(interval)
		}
		promoErr <- nil
	}()

	results, err := loadgen.Run(ctx, loadgen.Config{Requests: cfg.Requests, Rate: cfg.Rate, Workers: cfg.Workers},
		func(ctx context.Context, i int) (string, error) {
			resp, err := client.ModelInfer(ctx, reqs[i%len(reqs)])
			if err != nil {
				return "", err
			}
			return resp.ModelVersion, nil
		})
	if err != nil {
		return rep, err
	}
	if err := <-promoErr; err != nil {
		return rep, fmt.Errorf("promote: %w", err)
	}
	// Give the last announcement time to land, then stop the watch so the
	// swap records are final.
	time.Sleep(500 * time.Millisecond)
	stopWatch()
	<-watchDone
	swapMu.Lock()
	defer swapMu.Unlock()

	corruptLabel := strconv.Itoa(corruptVersion)
	firstSeen := map[string]time.Time{}
	for i, res := range results {
		if res.Err != nil {
			if len(rep.Failures) < 20 {
				rep.Failures = append(rep.Failures, fmt.Sprintf("request %d: %v", i, res.Err))
			}
			continue
		}
		if res.Label == corruptLabel {
			rep.CorruptServed++
		}
		end := res.Start.Add(res.Latency)
		if out, ok := swappedOut[res.Label]; ok && out.Before(res.Start) && len(rep.Violations) < 20 {
			rep.Violations = append(rep.Violations, fmt.Sprintf("request %d started %v after version %s stopped serving", i, res.Start.Sub(out), res.Label))
		}
		if at, ok := promoted[res.Label]; ok && !at.IsZero() && at.After(end) && len(rep.Violations) < 20 {
			rep.Violations = append(rep.Violations, fmt.Sprintf("request %d ended %v before version %s was promoted", i, at.Sub(end), res.Label))
		}
		if t, ok := firstSeen[res.Label]; !ok || end.Before(t) {
			firstSeen[res.Label] = end
		}
	}
	for v, at := range promoted {
		if at.IsZero() {
			continue
		}
		rep.Promoted++
		if seen, ok := firstSeen[v]; ok {
			rep.Served++
			rep.Freshness = append(rep.Freshness, seen.Sub(at))
		}
		if in, ok := swappedIn[v]; ok {
			rep.SwapLag = append(rep.SwapLag, in.Sub(at))
			continue
		}
		// Not swapped in: superseded when the alias moved again before the
		// predictor's first swap after this promotion (or before the end,
		// when it swapped no more).
		next := time.Time{}
		for _, in := range swappedIn {
			if in.After(at) && (next.IsZero() || in.Before(next)) {
				next = in
			}
		}
		superseded := false
		for _, m := range moves {
			if m.version != v && m.at.After(at) && (next.IsZero() || !m.at.After(next)) {
				superseded = true
				break
			}
		}
		if superseded {
			rep.Superseded++
		} else {
			rep.Missed = append(rep.Missed, v)
		}
	}
	slices.Sort(rep.Missed)
	rep.Final = current
	slices.Sort(rep.Freshness)
	slices.Sort(rep.SwapLag)
	var even, odd []loadgen.Result
	per := cfg.Requests / cfg.Blocks
	for i, r := range results {
		if (i/per)%2 == 0 {
			even = append(even, r)
		} else {
			odd = append(odd, r)
		}
	}
	rep.Baseline, rep.Swapping = loadgen.Summarize(even), loadgen.Summarize(odd)
	if rep.Swapping.Requests == 0 {
		return rep, errors.New("no requests in the blocks with swaps")
	}
	return rep, nil
}
