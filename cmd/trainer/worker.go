package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/paramserver"
	"github.com/lakestream/lakestream/paramserver/psworker"
	"github.com/lakestream/lakestream/train"
	"github.com/lakestream/lakestream/train/feature"
	"github.com/lakestream/lakestream/train/job"
)

// worker is one data-parallel training process: it asks the coordinator for
// splits, trains each with the trainer's Stepper against the sharded
// parameter server, and reports progress before every push.
//
// Under sync, one clock is one optimizer update on the sum of the W
// workers' pushes (the Stepper pushes the gradient summed over its rows, so
// the sum is the gradient of all of the step's rows), one mini-batch from
// each worker's current split. So the job's --batch-size b is the global
// batch there: each worker takes ⌈b/W⌉ rows, W being the coordinator's
// --workers quorum (--worker-batch-size overrides). The result is the
// single-process optimizer on about the same number of rows per step in
// another row order; for a model whose quality depends on the row order
// (FM: see TestDistributedMatchesSingleProcess) it is the same model as
// "trainer train" only once both have converged. Under ssp and async every
// push is an update of its own, and --batch-size is each worker's.
type worker struct {
	name     string
	job      *trainJob
	plan     *dataset.Plan
	splits   []dataset.Split
	model    train.Model
	ps       *paramserver.Client
	proto    *psworker.Worker
	async    bool // no clock barriers: steps pipeline
	batch    int  // rows per mini-batch of this worker
	log      *slog.Logger
	examples int64
	batches  int64
}

// runWorker is the "trainer worker" subcommand.
func runWorker(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	finish := trainFlags(fs)
	var cl clusterFlags
	cl.register(fs)
	coordAddr := fs.String("coordinator", "", "address of the coordinator (the ps running --coordinate), host:port (required, except for a consumer-group stream worker: --topic --group)")
	host, _ := os.Hostname()
	name := fs.String("name", fmt.Sprintf("%s-%d", host, os.Getpid()), "this worker's unique name in the job")
	heartbeat := fs.Duration("heartbeat", 2*time.Second, "how often to renew the lease while training (well under the coordinator's --lease)")
	workerBatch := fs.Int("worker-batch-size", 0, "rows per mini-batch of this worker (default: --batch-size under ssp and async; ⌈--batch-size / the coordinator's --workers⌉ under sync, where --batch-size is the global batch)")
	var sf streamFlags
	sf.register(fs)
	index := fs.Int("worker-index", -1, "stream mode with --coordinator (exactly-once): this worker's index 0..W-1 in the job (W: the coordinator's --workers); it reads the partitions p with p mod W = index")
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintln(out, "Usage: trainer worker --shards host:port[,...] --token T --lake L --data TABLE --spec SPEC [flags]")
		fmt.Fprintln(out, "Joins a distributed training job and trains against the parameter-server shards. Two modes:")
		fmt.Fprintln(out, "  Parquet:  --coordinator host:port   train the splits (row groups of --data) the coordinator hands out")
		fmt.Fprintln(out, "  Kafka:    --topic T --kafka-brokers B train the topic's JSON rows; the consumer group (--group) spreads")
		fmt.Fprintln(out, "            the partitions over the running workers and rebalances when one dies or joins. Offsets")
		fmt.Fprintln(out, "            are committed only after the shards acknowledged the records' gradients (at-least-once).")
		fmt.Fprintln(out, "            Needs async shards (trainer ps --consistency async); --data types the JSON columns.")
		fmt.Fprintln(out, "  Kafka, exactly-once: --topic T --kafka-brokers B --coordinator host:port --worker-index i, with")
		fmt.Fprintln(out, "            \"trainer ps --coordinate --topic T\": worker i reads the partitions p with p mod W = i;")
		fmt.Fprintln(out, "            the coordinator's checkpoints hold every worker's offsets, and after any process dies")
		fmt.Fprintln(out, "            the job rolls back to the last one: no record is trained twice or lost.")
		fs.PrintDefaults()
	}
	if err := parseConfig(fs, args, nil); err != nil {
		return err
	}
	j, err := finish()
	if err != nil {
		return err
	}
	if err := cl.finish(true); err != nil {
		return err
	}
	if len(j.spec.Windows) > 0 {
		return &usageError{fmt.Sprintf("--spec %s: windowed features (%s) are computed by one operator over every row of a key, which a worker's share of the data is not: train them with \"trainer train\" or \"trainer stream\"", j.specPath, j.spec.Windows[0].Name)}
	}
	if j.warm != "" {
		if _, _, err := job.PinnedRef(j.warm); err != nil {
			return &usageError{err.Error()}
		}
	}
	if sf.topic != "" {
		if *workerBatch != 0 {
			return &usageError{"--worker-batch-size is for synchronous Parquet jobs; a stream worker trains in --batch-size mini-batches"}
		}
		if j.output != "" {
			return &usageError{"--output: workers do not write model versions; give --output to the coordinating shard (trainer ps --coordinate --topic --output), or train and publish from one process with \"trainer stream --output\""}
		}
		if j.run.Patience != 0 {
			return &usageError{"--patience: a stream worker trains one pass over the topic and does not stop early; drop it"}
		}
		if *coordAddr != "" {
			return runExactlyOnceWorker(ctx, args, j, cl, sf, *name, *coordAddr, *index, stdout)
		}
		if *index >= 0 {
			return &usageError{"--worker-index is for exactly-once stream jobs: give --coordinator too (the ps started with --coordinate --topic)"}
		}
		return runStreamWorker(ctx, j, cl, sf, *name, *coordAddr, stdout)
	}
	if *index >= 0 {
		return &usageError{"--worker-index is for exactly-once stream jobs (with --topic); Parquet workers take splits from the coordinator"}
	}
	if *coordAddr == "" {
		return &usageError{"--coordinator is required (the address of the ps started with --coordinate)"}
	}
	if j.output != "" {
		return &usageError{"--output: the coordinator saves a distributed job's model (a worker holds only the keys of its own splits): give --output to \"trainer ps --coordinate\""}
	}
	// --patience is a job flag like --epochs: the coordinator applies it.
	if j.run.Patience > 0 && j.valDT == "" {
		return &usageError{"--patience needs --validation-dt: the days the coordinator validates every epoch on"}
	}
	log := newLogger(os.Stderr).With("worker", *name)
	w := &worker{name: *name, job: j, log: log}
	lk, filter, plan, model, err := j.workerSetup(ctx, "training")
	if err != nil {
		return err
	}
	w.plan, w.splits, w.model = plan, plan.Splits(), model
	if w.ps, err = cl.dial(ctx); err != nil {
		return err
	}
	defer w.ps.Close()
	mode, err := shardsConsistency(ctx, w.ps)
	if err != nil {
		return err
	}
	w.async = mode == paramserver.Async
	ccfg, err := cl.clientConfig()
	if err != nil {
		return err
	}
	coord, err := paramserver.DialCoordinator(*coordAddr, ccfg)
	if err != nil {
		return err
	}
	defer coord.Close()
	w.proto, err = psworker.New(psworker.Config{Name: w.name, Splits: len(w.splits), Coordinator: coord, Clocks: w.ps, Generations: w.ps,
		Mode: mode, Heartbeat: *heartbeat, Logger: log})
	if err != nil {
		return err
	}
	quorum, err := w.proto.Register(ctx)
	if err != nil {
		return err
	}
	if w.batch, err = workerBatchSize(j.batchSize, *workerBatch, quorum, mode == paramserver.Sync); err != nil {
		return err
	}
	w.log.Info("registered", "consistency", mode, "batch_size", w.batch, "job_batch_size", j.batchSize, "workers", quorum)
	start := time.Now()
	st := train.NewStepper(w.model, w.ps, w.job.run.ClipNorm)
	if err := w.proto.Run(ctx, func(ctx context.Context, l *psworker.Lease) error { return w.trainSplit(ctx, st, l) }); err != nil {
		return err
	}
	d := time.Since(start)
	fmt.Fprintf(stdout, "worker %s trained %d examples in %d batches in %s (%s examples/s)\n",
		w.name, w.examples, w.batches, d.Round(time.Millisecond), rate(w.examples, d))
	if j.valDT != "" {
		m, err := j.validate(ctx, lk, filter, w.ps)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "validation auc %.6f  logloss %.6f  (%d examples)\n", m.AUC, m.LogLoss, m.Examples)
	}
	return nil
}

