package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/lakestream/lakestream/datastream"
	"github.com/lakestream/lakestream/internal/cliconfig"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/serve"
)

type modelFlags []serve.ModelRef

func (m *modelFlags) String() string { return fmt.Sprint(*m) }
func (m *modelFlags) Set(s string) error {
	// Comma-separated, so LAKESTREAM_MODEL and a config file list work too.
	for _, one := range strings.Split(s, ",") {
		name, ref, _ := strings.Cut(strings.TrimSpace(one), "@")
		if name == "" {
			return fmt.Errorf("--model %q: want NAME or NAME@ALIAS or NAME@VERSION", s)
		}
		*m = append(*m, serve.ModelRef{Name: name, Ref: ref})
	}
	return nil
}

type config struct {
	lake        string
	models      modelFlags
	listen      string
	metrics     string
	httpListen  string
	brokers     string
	modelTopic  string
	poll        time.Duration
	tlsCert     string
	tlsKey      string
	token       string
	maxBatch    int
	maxReqBytes int
	maxInFlight int
	logJSON     bool
	gcPercent   int

	// Stream scoring (optional): data topic × model topic → predictions.
	streamData  string
	streamOut   string
	streamDLQ   string
	streamGroup string
	streamKeep  string
	streamTxnID string
	streamCkpt  time.Duration
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) || errors.Is(err, errVersion) {
			return // -h or --version asked; what was asked is printed
		}
		fmt.Fprintln(os.Stderr, "predictor:", err)
		var ue *cliconfig.UsageError
		if errors.As(err, &ue) {
			os.Exit(2) // a flag, variable or config value: nothing was started
		}
		os.Exit(1)
	}
}

// errVersion ends a run that printed the version.
var errVersion = errors.New("version printed")

// deprecatedEnv maps the environment convention's names (cliconfig: flag
// --listen ↔ LAKESTREAM_LISTEN) to the names earlier releases read, which
// are still read for one release.
var deprecatedEnv = map[string]string{
	"LAKESTREAM_LISTEN":            "LAKESTREAM_PREDICTOR_LISTEN",
	"LAKESTREAM_METRICS_LISTEN":    "LAKESTREAM_PREDICTOR_METRICS",
	"LAKESTREAM_TOKEN":             "LAKESTREAM_PREDICTOR_TOKEN",
	"LAKESTREAM_DEAD_LETTER_TOPIC": "LAKESTREAM_STREAM_DEAD_LETTER_TOPIC",
}

func lookupEnv(k string) (string, bool) {
	if v, ok := os.LookupEnv(k); ok {
		return v, true
	}
	if old, ok := deprecatedEnv[k]; ok {
		return os.LookupEnv(old)
	}
	return "", false
}

