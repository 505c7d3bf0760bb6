package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	kafka := flag.String("kafka", "", "comma-separated Kafka brokers to check")
	s3 := flag.String("s3", "", "S3 endpoint (host:port) to check, credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
	timeout := flag.Duration("timeout", 90*time.Second, "how long to keep trying")
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	var err error
	switch {
	case *kafka != "":
		err = retry(ctx, func(ctx context.Context) error { return checkKafka(ctx, strings.Split(*kafka, ",")) })
	case *s3 != "":
		err = retry(ctx, func(ctx context.Context) error { return checkS3(ctx, *s3) })
	default:
		err = errors.New("give -kafka or -s3")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		os.Exit(1)
	}
}

// retry calls check every half second until it succeeds or ctx ends, and
// returns the last error.
func retry(ctx context.Context, check func(context.Context) error) error {
	for {
		attempt, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := check(attempt)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up: %w", err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func checkKafka(ctx context.Context, brokers []string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	topic := fmt.Sprintf("lakestream-healthcheck-%d-%d", os.Getpid(), time.Now().UnixNano())
	resp, err := adm.CreateTopic(ctx, 1, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("create topic on %v: %w", brokers, err)
	}
	defer adm.DeleteTopics(context.WithoutCancel(ctx), topic)
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	if !slices.Contains(topics.Names(), topic) {
		return fmt.Errorf("topic %s was created but is not listed", topic)
	}
	return nil
}

func checkS3(ctx context.Context, endpoint string) error {
	cl, err := minio.New(endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), ""),
		Region: "us-east-1",
	})
	if err != nil {
		return err
	}
	_, err = cl.ListBuckets(ctx)
	return err
}