// shardsConsistency returns the consistency model the shards report, and
// fails when they disagree or none is stated: a worker that took sync
// shards for async ones would skip the barriers.
func shardsConsistency(ctx context.Context, ps *paramserver.Client) (string, error) {
	infos, err := ps.Info(ctx)
	if err != nil {
		return "", err
	}
	mode := infos[0].Consistency
	for i, in := range infos {
		if in.Consistency != mode {
			return "", fmt.Errorf("the shards disagree on the consistency model: shard 0 runs %q, shard %d %q: give every \"trainer ps\" the same --consistency",
				mode, i, in.Consistency)
		}
	}
	if mode == "" {
		return "", errors.New("the shards state no consistency model: start them with \"trainer ps --consistency sync|ssp|async\"")
	}
	return mode, nil
}

// workerSetup opens the job's lake, plans its --where and --dt rows (what
// names them in errors), fits the spec's standardization on them and builds
// the model whose tables the shards hold: what every kind of worker needs.
func (j *trainJob) workerSetup(ctx context.Context, what string) (lake.Store, dataset.Filter, *dataset.Plan, train.Model, error) {
	lk, err := lake.Open(ctx, j.lakeURI)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("--lake: %w", err)
	}
	filter, err := dataset.ParseWhere(j.where)
	if err != nil {
		return nil, nil, nil, nil, &usageError{fmt.Sprintf("--where: %v", err)}
	}
	dts, err := job.DTFilter(j.dt)
	if err != nil {
		return nil, nil, nil, nil, &usageError{err.Error()}
	}
	c := j.config()
	plan, err := job.Plan(ctx, lk, &c, append(filter, dts...), what)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if j.spec, err = job.FitSpec(ctx, j.spec, plan); err != nil {
		return nil, nil, nil, nil, err
	}
	m, err := psModel(j)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	return lk, filter, plan, m, nil
}

