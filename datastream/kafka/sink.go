package kafka

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/lakestream/lakestream/datastream"
	"github.com/lakestream/lakestream/internal/kafkaretry"
)

// SinkConfig configures a Sink. Start from DefaultSinkConfig.
type SinkConfig struct {
	Brokers []string // seed brokers, required
	Topic   string   // output topic, required
	// KeyColumn names a string or integer column whose value becomes the
	// message key (so Kafka partitions by it). Empty: no key.
	KeyColumn string

	// TransactionalID, when set, turns on exactly-once output: rows are
	// written in Kafka transactions that commit only when the checkpoint
	// covering them is durable, so read-committed consumers see each row
	// exactly once across crashes and restores. The ID is a prefix: each
	// transaction uses "<TransactionalID>-<n>". It must be unique per sink
	// instance and stable across restarts of the same job.
	TransactionalID string
	// TransactionTimeout bounds how long a transaction may stay open; a job
	// must be restored within it after a crash, or the pending output of
	// its last checkpoint is aborted by the broker and the restore fails
	// loudly. Default 5 minutes (the broker caps it with
	// transaction.max.timeout.ms, 15 minutes by default).
	TransactionTimeout time.Duration

	ClientOpts []kgo.Opt // extra franz-go options
}

// DefaultSinkConfig returns the defaults; set Brokers and Topic.
func DefaultSinkConfig() SinkConfig {
	return SinkConfig{TransactionTimeout: 5 * time.Minute}
}

// Validate reports the first configuration error.
func (c SinkConfig) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return errors.New("kafka sink: no brokers")
	case c.Topic == "":
		return errors.New("kafka sink: no topic")
	case c.TransactionalID != "" && c.TransactionTimeout <= 0:
		return errors.New("kafka sink: TransactionTimeout must be positive")
	}
	return nil
}

// Sink writes each row of a batch as one JSON message (see appendRow for the
// encoding: keys in schema order, RFC 3339 timestamps). It implements
// datastream.TwoPhaseSink:
//
//   - Without a TransactionalID, PrepareCheckpoint waits until every
//     message written so far is acknowledged: output is at-least-once.
//   - With one, rows go into a Kafka transaction; PrepareCheckpoint flushes
//     it and returns its identity (transactional ID, producer ID and epoch),
//     CommitCheckpoint commits it once the checkpoint is durable and opens
//     the next transaction under the next transactional ID, and
//     RecoverCheckpoint commits a transaction whose commit a crash
//     interrupted (by sending EndTxn with the recorded producer identity)
//     and aborts any newer transaction the crashed process left open.
//
// WriteBatch and PrepareCheckpoint are called from one goroutine;
// CommitCheckpoint may be called from another.
type Sink struct {
	cfg SinkConfig

	mu      sync.Mutex // guards everything below
	cl      *kgo.Client
	seq     uint64 // transactional ID suffix in use
	started bool   // lingering transactions were cleaned up
	inTxn   bool
	wrote   bool // the open transaction holds records
	errMu   sync.Mutex
	prodErr error // first asynchronous produce error
	closed  bool
}

// NewSink checks cfg and returns a Sink. It connects on first use.
func NewSink(cfg SinkConfig) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Sink{cfg: cfg}, nil
}

func (s *Sink) transactional() bool { return s.cfg.TransactionalID != "" }

func (s *Sink) txnID(seq uint64) string {
	return s.cfg.TransactionalID + "-" + strconv.FormatUint(seq, 10)
}

