// Command freshness measures data-to-serving freshness: how long after a
// record is produced to Kafka a predictor serves a model version trained on
// it. Run it from the repository root with the local services up:
//
//	source <(deploy/local/up.sh --env)
//	go run ./bench/freshness -publish-every 1s -rate 20000 -duration 60s
//
// It builds the trainer and predictor, generates a click-log lake
// (`trainer quickstart`), creates a one-partition topic and a model topic of
// its own, and starts `trainer stream --publish-every D` on the topic and a
// `predictor` following the model's champion through the model topic. A
// producer sends the lake's rows at a steady rate, noting when each offset
// was sent; a watcher asks the predictor which version it serves
// (ModelMetadata) every 2 ms. Each version's lineage says up to which offset
// it was trained; a record's freshness is the time from its send to the
// first moment the predictor served a version whose lineage includes it.
// It prints p50/p90/p99/max over the records served during the run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/lakestream/lakestream/api/inference"
	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/datastream"
	"github.com/lakestream/lakestream/datastream/kafka"
	"github.com/lakestream/lakestream/datastream/kafka/kafkatest"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/train/clicklog"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/freshness:", err)
		os.Exit(1)
	}
}

type config struct {
	brokers      []string
	rate         int
	duration     time.Duration
	publishEvery string
	model        string
}

func run() error {
	brokers := flag.String("brokers", os.Getenv(kafkatest.EnvBrokers), "seed brokers, comma-separated (default $LAKESTREAM_KAFKA_BROKERS)")
	rate := flag.Int("rate", 20_000, "records produced per second")
	duration := flag.Duration("duration", 60*time.Second, "how long to produce")
	every := flag.String("publish-every", "1s", "trainer stream --publish-every")
	kind := flag.String("model", "logistic", "trainer stream --model")
	flag.Parse()
	switch {
	case *brokers == "":
		return errors.New("no brokers: set -brokers or LAKESTREAM_KAFKA_BROKERS (source <(deploy/local/up.sh --env))")
	case *rate <= 0 || *rate > 1_000_000:
		return fmt.Errorf("-rate %d: want 1..1000000", *rate)
	case *duration <= 0:
		return fmt.Errorf("-duration %v: want > 0", *duration)
	}
	cfg := config{brokers: strings.Split(*brokers, ","), rate: *rate, duration: *duration, publishEvery: *every, model: *kind}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "lakestream-bench-freshness-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "bin")
	if out, err := exec.Command("go", "build", "-o", bin+"/", "./cmd/trainer", "./cmd/predictor").CombinedOutput(); err != nil {
		return fmt.Errorf("go build (run from the repository root): %v\n%s", err, out)
	}
	lakeDir := filepath.Join(dir, "lake")
	if out, err := exec.Command(filepath.Join(bin, "trainer"), "quickstart", "--lake", lakeDir, "--rows", "200000", "--epochs", "1").CombinedOutput(); err != nil {
		return fmt.Errorf("trainer quickstart: %v\n%s", err, out)
	}
	store, err := lake.NewLocal(lakeDir)
	if err != nil {
		return err
	}
	rows, err := lakeRows(ctx, store)
	if err != nil {
		return err
	}
	defer func() {
		for _, r := range rows {
			r.Release()
		}
	}()

	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	topic, dlq, models := "bench-freshness-"+suffix, "bench-freshness-"+suffix+".dlq", "bench-freshness-"+suffix+".models"
	for _, t := range []string{topic, dlq, models} {
		resp, err := adm.CreateTopic(ctx, 1, 1, nil, t)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			return fmt.Errorf("create topic %s: %w", t, err)
		}
	}
	defer adm.DeleteTopics(context.Background(), topic, dlq, models) //nolint:errcheck // best effort

	const name = "fresh"
	trainer := exec.Command(filepath.Join(bin, "trainer"), "stream", "--lake", lakeDir, "--data", "clicks",
		"--spec", filepath.Join(lakeDir, "specs", "clicks.yaml"), "--model", cfg.model, "--topic", topic,
		"--kafka-brokers", strings.Join(cfg.brokers, ","), "--dead-letter-topic", dlq, "--output", name,
		"--publish-every", cfg.publishEvery, "--model-topic", models, "--log-every", "10s")
	trainerLog, err := os.Create(filepath.Join(dir, "trainer.log"))
	if err != nil {
		return err
	}
	trainer.Stdout, trainer.Stderr = trainerLog, trainerLog
	if err := trainer.Start(); err != nil {
		return err
	}
	defer func() { _ = trainer.Process.Kill(); _ = trainer.Wait() }()

	p := &producer{cfg: cfg, topic: topic, rows: rows}
	pdone := make(chan error, 1)
	go func() { pdone <- p.run(ctx) }()

	// The predictor starts once the job has promoted its first version.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, err := model.Alias(ctx, store, name, model.Champion); err == nil {
			break
		} else if !errors.Is(err, model.ErrNotFound) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no version promoted within 2m; trainer log: %s", tail(trainerLog.Name()))
		}
		time.Sleep(50 * time.Millisecond)
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	pred := exec.Command(filepath.Join(bin, "predictor"), "--lake", lakeDir, "--model", name, "--listen", addr,
		"--metrics-listen", "", "--kafka-brokers", strings.Join(cfg.brokers, ","), "--model-topic", models, "--poll", "1h")
	predLog, err := os.Create(filepath.Join(dir, "predictor.log"))
	if err != nil {
		return err
	}
	pred.Stdout, pred.Stderr = predLog, predLog
	if err := pred.Start(); err != nil {
		return err
	}
	defer func() { _ = pred.Process.Kill(); _ = pred.Wait() }()
	seen, err := watch(ctx, addr, name, pdone)
	if err != nil {
		return fmt.Errorf("%w; predictor log: %s", err, tail(predLog.Name()))
	}
	return report(ctx, store, name, cfg, p, seen)
}

