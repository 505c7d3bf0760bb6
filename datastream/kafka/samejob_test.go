package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/datastream"
	"github.com/lakestream/lakestream/datastream/kafka"
	"github.com/lakestream/lakestream/datastream/kafka/kafkatest"
	"github.com/lakestream/lakestream/lake"
)

// windowSink collects countJob's output: (user@window start) -> count, sum.
type windowSink struct {
	mu   sync.Mutex
	rows map[string][2]int64
	dups int
}

func (s *windowSink) WriteBatch(_ context.Context, b datastream.Batch) error {
	rec := b.Record
	col := func(name string) arrow.Array {
		idx := rec.Schema().FieldIndices(name)
		if len(idx) != 1 {
			return nil
		}
		return rec.Column(idx[0])
	}
	users, ok1 := col("user").(*array.String)
	starts, ok2 := col("window_start").(*array.Timestamp)
	counts, ok3 := col("count").(*array.Int64)
	sums, ok4 := col("sum").(*array.Int64)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return fmt.Errorf("unexpected window output schema %s", rec.Schema())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range int(rec.NumRows()) {
		k := fmt.Sprintf("%s@%d", users.Value(i), int64(starts.Value(i)))
		if _, dup := s.rows[k]; dup {
			s.dups++
		}
		s.rows[k] = [2]int64{counts.Value(i), sums.Value(i)}
	}
	return nil
}

func (s *windowSink) Close(context.Context) error { return nil }

func (s *windowSink) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.rows)
}

// badRecords are interleaved with the good rows of the Kafka input.
var badRecords = []struct {
	value  string
	reason kafka.Reason
}{
	{`{"user":"x","n":1,"ts":`, kafka.ReasonInvalidJSON},
	{`{"user":"x","n":"one","ts":0}`, kafka.ReasonWrongType},
	{`{"user":"x","n":1,"ts":"yesterday"}`, kafka.ReasonWrongType},
	{`{"n":1,"ts":0}`, kafka.ReasonMissingField},
	{`{"user":"` + strings.Repeat("x", 3000) + `","n":1,"ts":0}`, kafka.ReasonOversized},
}

