package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lakestream/lakestream/eval/evaltable"
	"github.com/lakestream/lakestream/internal/kafkaretry"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/paramserver"
	"github.com/lakestream/lakestream/train/job"
	"github.com/lakestream/lakestream/train/publish"
)

// psStreamFlags make the coordinating "trainer ps" run an exactly-once
// stream job: workers started with "trainer worker --topic --coordinator
// --worker-index" read fixed partitions, and the coordinator takes
// checkpoint barriers whose manifest holds their offsets.
type psStreamFlags struct {
	topic        string
	every        time.Duration
	publishEvery int
}

func (f *psStreamFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.topic, "topic", "", "coordinator: run an exactly-once stream job on this Kafka topic (with --kafka-brokers; workers: trainer worker --topic --coordinator --worker-index), instead of a Parquet job")
	fs.DurationVar(&f.every, "checkpoint-interval", 10*time.Second, "with --topic: time between checkpoint barriers (shard snapshots and the workers' offsets in one manifest; a rollback loses at most this much training)")
	fs.IntVar(&f.publishEvery, "publish-every-checkpoints", 1, "with --topic and --output: publish a version at every n-th checkpoint that trained something (the shards exported while the workers wait at its barrier; lineage = its offsets)")
}

// check refuses the flags a stream coordinator does not take.
func (f *psStreamFlags) check(args []string, consistency string) error {
	for _, name := range []string{"patience", "checkpoint-every", "epochs"} {
		if onCommandLine(args, name) {
			return &usageError{fmt.Sprintf("--%s is not supported with --topic: a stream is trained in one pass; --checkpoint-interval sets its checkpoints", name)}
		}
	}
	for _, name := range []string{"min-auc", "max-drop", "model-topic"} {
		if onCommandLine(args, name) && !onCommandLine(args, "promote") {
			return &usageError{fmt.Sprintf("--%s applies with --promote (the versions of --output are then judged and promoted)", name)}
		}
	}
	switch {
	case f.publishEvery < 1:
		return &usageError{fmt.Sprintf("--publish-every-checkpoints %d: want at least 1", f.publishEvery)}
	case consistency != paramserver.Async:
		return &usageError{"--topic trains asynchronously: give every shard --consistency async"}
	case f.every <= 0:
		return &usageError{fmt.Sprintf("--checkpoint-interval %s: must be positive", f.every)}
	}
	return nil
}

// newStreamCoordinator reads the topic's partition count and returns the
// job's stream coordinator.
func newStreamCoordinator(ctx context.Context, f psStreamFlags, brokers string, workers int, lease time.Duration,
	lk lake.Store, prefix string, keep int, pub *streamPublisher, log *slog.Logger) (*paramserver.StreamCoordinator, error) {
	if brokers == "" {
		return nil, &usageError{"--topic needs --kafka-brokers (the Kafka seed brokers host:port[,...])"}
	}
	n, err := topicPartitions(ctx, brokers, f.topic)
	if err != nil {
		return nil, err
	}
	if n < workers {
		return nil, &usageError{fmt.Sprintf("--workers %d: topic %s has %d partitions, so a worker would read nothing; start at most %d workers", workers, f.topic, n, n)}
	}
	cfg := paramserver.StreamCoordinatorConfig{Workers: workers, Partitions: n, Topic: f.topic,
		CheckpointEvery: f.every, LeaseTTL: lease, Lake: lk, Prefix: prefix, Keep: keep, Logger: log}
	if pub != nil {
		cfg.OnCheckpoint = pub.onCheckpoint
	}
	return paramserver.NewStreamCoordinator(cfg)
}

// topicPartitions returns the partition count of topic.
func topicPartitions(ctx context.Context, brokers, topic string) (int, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...))
	if err != nil {
		return 0, fmt.Errorf("--kafka-brokers: %w", err)
	}
	defer cl.Close()
	mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var md kadm.Metadata
	err = kafkaretry.Do(mctx, func() error {
		var err error
		md, err = kadm.NewClient(cl).Metadata(mctx, topic)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("--kafka-brokers %s: metadata: %w", brokers, err)
	}
	td, ok := md.Topics[topic]
	if !ok || td.Err != nil || len(td.Partitions) == 0 {
		return 0, &usageError{fmt.Sprintf("--topic %s: topic not found on %s (create it first)", topic, brokers)}
	}
	return len(td.Partitions), nil
}