// lakeRows reads the quickstart's clicks table, all columns but the dt
// partition (clicklog.Columns).
func lakeRows(ctx context.Context, store lake.Store) ([]arrow.Record, error) {
	ds, err := dataset.Open(ctx, store, "clicks")
	if err != nil {
		return nil, err
	}
	plan, err := ds.Plan(ctx, dataset.Query{Columns: clicklog.Columns()})
	if err != nil {
		return nil, err
	}
	sc := plan.Scan(ctx, plan.Splits(), dataset.ScanOptions{BatchSize: 8192})
	defer sc.Close()
	var recs []arrow.Record
	for sc.Next() {
		r := sc.At()
		r.Retain()
		recs = append(recs, r)
	}
	return recs, sc.Err()
}

// producer sends the rows in ticks of 10 ms at the configured rate,
// cycling over them, and keeps each tick's first offset and send time.
type producer struct {
	cfg   config
	topic string
	rows  []arrow.Record

	mu    sync.Mutex
	sends []send // ascending offsets
	sent  int64
}

type send struct {
	offset int64 // first offset of the tick
	at     time.Time
}

func (p *producer) run(ctx context.Context) error {
	scfg := kafka.DefaultSinkConfig()
	scfg.Brokers, scfg.Topic = p.cfg.brokers, p.topic
	sink, err := kafka.NewSink(scfg)
	if err != nil {
		return err
	}
	defer sink.Close(ctx)
	const tick = 10 * time.Millisecond
	per := max(p.cfg.rate/100, 1)
	ri, off := 0, int64(0)
	start := time.Now()
	for i := 0; ; i++ {
		at := start.Add(time.Duration(i) * tick)
		if at.Sub(start) >= p.cfg.duration {
			return nil
		}
		time.Sleep(time.Until(at))
		p.mu.Lock()
		p.sends = append(p.sends, send{offset: off, at: time.Now()})
		p.mu.Unlock()
		for left := per; left > 0; {
			r := p.rows[ri%len(p.rows)]
			lo := off % r.NumRows()
			n := min(int64(left), r.NumRows()-lo)
			s := r.NewSlice(lo, lo+n)
			err := sink.WriteBatch(ctx, datastream.Batch{Record: s})
			s.Release()
			if err != nil {
				return err
			}
			off += n
			left -= int(n)
			if lo+n == r.NumRows() {
				ri++
			}
		}
		p.mu.Lock()
		p.sent = off
		p.mu.Unlock()
	}
}