// open creates the producer client for s.seq; in transactional mode it
// initializes the producer ID, which fences and aborts whatever a previous
// process left open under the same transactional ID.
func (s *Sink) open(ctx context.Context) error {
	opts := []kgo.Opt{kgo.SeedBrokers(s.cfg.Brokers...), kgo.DefaultProduceTopic(s.cfg.Topic),
		kgo.ProducerBatchMaxBytes(1 << 20), kgo.ProducerLinger(5 * time.Millisecond)}
	if s.transactional() {
		opts = append(opts, kgo.TransactionalID(s.txnID(s.seq)), kgo.TransactionTimeout(s.cfg.TransactionTimeout))
	}
	cl, err := kgo.NewClient(append(opts, s.cfg.ClientOpts...)...)
	if err != nil {
		return fmt.Errorf("kafka sink %s: client: %w", s.cfg.Topic, err)
	}
	if s.transactional() {
		if _, _, err := cl.ProducerID(ctx); err != nil {
			cl.Close()
			return fmt.Errorf("kafka sink %s: init transactional ID %s: %w", s.cfg.Topic, s.txnID(s.seq), err)
		}
	}
	s.cl = cl
	return nil
}

// start opens the client on first use, after cleaning up transactions a
// crashed predecessor may have left open under later IDs.
func (s *Sink) start(ctx context.Context) error {
	if s.cl != nil {
		return nil
	}
	if s.closed {
		return ErrClosed
	}
	if err := s.open(ctx); err != nil {
		return err
	}
	if s.transactional() && !s.started {
		if err := s.abortLingering(ctx, s.seq+1); err != nil {
			return err
		}
	}
	s.started = true
	return nil
}

// abortLingering initializes the producer IDs of transactional IDs from seq
// on, which aborts any transaction left open under them, until it meets an
// ID that was never used (epoch 0 on first initialization).
func (s *Sink) abortLingering(ctx context.Context, seq uint64) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(s.cfg.Brokers...)}, s.cfg.ClientOpts...)...)
	if err != nil {
		return fmt.Errorf("kafka sink %s: client: %w", s.cfg.Topic, err)
	}
	defer cl.Close()
	for ; ; seq++ {
		id := s.txnID(seq)
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID = &id
		req.TransactionTimeoutMillis = int32(s.cfg.TransactionTimeout.Milliseconds())
		req.ProducerID, req.ProducerEpoch = -1, -1
		var resp *kmsg.InitProducerIDResponse
		err := kafkaretry.Do(ctx, func() error {
			r, err := req.RequestWith(ctx, cl)
			if err != nil {
				return err
			}
			resp = r
			return kerr.ErrorForCode(r.ErrorCode)
		})
		if err != nil {
			return fmt.Errorf("kafka sink %s: abort lingering transaction %s: %w", s.cfg.Topic, id, err)
		}
		if resp.ProducerEpoch == 0 {
			return nil
		}
	}
}

// WriteBatch encodes the rows of b and hands them to the producer; it does
// not wait for acknowledgements (PrepareCheckpoint and Close do). It returns
// the first asynchronous produce error seen so far.
func (s *Sink) WriteBatch(ctx context.Context, b datastream.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.start(ctx); err != nil {
		return err
	}
	if err := s.asyncErr(); err != nil {
		return err
	}
	rec := b.Record
	if rec == nil || rec.NumRows() == 0 {
		return nil
	}
	key := -1
	if s.cfg.KeyColumn != "" {
		idx := rec.Schema().FieldIndices(s.cfg.KeyColumn)
		if len(idx) == 0 {
			return fmt.Errorf("kafka sink %s: key column %q is not in the batch", s.cfg.Topic, s.cfg.KeyColumn)
		}
		key = idx[0]
	}
	if s.transactional() && !s.inTxn {
		if err := s.cl.BeginTransaction(); err != nil {
			return fmt.Errorf("kafka sink %s: begin transaction %s: %w", s.cfg.Topic, s.txnID(s.seq), err)
		}
		s.inTxn = true
	}
	// One slab for the batch's values and one for its records: the producer
	// holds them until acknowledged, so they are not reused.
	n := int(rec.NumRows())
	slab := make([]byte, 0, 64*n)
	recs := make([]kgo.Record, n)
	for i := range n {
		start := len(slab)
		var err error
		if slab, err = appendRow(slab, rec, i); err != nil {
			return fmt.Errorf("kafka sink %s: row %d: %w", s.cfg.Topic, i, err)
		}
		recs[i].Value = slab[start:len(slab):len(slab)]
		if key >= 0 {
			k, err := keyBytes(rec.Column(key), i)
			if err != nil {
				return fmt.Errorf("kafka sink %s: key column %q row %d: %w", s.cfg.Topic, s.cfg.KeyColumn, i, err)
			}
			recs[i].Key = k
		}
	}
	for i := range recs {
		s.cl.Produce(ctx, &recs[i], s.promise)
	}
	s.wrote = true
	return nil
}

