package kafka_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/lakestream/lakestream/datastream"
	"github.com/lakestream/lakestream/datastream/kafka"
	"github.com/lakestream/lakestream/datastream/kafka/kafkatest"
)

var countSchema = arrow.NewSchema([]arrow.Field{
	{Name: "key", Type: arrow.BinaryTypes.String},
	{Name: "count", Type: arrow.PrimitiveTypes.Int64},
}, nil)

func countBatch(key string, from, to int64) datastream.Batch {
	b := array.NewRecordBuilder(memory.DefaultAllocator, countSchema)
	defer b.Release()
	for i := from; i < to; i++ {
		b.Field(0).(*array.StringBuilder).Append(key)
		b.Field(1).(*array.Int64Builder).Append(i)
	}
	return datastream.Batch{Record: b.NewRecord()}
}

func write(t *testing.T, s *kafka.Sink, b datastream.Batch) {
	t.Helper()
	defer b.Record.Release()
	if err := s.WriteBatch(context.Background(), b); err != nil {
		t.Fatal(err)
	}
}

// TestSinkTransactions walks the two-phase protocol against the real broker:
// a committed checkpoint is visible to read-committed readers; rows after it
// from a process that "crashes" (drops its client without a commit) are not;
// a restart that recovers a prepared but uncommitted checkpoint commits it,
// aborts the crashed process's open transaction, and continues.
func TestSinkTransactions(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Topic(t, brokers, 2, nil)
	cfg := kafka.DefaultSinkConfig()
	cfg.Brokers, cfg.Topic, cfg.KeyColumn = brokers, topic, "key"
	cfg.TransactionalID = kafkatest.Name(t, "txn")
	ctx := context.Background()

	a, err := kafka.NewSink(cfg)
	if err != nil {
		t.Fatal(err)
	}
	write(t, a, countBatch("a", 0, 10))
	st1, err := a.PrepareCheckpoint(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.CommitCheckpoint(ctx, 1, st1); err != nil {
		t.Fatal(err)
	}
	write(t, a, countBatch("a", 10, 20))
	st2, err := a.PrepareCheckpoint(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	// Crash: checkpoint 2 became durable but its commit never ran. The
	// crashed sinks are abandoned without Close.

	b, err := kafka.NewSink(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.RecoverCheckpoint(ctx, 2, st2); err != nil {
		t.Fatalf("recover checkpoint 2: %v", err)
	}
	write(t, b, countBatch("b", 0, 5))
	st3, err := b.PrepareCheckpoint(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	// Crash: checkpoint 3 is durable, its commit never ran.

	// Restore from 3 commits it; the rows written next are prepared for a
	// checkpoint 4 that never becomes durable before the next crash.
	c, err := kafka.NewSink(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RecoverCheckpoint(ctx, 3, st3); err != nil {
		t.Fatalf("recover checkpoint 3: %v", err)
	}
	write(t, c, countBatch("lost", 0, 5))
	if _, err := c.PrepareCheckpoint(ctx, 4); err != nil {
		t.Fatal(err)
	}

	// Restore from 3 again: its commit is repeated harmlessly, and the open
	// transaction holding "lost" is aborted (else read-committed readers
	// would stall on it).
	c2, err := kafka.NewSink(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c2.RecoverCheckpoint(ctx, 3, st3); err != nil {
		t.Fatalf("recover checkpoint 3 twice: %v", err)
	}
	write(t, c2, countBatch("c", 0, 3))
	st5, err := c2.PrepareCheckpoint(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	if err := c2.CommitCheckpoint(ctx, 5, st5); err != nil {
		t.Fatal(err)
	}
	if err := c2.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*kafka.Sink{a, b, c} {
		_ = s.Close(ctx) // fenced clients; errors expected and irrelevant
	}

	got := map[string][]int64{}
	for _, r := range kafkatest.ReadAll(t, brokers, topic, true) {
		var row struct {
			Key   string `json:"key"`
			Count int64  `json:"count"`
		}
		if err := json.Unmarshal(r.Value, &row); err != nil {
			t.Fatalf("output %s: %v", r.Value, err)
		}
		if string(r.Key) != row.Key {
			t.Errorf("message key %q, row key %q", r.Key, row.Key)
		}
		got[row.Key] = append(got[row.Key], row.Count)
	}
	want := map[string]int{"a": 20, "b": 5, "c": 3}
	for k, n := range want {
		if len(got[k]) != n {
			t.Errorf("key %s: %d rows %v, want %d", k, len(got[k]), got[k], n)
			continue
		}
		for i, v := range got[k] {
			if v != int64(i) {
				t.Errorf("key %s: row %d has count %d: duplicate or gap", k, i, v)
			}
		}
	}
	if len(got["lost"]) != 0 || len(got) != len(want) {
		t.Errorf("uncommitted rows visible: %v", got)
	}
}

// TestSinkAtLeastOnce checks the non-transactional mode: PrepareCheckpoint
// returns once every row is acknowledged.
func TestSinkAtLeastOnce(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Topic(t, brokers, 1, nil)
	cfg := kafka.DefaultSinkConfig()
	cfg.Brokers, cfg.Topic = brokers, topic
	s, err := kafka.NewSink(cfg)
	if err != nil {
		t.Fatal(err)
	}
	write(t, s, countBatch("k", 0, 100))
	if st, err := s.PrepareCheckpoint(context.Background(), 1); err != nil || st != nil {
		t.Fatalf("PrepareCheckpoint = %q, %v; want nil, nil", st, err)
	}
	if n := len(kafkatest.ReadAll(t, brokers, topic, false)); n != 100 {
		t.Fatalf("topic has %d messages after the checkpoint, want 100", n)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestSinkConfigErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  kafka.SinkConfig
	}{
		{"no brokers", kafka.SinkConfig{Topic: "t"}},
		{"no topic", kafka.SinkConfig{Brokers: []string{"b:1"}}},
		{"no transaction timeout", kafka.SinkConfig{Brokers: []string{"b:1"}, Topic: "t", TransactionalID: "x"}},
	} {
		if _, err := kafka.NewSink(tt.cfg); err == nil {
			t.Errorf("%s: NewSink accepted %+v", tt.name, tt.cfg)
		}
	}
	// A key column missing from the batch fails before anything is sent
	// (the broker address is never dialed).
	cfg := kafka.DefaultSinkConfig()
	cfg.Brokers, cfg.Topic, cfg.KeyColumn = []string{"127.0.0.1:1"}, "t", "nope"
	s, err := kafka.NewSink(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := countBatch("k", 0, 3)
	defer b.Record.Release()
	if err := s.WriteBatch(context.Background(), b); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("WriteBatch with a missing key column = %v, want an error naming it", err)
	}
}
