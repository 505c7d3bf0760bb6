package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/datastream"
	"github.com/lakestream/lakestream/datastream/kafka"
	"github.com/lakestream/lakestream/internal/cliconfig"
	"github.com/lakestream/lakestream/internal/kafkaretry"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/train/job"
)

// runProduce is "trainer produce": it writes the rows of a lake table to a
// Kafka topic as JSON messages, in file order, so that days of the lake can
// be replayed into a stream (trainer stream, stream scoring).
func runProduce(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("produce", flag.ContinueOnError)
	uri := lakeFlag(fs)
	data := fs.String("data", "", "table in the lake: a folder, key or glob (required)")
	where := fs.String("where", "", "row filter, e.g. \"dt = '2026-11-04'\"")
	dt := fs.String("dt", "", "dt partition day or range a..b")
	columns := fs.String("columns", "", "comma-separated columns to write (default: all but the partition columns)")
	topic := fs.String("topic", "", "Kafka topic to write to (required)")
	brokers := fs.String("kafka-brokers", "", "Kafka seed brokers host:port[,...] (required)")
	cliconfig.Alias(fs, "brokers", "kafka-brokers") // the spelling before 2026-12; remove in the next release
	key := fs.String("key", "", "column whose value keys each message (Kafka partitions by it); default: no key")
	partitions := fs.Int("partitions", 0, "create the topic with this many partitions when it does not exist (0: it must exist)")
	maxRate := fs.Float64("rate", 0, "rows per second at most (0: as fast as the broker takes them)")
	uncommitted := fs.Bool("include-uncommitted", false, "also read partitions without a _SUCCESS marker (skipped with a warning otherwise)")
	if err := parseConfig(fs, args, nil); err != nil {
		return err
	}
	switch {
	case *data == "":
		return &usageError{"--data is required (the lake table to write)"}
	case *topic == "":
		return &usageError{"--topic is required"}
	case *brokers == "":
		return &usageError{"--kafka-brokers is required (Kafka seed brokers host:port[,...])"}
	case *maxRate < 0 || *partitions < 0:
		return &usageError{"--rate and --partitions must not be negative"}
	}
	seeds := strings.Split(*brokers, ",")
	store, err := lake.Open(ctx, *uri)
	if err != nil {
		return fmt.Errorf("--lake: %w", err)
	}
	filter, err := dataset.ParseWhere(*where)
	if err != nil {
		return &usageError{fmt.Sprintf("--where: %v", err)}
	}
	dts, err := job.DTFilter(*dt)
	if err != nil {
		return &usageError{err.Error()}
	}
	var opts []dataset.Option
	if *uncommitted {
		opts = append(opts, dataset.WithoutSuccessMarkers())
	}
	ds, err := dataset.Open(ctx, store, *data, opts...)
	if ue := (*dataset.UncommittedError)(nil); errors.As(err, &ue) {
		return fmt.Errorf("open --data %s: %w; pass --include-uncommitted to read them", *data, err)
	}
	if err != nil {
		return fmt.Errorf("open --data %s: %w", *data, err)
	}
	skipped := ds.SkippedPartitions()
	if len(skipped) > 0 {
		fmt.Fprintf(os.Stderr, "trainer produce: skipping partitions without a _SUCCESS marker (pass --include-uncommitted to read them): %s\n", dataset.PartitionList(skipped))
	}
	q := dataset.Query{Where: append(filter, dts...)}
	if *columns != "" {
		q.Columns = strings.Split(*columns, ",")
	}
	plan, err := ds.Plan(ctx, q)
	if err != nil {
		return err
	}
	if plan.Rows() == 0 && len(skipped) > 0 {
		return fmt.Errorf("--data %s: no committed rows match; %s skipped for want of a _SUCCESS marker: pass --include-uncommitted to read them", *data, dataset.PartitionList(skipped))
	}
	if *partitions > 0 {
		if err := createTopic(ctx, seeds, *topic, int32(*partitions)); err != nil {
			return err
		}
	}
	cfg := kafka.DefaultSinkConfig()
	cfg.Brokers, cfg.Topic, cfg.KeyColumn = seeds, *topic, *key
	sink, err := kafka.NewSink(cfg)
	if err != nil {
		return &usageError{err.Error()}
	}
	defer sink.Close(context.WithoutCancel(ctx))
	sc := plan.Scan(ctx, plan.Splits(), dataset.ScanOptions{BatchSize: 4096})
	defer sc.Close()
	began := time.Now()
	var rows int64
	for sc.Next() {
		rec := sc.At()
		if err := sink.WriteBatch(ctx, datastream.Batch{Record: rec}); err != nil {
			return err
		}
		rows += rec.NumRows()
		if *maxRate > 0 {
			time.Sleep(time.Until(began.Add(time.Duration(float64(rows) / *maxRate * float64(time.Second)))))
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if _, err := sink.PrepareCheckpoint(ctx, datastream.FinalCheckpointID); err != nil {
		return fmt.Errorf("flush %d rows to %s: %w", rows, *topic, err)
	}
	d := time.Since(began)
	fmt.Fprintf(stdout, "wrote %d rows of %s to %s in %s (%s rows/s)\n", rows, *data, *topic, d.Round(time.Millisecond), rate(rows, d))
	return nil
}

// createTopic creates topic with partitions partitions unless it exists.
func createTopic(ctx context.Context, brokers []string, topic string, partitions int32) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return fmt.Errorf("--kafka-brokers: %w", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := kafkaretry.CreateTopic(ctx, kadm.NewClient(cl), topic, partitions); err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	return nil
}