func keyBytes(a arrow.Array, i int) ([]byte, error) {
	if a.IsNull(i) {
		return nil, nil
	}
	switch a := a.(type) {
	case *array.String:
		return []byte(a.Value(i)), nil
	case *array.Int64:
		return strconv.AppendInt(nil, a.Value(i), 10), nil
	case *array.Int32:
		return strconv.AppendInt(nil, int64(a.Value(i)), 10), nil
	}
	return nil, fmt.Errorf("type %s: %w", a.DataType(), ErrUnsupportedType)
}

func (s *Sink) promise(_ *kgo.Record, err error) {
	if err == nil {
		return
	}
	s.errMu.Lock()
	if s.prodErr == nil {
		s.prodErr = err
	}
	s.errMu.Unlock()
}

func (s *Sink) asyncErr() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	if s.prodErr != nil {
		return fmt.Errorf("kafka sink %s: produce: %w", s.cfg.Topic, s.prodErr)
	}
	return nil
}

// txnState is what a transactional sink records in a checkpoint.
type txnState struct {
	Seq        uint64
	ProducerID int64
	Epoch      int16
	Pending    bool // the transaction holds records and must be committed
}

var txnMagic = [5]byte{'L', 'S', 'K', 'T', 1}

func (t txnState) marshal() []byte {
	b := append([]byte(nil), txnMagic[:]...)
	b = binary.AppendUvarint(b, t.Seq)
	b = binary.AppendVarint(b, t.ProducerID)
	b = binary.AppendVarint(b, int64(t.Epoch))
	if t.Pending {
		return append(b, 1)
	}
	return append(b, 0)
}

func (t *txnState) unmarshal(b []byte) error {
	if len(b) < len(txnMagic) || [5]byte(b[:5]) != txnMagic {
		return fmt.Errorf("transaction state: no magic header: %w", ErrBadPosition)
	}
	b = b[5:]
	seq, n := binary.Uvarint(b)
	if n <= 0 {
		return fmt.Errorf("transaction state: sequence: %w", ErrBadPosition)
	}
	b = b[n:]
	pid, n := binary.Varint(b)
	if n <= 0 {
		return fmt.Errorf("transaction state: producer ID: %w", ErrBadPosition)
	}
	b = b[n:]
	epoch, n := binary.Varint(b)
	if n <= 0 || epoch < -1 || epoch > 1<<15-1 {
		return fmt.Errorf("transaction state: epoch: %w", ErrBadPosition)
	}
	b = b[n:]
	if len(b) != 1 || b[0] > 1 {
		return fmt.Errorf("transaction state: flags: %w", ErrBadPosition)
	}
	*t = txnState{Seq: seq, ProducerID: pid, Epoch: int16(epoch), Pending: b[0] == 1}
	return nil
}

// PrepareCheckpoint waits until every message written so far is
// acknowledged. In transactional mode it returns the identity of the open
// transaction, which CommitCheckpoint or RecoverCheckpoint commits; it
// returns nil otherwise.
func (s *Sink) PrepareCheckpoint(ctx context.Context, id int64) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	if err := s.cl.Flush(ctx); err != nil {
		return nil, fmt.Errorf("kafka sink %s: flush for checkpoint %d: %w", s.cfg.Topic, id, err)
	}
	if err := s.asyncErr(); err != nil {
		return nil, err
	}
	if !s.transactional() {
		return nil, nil
	}
	pid, epoch, err := s.cl.ProducerID(ctx)
	if err != nil {
		return nil, fmt.Errorf("kafka sink %s: producer ID for checkpoint %d: %w", s.cfg.Topic, id, err)
	}
	return txnState{Seq: s.seq, ProducerID: pid, Epoch: epoch, Pending: s.inTxn && s.wrote}.marshal(), nil
}

