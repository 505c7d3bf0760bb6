package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/lakestream/lakestream/datastream"
	"github.com/lakestream/lakestream/internal/kafkaretry"
)

// StartKind says where a Source begins reading partitions for which there is
// no restored position.
type StartKind int

// Start kinds.
const (
	// StartCommitted resumes from the group's committed offsets, and from
	// the earliest offset for partitions without one. It is the default.
	StartCommitted StartKind = iota
	// StartEarliest reads from the oldest retained record.
	StartEarliest
	// StartLatest reads only records produced after the source starts.
	StartLatest
	// StartTimestamp reads from the first record whose timestamp is at or
	// after SourceConfig.StartMillis.
	StartTimestamp
)

// Assignment says how a Source gets its partitions.
type Assignment int

// Assignments.
const (
	// AssignByGroup joins SourceConfig.Group; Kafka balances the topic's
	// partitions among the group's members.
	AssignByGroup Assignment = iota
	// AssignAll reads every partition of the topic with no group
	// membership, so restarts need no rebalance; Group, if set, only
	// receives the committed offsets.
	AssignAll
)

// SourceConfig configures a Source. Start from DefaultSourceConfig.
type SourceConfig struct {
	Brokers []string // seed brokers, required
	Topic   string   // topic to read, required
	Group   string   // consumer group; required for AssignByGroup and StartCommitted
	// InstanceID sets static group membership (KIP-345), so a restarted
	// member takes its partitions back without waiting for a session timeout.
	InstanceID string
	Assignment Assignment
	// Partitions, with AssignAll, reads only these partitions of the
	// topic (a static assignment); nil reads every partition.
	Partitions []int32
	Start      StartKind
	// StartMillis is the timestamp (ms since the epoch) for StartTimestamp.
	StartMillis int64

	// Schema declares the columns decoded from each JSON message (see
	// Decoder for types and coercions). Required.
	Schema *arrow.Schema
	// DeadLetterTopic receives every message that does not decode. Required:
	// bad records are never dropped silently.
	DeadLetterTopic string

	// MaxBatchRows, MaxBatchBytes and MaxBatchDelay cut micro-batches: a
	// partition's batch is emitted when it holds MaxBatchRows records or
	// MaxBatchBytes message bytes, or when its oldest record has waited
	// MaxBatchDelay. Defaults 8192, 4 MiB, 100ms.
	MaxBatchRows  int
	MaxBatchBytes int
	MaxBatchDelay time.Duration
	// Merge orders the partitions' batches; MergeWait bounds how long
	// MergeInTurn waits for a partition's turn (default 10s).
	Merge     Merge
	MergeWait time.Duration
	// MaxRecordBytes is the largest message decoded; longer ones are
	// dead-lettered as ReasonOversized. Default 1 MiB.
	MaxRecordBytes int
	// Reject, when set, sees every decoded batch before ReadBatch returns
	// it and names the rows that must not pass, in increasing row order
	// (nil when all pass): rows that decode but that the consumer cannot
	// use, such as a label outside the model's target. Their messages go to
	// the dead-letter topic with ReasonRejected and the RowError's detail,
	// like messages that do not decode, and the batch is returned without
	// them (the other messages are decoded again, so a rejection costs a
	// second decode of its batch). It runs on ReadBatch's goroutine and
	// must not keep rec.
	Reject func(rec arrow.Record) []RowError

	// RecordTimeWatermark makes each batch carry a watermark from Kafka
	// record timestamps: the partition's largest timestamp so far minus
	// OutOfOrderness, minus 1ms. Otherwise batches carry
	// datastream.NoWatermark and the runtime derives watermarks from a
	// timestamp column.
	RecordTimeWatermark bool
	OutOfOrderness      time.Duration

	// ReadUncommitted reads records of open and aborted transactions too.
	// The default is read-committed isolation.
	ReadUncommitted bool

	Allocator  memory.Allocator // nil: memory.DefaultAllocator
	Now        func() time.Time // clock for MaxBatchDelay; nil: time.Now
	ClientOpts []kgo.Opt        // extra franz-go options (TLS, SASL, fetch sizes)
}

// DefaultSourceConfig returns the defaults; set Brokers, Topic, Schema and
// DeadLetterTopic (and Group) before use.
func DefaultSourceConfig() SourceConfig {
	return SourceConfig{
		Start:          StartCommitted,
		MaxBatchRows:   8192,
		MaxBatchBytes:  4 << 20,
		MaxBatchDelay:  100 * time.Millisecond,
		MergeWait:      10 * time.Second,
		MaxRecordBytes: 1 << 20,
	}
}

