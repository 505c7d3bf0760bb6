package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lakestream/lakestream/datastream"
	"github.com/lakestream/lakestream/datastream/kafka"
	"github.com/lakestream/lakestream/datastream/kafka/kafkatest"
)

var eventSchema = arrow.NewSchema([]arrow.Field{
	{Name: "user", Type: arrow.BinaryTypes.String},
	{Name: "n", Type: arrow.PrimitiveTypes.Int64},
	{Name: "ts", Type: arrow.FixedWidthTypes.Timestamp_ms},
}, nil)

func event(user string, n int64) *kgo.Record {
	return &kgo.Record{Key: []byte(user), Value: fmt.Appendf(nil, `{"user":%q,"n":%d,"ts":%d}`, user, n, 1_700_000_000_000+n)}
}

// readN reads batches until want rows arrived, returning the n column values
// per split.
func readN(t *testing.T, src datastream.Source, want int) map[string][]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got := map[string][]int64{}
	total := 0
	for total < want {
		b, err := src.ReadBatch(ctx)
		if err != nil {
			t.Fatalf("ReadBatch after %d of %d rows: %v", total, want, err)
		}
		if b.Split == "" {
			t.Fatalf("batch without a split: %+v", b)
		}
		if b.Record == nil {
			// A heartbeat announcing a partition comes before its rows.
			if len(got[b.Split]) > 0 || b.Watermark != datastream.NoWatermark+1 {
				t.Fatalf("heartbeat for %s (watermark %d) after %d of its rows", b.Split, b.Watermark, len(got[b.Split]))
			}
			got[b.Split] = []int64{}
			continue
		}
		if _, announced := got[b.Split]; !announced {
			t.Fatalf("rows of %s before its heartbeat", b.Split)
		}
		ns := b.Record.Column(1).(*array.Int64)
		for i := 0; i < ns.Len(); i++ {
			got[b.Split] = append(got[b.Split], ns.Value(i))
		}
		total += ns.Len()
		b.Record.Release()
	}
	if total != want {
		t.Fatalf("read %d rows, want %d", total, want)
	}
	return got
}

func sourceConfig(brokers []string, topic, dlq string) kafka.SourceConfig {
	cfg := kafka.DefaultSourceConfig()
	cfg.Brokers, cfg.Topic, cfg.DeadLetterTopic, cfg.Schema = brokers, topic, dlq, eventSchema
	cfg.Assignment, cfg.Start = kafka.AssignAll, kafka.StartEarliest
	cfg.MaxBatchRows, cfg.MaxBatchDelay = 100, 20*time.Millisecond
	return cfg
}

// TestSourceSeekAndCommit reads part of a topic, records the position,
// restarts a new source from it, and checks the rest arrives exactly once;
// then commits the position to a group and starts a third source from the
// committed offsets. It runs with both assignments.
func TestSourceSeekAndCommit(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	for _, mode := range []struct {
		name string
		a    kafka.Assignment
	}{{"all partitions", kafka.AssignAll}, {"group member", kafka.AssignByGroup}} {
		t.Run(mode.name, func(t *testing.T) { testSeekAndCommit(t, brokers, mode.a) })
	}
}