// CommitCheckpoint commits the transaction prepared for checkpoint id and
// starts the next one under a new transactional ID. It does nothing without
// a TransactionalID, or if the state names a transaction already committed.
func (s *Sink) CommitCheckpoint(ctx context.Context, id int64, state []byte) error {
	if !s.transactional() {
		return nil
	}
	var st txnState
	if err := st.unmarshal(state); err != nil {
		return fmt.Errorf("kafka sink %s: commit checkpoint %d: %w", s.cfg.Topic, id, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if st.Seq != s.seq || s.cl == nil {
		return nil // an older transaction, committed already
	}
	if s.inTxn {
		if err := s.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			return fmt.Errorf("kafka sink %s: commit transaction %s for checkpoint %d: %w", s.cfg.Topic, s.txnID(s.seq), id, err)
		}
	}
	s.cl.Close()
	s.cl, s.inTxn, s.wrote = nil, false, false
	s.seq++
	return s.open(ctx)
}

// RecoverCheckpoint runs before any WriteBatch when a job restarts from
// checkpoint id: it commits the transaction prepared for it (a no-op if the
// commit had completed), then aborts transactions a crashed process opened
// after it, and continues with the next transactional ID.
func (s *Sink) RecoverCheckpoint(ctx context.Context, id int64, state []byte) error {
	if !s.transactional() {
		return nil
	}
	var st txnState
	if err := st.unmarshal(state); err != nil {
		return fmt.Errorf("kafka sink %s: recover checkpoint %d: %w", s.cfg.Topic, id, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cl != nil {
		return fmt.Errorf("kafka sink %s: RecoverCheckpoint after the sink started writing", s.cfg.Topic)
	}
	if st.Pending {
		if err := s.commitRaw(ctx, st); err != nil {
			return fmt.Errorf("kafka sink %s: recover checkpoint %d: commit transaction %s: %w", s.cfg.Topic, id, s.txnID(st.Seq), err)
		}
	}
	s.seq = st.Seq + 1
	return s.start(ctx)
}

// commitRaw commits the transaction st describes on behalf of the process
// that opened it, as that process would have: EndTxn with its producer ID
// and epoch. The coordinator answers success again for a transaction it has
// already committed.
func (s *Sink) commitRaw(ctx context.Context, st txnState) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(s.cfg.Brokers...)}, s.cfg.ClientOpts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	req := kmsg.NewPtrEndTxnRequest()
	req.TransactionalID = s.txnID(st.Seq)
	req.ProducerID, req.ProducerEpoch = st.ProducerID, st.Epoch
	req.Commit = true
	return kafkaretry.Do(ctx, func() error {
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return err
		}
		return kerr.ErrorForCode(resp.ErrorCode)
	})
}

// Close flushes what was written. An open transaction is aborted: its rows
// belong to a checkpoint that never completed, and a restore replays them.
func (s *Sink) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.cl == nil {
		return nil
	}
	defer s.cl.Close()
	if s.transactional() {
		if s.inTxn {
			if err := s.cl.AbortBufferedRecords(ctx); err != nil {
				return fmt.Errorf("kafka sink %s: abort buffered records: %w", s.cfg.Topic, err)
			}
			if err := s.cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
				return fmt.Errorf("kafka sink %s: abort transaction %s: %w", s.cfg.Topic, s.txnID(s.seq), err)
			}
		}
		return nil
	}
	if err := s.cl.Flush(ctx); err != nil {
		return fmt.Errorf("kafka sink %s: flush: %w", s.cfg.Topic, err)
	}
	return s.asyncErr()
}