// parseFlags reads the flags with the trainer's convention
// (internal/cliconfig): flag > LAKESTREAM_<FLAG> > --config file > default.
func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("predictor", flag.ContinueOnError)
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.StringVar(&c.lake, "lake", "", "lake holding the model registry: a folder, file://… or s3://bucket/prefix")
	fs.Var(&c.models, "model", "model to serve, NAME (follows its champion), NAME@ALIAS or NAME@VERSION; repeat (or comma-separate) for several")
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8001", "gRPC listen address")
	fs.StringVar(&c.metrics, "metrics-listen", "127.0.0.1:8002", "Prometheus /metrics listen address; empty disables")
	fs.StringVar(&c.brokers, "kafka-brokers", "", "Kafka brokers for the model topic; empty: poll the lake only")
	fs.StringVar(&c.modelTopic, "model-topic", model.DefaultModelTopic, "Kafka topic where promotions are announced")
	fs.StringVar(&c.httpListen, "http-listen", "", "also serve the inference protocol over HTTP/JSON (KServe v2 REST) on this address, with the same token and limits; empty disables")
	fs.DurationVar(&c.poll, "poll", 30*time.Second, "how often to poll the lake for moved aliases (fallback to the model topic)")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "TLS certificate file (with --tls-key) to serve gRPC (and --http-listen) over TLS")
	fs.StringVar(&c.tlsKey, "tls-key", "", "TLS private key file")
	fs.StringVar(&c.token, "token", "", "require \"authorization: Bearer TOKEN\" on every call but health (better set through LAKESTREAM_TOKEN than on the command line)")
	fs.IntVar(&c.maxBatch, "max-batch", serve.DefaultServerConfig().MaxBatch, "largest batch (rows) one request may carry")
	fs.IntVar(&c.maxReqBytes, "max-request-bytes", serve.DefaultServerConfig().MaxRequestBytes, "largest request message in bytes")
	fs.IntVar(&c.maxInFlight, "max-inflight", serve.DefaultServerConfig().MaxInFlight, "requests admitted at once; beyond, a request gets RESOURCE_EXHAUSTED before it is read (received messages hold at most this × --max-request-bytes). Also the number of long-lived gRPC call workers kept ready")
	fs.BoolVar(&c.logJSON, "log-json", false, "log JSON lines instead of text")
	fs.IntVar(&c.gcPercent, "gc-percent", 400, "Go GC target (as GOGC): higher trades memory for fewer collections and a lower latency tail; ignored when GOGC is set")
	fs.StringVar(&c.streamData, "stream-data-topic", "", "also score every JSON row of this Kafka topic with the first --model (stream scoring)")
	fs.StringVar(&c.streamOut, "stream-predictions-topic", "", "where stream scoring writes {kept columns, model_version, score} rows")
	fs.StringVar(&c.streamDLQ, "dead-letter-topic", "", "stream scoring: where data rows that do not decode go, with the reason in a header")
	cliconfig.Alias(fs, "stream-dead-letter-topic", "dead-letter-topic") // the spelling before 2026-12, named as in trainer stream and worker now; remove in the next release
	fs.StringVar(&c.streamGroup, "stream-group", "lakestream-predictor", "consumer group of the data topic")
	fs.StringVar(&c.streamKeep, "stream-keep", "", "data columns copied to each prediction, NAME:string or NAME:int64, comma-separated (e.g. request_id:string)")
	fs.StringVar(&c.streamTxnID, "stream-transactional-id", "", "write predictions in Kafka transactions with this id prefix (exactly-once output; commits at each checkpoint)")
	fs.DurationVar(&c.streamCkpt, "stream-checkpoint-interval", 10*time.Second, "checkpoint the stream-scoring job into the lake (checkpoints/<job>/) this often, and restore from the latest on start; 0 disables")
	cliconfig.Secret(fs, "token")
	cliconfig.SetUsage(fs, "Usage: predictor --lake LAKE --model NAME[@ALIAS|@VERSION] [flags]",
		"Serves models over the Open Inference Protocol v2 (gRPC, and HTTP/JSON with --http-listen), following registry aliases.\nExit codes: 0 stopped cleanly (and -h, --version), 1 failure, 2 usage error.")
	if err := cliconfig.Parse(fs, args, lookupEnv); err != nil {
		return c, err
	}
	if *showVersion {
		fmt.Println("predictor", cliconfig.Version())
		return c, errVersion
	}
	usage := func(msg string) error { return &cliconfig.UsageError{Msg: msg} }
	switch {
	case c.lake == "":
		return c, usage("--lake is required (or set LAKESTREAM_LAKE)")
	case len(c.models) == 0:
		return c, usage("name at least one --model")
	case c.poll < 0:
		return c, usage(fmt.Sprintf("--poll %v: want a positive interval (polling is the fallback when announcements are missed)", c.poll))
	case c.maxBatch < 1 || c.maxReqBytes < 1 || c.maxInFlight < 1:
		return c, usage("--max-batch, --max-request-bytes and --max-inflight must be at least 1")
	case (c.tlsCert == "") != (c.tlsKey == ""):
		return c, usage("--tls-cert and --tls-key go together")
	case c.streamData != "" && (c.streamOut == "" || c.streamDLQ == "" || c.brokers == ""):
		return c, usage("--stream-data-topic needs --stream-predictions-topic, --dead-letter-topic and --kafka-brokers")
	case c.streamTxnID != "" && c.streamCkpt <= 0:
		return c, usage("--stream-transactional-id commits at checkpoints: set --stream-checkpoint-interval > 0")
	}
	return c, nil
}