// runStreamCoordinator connects the stream coordinator to every shard and
// drives it until ctx is done.
func runStreamCoordinator(ctx context.Context, co *paramserver.StreamCoordinator, cl clusterFlags, pub *streamPublisher, stdout io.Writer) error {
	client, err := cl.dial(ctx)
	if err != nil {
		return fmt.Errorf("coordinator: %w", err)
	}
	defer client.Close()
	if pub != nil {
		pub.client = client // before Run, which calls pub.onCheckpoint
		defer pub.shards.Publisher.Close()
	}
	co.SetShards(client)
	err = co.Run(ctx, 0)
	st := co.Status()
	fmt.Fprintf(stdout, "stream job stopped: %d checkpoints, last %s holding %d examples, %d rollbacks\n",
		st.Checkpoints, st.LastCheckpoint, st.Examples, st.Recoveries)
	return err
}

// streamPublisher publishes the shards' tables at the checkpoints of a
// distributed stream job (the coordinator's OnCheckpoint hook), through
// the publish step "trainer stream" uses.
type streamPublisher struct {
	shards *job.StreamShards
	client *paramserver.Client // set before the coordinator runs
	every  int
	name   string // --output
	source string
	log    *slog.Logger
	stdout io.Writer
}

// newStreamPublisher returns the publisher of --output, or nil without
// it. With --promote the gate judges every version on the --validation-dt
// days of --data, against the champion, and promotions are announced.
func newStreamPublisher(ctx context.Context, j *trainJob, cj *coordinatorJob, pf *promoteFlags, f psStreamFlags, lk lake.Store,
	log *slog.Logger, stdout io.Writer) (*streamPublisher, error) {
	if j.output == "" {
		return nil, nil
	}
	if pf.promote && j.valDT == "" {
		return nil, &usageError{"--promote with --topic needs --validation-dt: the days of --data the gate judges every version on"}
	}
	c := j.config()
	pcfg := publish.DefaultConfig(lk, j.output)
	pcfg.Job, pcfg.Gate, pcfg.SaveOnly, pcfg.Logger = "stream-"+j.output, pf.gate, !pf.promote, log
	if pr := pf.promotion(j); pr != nil {
		ec := evaltable.DefaultConfig()
		ec.Data, ec.Where, ec.DT, ec.IncludeUncommitted, ec.Logger = c.Data, c.Where, c.ValidationDT, c.IncludeUncommitted, log
		pcfg.HeldOut = func(ctx context.Context, candidate, _ int) (model.Evaluation, error) {
			return evaltable.GateEvaluation(ctx, lk, ec, j.output, candidate)
		}
		pcfg.Announce = pr.Announce
	}
	pub, err := publish.New(ctx, pcfg)
	if err != nil {
		return nil, err
	}
	inputs, err := model.InputsOf(cj.plan.Schema(), j.spec)
	if err != nil {
		return nil, err
	}
	windows, err := model.WindowInputsOf(cj.plan.Schema(), j.spec)
	if err != nil {
		return nil, err
	}
	source := "kafka://" + f.topic
	opt := j.opt
	return &streamPublisher{every: f.publishEvery, name: j.output, source: source, log: log, stdout: stdout, shards: &job.StreamShards{
		Model: cj.model, ModelConfig: j.model, Spec: j.spec, Publisher: pub,
		Meta: model.Metadata{Data: model.DataRange{Source: source}, Optimizer: &opt, Seed: j.seed, Inputs: inputs, WindowInputs: windows,
			Hyperparameters: map[string]string{"batch_size": fmt.Sprint(j.batchSize), "publish_every_checkpoints": fmt.Sprint(f.publishEvery)}},
	}}, nil
}

// onCheckpoint is the coordinator's OnCheckpoint hook.
func (p *streamPublisher) onCheckpoint(ctx context.Context, m *paramserver.StreamManifest) error {
	if m.Barrier%int64(p.every) != 0 || p.client == nil {
		return nil
	}
	lin := model.Lineage{Job: p.shards.Publisher.Job(), Source: p.source, Offsets: m.Offsets, Examples: m.Examples}
	v, ok, err := job.PublishShards(ctx, p.client, p.shards, lin)
	if err != nil || !ok {
		return err
	}
	status := "saved"
	switch {
	case v.Error != "":
		status = "not judged: " + v.Error
	case v.Decision.Promoted:
		status = "promoted"
	case v.Decision.Reason != "":
		status = "not promoted: " + v.Decision.Reason
	}
	fmt.Fprintf(p.stdout, "published models/%s/%d at checkpoint %s (%d examples): %s\n", p.name, v.Version, m.Name, m.Examples, status)
	return nil
}