// Validate reports the first configuration error.
func (c SourceConfig) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return errors.New("kafka source: no brokers")
	case c.Topic == "":
		return errors.New("kafka source: no topic")
	case c.Schema == nil:
		return errors.New("kafka source: no schema")
	case c.DeadLetterTopic == "":
		return errors.New("kafka source: no dead-letter topic")
	case c.DeadLetterTopic == c.Topic:
		return errors.New("kafka source: the dead-letter topic is the input topic")
	case c.Assignment == AssignByGroup && c.Group == "":
		return errors.New("kafka source: group assignment needs a group")
	case c.Start == StartCommitted && c.Group == "":
		return errors.New("kafka source: start at committed offsets needs a group")
	case c.Start < StartCommitted || c.Start > StartTimestamp:
		return fmt.Errorf("kafka source: unknown start kind %d", c.Start)
	case c.Assignment != AssignByGroup && c.Assignment != AssignAll:
		return fmt.Errorf("kafka source: unknown assignment %d", c.Assignment)
	case c.Partitions != nil && c.Assignment != AssignAll:
		return errors.New("kafka source: a partition list needs AssignAll (the group assigns partitions itself)")
	case c.MaxBatchRows <= 0 || c.MaxBatchBytes <= 0 || c.MaxBatchDelay <= 0:
		return errors.New("kafka source: batch limits must be positive")
	case c.MaxRecordBytes <= 0:
		return errors.New("kafka source: MaxRecordBytes must be positive")
	case c.Merge != MergeArrival && c.Merge != MergeInTurn:
		return fmt.Errorf("kafka source: unknown merge order %d", c.Merge)
	case c.Merge == MergeInTurn && c.Assignment != AssignAll:
		return errors.New("kafka source: merging partitions in turn needs AssignAll (a group may move partitions between members)")
	case c.Merge == MergeInTurn && c.MergeWait <= 0:
		return errors.New("kafka source: MergeWait must be positive")
	}
	return nil
}

// SourceStats are a Source's counters since it was created.
type SourceStats struct {
	Records     int64            // messages decoded into batches
	Bytes       int64            // message value bytes read, good and bad
	Batches     int64            // batches returned
	DeadLetters map[Reason]int64 // messages dead-lettered, by reason
	// Lag is the consumer lag: the sum over partitions of the high
	// watermark last seen in a fetch minus the next offset to return.
	// Records fetched but not yet cut into a batch count as lag.
	Lag int64
	// MergeTimeouts counts the turns (MergeInTurn) a partition was passed
	// over after MergeWait while the topic held records of it not yet
	// fetched: from then on the order of batches depended on timing.
	MergeTimeouts int64
}

// partBuf holds one partition's fetched records not yet cut into a batch.
type partBuf struct {
	recs    []*kgo.Record
	bytes   int
	since   time.Time // when the oldest pending record was fetched
	maxTime int64     // largest record timestamp returned (ms)
	split   string

	// MergeInTurn only:
	fetched int64     // offset after the last message fetched, control records included
	bound   int64     // the partition's high watermark (last stable offset if read-committed), largest seen
	waiting time.Time // when its turn began waiting for records; zero when not waiting
	stalled bool      // passed over after MergeWait; cleared when records arrive
	paused  bool      // fetching paused: it holds more than its turns need
}

// Source reads JSON messages from one Kafka topic into Arrow batches, one
// partition per batch (Batch.Split is "topic/partition"). It implements
// datastream.Source, datastream.Positioner and
// datastream.CheckpointCommitter: positions are the next offset of every
// partition, and committed group offsets follow durable checkpoints only.
//
// ReadBatch and Position are called from one goroutine; CommitCheckpoint,
// Stats and Close may be called from others.
type Source struct {
	cfg SourceConfig
	dec *Decoder
	now func() time.Time

	cl    *kgo.Client // created by the first ReadBatch; written under mu
	admMu sync.Mutex  // guards admCl and adm, created on first use
	admCl *kgo.Client
	adm   *kadm.Client

	// mu guards the fields below and writes of cl: franz-go runs the group
	// callbacks (adjustOffsets, dropPartitions) on its own goroutines. It is
	// never held together with admMu or deadMu, and never across a network
	// call.
	mu       sync.Mutex
	seek     map[int32]int64 // restored position, consumed when partitions are assigned
	parts    map[int32]*partBuf
	next     map[int32]int64 // offset after the last record returned or dead-lettered
	assigned map[int32]bool  // partitions assigned before (start positions apply once)
	announce []int32         // newly assigned partitions not yet announced to the runtime
	hwm      map[int32]int64 // high watermark per partition from the last fetch
	turns    turns           // MergeInTurn: the round robin
	seekTurn int32           // MergeInTurn: the restored position's turn (-1: none)
	// pauseFetch pauses or resumes fetching partitions (tests replace it)
	// when the buffers hold pauseBytes or pauseRecords in all (overfull).
	pauseFetch                  func(parts []int32, pause bool)
	pauseBytes, pauseRecords    int
	bufferedBytes, bufferedRecs int // MergeInTurn: held by all partitions' buffers

	decoded []int // indexes of the messages of the batch being cut that decoded (ReadBatch's goroutine)

	records, bytes, batches, mergeTimeouts atomic.Int64
	deadMu                                 sync.Mutex
	dead                                   map[Reason]int64
	closed                                 atomic.Bool
}

