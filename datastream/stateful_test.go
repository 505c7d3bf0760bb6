package datastream_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/lakestream/lakestream/datastream"
	"github.com/lakestream/lakestream/datastream/datastreamtest"
)

// countingSink is a transactional sink that also keeps a row count as
// checkpointed state (datastream.StatefulSink).
type countingSink struct {
	*datastreamtest.TxSink
	rows, restored int64
}

func (s *countingSink) WriteBatch(ctx context.Context, b datastream.Batch) error {
	s.rows += b.Record.NumRows()
	return s.TxSink.WriteBatch(ctx, b)
}

func (s *countingSink) SnapshotState(context.Context, int64) ([]byte, error) {
	return binary.AppendVarint(nil, s.rows), nil
}

func (s *countingSink) RestoreState(_ context.Context, _ int64, state []byte) error {
	n, k := binary.Varint(state)
	if k <= 0 || k != len(state) {
		return fmt.Errorf("bad state %x", state)
	}
	s.rows, s.restored = n, n
	return nil
}

// TestStatefulSinkRestores: a sink's state taken at a barrier comes back on
// restore next to its two-phase description, so the count after a crash and
// a restore equals the rows of one uninterrupted pass and the committed
// output has no duplicate.
func TestStatefulSinkRestores(t *testing.T) {
	all := randomClicks(5, 30, 20, 10, 0)
	steps := stepsOf(t, all, 20)
	store := datastreamtest.NewMemoryStore()
	log := datastreamtest.NewTxLog()
	build := func(src datastream.Source, sink datastream.Sink) *datastream.Job {
		job := datastream.NewJob("stateful", datastream.WithCheckpoints(store, time.Hour, 1), datastream.WithRestore())
		job.Source("clicks", src).To("count", sink)
		return job
	}

	ctx, cancel := context.WithCancel(context.Background())
	src := datastreamtest.NewSource(nil, steps...).BlockAt(len(steps) * 2 / 3)
	first := &countingSink{TxSink: datastreamtest.NewTxSink(log)}
	job := build(src, first)
	done := runAsync(ctx, job)
	for src.Next() < len(steps)/3 {
		time.Sleep(time.Millisecond)
	}
	if _, err := job.TriggerCheckpoint(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	if r := <-done; !errors.Is(r.err, context.Canceled) {
		t.Fatalf("first run ended with %v, want context.Canceled", r.err)
	}

	second := &countingSink{TxSink: datastreamtest.NewTxSink(log)}
	if _, err := build(datastreamtest.NewSource(nil, steps...), second).Run(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if second.restored == 0 || second.rows != int64(len(all)) {
		t.Fatalf("restored count %d, final %d; want > 0 and %d", second.restored, second.rows, len(all))
	}
	if got := len(log.Committed()); got != len(all) {
		t.Fatalf("committed %d rows, want %d", got, len(all))
	}
}