// workerBatchSize returns the rows of one worker's mini-batch: explicit
// when --worker-batch-size is set, else the job's --batch-size, which under
// sync is the global batch of a step, split over the quorum of workers.
func workerBatchSize(jobBatch, explicit, quorum int, sync bool) (int, error) {
	switch {
	case explicit < 0:
		return 0, &usageError{fmt.Sprintf("--worker-batch-size %d: want ≥ 1 (or 0 for the default)", explicit)}
	case explicit > 0:
		return explicit, nil
	case sync:
		return psworker.SyncBatch(jobBatch, quorum), nil
	}
	return jobBatch, nil
}

// trainSplit trains one leased split from its recorded progress: each
// mini-batch's rows are recorded with the coordinator before its gradients
// are pushed, and the lease's barrier ends every step (the psworker
// protocol). Async workers pipeline instead of waiting at barriers.
func (w *worker) trainSplit(ctx context.Context, st *train.Stepper, l *psworker.Lease) error {
	a := l.Assignment()
	sc := w.plan.Scan(ctx, []dataset.Split{w.splits[a.Split]}, dataset.ScanOptions{BatchSize: 8192,
		ShuffleBuffer: w.job.shuffle, Seed: w.job.seed + uint64(a.Epoch)<<32 + uint64(a.Split)})
	fz, err := feature.NewFeaturizer(w.job.spec)
	if err != nil {
		sc.Close()
		return err
	}
	bs := train.NewSourceBatches(sc, fz, w.batch)
	defer bs.Close()
	var src train.Batches = bs
	step := func(b *train.Batch) error {
		if _, err := st.Step(ctx, b); err != nil {
			return err
		}
		return l.Barrier(ctx)
	}
	if w.async {
		// Pipelined: while the worker trains batch t, a goroutine decodes
		// and featurizes the batches after t+1, and the round trip that
		// pushes t's gradients pulls t+1's rows (Stepper.StepAhead), so a
		// step costs one round trip. This is exact only because async
		// shards apply a push at once; a sync shard applies it at the
		// barrier's Flush, after the pull, and ssp must wait at the clock.
		la := train.StartLookahead(ctx, bs, 2)
		defer la.Close() // runs before bs.Close: the reader uses bs
		defer st.DiscardAhead()
		src = la
		step = func(b *train.Batch) error {
			_, err := st.StepAhead(ctx, b, la.Peek())
			return err
		}
	}
	var rows int64
	for src.Next(ctx) {
		b := src.At()
		n := int64(b.Rows())
		if rows+n <= a.SkipRows {
			rows += n // trained by a worker that died
			continue
		}
		rows += n
		// Recorded before the step that pushes the batch (for async, the
		// round trip that also pulls the next one).
		if err := l.Progress(ctx, rows); err != nil {
			return err
		}
		if err := step(b); err != nil {
			return err
		}
		w.examples += n
		w.batches++
	}
	if err := src.Err(); err != nil {
		return fmt.Errorf("%s: %w", w.splits[a.Split], err)
	}
	return nil
}

// validate scores the validation days with the tables trained in store, as
// the exported model scores them.
func (j *trainJob) validate(ctx context.Context, lk lake.Store, filter dataset.Filter, store trainedPuller) (train.Metrics, error) {
	vdts, err := job.DTFilter(j.valDT)
	if err != nil {
		return train.Metrics{}, &usageError{err.Error()}
	}
	c := j.config()
	p, err := job.Plan(ctx, lk, &c, append(filter[:len(filter):len(filter)], vdts...), "validation")
	if err != nil {
		return train.Metrics{}, err
	}
	fz, err := feature.NewFeaturizer(j.spec)
	if err != nil {
		return train.Metrics{}, err
	}
	vb := train.NewSourceBatches(p.Scan(ctx, p.Splits(), dataset.ScanOptions{BatchSize: 8192}), fz, j.batchSize)
	// Score as the exported model would: features no worker trained read as
	// zero. The shards know which rows were trained; this process's Stepper
	// saw only its own splits, so the model is rebuilt without random
	// factor starts (which would make the Stepper zero every row it did
	// not train itself) and pulls trained rows only.
	mc := j.model
	mc.FactorStd = 0
	m, err := train.NewModel(mc)
	if err != nil {
		return train.Metrics{}, err
	}
	return train.Evaluate(ctx, train.NewStepper(m, trainedRows{store}, 0), vb)
}

// trainedPuller reads trained rows, with rows never pushed as zeros:
// *paramserver.Client (the shards) and *paramserver.Local both do.
type trainedPuller interface {
	PullTrained(ctx context.Context, table string, keys []uint64, dst []float32) error
}

// trainedRows is a read-only view of a store where rows never pushed read
// as zeros.
type trainedRows struct{ c trainedPuller }

func (t trainedRows) Pull(ctx context.Context, table string, keys []uint64, dst []float32) error {
	return t.c.PullTrained(ctx, table, keys, dst)
}

func (t trainedRows) Push(context.Context, string, []uint64, []float32) error {
	return errors.New("worker: validation does not push")
}