// sentAt returns when the tick holding offset was sent.
func (p *producer) sentAt(offset int64) time.Time {
	i, _ := slices.BinarySearchFunc(p.sends, offset, func(s send, o int64) int {
		switch {
		case s.offset < o:
			return -1
		case s.offset > o:
			return 1
		}
		return 0
	})
	if i == len(p.sends) || p.sends[i].offset > offset {
		i--
	}
	return p.sends[i].at
}

// watch polls the predictor's served version every 2 ms until the
// producer is done and a few seconds more, returning when each version
// was first served.
func watch(ctx context.Context, addr, name string, pdone <-chan error) (map[int]time.Time, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	cl := pb.NewGRPCInferenceServiceClient(conn)
	seen := map[int]time.Time{}
	var end time.Time
	started := time.Now()
	for {
		c, cancel := context.WithTimeout(ctx, time.Second)
		md, err := cl.ModelMetadata(c, &pb.ModelMetadataRequest{Name: name})
		cancel()
		now := time.Now()
		if err == nil && len(md.Versions) == 1 {
			v, _ := strconv.Atoi(md.Versions[0])
			if _, ok := seen[v]; !ok {
				seen[v] = now
			}
		} else if len(seen) == 0 && now.Sub(started) > time.Minute {
			return nil, fmt.Errorf("the predictor served nothing within 1m: %v", err)
		}
		select {
		case err := <-pdone:
			if err != nil {
				return nil, fmt.Errorf("producer: %w", err)
			}
			end = now.Add(5 * time.Second)
		default:
		}
		if !end.IsZero() && now.After(end) {
			return seen, nil
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func report(ctx context.Context, store lake.Store, name string, cfg config, p *producer, seen map[int]time.Time) error {
	versions := slices.Sorted(func(yield func(int) bool) {
		for v := range seen {
			if !yield(v) {
				return
			}
		}
	})
	var fresh []time.Duration
	var covered int64 // offsets below this were served
	for _, v := range versions {
		m, err := model.ReadManifest(ctx, store, name, v)
		if err != nil {
			return err
		}
		lin := m.Meta.Lineage
		if lin == nil {
			continue
		}
		next := lin.Offsets[0]
		// Per-tick resolution: every record of a tick shares its send time;
		// one figure per record weights the ticks by their records.
		for o := covered; o < next; o++ {
			fresh = append(fresh, seen[v].Sub(p.sentAt(o)))
		}
		covered = max(covered, next)
	}
	if len(fresh) == 0 {
		return errors.New("no produced record was served by a version trained on it")
	}
	slices.Sort(fresh)
	q := func(x float64) time.Duration {
		return fresh[min(int(x*float64(len(fresh))), len(fresh)-1)].Round(time.Millisecond)
	}
	var promoted, published int
	if vs, err := model.ListVersions(ctx, store, name); err == nil {
		published = len(vs)
	}
	promoted = len(versions)
	fmt.Printf("machine: %d cores (GOMAXPROCS %d), load average %s\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), loadAverage())
	fmt.Printf("trainer stream --model %s --publish-every %s; %d records/s for %v (%d produced, one partition)\n",
		cfg.model, cfg.publishEvery, cfg.rate, cfg.duration, p.sent)
	fmt.Printf("versions published %d, served by the predictor %d\n", published, promoted)
	fmt.Printf("freshness, record sent → predictor serves a version trained on it (%d records): p50 %v, p90 %v, p99 %v, max %v\n",
		len(fresh), q(0.5), q(0.9), q(0.99), fresh[len(fresh)-1].Round(time.Millisecond))
	return nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-20):], "\n")
}