func run(args []string) error {
	c, err := parseFlags(args)
	if err != nil {
		return err
	}
	var handler slog.Handler = slog.NewTextHandler(os.Stderr, nil)
	if c.logJSON {
		handler = slog.NewJSONHandler(os.Stderr, nil)
	}
	log := slog.New(handler)
	slog.SetDefault(log)
	// Request handling allocates per request (protobuf, Arrow builders); with
	// the default GOGC=100 the collector runs often enough to show in the
	// p99. Models are small next to the heap headroom this buys.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(c.gcPercent)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	store, err := lake.Open(ctx, c.lake)
	if err != nil {
		return fmt.Errorf("--lake %s: %w", c.lake, err)
	}
	// A trainer creates a local lake on first write; a predictor only
	// reads, so a missing folder is a mistake in --lake.
	if l, ok := store.(*lake.Local); ok {
		if _, err := os.Stat(l.Root()); err != nil {
			return fmt.Errorf("--lake %s: %w (the folder a trainer published the models to)", c.lake, err)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	engine, err := serve.NewEngine(serve.NewRegistryLoader(store), c.models, serve.WithLogger(log), serve.WithMetrics(serve.NewMetrics(reg)))
	if err != nil {
		return err
	}
	svc := serve.NewService(engine, serve.ServerConfig{
		Name: "lakestream-predictor", Version: cliconfig.Version(),
		MaxBatch: c.maxBatch, MaxRequestBytes: c.maxReqBytes, MaxInFlight: c.maxInFlight, Token: c.token,
	})
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "lakestream_predictor_refused_total",
		Help: "Requests (gRPC and HTTP) refused at once because --max-inflight requests were in flight.",
	}, func() float64 { return float64(svc.Refused()) }))
	opts := svc.ServerOptions()
	var tlsConfig *tls.Config
	if c.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey)
		if err != nil {
			return fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		opts = append(opts, grpc.Creds(credentials.NewTLS(tlsConfig.Clone())))
	}
	gs := grpc.NewServer(opts...)
	svc.Register(gs)

	// Load what the registry designates now. A model that cannot load yet
	// is not fatal: health stays NOT_SERVING and the watch keeps trying.
	if err := engine.RefreshAll(ctx); err != nil {
		log.Warn("initial load incomplete; health is NOT_SERVING until it loads", "err", err)
	}
	svc.UpdateHealth()

	watch := serve.WatchConfig{Poll: c.poll, OnChange: svc.UpdateHealth}
	if c.brokers != "" {
		// Announcements only make swaps faster: while Kafka is unreachable
		// the predictor serves and finds new versions by polling.
		ka := serve.NewRetryingAnnouncements(c.modelTopic, 10*time.Second, kgo.SeedBrokers(strings.Split(c.brokers, ",")...))
		defer ka.Close()
		watch.Announcements = ka
	}

	lis, err := net.Listen("tcp", c.listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", c.listen, err)
	}
	log.Info("predictor serving", "grpc", lis.Addr().String(), "models", engine.Models(), "lake", c.lake)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return gs.Serve(lis) })
	g.Go(func() error {
		err := serve.Watch(gctx, engine, watch)
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	})
	if c.streamData != "" {
		job, err := streamJob(ctx, c, store)
		if err != nil {
			return err
		}
		g.Go(func() error {
			sum, err := job.Run(gctx)
			if errors.Is(err, context.Canceled) {
				err = nil
			}
			log.Info("stream scoring stopped", "summary", sum)
			return err
		})
	}
	var restSrv *http.Server
	if c.httpListen != "" {
		hl, err := net.Listen("tcp", c.httpListen)
		if err != nil {
			return fmt.Errorf("--http-listen %s: %w", c.httpListen, err)
		}
		restSrv = &http.Server{Handler: svc.HTTPHandler(), ReadHeaderTimeout: 5 * time.Second}
		log.Info("predictor serving HTTP", "http", hl.Addr().String())
		g.Go(func() error {
			var err error
			if restSrv.TLSConfig = tlsConfig; tlsConfig != nil {
				err = restSrv.ServeTLS(hl, "", "")
			} else {
				err = restSrv.Serve(hl)
			}
			if !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("--http-listen %s: %w", c.httpListen, err)
			}
			return nil
		})
	}
	var metricsSrv *http.Server
	if c.metrics != "" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
		metricsSrv = &http.Server{Addr: c.metrics, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		g.Go(func() error {
			if err := metricsSrv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("--metrics-listen %s: %w", c.metrics, err)
			}
			return nil
		})
	}
	g.Go(func() error {
		<-gctx.Done()
		log.Info("stopping: draining in-flight requests")
		svc.Shutdown()
		drained := make(chan struct{})
		go func() { gs.GracefulStop(); close(drained) }()
		select {
		case <-drained:
		case <-time.After(30 * time.Second):
			log.Warn("requests still running after 30s; closing their connections")
			gs.Stop()
		}
		if restSrv != nil {
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			restSrv.Shutdown(sctx)
			cancel()
		}
		if metricsSrv != nil {
			metricsSrv.Close()
		}
		return nil
	})
	return g.Wait()
}

