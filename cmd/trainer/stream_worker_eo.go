package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/lakestream/lakestream/datastream/kafka"
	"github.com/lakestream/lakestream/paramserver"
	"github.com/lakestream/lakestream/paramserver/psworker"
	"github.com/lakestream/lakestream/train"
	"github.com/lakestream/lakestream/train/feature"
	"github.com/lakestream/lakestream/train/streamtask"
)

// runExactlyOnceWorker is "trainer worker --topic T --coordinator C
// --worker-index i": worker i of an exactly-once stream job
// (psworker.RunStream over a streamtask.Task). It runs until SIGTERM.
func runExactlyOnceWorker(ctx context.Context, args []string, j *trainJob, cl clusterFlags, sf streamFlags, name, coordAddr string,
	index int, stdout io.Writer) error {
	for _, f := range []string{"group", "commit-interval", "session-timeout", "max-records", "idle-exit"} {
		if onCommandLine(args, f) {
			return &usageError{fmt.Sprintf("--%s is for at-least-once stream workers (without --coordinator): with --coordinator the partitions are fixed by --worker-index and the coordinator's checkpoints hold the offsets", f)}
		}
	}
	if index < 0 {
		return &usageError{"--worker-index is required with --topic and --coordinator: this worker's index 0..W-1 (W: the coordinator's --workers)"}
	}
	_, dlq, brokers, err := sf.finish(j, "")
	if err != nil {
		return err
	}
	log := newLogger(os.Stderr).With("worker", name, "worker_index", index, "topic", sf.topic)
	w := &streamWorker{name: name, flags: sf, dlq: dlq, log: log}
	lk, filter, plan, model, err := j.workerSetup(ctx, "schema")
	if err != nil {
		return err
	}
	ps, err := cl.dialAsync(ctx)
	if err != nil {
		return err
	}
	defer ps.Close()

	if err := w.checkTopics(ctx, brokers); err != nil {
		return err
	}
	fz, err := feature.NewFeaturizer(j.spec)
	if err != nil {
		return err
	}
	scfg := kafka.DefaultSourceConfig()
	scfg.Brokers, scfg.Topic, scfg.Assignment, scfg.Start = brokers, sf.topic, kafka.AssignAll, kafka.StartEarliest
	scfg.Schema = decodeSchema(plan.Schema(), j.spec)
	scfg.DeadLetterTopic = dlq
	scfg.MaxBatchRows = max(j.batchSize, 1024)
	gate, err := newRowGate(j.spec, model)
	if err != nil {
		return err
	}
	scfg.Reject = gate.reject
	if err := scfg.Validate(); err != nil {
		return &usageError{err.Error()}
	}
	sink := train.NewSink(train.NewStepper(model, ps, j.run.ClipNorm), fz, j.batchSize)
	task := streamtask.New(scfg, sink)
	defer task.Close(context.WithoutCancel(ctx))
	ccfg, err := cl.clientConfig()
	if err != nil {
		return err
	}
	coord, err := paramserver.DialStreamCoordinator(coordAddr, ccfg)
	if err != nil {
		return err
	}
	defer coord.Close()
	start := time.Now()
	log.Info("exactly-once stream worker started", "coordinator", coordAddr, "dead_letter_topic", dlq)
	err = psworker.RunStream(ctx, psworker.StreamConfig{Index: index, Coordinator: coord, Task: task, Generations: ps, Logger: log})
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("stream worker %d on %s: %w", index, sf.topic, err)
	}
	st, d := sink.Stats(), time.Since(start)
	// Records trained after the last checkpoint are trained again by the
	// job after a rollback: this count is this process's work, the
	// coordinator's checkpoints count the job's.
	fmt.Fprintf(stdout, "worker %s (index %d) trained %d examples in %d batches in %s (%s examples/s); prequential loss %.6f\n",
		name, index, st.Examples, st.Steps, d.Round(time.Millisecond), rate(st.Examples, d), prequential(st, train.SinkStats{}))
	if j.valDT != "" {
		// SIGTERM is how a stream worker normally ends: validate the
		// shards' tables as they are.
		m, err := j.validate(context.WithoutCancel(ctx), lk, filter, ps)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "validation auc %.6f  logloss %.6f  (%d examples)\n", m.AUC, m.LogLoss, m.Examples)
	}
	return nil
}
