package datastreamtest

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/lakestream/lakestream/datastream"
)

// FormatRows renders each row of rec as "name=value name=value ...", with
// Arrow's value formatting ("(null)" for nulls).
func FormatRows(rec arrow.Record) []string {
	rows := make([]string, rec.NumRows())
	var sb strings.Builder
	for r := range rows {
		sb.Reset()
		for c := range int(rec.NumCols()) {
			if c > 0 {
				sb.WriteByte(' ')
			}
			sb.WriteString(rec.ColumnName(c))
			sb.WriteByte('=')
			sb.WriteString(rec.Column(c).ValueStr(r))
		}
		rows[r] = sb.String()
	}
	return rows
}

// Sink collects the rows written to it, formatted by FormatRows. It is safe
// for concurrent use, so parallel sink subtasks may share one.
type Sink struct {
	mu     sync.Mutex
	rows   []string
	wms    []int64
	closed int
}

// NewSink returns an empty sink.
func NewSink() *Sink { return &Sink{} }

// WriteBatch appends the batch's rows.
func (s *Sink) WriteBatch(_ context.Context, b datastream.Batch) error {
	rows := FormatRows(b.Record)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rows = append(s.rows, rows...)
	s.wms = append(s.wms, b.Watermark)
	return nil
}

// Close counts closes.
func (s *Sink) Close(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed++
	return nil
}

// Rows returns the rows written so far, in arrival order.
func (s *Sink) Rows() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.rows)
}

// Closes returns how many times Close was called.
func (s *Sink) Closes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// TxLog is the durable side of TxSink, like a Kafka topic with
// transactions: it outlives the sinks (and jobs) that write to it.
type TxLog struct {
	mu        sync.Mutex
	prepared  map[int64][]string
	committed []string
	commits   []int64
	aborted   int
}

// NewTxLog returns an empty log.
func NewTxLog() *TxLog { return &TxLog{prepared: map[int64][]string{}} }

// Committed returns the committed rows in commit order.
func (l *TxLog) Committed() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.committed)
}

// Commits returns the ids of committed checkpoints.
func (l *TxLog) Commits() []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.commits)
}

func (l *TxLog) commit(id int64) {
	rows, ok := l.prepared[id]
	if !ok {
		return
	}
	delete(l.prepared, id)
	l.committed = append(l.committed, rows...)
	l.commits = append(l.commits, id)
}

// TxSink is a datastream.TwoPhaseSink over a TxLog: rows become visible in
// the log only when the checkpoint that covers them commits.
type TxSink struct {
	log     *TxLog
	mu      sync.Mutex
	pending []string
}

// NewTxSink returns a sink writing to log.
func NewTxSink(log *TxLog) *TxSink { return &TxSink{log: log} }

// WriteBatch stages the batch's rows.
func (s *TxSink) WriteBatch(_ context.Context, b datastream.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = append(s.pending, FormatRows(b.Record)...)
	return nil
}

// PrepareCheckpoint moves the staged rows into a durable pending
// transaction named by id.
func (s *TxSink) PrepareCheckpoint(_ context.Context, id int64) ([]byte, error) {
	s.mu.Lock()
	rows := s.pending
	s.pending = nil
	s.mu.Unlock()
	s.log.mu.Lock()
	defer s.log.mu.Unlock()
	s.log.prepared[id] = append(s.log.prepared[id], rows...)
	return binary.BigEndian.AppendUint64(nil, uint64(id)), nil
}

// CommitCheckpoint commits the transaction prepared for id.
func (s *TxSink) CommitCheckpoint(_ context.Context, id int64, state []byte) error {
	if len(state) != 8 || int64(binary.BigEndian.Uint64(state)) != id {
		return fmt.Errorf("datastreamtest: commit %d with state %x", id, state)
	}
	s.log.mu.Lock()
	defer s.log.mu.Unlock()
	s.log.commit(id)
	return nil
}

// RecoverCheckpoint commits the transaction of id if its commit was lost,
// and aborts newer ones.
func (s *TxSink) RecoverCheckpoint(_ context.Context, id int64, state []byte) error {
	s.log.mu.Lock()
	defer s.log.mu.Unlock()
	s.log.commit(id)
	for k := range s.log.prepared {
		if k > id {
			delete(s.log.prepared, k)
			s.log.aborted++
		}
	}
	return nil
}

// Close drops uncommitted rows.
func (s *TxSink) Close(context.Context) error { return nil }
