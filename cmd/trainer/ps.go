package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/paramserver"
	"github.com/lakestream/lakestream/train"
	"github.com/lakestream/lakestream/train/job"
)

// clusterFlags are the flags shared by "trainer ps" and "trainer worker":
// the shard map and the security settings of every gRPC endpoint.
type clusterFlags struct {
	shards   string
	token    string
	tlsCert  string
	tlsKey   string
	tlsCA    string
	maxMsg   int
	timeout  time.Duration
	shardMap []string
}

func (c *clusterFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.shards, "shards", "", "comma-separated shard addresses host:port in shard order (the job's shard map)")
	fs.StringVar(&c.token, "token", "", "shared token required on every parameter-server call (use with TLS off a trusted network)")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "PEM certificate the ps serves (enables TLS)")
	fs.StringVar(&c.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&c.tlsCA, "tls-ca", "", "PEM CA bundle to verify shards with (enables TLS for clients)")
	fs.IntVar(&c.maxMsg, "max-msg-bytes", paramserver.DefaultMaxMsgBytes, "gRPC message-size limit; clients split larger requests")
	fs.DurationVar(&c.timeout, "rpc-timeout", 30*time.Second, "deadline of each parameter-server call")
}

// finish checks the flags; needShards says the shard map is required.
func (c *clusterFlags) finish(needShards bool) error {
	if c.shards != "" {
		for _, a := range strings.Split(c.shards, ",") {
			if a = strings.TrimSpace(a); a == "" {
				return &usageError{fmt.Sprintf("--shards %q: empty address", c.shards)}
			}
			c.shardMap = append(c.shardMap, strings.TrimSpace(a))
		}
	}
	if needShards && len(c.shardMap) == 0 {
		return &usageError{"--shards is required (comma-separated host:port of every shard, in shard order)"}
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return &usageError{"--tls-cert and --tls-key go together"}
	}
	return nil
}

