package datastream

import (
	"context"
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
)

// sinkOp runs a Sink at the end of a chain.
type sinkOp struct {
	baseOp
	sink     Sink
	twoPhase TwoPhaseSink
	prepared []byte
}

func newSinkOp(s Sink) *sinkOp {
	op := &sinkOp{sink: s}
	op.twoPhase, _ = s.(TwoPhaseSink)
	return op
}

func (s *sinkOp) process(_ int, rec arrow.Record) error {
	if err := s.sink.WriteBatch(s.c.ctx, Batch{Record: rec, Watermark: s.c.wm}); err != nil {
		return fmt.Errorf("write batch: %w", err)
	}
	return nil
}

// snapshot prepares the pending output of a TwoPhaseSink; the description
// is kept in the state file with a leading version byte, so that an empty
// description still marks the sink as prepared.
func (s *sinkOp) snapshot(id int64) ([]byte, error) {
	if s.twoPhase == nil {
		return nil, nil
	}
	p, err := s.twoPhase.PrepareCheckpoint(s.c.ctx, id)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	s.prepared = p
	return append([]byte{1}, p...), nil
}

func (s *sinkOp) restore(state []byte) error {
	if s.twoPhase == nil {
		return nil
	}
	if len(state) == 0 || state[0] != 1 {
		return fmt.Errorf("%w: sink state version", ErrBadManifest)
	}
	if err := s.twoPhase.RecoverCheckpoint(s.c.ctx, s.c.restoredID, state[1:]); err != nil {
		return fmt.Errorf("recover checkpoint %d: %w", s.c.restoredID, err)
	}
	return nil
}

// endInput commits the output written since the last checkpoint of a
// TwoPhaseSink when bounded input ends (see FinalCheckpointID).
func (s *sinkOp) endInput(drain bool) error {
	if !drain || s.twoPhase == nil {
		return nil
	}
	p, err := s.twoPhase.PrepareCheckpoint(s.c.ctx, FinalCheckpointID)
	if err != nil {
		return fmt.Errorf("prepare final commit: %w", err)
	}
	if err := s.twoPhase.CommitCheckpoint(s.c.ctx, FinalCheckpointID, p); err != nil {
		return fmt.Errorf("final commit: %w", err)
	}
	return nil
}

func (s *sinkOp) close(ctx context.Context) error { return s.sink.Close(ctx) }