// TestSameJobLakeAndKafka runs one job (key by user, 1-minute tumbling
// event-time windows, count and sum) over the same rows read from Parquet in
// the lake and from a real 4-partition Kafka topic, and requires identical
// results, both equal to counts computed directly from the generated rows.
// Event times are shuffled by up to ±2s and the watermark allows 5s.
//
// The Kafka input also holds 60 bad records (invalid JSON, wrong types, a
// missing field, oversized): the job keeps running, its results are
// unchanged, and every bad record is in the dead-letter topic with its
// reason and counted.
func TestSameJobLakeAndKafka(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	const n, users, partitions = 60_000, 20, 4
	ctx := context.Background()
	r := rand.New(rand.NewPCG(3, 4))

	b := array.NewRecordBuilder(memory.DefaultAllocator, clickSchema)
	defer b.Release()
	want := map[string][2]int64{}
	badWant := map[kafka.Reason]int64{}
	var recs []arrow.Record
	var msgs []*kgo.Record
	for i := range n {
		user := fmt.Sprintf("user-%02d", r.IntN(users))
		ts := eoBase + 20*int64(i) + r.Int64N(4001) - 2000
		b.Field(0).(*array.StringBuilder).Append(user)
		b.Field(1).(*array.Int64Builder).Append(int64(i))
		b.Field(2).(*array.TimestampBuilder).Append(arrow.Timestamp(ts))
		msgs = append(msgs, &kgo.Record{Partition: int32(i % partitions),
			Value: fmt.Appendf(nil, `{"user":%q,"n":%d,"ts":%q}`, user, i, time.UnixMilli(ts).UTC().Format(time.RFC3339Nano))})
		if i%1000 == 999 { // bad records, in Kafka only
			bad := badRecords[i/1000%len(badRecords)]
			badWant[bad.reason]++
			msgs = append(msgs, &kgo.Record{Partition: int32(i % partitions), Key: []byte(bad.reason), Value: []byte(bad.value)})
		}
		k := fmt.Sprintf("%s@%d", user, ts-ts%60_000)
		c := want[k]
		want[k] = [2]int64{c[0] + 1, c[1] + int64(i)}
		if b.Field(0).Len() == 10_000 {
			recs = append(recs, b.NewRecord())
		}
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()

	// The lake: one Parquet file of 6 row groups, read by dataset.
	store, err := lake.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := dataset.WriteFile(ctx, store, "clicks/part-0.parquet", clickSchema, recs, dataset.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	ds, err := dataset.Open(ctx, store, "clicks/", dataset.WithoutSuccessMarkers())
	if err != nil {
		t.Fatal(err)
	}
	plan, err := ds.Plan(ctx, dataset.Query{})
	if err != nil {
		t.Fatal(err)
	}
	lakeOut := &windowSink{rows: map[string][2]int64{}}
	src := dataset.NewSource(plan.Scan(ctx, plan.Splits(), dataset.ScanOptions{BatchSize: 4096}))
	if _, err := countJob("same-job-lake", src, lakeOut, 5*time.Second).Run(ctx); err != nil {
		t.Fatalf("job over the lake: %v", err)
	}

	// Kafka: the same rows as JSON, round-robin over 4 partitions, then one
	// far-future event per partition so the last windows fire.
	topic := kafkatest.Topic(t, brokers, partitions, nil)
	for p := range partitions {
		msgs = append(msgs, &kgo.Record{Partition: int32(p),
			Value: fmt.Appendf(nil, `{"user":"~end","n":0,"ts":%d}`, eoBase+1_000_000_000)})
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, msgs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	cfg := kafka.DefaultSourceConfig()
	dlq := kafkatest.Topic(t, brokers, 1, nil)
	cfg.Brokers, cfg.Topic, cfg.DeadLetterTopic, cfg.Schema = brokers, topic, dlq, clickSchema
	cfg.Assignment, cfg.Start, cfg.MaxRecordBytes = kafka.AssignAll, kafka.StartEarliest, 2048
	ksrc, err := kafka.NewSource(cfg)
	if err != nil {
		t.Fatal(err)
	}
	kafkaOut := &windowSink{rows: map[string][2]int64{}}
	jctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := countJob("same-job-kafka", ksrc, kafkaOut, 5*time.Second).Run(jctx)
		done <- err
	}()
	deadline := time.After(time.Minute)
wait:
	for kafkaOut.len() < len(want) {
		select {
		case err := <-done:
			t.Fatalf("job over Kafka stopped early: %v", err)
		case <-deadline:
			break wait
		case <-time.After(50 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("job over Kafka: %v", err)
	}
	if st := ksrc.Stats(); !maps.Equal(st.DeadLetters, badWant) || st.Records != n+partitions {
		t.Errorf("Kafka source stats %+v, want %d records and dead letters %v", st, n+partitions, badWant)
	}
	letters := map[kafka.Reason]int64{}
	for _, r := range kafkatest.ReadAll(t, brokers, dlq, true) {
		reason, _ := kafka.Header(r, kafka.HeaderReason)
		if string(r.Key) != reason {
			t.Errorf("dead letter %.60q has reason %q, want %q", r.Value, reason, r.Key)
		}
		letters[kafka.Reason(reason)]++
	}
	if !maps.Equal(letters, badWant) {
		t.Errorf("dead-letter topic holds %v, want %v", letters, badWant)
	}
	if lakeOut.dups != 0 || kafkaOut.dups != 0 {
		t.Errorf("duplicate window outputs: lake %d, Kafka %d", lakeOut.dups, kafkaOut.dups)
	}
	diffWindows(t, "lake vs generated rows", lakeOut.rows, want)
	diffWindows(t, "Kafka vs lake", kafkaOut.rows, lakeOut.rows)
}