func (c *clusterFlags) serverTLS() (*tls.Config, error) {
	if c.tlsCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert %s / --tls-key %s: %w", c.tlsCert, c.tlsKey, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

func (c *clusterFlags) clientConfig() (paramserver.ClientConfig, error) {
	cfg := paramserver.ClientConfig{Shards: c.shardMap, Token: c.token, MaxMsgBytes: c.maxMsg, Timeout: c.timeout}
	if c.tlsCA != "" {
		pem, err := os.ReadFile(c.tlsCA)
		if err != nil {
			return cfg, fmt.Errorf("--tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return cfg, fmt.Errorf("--tls-ca %s: no PEM certificate", c.tlsCA)
		}
		cfg.TLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return cfg, nil
}

// dial connects to every shard of --shards, waiting up to 2 minutes for
// them to come up (pods of one job start in any order).
func (c *clusterFlags) dial(ctx context.Context) (*paramserver.Client, error) {
	ccfg, err := c.clientConfig()
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return paramserver.Dial(dctx, ccfg)
}

// dialAsync is dial for stream workers, which train asynchronously: shards
// of another consistency are refused.
func (c *clusterFlags) dialAsync(ctx context.Context) (*paramserver.Client, error) {
	ps, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	mode, err := shardsConsistency(ctx, ps)
	if err == nil && mode != paramserver.Async {
		err = &usageError{fmt.Sprintf("--topic trains asynchronously, but the shards' consistency is %s: start them with "+
			"\"trainer ps --consistency async\". Per-step barriers (sync, ssp) would let a worker whose partitions are quiet stop the others", mode)}
	}
	if err != nil {
		ps.Close()
		return nil, err
	}
	return ps, nil
}

// parseShard parses "i/n".
func parseShard(s string) (int, int, error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return 0, 0, &usageError{fmt.Sprintf("--shard %q: want i/n with 0 ≤ i < n, e.g. 0/2", s)}
	}
	return i, n, nil
}

// psModel builds the job's model from its flags, as "trainer train" does,
// so that shards and workers declare the same tables.
func psModel(j *trainJob) (train.Model, error) {
	if j.warm != "" {
		// Every shard loads its share of the base when it starts.
		if _, _, err := job.PinnedRef(j.warm); err != nil {
			return nil, &usageError{err.Error()}
		}
	}
	c := j.config()
	m, mc, err := job.NewModel(&c)
	if err != nil {
		return nil, &usageError{err.Error()}
	}
	j.model = mc // the workers build their models from it
	if err := j.opt.Validate(); err != nil {
		return nil, &usageError{fmt.Sprintf("optimizer: %v", err)}
	}
	return m, nil
}

// runPS is the "trainer ps" subcommand: one parameter-server shard, and on
// shard 0 with --coordinate the job's coordinator and clock table.
func runPS(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("ps", flag.ContinueOnError)
	finish := trainFlags(fs)
	var cl clusterFlags
	cl.register(fs)
	shard := fs.String("shard", "", "this shard as i/n (required), e.g. 0/2")
	listen := fs.String("listen", "127.0.0.1:7070", "address to serve gRPC on")
	coordinateFlag := fs.Bool("coordinate", false, "run the job's coordinator and clock table on shard 0 (other shards accept and ignore it, so one Kubernetes StatefulSet template serves every shard)")
	consistency := fs.String("consistency", paramserver.Sync, "consistency model: sync, ssp or async (give the same to every shard)")
	staleness := fs.Int64("staleness", 0, "ssp: steps a worker may run ahead of the slowest")
	workers := fs.Int("workers", 1, "coordinator: workers that must register before any split is handed out (and, under sync and ssp, join before the first barrier)")
	prefix := fs.String("checkpoint-prefix", "checkpoints/ps", "lake folder of parameter-server checkpoints")
	every := fs.Int("checkpoint-every", 0, "coordinator: checkpoint after this many completed splits (0: at start and epoch ends)")
	keep := fs.Int("keep-checkpoints", paramserver.DefaultKeepCheckpoints, "coordinator: complete checkpoints kept under --checkpoint-prefix (at least 1); older ones, an earlier run's included, are deleted once a new one is written (give each job its own --checkpoint-prefix)")
	lease := fs.Duration("lease", 10*time.Second, "coordinator: a worker silent for this long is dead and its split reassigned")
	expireEvery := fs.Duration("expire-every", time.Minute, "how often to drop rows past their table's TTL")
	var pf promoteFlags
	pf.register(fs)
	var sf psStreamFlags
	sf.register(fs)
	// One flag, two uses on the coordinator: the topic of a --topic job and
	// the announcements of --promote.
	fs.Lookup("kafka-brokers").Usage = "Kafka seed brokers host:port[,...]: the topic of a --topic stream job, and the model topic where --promote announces a promotion so predictors load it at once (env LAKESTREAM_KAFKA_BROKERS)"
	if err := parseConfig(fs, args, nil); err != nil {
		return err
	}
	if *keep < 1 {
		return &usageError{fmt.Sprintf("--keep-checkpoints %d: want at least 1 (the newest checkpoint is what a recovery restores)", *keep)}
	}
	if sf.topic == "" {
		if err := pf.check(args, "trainer ps --output"); err != nil {
			return err
		}
	} else if err := sf.check(args, *consistency); err != nil {
		return err
	}
	j, err := finish()
	if err != nil {
		return err
	}
	if err := cl.finish(*coordinateFlag); err != nil {
		return err
	}
	if *shard == "" {
		return &usageError{"--shard is required, e.g. --shard 0/2"}
	}
	i, n, err := parseShard(*shard)
	if err != nil {
		return err
	}
	coordinate := *coordinateFlag && i == 0
	cc := paramserver.ConsistencyConfig{Mode: *consistency, Staleness: *staleness, Workers: *workers}
	if err := cc.Validate(); err != nil {
		return &usageError{err.Error()}
	}
	j.promote = pf.promotion(j)
	if j.warm != "" {
		if _, _, err := job.PinnedRef(j.warm); err != nil {
			return &usageError{err.Error()}
		}
	}
	// --patience is a job flag like --epochs: every process of the job is
	// given it, the coordinator applies it.
	if j.run.Patience > 0 && j.valDT == "" {
		return &usageError{"--patience needs --validation-dt: the days the coordinator validates every epoch on"}
	}
	if j.output != "" || j.promote != nil {
		if !*coordinateFlag {
			return &usageError{"--output: the coordinator saves a distributed job's model: give --output (and --promote) with --coordinate (shard 0 runs it; the other shards accept them, so one template serves every shard)"}
		}
		if err := model.ValidateName(j.output); j.output != "" && err != nil {
			return &usageError{fmt.Sprintf("--output: %v", err)}
		}
		c := j.config()
		if err := c.Validate(); err != nil {
			return &usageError{err.Error()}
		}
	}
	log := newLogger(os.Stderr).With("shard", *shard)
	var m train.Model
	var cj *coordinatorJob
	if coordinate && (j.output != "" || j.run.Patience > 0) {
		// Plan the job as its workers do, before any of them can
		// register: the data, the fitted spec and the model the version
		// is saved with are checked now, not after training.
		cj = &coordinatorJob{j: j, pf: &pf, log: log, stdout: stdout}
		if cj.lk, cj.filter, cj.plan, cj.model, err = j.workerSetup(ctx, "training"); err != nil {
			return err
		}
		cj.es = train.EarlyStopping{Metric: cmp.Or(j.run.Metric, train.DefaultMetric(cj.model)), Patience: j.run.Patience, MinDelta: j.run.MinDelta}
		m = cj.model
	} else if m, err = psModel(j); err != nil {
		return err
	}
	// Under sync every shard aggregates a step's pushes and applies them once
	// at the barrier (workers call Flush), so --consistency is given to
	// every shard, not only the coordinating one.
	store, err := paramserver.New(paramserver.Config{Tables: job.TableSpecs(m, j.opt, j.seed, j.warm != ""), Shard: i, Shards: n,
		Deferred: *consistency == paramserver.Sync})
	if err != nil {
		return err
	}
	lk, err := lake.Open(ctx, j.lakeURI)
	if err != nil {
		return fmt.Errorf("--lake: %w", err)
	}
	if j.warm != "" {
		from, err := job.WarmStartShard(ctx, lk, j.warm, store, m, i, n)
		if err != nil {
			return err
		}
		if cj != nil {
			cj.warm = from
		}
		log.Info("warm start", "from", from)
	}
	srvTLS, err := cl.serverTLS()
	if err != nil {
		return err
	}
	scfg := paramserver.ServerConfig{Store: store, Consistency: cc, Lake: lk, SnapshotPrefix: *prefix, Token: cl.token, TLS: srvTLS,
		MaxMsgBytes: cl.maxMsg, ExpireEvery: *expireEvery, Logger: log}
	var co *paramserver.Coordinator
	var sco *paramserver.StreamCoordinator
	var spub *streamPublisher
	if coordinate && sf.topic != "" {
		if len(cl.shardMap) != n {
			return &usageError{fmt.Sprintf("--shards lists %d addresses, --shard says %d shards", len(cl.shardMap), n)}
		}
		pub, err := newStreamPublisher(ctx, j, cj, &pf, sf, lk, log, stdout)
		if err != nil {
			return err
		}
		if sco, err = newStreamCoordinator(ctx, sf, pf.ann.brokers, *workers, *lease, lk, *prefix, *keep, pub, log); err != nil {
			return err
		}
		spub = pub
		scfg.StreamCoordinator = sco
	} else if coordinate {
		if scfg.Clocks, err = paramserver.NewClocks(cc); err != nil {
			return err
		}
		if len(cl.shardMap) != n {
			return &usageError{fmt.Sprintf("--shards lists %d addresses, --shard says %d shards", len(cl.shardMap), n)}
		}
		ccfg := paramserver.CoordinatorConfig{Epochs: j.run.Epochs, LeaseTTL: *lease, Workers: *workers,
			CheckpointEvery: *every, Clocks: scfg.Clocks, Lake: lk, Prefix: *prefix, Keep: *keep, Logger: log}
		if cj != nil && j.valDT != "" {
			ccfg.EpochEnd = cj.epochEnd
		}
		co, err = paramserver.NewCoordinator(ccfg)
		if err != nil {
			return err
		}
		if cj != nil {
			cj.co = co
		}
		scfg.Coordinator = co
	}
	srv, err := paramserver.NewServer(scfg)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", *listen, err)
	}
	log.Info("parameter server listening", "addr", lis.Addr().String(), "tables", len(store.Tables()), "coordinator", coordinate)
	fmt.Fprintf(stdout, "ps shard %d/%d listening on %s\n", i, n, lis.Addr())
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Serve(gctx, lis) })
	if co != nil {
		g.Go(func() error { return runCoordinator(gctx, co, cl, log, stdout, cj) })
	}
	if sco != nil {
		g.Go(func() error { return runStreamCoordinator(gctx, sco, cl, spub, stdout) })
	}
	if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// runCoordinator connects the coordinator to every shard (including this one)