// streamJob builds the stream-scoring job for the first --model.
func streamJob(ctx context.Context, c config, store lake.Store) (*datastream.Job, error) {
	ref := c.models[0]
	loader := serve.NewRegistryLoader(store)
	v, err := loader.Resolve(ctx, ref.Name, cmp.Or(ref.Ref, "champion"))
	if err != nil {
		return nil, fmt.Errorf("stream scoring: %w", err)
	}
	m, err := loader.Load(ctx, ref.Name, v)
	if err != nil {
		return nil, fmt.Errorf("stream scoring: %w", err)
	}
	var keep []arrow.Field
	for _, spec := range strings.Split(c.streamKeep, ",") {
		if spec == "" {
			continue
		}
		name, typ, _ := strings.Cut(spec, ":")
		switch typ {
		case "string", "":
			keep = append(keep, arrow.Field{Name: name, Type: arrow.BinaryTypes.String, Nullable: true})
		case "int64":
			keep = append(keep, arrow.Field{Name: name, Type: arrow.PrimitiveTypes.Int64, Nullable: true})
		default:
			return nil, fmt.Errorf("--stream-keep %s: type %q, want string or int64", spec, typ)
		}
	}
	windows, windowInputs, err := serve.WindowsOf(m)
	if err != nil {
		return nil, fmt.Errorf("stream scoring: %w", err)
	}
	return serve.NewStreamJob(serve.StreamConfig{
		Brokers: strings.Split(c.brokers, ","), DataTopic: c.streamData, ModelTopic: c.modelTopic,
		PredictionsTopic: c.streamOut, DeadLetterTopic: c.streamDLQ, Group: c.streamGroup,
		Model: ref, Keep: keep, TransactionalID: c.streamTxnID, Windows: windows, WindowInputs: windowInputs,
	}, loader, m.Schema(), m.Outputs(), jobOpts(c, store)...)
}

func jobOpts(c config, store lake.Store) []datastream.Option {
	if c.streamCkpt <= 0 {
		return nil
	}
	return []datastream.Option{
		datastream.WithCheckpoints(datastream.ObjectCheckpoints(store, lake.ErrNotExist), c.streamCkpt, 3),
		datastream.WithRestore(),
	}
}