func testSeekAndCommit(t *testing.T, brokers []string, assign kafka.Assignment) {
	topic := kafkatest.Topic(t, brokers, 4, nil)
	dlq := kafkatest.Topic(t, brokers, 1, nil)
	var recs []*kgo.Record
	for i := range 1000 {
		recs = append(recs, event("u"+strconv.Itoa(i%17), int64(i)))
	}
	kafkatest.Produce(t, brokers, topic, recs...)

	cfg := sourceConfig(brokers, topic, dlq)
	cfg.Group, cfg.Assignment = kafkatest.Name(t, "g"), assign
	src, err := kafka.NewSource(cfg)
	if err != nil {
		t.Fatal(err)
	}
	first := readN(t, src, 300)
	// Lag counts the partitions whose high watermark a fetch has reported.
	if lag, left := src.Stats().Lag, int64(1000-countAll(first)); lag <= 0 || lag > left {
		t.Errorf("lag after %d of 1000 records = %d, want in (0, %d]", countAll(first), lag, left)
	}
	pos, err := src.Position()
	if err != nil {
		t.Fatal(err)
	}
	var p kafka.Position
	// With all partitions the position covers every one from the start;
	// a group member knows the partitions it has read from.
	if err := p.UnmarshalBinary(pos); err != nil || len(p.Next) == 0 || assign == kafka.AssignAll && len(p.Next) != 4 {
		t.Fatalf("position %+v, %v: want all 4 partitions (some for a group member)", p, err)
	}
	if err := src.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	src2, err := kafka.NewSource(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer src2.Close(context.Background())
	if err := src2.SeekTo(context.Background(), pos); err != nil {
		t.Fatal(err)
	}
	rest := readN(t, src2, 1000-countAll(first))
	if lag := src2.Stats().Lag; lag != 0 {
		t.Errorf("lag after reading everything = %d, want 0", lag)
	}
	seen := map[int64]int{}
	for _, m := range []map[string][]int64{first, rest} {
		for split, ns := range m {
			if !strings.HasPrefix(split, topic+"/") {
				t.Errorf("split %q does not name the topic", split)
			}
			for _, n := range ns {
				seen[n]++
			}
		}
	}
	for i := range int64(1000) {
		if seen[i] != 1 {
			t.Fatalf("record %d seen %d times", i, seen[i])
		}
	}

	// Commit the first source's position; a source starting from committed
	// offsets resumes there.
	if err := src2.CommitCheckpoint(context.Background(), 1, pos); err != nil {
		t.Fatal(err)
	}
	// src2 leaves the group, so src3 gets every partition.
	if err := src2.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	cfg.Start = kafka.StartCommitted
	src3, err := kafka.NewSource(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer src3.Close(context.Background())
	again := readN(t, src3, 1000-countAll(first))
	if countAll(again) != countAll(rest) {
		t.Fatalf("from committed offsets read %d rows, want %d", countAll(again), countAll(rest))
	}
}

func countAll(m map[string][]int64) int {
	n := 0
	for _, v := range m {
		n += len(v)
	}
	return n
}

// TestSourceGroupStartLatest joins a consumer group starting at the latest
// offsets: records produced before the source starts are not read.
func TestSourceGroupStartLatest(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Topic(t, brokers, 2, nil)
	dlq := kafkatest.Topic(t, brokers, 1, nil)
	kafkatest.Produce(t, brokers, topic, event("old", -1))
	cfg := sourceConfig(brokers, topic, dlq)
	cfg.Assignment, cfg.Start, cfg.Group = kafka.AssignByGroup, kafka.StartLatest, kafkatest.Name(t, "g")
	src, err := kafka.NewSource(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close(context.Background())
	// Join the group in the background, then produce once assigned.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	type result struct {
		b   datastream.Batch
		err error
	}
	done := make(chan result, 1)
	go func() {
		for {
			b, err := src.ReadBatch(ctx)
			if err != nil || b.Record != nil {
				done <- result{b, err}
				return
			}
		}
	}()
	deadline := time.After(45 * time.Second)
	for {
		kafkatest.Produce(t, brokers, topic, event("new", 1))
		select {
		case r := <-done:
			if r.err != nil {
				t.Fatal(r.err)
			}
			defer r.b.Record.Release()
			if n := r.b.Record.Column(1).(*array.Int64).Value(0); n != 1 {
				t.Fatalf("first record n=%d, want 1 (a record produced after start)", n)
			}
			return
		case <-deadline:
			t.Fatal("no batch within 45s of joining the group")
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// TestSourceDeadLetters produces good and bad records (invalid JSON, wrong
// types, missing fields, oversized) and checks that every good one arrives,
// every bad one is in the dead-letter topic with its reason and source
// coordinates, and the counts agree.
func TestSourceDeadLetters(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Topic(t, brokers, 4, nil)
	dlq := kafkatest.Topic(t, brokers, 1, nil)
	bad := []struct {
		value  string
		reason kafka.Reason
	}{
		{`{"user":"a","n":1`, kafka.ReasonInvalidJSON},
		{`not json at all`, kafka.ReasonInvalidJSON},
		{`{"user":"a","n":"many","ts":1}`, kafka.ReasonWrongType},
		{`{"user":["a"],"n":1,"ts":1}`, kafka.ReasonWrongType},
		{`{"user":"a","n":1}`, kafka.ReasonMissingField},
		{`{"user":"` + strings.Repeat("x", 5000) + `","n":1,"ts":1}`, kafka.ReasonOversized},
	}
	var recs []*kgo.Record
	wantReason := map[string]kafka.Reason{}
	for i := range 600 {
		if i%100 == 50 {
			for j, b := range bad {
				id := fmt.Sprintf("bad-%d-%d", i, j)
				wantReason[id] = b.reason
				recs = append(recs, &kgo.Record{Key: []byte(id), Value: []byte(b.value)})
			}
		}
		recs = append(recs, event("u"+strconv.Itoa(i%7), int64(i)))
	}
	kafkatest.Produce(t, brokers, topic, recs...)
	cfg := sourceConfig(brokers, topic, dlq)
	cfg.MaxRecordBytes = 4096
	src, err := kafka.NewSource(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close(context.Background())
	got := readN(t, src, 600)
	if countAll(got) != 600 {
		t.Fatalf("read %d good rows, want 600", countAll(got))
	}
	st := src.Stats()
	var dead int64
	for _, n := range st.DeadLetters {
		dead += n
	}
	// Bad records sorted after the last good one of a partition are only
	// dead-lettered when that batch is cut; allow them to trail by reading
	// until the counter is complete.
	deadline := time.Now().Add(20 * time.Second)
	for dead < int64(len(wantReason)) && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		if b, err := src.ReadBatch(ctx); err == nil {
			if b.Record != nil {
				b.Record.Release()
				t.Fatal("unexpected extra batch")
			}
		} else if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatal(err)
		}
		cancel()
		dead = 0
		for _, n := range src.Stats().DeadLetters {
			dead += n
		}
	}
	st = src.Stats()
	for _, b := range bad {
		if want := int64(6); st.DeadLetters[b.reason] < want {
			t.Errorf("dead letters for %s = %d, want at least %d", b.reason, st.DeadLetters[b.reason], want)
		}
	}
	letters := kafkatest.ReadAll(t, brokers, dlq, true)
	if len(letters) != len(wantReason) || dead != int64(len(wantReason)) {
		t.Fatalf("dead-letter topic has %d messages, counters %d, want %d", len(letters), dead, len(wantReason))
	}
	for _, r := range letters {
		id := string(r.Key)
		reason, _ := kafka.Header(r, kafka.HeaderReason)
		if kafka.Reason(reason) != wantReason[id] {
			t.Errorf("%s: reason %q, want %q", id, reason, wantReason[id])
		}
		delete(wantReason, id)
		if tp, _ := kafka.Header(r, kafka.HeaderSourceTopic); tp != topic {
			t.Errorf("%s: source topic header %q", id, tp)
		}
		if _, ok := kafka.Header(r, kafka.HeaderSourceOffset); !ok {
			t.Errorf("%s: no source offset header", id)
		}
		if msg, _ := kafka.Header(r, kafka.HeaderError); !strings.HasPrefix(msg, reason) {
			t.Errorf("%s: error header %q does not start with the reason", id, msg)
		}
	}
	if len(wantReason) != 0 {
		t.Errorf("bad records missing from the dead-letter topic: %v", wantReason)
	}
}

// TestSourceBatchCuts checks both micro-batch limits: with MaxBatchRows 64
// no batch is larger, and a partition holding fewer rows than that is cut by
// MaxBatchDelay (nothing else could end its batch).
func TestSourceBatchCuts(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Topic(t, brokers, 1, nil)
	dlq := kafkatest.Topic(t, brokers, 1, nil)
	var recs []*kgo.Record
	for i := range 200 {
		recs = append(recs, event("u", int64(i)))
	}
	kafkatest.Produce(t, brokers, topic, recs...)
	cfg := sourceConfig(brokers, topic, dlq)
	cfg.MaxBatchRows, cfg.MaxBatchDelay = 64, 50*time.Millisecond
	src, err := kafka.NewSource(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var sizes []int64
	for total := int64(0); total < 200; {
		b, err := src.ReadBatch(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if b.Record == nil {
			continue
		}
		sizes = append(sizes, b.Record.NumRows())
		total += b.Record.NumRows()
		b.Record.Release()
		// The consumer lag the runtime exports: the log end (the high
		// watermark of the last fetch) minus the rows handed out.
		if got := src.Backlog(); got != 200-total {
			t.Errorf("Backlog() = %d after %d of 200 rows, want %d", got, total, 200-total)
		}
	}
	for _, n := range sizes {
		if n > 64 {
			t.Fatalf("batch sizes %v: one exceeds MaxBatchRows 64", sizes)
		}
	}
	if last := sizes[len(sizes)-1]; last != 200%64 {
		t.Errorf("batch sizes %v: want the last, time-cut batch to hold the remaining %d rows", sizes, 200%64)
	}
}

// TestSourceStartTimestamp starts at a timestamp: only records at or after it
// are read. It also checks watermarks from record timestamps.
func TestSourceStartTimestamp(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Topic(t, brokers, 2, nil)
	dlq := kafkatest.Topic(t, brokers, 1, nil)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	var recs []*kgo.Record
	for i := range 100 {
		r := event("u"+strconv.Itoa(i%3), int64(i))
		r.Timestamp = base.Add(time.Duration(i) * time.Second)
		recs = append(recs, r)
	}
	kafkatest.Produce(t, brokers, topic, recs...)
	cfg := sourceConfig(brokers, topic, dlq)
	cfg.Start, cfg.StartMillis = kafka.StartTimestamp, base.Add(60*time.Second).UnixMilli()
	cfg.RecordTimeWatermark, cfg.OutOfOrderness = true, 2*time.Second
	src, err := kafka.NewSource(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	maxTime := map[string]int64{}
	for read := 0; read < 40; {
		b, err := src.ReadBatch(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if b.Record == nil {
			continue
		}
		ns := b.Record.Column(1).(*array.Int64)
		for i := range ns.Len() {
			n := ns.Value(i)
			if n < 60 {
				t.Errorf("read record %d, produced before the start timestamp", n)
			}
			maxTime[b.Split] = max(maxTime[b.Split], base.Add(time.Duration(n)*time.Second).UnixMilli())
		}
		// The watermark trails the split's largest record timestamp by
		// the out-of-orderness and 1ms.
		if want := maxTime[b.Split] - 2000 - 1; b.Watermark != want {
			t.Errorf("batch of %s: watermark %d, want %d", b.Split, b.Watermark, want)
		}
		read += ns.Len()
		b.Record.Release()
	}
}

func TestSourceConfigValidate(t *testing.T) {
	good := sourceConfig([]string{"b:9092"}, "in", "dlq")
	tests := []struct {
		name string
		edit func(*kafka.SourceConfig)
		ok   bool
	}{
		{"defaults with required fields", func(*kafka.SourceConfig) {}, true},
		{"no brokers", func(c *kafka.SourceConfig) { c.Brokers = nil }, false},
		{"no topic", func(c *kafka.SourceConfig) { c.Topic = "" }, false},
		{"no schema", func(c *kafka.SourceConfig) { c.Schema = nil }, false},
		{"no dead-letter topic", func(c *kafka.SourceConfig) { c.DeadLetterTopic = "" }, false},
		{"dead letters into the input", func(c *kafka.SourceConfig) { c.DeadLetterTopic = c.Topic }, false},
		{"group assignment without group", func(c *kafka.SourceConfig) { c.Assignment = kafka.AssignByGroup }, false},
		{"committed start without group", func(c *kafka.SourceConfig) { c.Start = kafka.StartCommitted }, false},
		{"zero batch rows", func(c *kafka.SourceConfig) { c.MaxBatchRows = 0 }, false},
		{"unsupported column", func(c *kafka.SourceConfig) {
			c.Schema = arrow.NewSchema([]arrow.Field{{Name: "b", Type: arrow.BinaryTypes.Binary}}, nil)
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.edit(&c)
			src, err := kafka.NewSource(c)
			if (err == nil) != tt.ok {
				t.Fatalf("NewSource: err = %v, want ok=%v", err, tt.ok)
			}
			if src != nil {
				_ = src.Close(context.Background())
			}
		})
	}
}

// TestSourceMergeInTurn reads a 4-partition topic with MergeInTurn twice
// from the start and once restored from the position after a few batches:
// the batches (partition, rows) are the same sequence each time, a round
// robin over the partitions in ascending order.
func TestSourceMergeInTurn(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Topic(t, brokers, 4, nil)
	dlq := kafkatest.Topic(t, brokers, 1, nil)
	var recs []*kgo.Record
	for i := range 3000 {
		// Keys skew the partitions' sizes, so they run out at different
		// turns.
		recs = append(recs, event("u"+strconv.Itoa(i%(1+i%7)), int64(i)))
	}
	kafkatest.Produce(t, brokers, topic, recs...)
	cfg := sourceConfig(brokers, topic, dlq)
	cfg.Merge, cfg.MaxBatchRows = kafka.MergeInTurn, 64
	type batch struct {
		split string
		ns    string
	}
	// read returns the batches of a source started at pos, up to stop
	// batches (0: the whole topic), and the position after them.
	read := func(pos []byte, stop int) ([]batch, []byte) {
		t.Helper()
		src, err := kafka.NewSource(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close(context.Background())
		if err := src.SeekTo(context.Background(), pos); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var out []batch
		for rows := countRows(pos); rows < 3000 && (stop == 0 || len(out) < stop); {
			b, err := src.ReadBatch(ctx)
			if err != nil {
				t.Fatalf("ReadBatch after %d batches: %v", len(out), err)
			}
			if b.Record == nil {
				continue
			}
			ns := b.Record.Column(1).(*array.Int64)
			out = append(out, batch{b.Split, fmt.Sprint(ns.Int64Values())})
			rows += ns.Len()
			b.Record.Release()
		}
		p, err := src.Position()
		if err != nil {
			t.Fatal(err)
		}
		if st := src.Stats(); st.MergeTimeouts != 0 {
			t.Errorf("%d merge timeouts reading a topic whose records are all there", st.MergeTimeouts)
		}
		return out, p
	}
	ref, _ := read(nil, 0)
	again, _ := read(nil, 0)
	if !slices.Equal(ref, again) {
		t.Fatalf("two reads from the start differ:\n%v\n%v", ref, again)
	}
	// The round robin: each batch's partition follows the previous one's
	// in ascending order, but for partitions that ran out.
	left := map[string]int{}
	for _, b := range ref {
		left[b.split]++
	}
	for i := 1; i < len(ref); i++ {
		prev, cur := ref[i-1].split, ref[i].split
		for s := range left {
			between := (prev < s && s < cur) || (cur <= prev && (s > prev || s < cur))
			if between && left[s] > 0 {
				t.Fatalf("batch %d is of %s after one of %s: %s, with batches left, was skipped", i, cur, prev, s)
			}
		}
		left[prev]--
	}
	for _, stop := range []int{1, 5, 13} {
		head, pos := read(nil, stop)
		tail, _ := read(pos, 0)
		if got := append(head, tail...); !slices.Equal(got, ref) {
			t.Fatalf("restored after %d batches: %d batches differ from an uninterrupted read's %d", stop, len(got), len(ref))
		}
	}
}

// countRows sums the offsets of an encoded Position (nil: 0): the records
// before it in a topic that starts at offset 0.
func countRows(pos []byte) int {
	var p kafka.Position
	if err := p.UnmarshalBinary(pos); err != nil {
		return 0
	}
	n := 0
	for _, off := range p.Next {
		n += int(off)
	}
	return n
}

// TestSourcePartitionsWithin: a source given a partition list reads only
// those partitions, all of their records, and ReadBatchWithin returns
// ok=false once nothing is left instead of blocking; its position names
// exactly the listed partitions.
func TestSourcePartitionsWithin(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Topic(t, brokers, 4, nil)
	dlq := kafkatest.Topic(t, brokers, 1, nil)
	var recs []*kgo.Record
	for i := range 400 {
		recs = append(recs, event("u"+strconv.Itoa(i), int64(i))) // keys spread over the partitions
	}
	kafkatest.Produce(t, brokers, topic, recs...)
	ends, err := kafkatest.Admin(t, brokers).ListEndOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]int{}
	ends.Each(func(o kadm.ListedOffset) { want[o.Partition] = int(o.Offset) })
	if want[1] == 0 || want[3] == 0 {
		t.Fatalf("partitions 1 and 3 received no record: %v", want)
	}
	cfg := sourceConfig(brokers, topic, dlq)
	cfg.Partitions = []int32{1, 3}
	src, err := kafka.NewSource(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got := map[string]int{}
	for {
		b, ok, err := src.ReadBatchWithin(ctx, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if b.Record != nil {
			got[b.Split] += int(b.Record.NumRows())
			b.Record.Release()
		}
	}
	wantSplits := map[string]int{topic + "/1": want[1], topic + "/3": want[3]}
	if fmt.Sprint(got) != fmt.Sprint(wantSplits) {
		t.Errorf("read %v, want %v", got, wantSplits)
	}
	raw, err := src.Position()
	if err != nil {
		t.Fatal(err)
	}
	var p kafka.Position
	if err := p.UnmarshalBinary(raw); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(p.Next) != fmt.Sprint(map[int32]int64{1: int64(want[1]), 3: int64(want[3])}) {
		t.Errorf("position %v, want partitions 1 and 3 at their ends", p.Next)
	}
	bad := sourceConfig(brokers, topic, dlq)
	bad.Partitions = []int32{7}
	src2, err := kafka.NewSource(bad)
	if err != nil {
		t.Fatal(err)
	}
	defer src2.Close(context.Background())
	if _, _, err := src2.ReadBatchWithin(ctx, time.Second); err == nil || !strings.Contains(err.Error(), "partition 7 does not exist") {
		t.Errorf("a missing partition: %v", err)
	}
}