// for checkpoints and drives it until the job finishes, then saves the model
// when cj has an --output. The shard keeps serving afterwards so the trained
// tables can be read.
func runCoordinator(ctx context.Context, co *paramserver.Coordinator, cl clusterFlags, log *slog.Logger, stdout io.Writer, cj *coordinatorJob) error {
	client, err := cl.dial(ctx)
	if err != nil {
		return fmt.Errorf("coordinator: %w", err)
	}
	defer client.Close()
	if cj != nil {
		cj.client = client // before Run, which calls cj.epochEnd
	}
	co.SetShards(client)
	if err := co.Run(ctx, 0); err != nil {
		return err
	}
	st := co.Status()
	log.Info("job finished", "epochs", st.Epoch+1, "splits", st.Splits, "checkpoints", st.Checkpoints)
	fmt.Fprintf(stdout, "job finished: %d epochs of %d splits, %d checkpoints\n", st.Epoch+1, st.Splits, st.Checkpoints)
	if cj != nil && cj.j.output != "" {
		if err := cj.save(ctx); err != nil {
			return err
		}
	}
	<-ctx.Done()
	return nil
}

// coordinatorJob is the coordinating shard's part of a job with --output or
// --patience: the job planned as its workers plan it, the validation of
// every epoch and the save at the end.
type coordinatorJob struct {
	j      *trainJob
	pf     *promoteFlags
	log    *slog.Logger
	stdout io.Writer
	lk     lake.Store
	filter dataset.Filter
	plan   *dataset.Plan
	model  train.Model
	co     *paramserver.Coordinator
	client *paramserver.Client // the shards; set before the coordinator runs
	es     train.EarlyStopping
	warm   string // the version the shards started from, name@N
	// best is the checkpoint of the best epoch so far, and examples the
	// rows trained into it.
	best     string
	bestEp   int
	examples int64
}

