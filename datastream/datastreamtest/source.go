package datastreamtest

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/lakestream/lakestream/datastream"
)

// Step is one step of a scripted Source: wait until Wait is closed (when
// set), advance the clock by Advance (when the source has a clock), then
// return Batch. A step with a nil Record is a
// heartbeat. The Source retains Batch.Record for each read, so the test
// keeps ownership of its records and may serve them to several sources.
type Step struct {
	Wait    <-chan struct{}
	Advance time.Duration
	Batch   datastream.Batch
}

// Source is a scripted datastream.Source with positions (the index of the
// next step) and commit tracking. It is used by one job goroutine, but its
// inspection methods are safe for concurrent use.
type Source struct {
	clock *FakeClock
	steps []Step

	mu      sync.Mutex
	next    int
	blockAt int
	blocked chan struct{}
	ended   chan struct{}
	endOnce sync.Once
	commits []int64
	closed  bool
}

// NewSource returns a source serving steps, then ErrEndOfInput. clock may
// be nil.
func NewSource(clock *FakeClock, steps ...Step) *Source {
	return &Source{clock: clock, steps: steps, blockAt: -1, blocked: make(chan struct{}), ended: make(chan struct{})}
}

// BlockAt makes ReadBatch block (until its context is done) when the next
// step is i or later, like an unbounded source waiting for data; Blocked is
// then closed.
func (s *Source) BlockAt(i int) *Source {
	s.blockAt = i
	return s
}

// Blocked is closed once ReadBatch blocks at the BlockAt step.
func (s *Source) Blocked() <-chan struct{} { return s.blocked }

// Ended is closed once ReadBatch has returned ErrEndOfInput.
func (s *Source) Ended() <-chan struct{} { return s.ended }

// ReadBatch returns the next step's batch.
func (s *Source) ReadBatch(ctx context.Context) (datastream.Batch, error) {
	s.mu.Lock()
	i := s.next
	s.mu.Unlock()
	if s.blockAt >= 0 && i >= s.blockAt {
		close(s.blocked)
		<-ctx.Done()
		return datastream.Batch{}, ctx.Err()
	}
	if i >= len(s.steps) {
		s.endOnce.Do(func() { close(s.ended) })
		return datastream.Batch{}, datastream.ErrEndOfInput
	}
	st := s.steps[i]
	if st.Wait != nil {
		select {
		case <-st.Wait:
		case <-ctx.Done():
			return datastream.Batch{}, ctx.Err()
		}
	}
	s.mu.Lock()
	s.next++ // before advancing, so timers fired by the advance see this step read
	s.mu.Unlock()
	if st.Advance > 0 && s.clock != nil {
		s.clock.Advance(st.Advance)
	}
	if st.Batch.Record != nil {
		st.Batch.Record.Retain()
	}
	return st.Batch, nil
}

// Position encodes the index of the next step.
func (s *Source) Position() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return binary.BigEndian.AppendUint64(nil, uint64(s.next)), nil
}

// SeekTo continues from a position returned by Position.
func (s *Source) SeekTo(_ context.Context, pos []byte) error {
	if len(pos) != 8 {
		return fmt.Errorf("datastreamtest: bad position %x", pos)
	}
	n := binary.BigEndian.Uint64(pos)
	if n > uint64(len(s.steps)) {
		return fmt.Errorf("datastreamtest: position %d beyond %d steps", n, len(s.steps))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next = int(n)
	return nil
}

// CommitCheckpoint records id (see Commits).
func (s *Source) CommitCheckpoint(_ context.Context, id int64, pos []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commits = append(s.commits, id)
	return nil
}

// Commits returns the ids of the checkpoints committed so far.
func (s *Source) Commits() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int64(nil), s.commits...)
}

// Next returns the index of the next step.
func (s *Source) Next() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next
}

// Close marks the source closed.
func (s *Source) Close(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("datastreamtest: source closed twice")
	}
	s.closed = true
	return nil
}

// Closed reports whether Close was called.
func (s *Source) Closed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}