// NewSource checks cfg and returns a Source. It connects lazily: the first
// ReadBatch creates the client, so that SeekTo can come first.
func NewSource(cfg SourceConfig) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dec, err := NewDecoder(cfg.Schema, cfg.Allocator, cfg.MaxRecordBytes)
	if err != nil {
		return nil, fmt.Errorf("kafka source %s: %w", cfg.Topic, err)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	s := &Source{cfg: cfg, dec: dec, now: now, parts: map[int32]*partBuf{}, seekTurn: -1,
		next: map[int32]int64{}, assigned: map[int32]bool{}, hwm: map[int32]int64{}, dead: map[Reason]int64{}}
	s.pauseBytes, s.pauseRecords = 4*s.fetchMaxBytes(), max(64*cfg.MaxBatchRows, 1<<18)
	s.pauseFetch = func(parts []int32, pause bool) {
		if pause {
			s.cl.PauseFetchPartitions(map[string][]int32{s.cfg.Topic: parts})
		} else {
			s.cl.ResumeFetchPartitions(map[string][]int32{s.cfg.Topic: parts})
		}
	}
	return s, nil
}

// SeekTo makes the source resume from pos, a value returned by Position
// (possibly in another process). It must be called before the first
// ReadBatch. Partitions absent from pos start from the configured start; an
// empty pos (a checkpoint taken before the source reported a position) seeks
// nowhere.
func (s *Source) SeekTo(_ context.Context, pos []byte) error {
	if s.cl != nil {
		return errors.New("kafka source: SeekTo after the first ReadBatch")
	}
	if len(pos) == 0 {
		return nil
	}
	var p Position
	if err := p.UnmarshalBinary(pos); err != nil {
		return fmt.Errorf("kafka source %s: seek: %w", s.cfg.Topic, err)
	}
	if p.Topic != s.cfg.Topic {
		return fmt.Errorf("kafka source %s: seek to a position of topic %q: %w", s.cfg.Topic, p.Topic, ErrBadPosition)
	}
	s.mu.Lock()
	s.seek, s.seekTurn = p.Next, p.Turn
	for k, v := range p.Next {
		s.next[k] = v
	}
	s.mu.Unlock()
	return nil
}

// Position returns the next offset of every partition this source has read
// from or been positioned on, encoded as a Position.
func (s *Source) Position() ([]byte, error) {
	s.mu.Lock()
	p := Position{Topic: s.cfg.Topic, Next: make(map[int32]int64, len(s.next)), Turn: -1}
	for k, v := range s.next {
		p.Next[k] = v
	}
	if s.cfg.Merge == MergeInTurn {
		p.Turn = s.turns.partition()
	}
	s.mu.Unlock()
	return p.MarshalBinary()
}