// epochEnd is the coordinator's EpochEnd: it validates the epoch's tables
// on the --validation-dt days, applies --patience, and before the job ends
// (early or after its last epoch) restores the best epoch's checkpoint on
// every shard when a later epoch was worse, so the workers' last validation
// and the saved model are the best epoch's, as in "trainer train".
func (cj *coordinatorJob) epochEnd(ctx context.Context, epoch int, ckpt string) (bool, error) {
	m, err := cj.j.validate(ctx, cj.lk, cj.filter, cj.client)
	if err != nil {
		return false, fmt.Errorf("validate epoch %d: %w", epoch+1, err)
	}
	best, stop := cj.es.Observe(epoch, &m)
	// Six decimals (formatMetrics has four): epochs a patience compares.
	switch {
	case m.RMSE > 0:
		fmt.Fprintf(cj.stdout, "epoch %d validation: rmse %.6f  mae %.6f  (%d examples)\n", epoch+1, m.RMSE, m.MAE, m.Examples)
	case m.Accuracy > 0:
		fmt.Fprintf(cj.stdout, "epoch %d validation: accuracy %.6f  logloss %.6f  (%d examples)\n", epoch+1, m.Accuracy, m.LogLoss, m.Examples)
	default:
		fmt.Fprintf(cj.stdout, "epoch %d validation: auc %.6f  logloss %.6f  (%d examples)\n", epoch+1, m.AUC, m.LogLoss, m.Examples)
	}
	cj.log.Info("epoch validated", "epoch", epoch+1, "auc", m.AUC, "logloss", m.LogLoss, "best_epoch", cj.es.BestEpoch()+1, "stop", stop)
	if best {
		cj.best, cj.bestEp, cj.examples = ckpt, epoch, cj.co.Status().Examples
		cj.co.Pin(ckpt) // restored at the end if a later epoch is worse
	}
	if (stop || epoch+1 >= cj.j.run.Epochs) && !best {
		if err := cj.client.Restore(ctx, cj.best); err != nil {
			return false, fmt.Errorf("restore the best epoch (%d, checkpoint %s): %w", cj.bestEp+1, cj.best, err)
		}
		cj.log.Info("restored the best epoch's tables", "epoch", cj.bestEp+1, "checkpoint", cj.best)
	}
	if stop {
		fmt.Fprintf(cj.stdout, "early stopping after epoch %d: the best is epoch %d\n", epoch+1, cj.bestEp+1)
	}
	return stop, nil
}

// save saves the model the shards trained as the next version of --output,
// with the validation metrics of the exported model (the rows no worker
// trained read as zeros, as in the artifact), and with --promote judges,
// promotes and announces it as "trainer train" does. A version the gate
// refuses is reported, and the shard serves on.
func (cj *coordinatorJob) save(ctx context.Context) error {
	j, stdout, log := cj.j, cj.stdout, cj.log
	sj := &job.ShardJob{Config: j.config(), Spec: j.spec, Plan: cj.plan, Model: cj.model, ModelConfig: j.model,
		Examples: cj.co.Status().Examples, Epoch: cj.co.Status().Epoch, WarmStart: cj.warm}
	if cj.best != "" {
		sj.Examples, sj.Epoch = cj.examples, cj.bestEp
	}
	if j.valDT != "" {
		v, err := j.validate(ctx, cj.lk, cj.filter, cj.client)
		if err != nil {
			return fmt.Errorf("validate the model of --output %s: %w", j.output, err)
		}
		sj.Validation = &v
		fmt.Fprintf(stdout, "validation (epoch %d): %s\n", sj.Epoch+1, formatMetrics(v))
	}
	start := time.Now()
	v, exported, err := job.SaveShards(ctx, cj.lk, cj.client, sj)
	if err != nil {
		return err
	}
	log.Info("model saved", "model", j.output, "version", v.Version, "export", exported.Round(time.Millisecond), "total", time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(stdout, "saved models/%s/%d\n", j.output, v.Version)
	var rejected *gateRejected
	if err := cj.pf.report(stdout, j.output, &v); errors.As(err, &rejected) {
		log.Warn("the gate refused the version; the champion stays", "model", j.output, "version", v.Version, "reason", v.Decision.Reason)
	} else if err != nil {
		return err
	}
	return nil
}
