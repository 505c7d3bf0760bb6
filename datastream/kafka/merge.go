package kafka

import (
	"slices"
	"time"
)

// Merge says in which order a Source returns the batches of its partitions.
type Merge int

// Merge orders.
const (
	// MergeArrival returns a partition's batch as soon as it is full, or
	// its oldest record has waited MaxBatchDelay: partitions interleave as
	// fetches happen to deliver them. It is the default.
	MergeArrival Merge = iota
	// MergeInTurn returns batches in a fixed round robin over the
	// partitions in ascending order, one batch per partition per turn: the
	// next MaxBatchRows messages of the partition (fewer when MaxBatchBytes
	// is reached first, or when the partition is caught up). A partition
	// with records in the topic that are not fetched yet is waited for (at
	// most MergeWait); one that is caught up, all of its records below the
	// high watermark (the last stable offset under read-committed) handed
	// out, is skipped. So whenever the records are in the topic, the
	// sequence of batches is a function of the topic's contents and the
	// start position alone, and the turn is part of Position: a source
	// restored from a checkpoint continues the sequence an uninterrupted
	// one returns. Records that arrive while the source is caught up are
	// returned as they come, and a partition skipped after MergeWait
	// (SourceStats.MergeTimeouts) is out of turn. It needs AssignAll.
	MergeInTurn
)

// turns is the round robin of MergeInTurn: the partitions in ascending
// order and the index of the one whose turn is next.
type turns struct {
	order []int32
	next  int
}

func newTurns(parts []int32) turns {
	order := slices.Clone(parts)
	slices.Sort(order)
	return turns{order: order}
}

// at returns the partition i places after the one whose turn it is.
func (t *turns) at(i int) int32 { return t.order[(t.next+i)%len(t.order)] }

// partition returns the partition whose turn it is, -1 if there is none.
func (t *turns) partition() int32 {
	if len(t.order) == 0 {
		return -1
	}
	return t.order[t.next]
}

// seek gives the turn to p, or to the first partition above it (wrapping
// around); -1 leaves it to the lowest partition.
func (t *turns) seek(p int32) {
	i, _ := slices.BinarySearch(t.order, p)
	if p < 0 || i == len(t.order) {
		i = 0
	}
	t.next = i
}

// passed gives the turn to the partition after p.
func (t *turns) passed(p int32) {
	i, _ := slices.BinarySearch(t.order, p)
	t.next = (i + 1) % len(t.order)
}

// pickInTurnLocked returns the partition whose batch comes next under
// MergeInTurn and its buffer, or nil and how long to poll before asking
// again. Called with s.mu held.
func (s *Source) pickInTurnLocked(now time.Time) (int32, *partBuf, time.Duration) {
	for i := range len(s.turns.order) {
		p := s.turns.at(i)
		pb := s.parts[p]
		if pb == nil {
			continue
		}
		if s.full(pb) {
			pb.waiting = time.Time{}
			return p, pb, 0
		}
		if pb.stalled || pb.fetched >= pb.bound {
			// Caught up (or given up on): what is buffered is all there
			// is of this partition now.
			pb.waiting = time.Time{}
			if len(pb.recs) > 0 {
				return p, pb, 0
			}
			continue
		}
		// The topic holds records of this partition not fetched yet: its
		// turn waits for them.
		if pb.waiting.IsZero() {
			pb.waiting = now
		}
		if left := pb.waiting.Add(s.cfg.MergeWait).Sub(now); left > 0 {
			return -1, nil, left
		}
		// Waited in vain (its leader down, or its records compacted
		// away): the others go on without it until records of it arrive.
		s.mergeTimeouts.Add(1)
		pb.waiting, pb.stalled = time.Time{}, true
		if len(pb.recs) > 0 {
			return p, pb, 0
		}
	}
	return -1, nil, s.cfg.MaxBatchDelay
}

// full says whether pb holds a whole batch.
func (s *Source) full(pb *partBuf) bool {
	return len(pb.recs) >= s.cfg.MaxBatchRows || pb.bytes >= s.cfg.MaxBatchBytes
}

// overfull says whether pb should stop fetching (MergeInTurn): the
// buffers hold the budget (pauseBytes or pauseRecords, four times the most
// one fetch returns) and pb holds a fetch's worth of it. Pausing drops what
// franz-go buffered of the partition, to be fetched and decompressed again,
// so it must not happen in a balanced stream, where the buffers hold about
// a fetch; it happens while the turn waits for a partition that the broker
// serves behind the others.
func (s *Source) overfull(pb *partBuf) bool {
	over := s.bufferedBytes >= s.pauseBytes || s.bufferedRecs >= s.pauseRecords
	return over && (pb.bytes >= s.fetchPartitionBytes() || len(pb.recs) >= s.pauseRecords/8)
}

// drained says whether a paused pb may fetch again: the buffers are under
// half the budget, or pb no longer holds a whole batch (its next turn would
// wait for a fetch).
func (s *Source) drained(pb *partBuf) bool {
	return (s.bufferedBytes < s.pauseBytes/2 && s.bufferedRecs < s.pauseRecords/2) || !s.full(pb)
}

// fetchPartitionBytes is the most a fetch returns of one partition, and
// fetchMaxBytes of all.
func (s *Source) fetchPartitionBytes() int { return max(s.cfg.MaxBatchBytes, 1<<20) }
func (s *Source) fetchMaxBytes() int       { return max(4*s.cfg.MaxBatchBytes, 16<<20) }