// CommitCheckpoint commits the offsets of a durable checkpoint's position to
// the consumer group (if Group is set), so that lag monitoring and
// StartCommitted see them. Kafka's committed offsets never run ahead of a
// durable checkpoint.
//
// An empty state (a checkpoint taken before the source reported a position)
// commits nothing.
func (s *Source) CommitCheckpoint(ctx context.Context, id int64, state []byte) error {
	if s.cfg.Group == "" || len(state) == 0 {
		return nil
	}
	var p Position
	if err := p.UnmarshalBinary(state); err != nil {
		return fmt.Errorf("kafka source %s: commit checkpoint %d: %w", s.cfg.Topic, id, err)
	}
	adm, err := s.admin()
	if err != nil {
		return err
	}
	os := kadm.Offsets{}
	for part, off := range p.Next {
		os.Add(kadm.Offset{Topic: p.Topic, Partition: part, At: off, LeaderEpoch: -1,
			Metadata: "lakestream checkpoint " + strconv.FormatInt(id, 10)})
	}
	if len(os) == 0 {
		return nil
	}
	s.mu.Lock()
	member := s.cl
	s.mu.Unlock()
	if s.cfg.Assignment == AssignByGroup && member != nil {
		// A member must commit with its generation, through its client.
		// A retriable answer (the coordinator moving or loading) is sent
		// again with the same generation; REBALANCE_IN_PROGRESS is not: the
		// member must rejoin, and the next checkpoint commits.
		commitErr := kafkaretry.Do(ctx, func() error {
			var commitErr error
			done := make(chan struct{})
			member.CommitOffsetsSync(ctx, toEpochOffsets(p), func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
				defer close(done)
				if err != nil {
					commitErr = err
					return
				}
				for _, t := range resp.Topics {
					for _, pp := range t.Partitions {
						if e := kerr.ErrorForCode(pp.ErrorCode); e != nil && commitErr == nil {
							commitErr = fmt.Errorf("partition %d: %w", pp.Partition, e)
						}
					}
				}
			})
			<-done
			return commitErr
		})
		if commitErr != nil {
			return fmt.Errorf("kafka source %s: commit checkpoint %d to group %s: %w", s.cfg.Topic, id, s.cfg.Group, commitErr)
		}
		return nil
	}
	// Offsets committed from outside the group carry no generation, so a
	// rebalance in progress only means "later".
	if err := (kafkaretry.Policy{Rebalance: true}).Do(ctx, func() error { return adm.CommitAllOffsets(ctx, s.cfg.Group, os) }); err != nil {
		return fmt.Errorf("kafka source %s: commit checkpoint %d to group %s: %w", s.cfg.Topic, id, s.cfg.Group, err)
	}
	return nil
}

func toEpochOffsets(p Position) map[string]map[int32]kgo.EpochOffset {
	m := make(map[int32]kgo.EpochOffset, len(p.Next))
	for k, v := range p.Next {
		m[k] = kgo.EpochOffset{Epoch: -1, Offset: v}
	}
	return map[string]map[int32]kgo.EpochOffset{p.Topic: m}
}

// Stats returns the source's counters.
func (s *Source) Stats() SourceStats {
	st := SourceStats{Records: s.records.Load(), Bytes: s.bytes.Load(), Batches: s.batches.Load(), DeadLetters: map[Reason]int64{},
		MergeTimeouts: s.mergeTimeouts.Load()}
	s.deadMu.Lock()
	for k, v := range s.dead {
		st.DeadLetters[k] = v
	}
	s.deadMu.Unlock()
	s.mu.Lock()
	for p, h := range s.hwm {
		if next, ok := s.next[p]; ok && h > next {
			st.Lag += h - next
		}
	}
	s.mu.Unlock()
	return st
}

// Backlog implements datastream.Backlogger: the consumer lag, records
// between the source's position and the partitions' high watermarks as of
// the last fetch, summed over its partitions.
func (s *Source) Backlog() int64 { return s.Stats().Lag }

// Close stops fetching and releases the client and the decoder.
func (s *Source) Close(context.Context) error {
	if s.closed.Swap(true) {
		return nil
	}
	s.mu.Lock()
	cl := s.cl
	s.mu.Unlock()
	if cl != nil {
		cl.Close()
	}
	s.admMu.Lock()
	if s.admCl != nil {
		s.admCl.Close()
	}
	s.admMu.Unlock()
	s.dec.Release()
	return nil
}

func (s *Source) admin() (*kadm.Client, error) {
	s.admMu.Lock()
	defer s.admMu.Unlock()
	if s.adm != nil {
		return s.adm, nil
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(s.cfg.Brokers...)}, s.cfg.ClientOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka source %s: admin client: %w", s.cfg.Topic, err)
	}
	s.admCl, s.adm = cl, kadm.NewClient(cl)
	return s.adm, nil
}

