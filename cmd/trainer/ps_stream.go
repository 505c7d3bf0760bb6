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

	"github.com/lakestream/lakestream/internal/kafkaretry"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/paramserver"
)

// psStreamFlags make the coordinating "trainer ps" run an exactly-once
// stream job: workers started with "trainer worker --topic --coordinator
// --worker-index" read fixed partitions, and the coordinator takes
// checkpoint barriers whose manifest holds their offsets.
type psStreamFlags struct {
	topic string
	every time.Duration
}

func (f *psStreamFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.topic, "topic", "", "coordinator: run an exactly-once stream job on this Kafka topic (with --kafka-brokers; workers: trainer worker --topic --coordinator --worker-index), instead of a Parquet job")
	fs.DurationVar(&f.every, "checkpoint-interval", 10*time.Second, "with --topic: time between checkpoint barriers (shard snapshots and the workers' offsets in one manifest; a rollback loses at most this much training)")
}

// check refuses the flags a stream coordinator does not take.
func (f *psStreamFlags) check(args []string, consistency string) error {
	for _, name := range []string{"output", "promote", "min-auc", "max-drop", "model-topic", "patience", "checkpoint-every", "epochs"} {
		if onCommandLine(args, name) {
			return &usageError{fmt.Sprintf("--%s is not supported with --topic: a distributed stream job does not publish versions yet (use \"trainer stream --output\" in one process); --checkpoint-interval sets its checkpoints", name)}
		}
	}
	switch {
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
	lk lake.Store, prefix string, log *slog.Logger) (*paramserver.StreamCoordinator, error) {
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
	return paramserver.NewStreamCoordinator(paramserver.StreamCoordinatorConfig{Workers: workers, Partitions: n, Topic: f.topic,
		CheckpointEvery: f.every, LeaseTTL: lease, Lake: lk, Prefix: prefix, Logger: log})
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
func runStreamCoordinator(ctx context.Context, co *paramserver.StreamCoordinator, cl clusterFlags, stdout io.Writer) error {
	ccfg, err := cl.clientConfig()
	if err != nil {
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	client, err := paramserver.Dial(dctx, ccfg)
	cancel()
	if err != nil {
		return fmt.Errorf("coordinator: %w", err)
	}
	defer client.Close()
	co.SetShards(client)
	err = co.Run(ctx, 0)
	st := co.Status()
	fmt.Fprintf(stdout, "stream job stopped: %d checkpoints, last %s holding %d examples, %d rollbacks\n",
		st.Checkpoints, st.LastCheckpoint, st.Examples, st.Recoveries)
	return err
}
