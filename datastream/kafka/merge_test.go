package kafka

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/twmb/franz-go/pkg/kgo"
)

// mergeTopic is an in-process topic: the messages of each partition.
type mergeTopic map[int32][]*kgo.Record

func newMergeTopic(counts map[int32]int) mergeTopic {
	t := mergeTopic{}
	for p, n := range counts {
		for i := range n {
			t[p] = append(t[p], &kgo.Record{Partition: p, Offset: int64(i),
				Value: fmt.Appendf(nil, `{"p":%d,"n":%d}`, p, i)})
		}
	}
	return t
}

var mergeSchema = arrow.NewSchema([]arrow.Field{
	{Name: "p", Type: arrow.PrimitiveTypes.Int64},
	{Name: "n", Type: arrow.PrimitiveTypes.Int64},
}, nil)

// mergeBatch is what a batch held: its partition and first and last n.
type mergeBatch struct{ part, first, last int64 }

// runMerge reads topic from pos (nil: the start) through a MergeInTurn
// source whose fetches deliver each partition's messages in chunks of
// random size in an order the seed decides, as franz-go's fetches might.
// It returns the batches and the position after each.
func runMerge(t *testing.T, topic mergeTopic, pos []byte, seed uint64) (_ []mergeBatch, _ [][]byte, pauses int) {
	t.Helper()
	cfg := DefaultSourceConfig()
	cfg.Brokers, cfg.Topic, cfg.DeadLetterTopic, cfg.Schema = []string{"in-process"}, "t", "dlq", mergeSchema
	cfg.Assignment, cfg.Start, cfg.Merge = AssignAll, StartEarliest, MergeInTurn
	cfg.MaxBatchRows = 100
	clock := time.Unix(0, 0)
	cfg.Now = func() time.Time { return clock }
	s, err := NewSource(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	if err := s.SeekTo(context.Background(), pos); err != nil {
		t.Fatal(err)
	}
	// Like franz-go, a paused partition is not fetched, and what was
	// fetched of it but not yet polled is dropped (fetched again on
	// resuming, from after the last record polled).
	paused := map[int32]bool{}
	s.pauseRecords = 12 * cfg.MaxBatchRows
	s.pauseFetch = func(parts []int32, pause bool) {
		for _, p := range parts {
			paused[p] = pause
			if pause {
				pauses++
			}
		}
	}
	starts, ends := map[int32]int64{}, map[int32]int64{}
	for p, recs := range topic {
		starts[p], ends[p] = s.next[p], int64(len(recs))
	}
	s.assignAll(starts, ends)
	s.announce = nil
	rng := rand.New(rand.NewPCG(seed, 1))
	var (
		got       []mergeBatch
		positions [][]byte
	)
	for {
		b, ok, wait, err := s.cut(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			ps, ns := b.Record.Column(0).(*array.Int64), b.Record.Column(1).(*array.Int64)
			for i := range ns.Len() {
				if ps.Value(i) != ps.Value(0) || ns.Value(i) != ns.Value(0)+int64(i) {
					t.Fatalf("batch of %s holds p=%d n=%d at row %d", b.Split, ps.Value(i), ns.Value(i), i)
				}
			}
			got = append(got, mergeBatch{ps.Value(0), ns.Value(0), ns.Value(ns.Len() - 1)})
			b.Record.Release()
			p, err := s.Position()
			if err != nil {
				t.Fatal(err)
			}
			positions = append(positions, p)
			continue
		}
		if wait == 0 {
			continue
		}
		// A poll: some of the partitions with records not fetched yet
		// (at least one) deliver a chunk each; with none left, the topic
		// is read.
		var due []int32
		for p, recs := range topic {
			if s.parts[p].fetched < int64(len(recs)) && !paused[p] {
				due = append(due, p)
			}
		}
		if len(due) == 0 {
			for p := range topic {
				if s.parts[p].fetched < int64(len(topic[p])) {
					t.Fatalf("partition %d paused with %d records buffered, and the turn waits for another", p, len(s.parts[p].recs))
				}
			}
			return got, positions, pauses
		}
		slices.Sort(due)
		first := rng.IntN(len(due))
		for i, p := range due {
			if i != first && rng.IntN(2) == 0 {
				continue
			}
			from := s.parts[p].fetched
			to := min(from+1+rng.Int64N(250), int64(len(topic[p])))
			s.mu.Lock()
			if s.fetchedLocked(p, topic[p][from:to], int64(len(topic[p])), clock) {
				s.pauseFetch([]int32{p}, true)
			}
			s.mu.Unlock()
		}
		clock = clock.Add(time.Millisecond)
		for p, on := range paused {
			if on && s.bufferedRecs >= s.pauseRecords+5*250 {
				t.Fatalf("%d records buffered, partition %d paused", s.bufferedRecs, p)
			}
		}
	}
}

// TestMergeInTurn: batches come in a fixed round robin over the
// partitions (100 messages of each per turn, fewer at a partition's end,
// none from a partition that is done), whatever order and sizes fetches
// deliver them in; and a source restored at any batch's position
// continues with the batches an uninterrupted one returns.
func TestMergeInTurn(t *testing.T) {
	topic := newMergeTopic(map[int32]int{0: 1000, 1: 37, 2: 2450, 3: 0, 5: 301})
	// The expected sequence, turn by turn.
	var want []mergeBatch
	next := map[int32]int64{}
	for more := true; more; {
		more = false
		for _, p := range []int32{0, 1, 2, 3, 5} {
			if n := int64(len(topic[p])); next[p] < n {
				last := min(next[p]+100, n) - 1
				want = append(want, mergeBatch{int64(p), next[p], last})
				next[p], more = last+1, true
			}
		}
	}
	ref, positions, _ := runMerge(t, topic, nil, 1)
	if !slices.Equal(ref, want) {
		t.Fatalf("batches %v,\nwant %v", ref, want)
	}
	pauses := 0
	for seed := uint64(2); seed < 12; seed++ {
		got, _, n := runMerge(t, topic, nil, seed)
		if !slices.Equal(got, ref) {
			t.Fatalf("fetch schedule %d: batches %v,\nwant %v", seed, got, ref)
		}
		pauses += n
	}
	if pauses == 0 {
		t.Error("no partition ran far enough ahead of its turns to pause: the schedules test less than they should")
	}
	for i := range positions {
		got, _, _ := runMerge(t, topic, positions[i], uint64(100+i))
		if !slices.Equal(got, ref[i+1:]) {
			t.Fatalf("restored after batch %d: batches %v,\nwant %v", i, got, ref[i+1:])
		}
	}
}

// TestMergeInTurnWaitIsBounded: a partition whose records do not arrive
// holds its turn for MergeWait, then is passed over (counted) until
// records of it arrive.
func TestMergeInTurnWaitIsBounded(t *testing.T) {
	cfg := DefaultSourceConfig()
	cfg.Brokers, cfg.Topic, cfg.DeadLetterTopic, cfg.Schema = []string{"in-process"}, "t", "dlq", mergeSchema
	cfg.Assignment, cfg.Start, cfg.Merge, cfg.MergeWait = AssignAll, StartEarliest, MergeInTurn, time.Second
	cfg.MaxBatchRows = 10
	clock := time.Unix(0, 0)
	cfg.Now = func() time.Time { return clock }
	s, err := NewSource(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	topic := newMergeTopic(map[int32]int{0: 20, 1: 20})
	s.assignAll(map[int32]int64{0: 0, 1: 0}, map[int32]int64{0: 20, 1: 20})
	s.mu.Lock()
	s.fetchedLocked(1, topic[1], 20, clock)
	s.mu.Unlock()
	ctx := context.Background()
	if _, ok, wait, _ := s.cut(ctx); ok || wait != time.Second {
		t.Fatalf("partition 0's turn with its records unfetched: ok %v, wait %v; want a wait of MergeWait", ok, wait)
	}
	clock = clock.Add(400 * time.Millisecond)
	if _, ok, wait, _ := s.cut(ctx); ok || wait != 600*time.Millisecond {
		t.Fatalf("later: ok %v, wait %v; want the rest of MergeWait", ok, wait)
	}
	clock = clock.Add(600 * time.Millisecond)
	b, ok, _, err := s.cut(ctx)
	if err != nil || !ok || b.Split != "t/1" {
		t.Fatalf("after MergeWait: %+v %v %v; want partition 1's batch", b, ok, err)
	}
	b.Record.Release()
	if st := s.Stats(); st.MergeTimeouts != 1 {
		t.Errorf("MergeTimeouts %d, want 1", st.MergeTimeouts)
	}
	// Partition 0 is passed over without waiting until its records come.
	b, ok, _, err = s.cut(ctx)
	if err != nil || !ok || b.Split != "t/1" {
		t.Fatalf("second batch: %+v %v %v; want partition 1's", b, ok, err)
	}
	b.Record.Release()
	s.mu.Lock()
	s.fetchedLocked(0, topic[0], 20, clock)
	s.mu.Unlock()
	b, ok, _, err = s.cut(ctx)
	if err != nil || !ok || b.Split != "t/0" || b.Record.NumRows() != 10 {
		t.Fatalf("once partition 0's records came: %+v %v %v; want its batch of 10", b, ok, err)
	}
	b.Record.Release()
}
