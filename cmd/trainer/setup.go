package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lakestream/lakestream/datastream/kafka"
	"github.com/lakestream/lakestream/internal/kafkaretry"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
)

// runSetup is "trainer setup": it prepares the services the README's S3
// and Kafka examples use. With --lake s3://bucket/prefix it creates the
// bucket when missing; with --from it uploads a local lake there (lake.Sync:
// idempotent, _SUCCESS markers last); with --kafka-brokers it creates the
// model topic and, with --topic, the training topic and its dead-letter
// topic (kafkaretry.CreateTopic).
func runSetup(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("setup", flag.ContinueOnError)
	uri := fs.String("lake", "", "the lake to prepare: s3://bucket/prefix (the bucket is created when missing) or a folder")
	from := fs.String("from", "", "a local lake folder to upload into --lake (e.g. the quickstart's); objects already there with the same size and not older are skipped")
	brokers := fs.String("kafka-brokers", "", "Kafka seed brokers host:port[,...]; the topics are created only with it")
	topic := fs.String("topic", "", "training topic to create (trainer produce, stream and worker --topic)")
	partitions := fs.Int("partitions", 4, "partitions of a created --topic")
	deadLetter := fs.String("dead-letter-topic", "", "dead-letter topic to create (default <topic>.dead-letters when --topic is given)")
	modelTopic := fs.String("model-topic", model.DefaultModelTopic, "model topic to create, where promotions are announced")
	if err := parseConfig(fs, args, nil); err != nil {
		return err
	}
	if *deadLetter == "" && *topic != "" {
		*deadLetter = *topic + ".dead-letters"
	}
	topics, err := validateSetup(*uri, *from, *brokers, *topic, *deadLetter, *modelTopic, *partitions)
	if err != nil {
		return err
	}

	if *uri != "" {
		if err := setupLake(ctx, *uri, *from, stdout); err != nil {
			return err
		}
	}
	if *brokers != "" {
		if err := setupTopics(ctx, strings.Split(*brokers, ","), topics, stdout); err != nil {
			return err
		}
	}
	return nil
}

// setupTopic is a topic "trainer setup" creates.
type setupTopic struct {
	flag       string // the flag that names it
	name       string
	partitions int32
}

// validateSetup checks every flag of "trainer setup" before anything is
// done and returns the topics to create.
func validateSetup(uri, from, brokers, topic, deadLetter, modelTopic string, partitions int) ([]setupTopic, error) {
	bad := func(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }
	switch {
	case from != "" && uri == "":
		return nil, bad("--from needs --lake (where to upload it)")
	case topic != "" && brokers == "":
		return nil, bad("--topic needs --kafka-brokers (or LAKESTREAM_KAFKA_BROKERS)")
	case deadLetter != "" && brokers == "":
		return nil, bad("--dead-letter-topic needs --kafka-brokers (or LAKESTREAM_KAFKA_BROKERS)")
	case uri == "" && brokers == "":
		return nil, bad("nothing to set up: give --lake (and --from to upload a lake) and/or --kafka-brokers (or LAKESTREAM_KAFKA_BROKERS)")
	case partitions < 1 || partitions > 10000:
		return nil, bad("--partitions %d: want 1..10000", partitions)
	}
	if uri != "" {
		if err := lake.ValidateURI(uri); err != nil {
			return nil, bad("--lake: %v", err)
		}
	}
	if from != "" {
		fi, err := os.Stat(from)
		if err != nil || !fi.IsDir() {
			return nil, bad("--from %s: not a folder (a local lake, e.g. the one trainer quickstart writes)", from)
		}
		if !strings.Contains(uri, "://") || strings.HasPrefix(uri, "file://") {
			a, _ := filepath.Abs(from)
			b, _ := filepath.Abs(strings.TrimPrefix(uri, "file://"))
			if a == b {
				return nil, bad("--from and --lake are the same folder")
			}
		}
	}
	if brokers == "" {
		return nil, nil
	}
	for _, b := range strings.Split(brokers, ",") {
		if _, port, ok := strings.Cut(b, ":"); !ok || port == "" {
			return nil, bad("--kafka-brokers %q: want host:port[,...]", brokers)
		}
	}
	topics := []setupTopic{{"--model-topic", modelTopic, 1}}
	if topic != "" {
		topics = append(topics, setupTopic{"--topic", topic, int32(partitions)})
	}
	if deadLetter != "" {
		topics = append(topics, setupTopic{"--dead-letter-topic", deadLetter, 1})
	}
	for i, t := range topics {
		if err := kafka.ValidateTopic(t.name); err != nil {
			return nil, bad("%s: %v", t.flag, err)
		}
		for _, u := range topics[:i] {
			if u.name == t.name {
				return nil, bad("%s and %s are both %q: give each its own topic", u.flag, t.flag, t.name)
			}
		}
	}
	return topics, nil
}

// setupLake opens (creating its bucket if missing) the lake at uri and
// uploads the folder from into it.
func setupLake(ctx context.Context, uri, from string, stdout io.Writer) error {
	dst, err := lake.Open(ctx, uri)
	created := false
	if errors.Is(err, lake.ErrNotExist) && strings.Contains(uri, "://") {
		dst, err = lake.Open(ctx, uri, lake.WithCreateBucket())
		created = err == nil
	}
	if err != nil {
		return fmt.Errorf("--lake: %w", err)
	}
	if created {
		fmt.Fprintf(stdout, "created the bucket of %s\n", uri)
	} else {
		fmt.Fprintf(stdout, "lake %s is ready\n", uri)
	}
	if from == "" {
		return nil
	}
	src, err := lake.NewLocal(from)
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	began := time.Now()
	st, err := lake.Sync(ctx, dst, src, "", func(e lake.SyncEvent) {
		if e.Copied {
			fmt.Fprintf(stdout, "  [%d/%d] uploaded %s (%s)\n", e.Done, e.Total, e.Key, byteSize(e.Size))
		}
	})
	if err != nil {
		return fmt.Errorf("upload --from %s to %s: %w", from, uri, err)
	}
	fmt.Fprintf(stdout, "uploaded %d objects (%s) from %s to %s in %s; %d were already there\n",
		st.Copied, byteSize(st.Bytes), from, uri, time.Since(began).Round(time.Millisecond), st.Skipped)
	return nil
}

// setupTopics creates the topics that are missing and prints each with its
// partition count.
func setupTopics(ctx context.Context, brokers []string, topics []setupTopic, stdout io.Writer) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return fmt.Errorf("--kafka-brokers: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var names []string
	for _, t := range topics {
		if err := kafkaretry.CreateTopic(ctx, adm, t.name, t.partitions); err != nil {
			return fmt.Errorf("create %s %s at %s: %w", t.flag, t.name, strings.Join(brokers, ","), err)
		}
		names = append(names, t.name)
	}
	var td kadm.TopicDetails
	if err := kafkaretry.Do(ctx, func() (err error) {
		td, err = adm.ListTopics(ctx, names...)
		return err
	}); err != nil {
		return fmt.Errorf("describe the topics: %w", err)
	}
	for _, t := range topics {
		fmt.Fprintf(stdout, "topic %s (%s): %d partition(s)\n", t.name, t.flag, len(td[t.name].Partitions))
	}
	return nil
}

// byteSize prints n bytes in a unit that fits.
func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