// startOffsets resolves where each partition of the topic starts: the
// restored position, else the configured start, as concrete offsets, so
// Position covers every partition from the first batch on.
func (s *Source) startOffsets(ctx context.Context, adm *kadm.Client) (map[int32]int64, error) {
	var (
		listed kadm.ListedOffsets
		err    error
	)
	err = kafkaretry.Do(ctx, func() error {
		switch s.cfg.Start {
		case StartLatest:
			listed, err = adm.ListEndOffsets(ctx, s.cfg.Topic)
		case StartTimestamp:
			listed, err = adm.ListOffsetsAfterMilli(ctx, s.cfg.StartMillis, s.cfg.Topic)
		default:
			listed, err = adm.ListStartOffsets(ctx, s.cfg.Topic)
		}
		if err == nil {
			err = listed.Error()
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("kafka source %s: list offsets: %w", s.cfg.Topic, err)
	}
	out := map[int32]int64{}
	listed.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	if len(out) == 0 {
		return nil, fmt.Errorf("kafka source %s: topic has no partitions (does it exist?)", s.cfg.Topic)
	}
	if s.cfg.Start == StartCommitted {
		var committed kadm.OffsetResponses
		err := kafkaretry.Do(ctx, func() error {
			var err error
			committed, err = adm.FetchOffsetsForTopics(ctx, s.cfg.Group, s.cfg.Topic)
			if err == nil {
				err = committed.Error()
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("kafka source %s: committed offsets of group %s: %w", s.cfg.Topic, s.cfg.Group, err)
		}
		committed.Each(func(o kadm.OffsetResponse) {
			if _, ok := out[o.Partition]; ok && o.At >= 0 {
				out[o.Partition] = o.At
			}
		})
	}
	s.mu.Lock()
	for p, off := range s.seek {
		out[p] = off
	}
	s.mu.Unlock()
	return out, nil
}

// assignAll starts reading every partition of the topic at its start
// offset; ends are their end offsets (endOffsets), for MergeInTurn.
func (s *Source) assignAll(starts, ends map[int32]int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for p, off := range starts {
		s.next[p] = off
		s.announce = append(s.announce, p)
		if s.cfg.Merge == MergeInTurn {
			end, ok := ends[p]
			if !ok {
				end = off
			}
			s.parts[p] = &partBuf{split: s.split(p), maxTime: -1 << 62, fetched: off, bound: end}
		}
	}
	slices.Sort(s.announce)
	if s.cfg.Merge == MergeInTurn {
		s.turns = newTurns(s.announce)
		s.turns.seek(s.seekTurn)
	}
}

// endOffsets lists the offset below which each partition has records a
// read would return now: the high watermarks, or under read-committed the
// last stable offsets.
func (s *Source) endOffsets(ctx context.Context, adm *kadm.Client) (map[int32]int64, error) {
	var listed kadm.ListedOffsets
	err := kafkaretry.Do(ctx, func() error {
		var err error
		if s.cfg.ReadUncommitted {
			listed, err = adm.ListEndOffsets(ctx, s.cfg.Topic)
		} else {
			listed, err = adm.ListCommittedOffsets(ctx, s.cfg.Topic)
		}
		if err == nil {
			err = listed.Error()
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("kafka source %s: list end offsets: %w", s.cfg.Topic, err)
	}
	out := map[int32]int64{}
	listed.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out, nil
}

func (s *Source) connect(ctx context.Context) error {
	opts := []kgo.Opt{
		kgo.SeedBrokers(s.cfg.Brokers...),
		kgo.FetchMaxPartitionBytes(int32(s.fetchPartitionBytes())),
		kgo.FetchMaxBytes(int32(s.fetchMaxBytes())),
	}
	if !s.cfg.ReadUncommitted {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	switch s.cfg.Assignment {
	case AssignAll:
		adm, err := s.admin()
		if err != nil {
			return err
		}
		starts, err := s.startOffsets(ctx, adm)
		if err != nil {
			return err
		}
		if s.cfg.Partitions != nil {
			only := make(map[int32]int64, len(s.cfg.Partitions))
			for _, p := range s.cfg.Partitions {
				off, ok := starts[p]
				if !ok {
					return fmt.Errorf("kafka source %s: partition %d does not exist (the topic has %d)", s.cfg.Topic, p, len(starts))
				}
				only[p] = off
			}
			starts = only
		}
		var ends map[int32]int64
		if s.cfg.Merge == MergeInTurn {
			if ends, err = s.endOffsets(ctx, adm); err != nil {
				return err
			}
			// Control records (transaction markers) come back too, so
			// that a partition whose last message is one is seen to be
			// caught up.
			opts = append(opts, kgo.KeepControlRecords())
		}
		offs := make(map[int32]kgo.Offset, len(starts))
		for p, off := range starts {
			offs[p] = kgo.NewOffset().At(off)
		}
		s.assignAll(starts, ends)
		opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{s.cfg.Topic: offs}))
	case AssignByGroup:
		reset := kgo.NewOffset().AtStart()
		switch s.cfg.Start {
		case StartLatest:
			reset = kgo.NewOffset().AtEnd()
		case StartTimestamp:
			reset = kgo.NewOffset().AfterMilli(s.cfg.StartMillis)
		}
		opts = append(opts,
			kgo.ConsumerGroup(s.cfg.Group),
			kgo.ConsumeTopics(s.cfg.Topic),
			kgo.DisableAutoCommit(),
			kgo.ConsumeResetOffset(reset),
			kgo.AdjustFetchOffsetsFn(s.adjustOffsets),
			kgo.OnPartitionsRevoked(s.dropPartitions),
			kgo.OnPartitionsLost(s.dropPartitions),
		)
		if s.cfg.InstanceID != "" {
			opts = append(opts, kgo.InstanceID(s.cfg.InstanceID))
		}
	}
	cl, err := kgo.NewClient(append(opts, s.cfg.ClientOpts...)...)
	if err != nil {
		return fmt.Errorf("kafka source %s: client: %w", s.cfg.Topic, err)
	}
	s.mu.Lock()
	s.cl = cl
	s.mu.Unlock()
	return nil
}

// adjustOffsets runs when the group assigns partitions, with the committed
// offsets (or the reset offset) franz-go is about to fetch from. A restored
// position wins; otherwise a non-committed start applies to a partition's
// first assignment.
func (s *Source) adjustOffsets(_ context.Context, m map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for p := range m[s.cfg.Topic] {
		first := !s.assigned[p]
		s.assigned[p] = true
		s.announce = append(s.announce, p)
		if off, ok := s.seek[p]; ok {
			m[s.cfg.Topic][p] = kgo.NewOffset().At(off)
			delete(s.seek, p)
			continue
		}
		if !first {
			continue
		}
		switch s.cfg.Start {
		case StartEarliest:
			m[s.cfg.Topic][p] = kgo.NewOffset().AtStart()
		case StartLatest:
			m[s.cfg.Topic][p] = kgo.NewOffset().AtEnd()
		case StartTimestamp:
			m[s.cfg.Topic][p] = kgo.NewOffset().AfterMilli(s.cfg.StartMillis)
		}
	}
	return m, nil
}

// dropPartitions forgets revoked or lost partitions: their buffered records
// belong to the next owner, and they leave this source's position.
func (s *Source) dropPartitions(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range lost[s.cfg.Topic] {
		delete(s.parts, p)
		delete(s.next, p)
		delete(s.hwm, p)
	}
}

// ReadBatch blocks until some partition has a full batch, or a partial one
// whose oldest record has waited MaxBatchDelay, and returns it decoded.
// Before the first rows of a newly assigned partition it returns one
// heartbeat (nil Record) naming the partition's split, so the runtime holds
// the watermark back for it.
// Messages that do not decode are produced to the dead-letter topic (and
// acknowledged) before the batch that passes them is returned.
func (s *Source) ReadBatch(ctx context.Context) (datastream.Batch, error) {
	b, _, err := s.read(ctx, -1)
	return b, err
}

// ReadBatchWithin is ReadBatch that gives up after wait: ok is false when
// no batch was ready by then (nothing is lost: records fetched meanwhile
// stay buffered for the next call). Position covers exactly the batches
// returned so far, so a caller that trains each batch before the next call
// reads, at a batch boundary, the offsets of everything it trained.
func (s *Source) ReadBatchWithin(ctx context.Context, wait time.Duration) (b datastream.Batch, ok bool, err error) {
	return s.read(ctx, max(wait, 0))
}

// read is ReadBatch with a limit on the wait; a negative limit waits until
// a batch is ready.
func (s *Source) read(ctx context.Context, limit time.Duration) (datastream.Batch, bool, error) {
	if s.closed.Load() {
		return datastream.Batch{}, false, ErrClosed
	}
	if s.cl == nil {
		if err := s.connect(ctx); err != nil {
			return datastream.Batch{}, false, err
		}
	}
	var deadline time.Time
	if limit >= 0 {
		deadline = time.Now().Add(limit)
	}
	for {
		if b, ok := s.announceSplit(); ok {
			return b, true, nil
		}
		b, ok, wait, err := s.cut(ctx)
		if err != nil || ok {
			return b, ok, err
		}
		if s.cfg.Merge == MergeArrival {
			wait = s.cfg.MaxBatchDelay
			s.mu.Lock()
			now := s.now()
			for _, pb := range s.parts {
				if len(pb.recs) > 0 {
					wait = min(wait, max(pb.since.Add(s.cfg.MaxBatchDelay).Sub(now), time.Millisecond))
				}
			}
			s.mu.Unlock()
		}
		if wait <= 0 {
			continue // a batch of dead letters only: the next one may be ready
		}
		if limit >= 0 {
			left := time.Until(deadline)
			if left <= 0 {
				return datastream.Batch{}, false, nil
			}
			wait = min(wait, left)
		}
		if err := s.poll(ctx, wait); err != nil {
			return datastream.Batch{}, false, err
		}
	}
}

func (s *Source) poll(ctx context.Context, wait time.Duration) error {
	pctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	fs := s.cl.PollRecords(pctx, 4*s.cfg.MaxBatchRows)
	if err := ctx.Err(); err != nil {
		return err
	}
	if fs.IsClientClosed() {
		return ErrClosed
	}
	var ferr error
	fs.EachError(func(t string, p int32, err error) {
		var loss *kgo.ErrDataLoss
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.As(err, &loss) {
			return // poll timeout; data loss is informational (franz-go resets the offset)
		}
		if ferr == nil {
			ferr = fmt.Errorf("kafka source: fetch %s/%d: %w", t, p, err)
		}
	})
	if ferr != nil {
		return ferr
	}
	now := s.now()
	var pause []int32
	s.mu.Lock()
	fs.EachPartition(func(ftp kgo.FetchTopicPartition) {
		if ftp.HighWatermark > 0 {
			s.hwm[ftp.Partition] = ftp.HighWatermark
		}
		bound := ftp.LastStableOffset
		if s.cfg.ReadUncommitted {
			bound = ftp.HighWatermark
		}
		if s.fetchedLocked(ftp.Partition, ftp.Records, bound, now) {
			pause = append(pause, ftp.Partition)
		}
	})
	s.mu.Unlock()
	if len(pause) > 0 {
		// Partitions whose turns are far ahead stop fetching until the
		// turn catches up (cut resumes them), so waiting for a slow one
		// does not buffer the others without bound. franz-go drops what it
		// buffered of them and fetches it again on resuming.
		s.pauseFetch(pause, true)
	}
	return nil
}

// fetchedLocked buffers the records a fetch returned for partition p, with
// the partition's end offset in that fetch (bound, for MergeInTurn). It
// says whether p's fetching should pause (MergeInTurn: far ahead of its
// turns). Called with s.mu held.
func (s *Source) fetchedLocked(p int32, recs []*kgo.Record, bound int64, now time.Time) (pause bool) {
	pb := s.parts[p]
	inTurn := s.cfg.Merge == MergeInTurn
	if inTurn && pb != nil {
		pb.bound = max(pb.bound, bound)
	}
	if len(recs) == 0 {
		return false
	}
	if pb == nil {
		pb = &partBuf{split: s.split(p), maxTime: -1 << 62}
		s.parts[p] = pb
	}
	if len(pb.recs) == 0 {
		pb.since = now
	}
	pb.recs = append(pb.recs, recs...)
	size := 0
	for _, r := range recs {
		size += len(r.Value)
	}
	pb.bytes += size
	if !inTurn {
		return false
	}
	s.bufferedBytes += size
	s.bufferedRecs += len(recs)
	pb.fetched, pb.stalled = recs[len(recs)-1].Offset+1, false
	if !pb.paused && s.overfull(pb) {
		pb.paused = true
		return true
	}
	return false
}

// announceSplit returns a heartbeat for a newly assigned partition, if any.
// Its watermark, just above NoWatermark, registers the split with the
// runtime, so the source's watermark (the minimum over its splits) waits for
// this partition's first rows instead of running ahead on the partitions that
// delivered first.
func (s *Source) announceSplit() (datastream.Batch, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.announce) == 0 {
		return datastream.Batch{}, false
	}
	p := s.announce[0]
	s.announce = s.announce[1:]
	return datastream.Batch{Watermark: datastream.NoWatermark + 1, Split: s.split(p)}, true
}

func (s *Source) split(p int32) string { return s.cfg.Topic + "/" + strconv.Itoa(int(p)) }

// cut returns the next batch: under MergeArrival the batch of the first
// ready partition, under MergeInTurn the batch of the partition whose turn
// it is. When there is none, it says how long to poll for (0: ask again).
func (s *Source) cut(ctx context.Context) (datastream.Batch, bool, time.Duration, error) {
	s.mu.Lock()
	now := s.now()
	var (
		part int32
		pb   *partBuf
		wait time.Duration
	)
	if s.cfg.Merge == MergeInTurn {
		part, pb, wait = s.pickInTurnLocked(now)
	} else {
		for p, b := range s.parts {
			if len(b.recs) == 0 {
				continue
			}
			if s.full(b) || now.Sub(b.since) >= s.cfg.MaxBatchDelay {
				part, pb = p, b
				break
			}
		}
	}
	if pb == nil {
		s.mu.Unlock()
		return datastream.Batch{}, false, wait, nil
	}
	n, size := 0, 0
	for n < len(pb.recs) && n < s.cfg.MaxBatchRows && size < s.cfg.MaxBatchBytes {
		size += len(pb.recs[n].Value)
		n++
	}
	recs := pb.recs[:n:n]
	pb.recs = pb.recs[n:]
	pb.bytes -= size
	s.bufferedBytes -= size
	s.bufferedRecs -= n
	if len(pb.recs) == 0 {
		pb.recs = nil
	} else {
		pb.since = now
	}
	resume := pb.paused && s.drained(pb)
	if s.cfg.Merge == MergeInTurn {
		s.turns.passed(part)
		pb.paused = pb.paused && !resume
	}
	s.mu.Unlock()
	if resume {
		s.pauseFetch([]int32{part}, false)
	}

	var bad []*kgo.Record
	s.dec.Reserve(len(recs))
	maxTime := pb.maxTime
	s.decoded = s.decoded[:0]
	for i, r := range recs {
		if r.Attrs.IsControl() {
			continue // a transaction marker (MergeInTurn keeps them)
		}
		if err := s.dec.Decode(r.Value); err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				return datastream.Batch{}, false, 0, err
			}
			bad = append(bad, deadLetter(s.cfg.DeadLetterTopic, r, de, s.cfg.MaxRecordBytes))
			s.countDead(de.Reason)
			continue
		}
		s.decoded = append(s.decoded, i)
		maxTime = max(maxTime, r.Timestamp.UnixMilli())
	}
	rec := s.dec.NewRecord()
	if s.cfg.Reject != nil && rec.NumRows() > 0 {
		var err error
		if rec, bad, err = s.reject(rec, recs, bad); err != nil {
			return datastream.Batch{}, false, 0, err
		}
	}
	if len(bad) > 0 {
		// The position passes these records once the batch is returned, so
		// they must be in the dead-letter topic first.
		if err := s.cl.ProduceSync(ctx, bad...).FirstErr(); err != nil {
			rec.Release()
			return datastream.Batch{}, false, 0, fmt.Errorf("kafka source %s/%d: produce %d records to dead-letter topic %s: %w",
				s.cfg.Topic, part, len(bad), s.cfg.DeadLetterTopic, err)
		}
	}
	s.mu.Lock()
	if _, still := s.parts[part]; still || s.cfg.Assignment == AssignAll {
		s.next[part] = recs[len(recs)-1].Offset + 1
	}
	pb.maxTime = maxTime
	s.mu.Unlock()
	s.bytes.Add(int64(size))
	if rec.NumRows() == 0 {
		rec.Release()
		return datastream.Batch{}, false, 0, nil
	}
	s.records.Add(rec.NumRows())
	s.batches.Add(1)
	wm := datastream.NoWatermark
	if s.cfg.RecordTimeWatermark && maxTime > -1<<62 {
		wm = maxTime - s.cfg.OutOfOrderness.Milliseconds() - 1
	}
	return datastream.Batch{Record: rec, Watermark: wm, Split: pb.split}, true, 0, nil
}

// reject asks SourceConfig.Reject about rec, the decoded messages of recs
// (s.decoded maps its rows to them), and when it refuses rows, adds their
// dead letters to bad and decodes the others again into a new record.
func (s *Source) reject(rec arrow.Record, recs []*kgo.Record, bad []*kgo.Record) (arrow.Record, []*kgo.Record, error) {
	rows := s.cfg.Reject(rec)
	if len(rows) == 0 {
		return rec, bad, nil
	}
	rec.Release()
	s.dec.Reserve(len(s.decoded) - len(rows))
	next := 0
	for row, i := range s.decoded {
		if next < len(rows) && rows[next].Row == row {
			re := rows[next]
			next++
			de := &DecodeError{Reason: ReasonRejected, Field: re.Column, Detail: re.Detail}
			bad = append(bad, deadLetter(s.cfg.DeadLetterTopic, recs[i], de, s.cfg.MaxRecordBytes))
			s.countDead(ReasonRejected)
			continue
		}
		if err := s.dec.Decode(recs[i].Value); err != nil {
			return nil, nil, fmt.Errorf("kafka source %s/%d offset %d: decode again after a rejection: %w",
				s.cfg.Topic, recs[i].Partition, recs[i].Offset, err)
		}
	}
	if next != len(rows) {
		s.dec.NewRecord().Release()
		return nil, nil, fmt.Errorf("kafka source %s: Reject returned rows %v, not increasing rows of the %d-row batch",
			s.cfg.Topic, rows, len(s.decoded))
	}
	return s.dec.NewRecord(), bad, nil
}

func (s *Source) countDead(r Reason) {
	s.deadMu.Lock()
	s.dead[r]++
	s.deadMu.Unlock()
}
