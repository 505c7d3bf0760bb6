package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/datastream/kafka/kafkatest"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/lake/laketest"
	"github.com/lakestream/lakestream/train/clicklog"
)

// TestSetupIntegration: "trainer setup" against the real MinIO and Kafka
// creates a missing bucket, uploads a local lake (markers kept, so a table
// reads the same rows there), creates the three topics, and a second run
// uploads nothing and leaves the topics as they are.
func TestSetupIntegration(t *testing.T) {
	e := laketest.RequireMinIO(t)
	brokers := kafkatest.Brokers(t)
	ctx := context.Background()
	client, err := e.Client()
	if err != nil {
		t.Fatal(err)
	}
	var suffix [6]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		t.Fatal(err)
	}
	bucket := "setup-test-" + hex.EncodeToString(suffix[:])
	t.Cleanup(func() {
		_ = client.RemoveBucketWithOptions(context.Background(), bucket, minio.RemoveBucketOptions{ForceDelete: true})
	})
	topic, modelTopic := kafkatest.Name(t, "setup"), kafkatest.Name(t, "setup-models")
	adm := kafkatest.Admin(t, brokers)
	t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), topic, topic+".dead-letters", modelTopic) })

	dir := t.TempDir()
	local, err := lake.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	gc := clicklog.DefaultConfig()
	gc.Rows = 20_000
	sum, err := clicklog.Generate(ctx, local, "clicks", gc)
	if err != nil {
		t.Fatal(err)
	}
	// One more partition without its _SUCCESS marker: it must stay
	// uncommitted in the bucket too.
	if err := lake.PutBytes(ctx, local, "clicks/dt=2099-01-01/part-00000.parquet", []byte("not parquet")); err != nil {
		t.Fatal(err)
	}

	uri := "s3://" + bucket + "/qs"
	args := []string{"setup", "--lake", uri, "--from", dir, "--kafka-brokers", strings.Join(brokers, ","),
		"--topic", topic, "--partitions", "3", "--model-topic", modelTopic}
	out, code, err := runCLI(args...)
	if err != nil {
		t.Fatalf("setup: exit %d, %v\n%s", code, err, out)
	}
	t.Logf("first run:\n%s", out)
	for _, want := range []string{"created the bucket of " + uri, "uploaded clicks/dt=" + sum.Days[0].DT + "/_SUCCESS", "topic " + topic + " (--topic): 3 partition(s)",
		"topic " + topic + ".dead-letters (--dead-letter-topic): 1 partition(s)", "topic " + modelTopic + " (--model-topic): 1 partition(s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("first run's output lacks %q", want)
		}
	}

	remote, err := lake.Open(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	rows := func(s lake.Store) int64 {
		t.Helper()
		ds, err := dataset.Open(ctx, s, "clicks")
		if err != nil {
			t.Fatal(err)
		}
		p, err := ds.Plan(ctx, dataset.Query{})
		if err != nil {
			t.Fatal(err)
		}
		return p.Rows()
	}
	if l, r := rows(local), rows(remote); l != int64(gc.Rows) || r != l {
		t.Errorf("committed rows: %d in the bucket, %d locally, want %d in both", r, l, gc.Rows)
	}
	if ok, err := lake.IsCommitted(ctx, remote, "clicks/dt=2099-01-01"); ok || err != nil {
		t.Errorf("the uncommitted partition is committed in the bucket: %v, %v", ok, err)
	}

	out, _, err = runCLI(args...)
	if err != nil || !strings.Contains(out, "uploaded 0 objects") || strings.Contains(out, "created the bucket") {
		t.Errorf("second run: %v\n%s", err, out)
	}
	td, err := adm.ListTopics(ctx, topic)
	if err != nil || len(td[topic].Partitions) != 3 {
		t.Errorf("%s after two runs: %v, %v; want 3 partitions", topic, td[topic].Partitions, err)
	}
}

// TestSetupRefusesBadInput: every flag is checked before anything is
// created, and the error names it.
func TestSetupRefusesBadInput(t *testing.T) {
	t.Setenv("LAKESTREAM_KAFKA_BROKERS", "")
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	k := []string{"--kafka-brokers", "127.0.0.1:1"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "nothing to set up"},
		{[]string{"--from", dir}, "--from needs --lake"},
		{[]string{"--lake", "s3://b-x/qs", "--from", filepath.Join(dir, "none")}, "--from"},
		{[]string{"--lake", "s3://b-x/qs", "--from", file}, "--from"},
		{[]string{"--lake", dir, "--from", dir}, "same folder"},
		{[]string{"--lake", "s3://Bad_Bucket/qs"}, "--lake"},
		{[]string{"--lake", "gs://b/qs"}, "--lake"},
		{[]string{"--topic", "clicks"}, "--topic needs --kafka-brokers"},
		{append([]string{"--topic", "a b"}, k...), "--topic"},
		{append([]string{"--topic", "clicks", "--partitions", "0"}, k...), "--partitions"},
		{append([]string{"--topic", "clicks", "--dead-letter-topic", "clicks"}, k...), "--dead-letter-topic"},
		{append([]string{"--model-topic", ".."}, k...), "--model-topic"},
		{[]string{"--kafka-brokers", "kafka"}, "--kafka-brokers"},
	} {
		start := time.Now()
		out, code, err := runCLI(append([]string{"setup"}, tc.args...)...)
		if code != exitUsage || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("setup %q: exit %d, %v; want exit 2 naming %s\n%s", tc.args, code, err, tc.want, out)
		}
		if d := time.Since(start); d > time.Second { // no request is made
			t.Errorf("setup %q refused after %v", tc.args, d)
		}
	}
}
