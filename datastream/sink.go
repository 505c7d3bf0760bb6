package datastream

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
)

// sinkOp runs a Sink at the end of a chain.
type sinkOp struct {
	baseOp
	sink     Sink
	twoPhase TwoPhaseSink
	stateful StatefulSink
	prepared []byte
}

func newSinkOp(s Sink) *sinkOp {
	op := &sinkOp{sink: s}
	op.twoPhase, _ = s.(TwoPhaseSink)
	op.stateful, _ = s.(StatefulSink)
	return op
}

func (s *sinkOp) process(_ int, rec arrow.Record) error {
	if err := s.sink.WriteBatch(s.c.ctx, Batch{Record: rec, Watermark: s.c.wm}); err != nil {
		return fmt.Errorf("write batch: %w", err)
	}
	return nil
}

// Sink state file versions: the leading byte says what follows, so that an
// empty description still marks the sink as prepared.
const (
	sinkStateTwoPhase = 1 // the TwoPhaseSink description
	sinkStateStateful = 2 // uvarint len(description) | description | StatefulSink state
)

// snapshot prepares the pending output of a TwoPhaseSink and takes the
// state of a StatefulSink.
func (s *sinkOp) snapshot(id int64) ([]byte, error) {
	if s.twoPhase == nil && s.stateful == nil {
		return nil, nil
	}
	var p []byte
	if s.twoPhase != nil {
		var err error
		if p, err = s.twoPhase.PrepareCheckpoint(s.c.ctx, id); err != nil {
			return nil, fmt.Errorf("prepare: %w", err)
		}
		s.prepared = p
	}
	if s.stateful == nil {
		return append([]byte{sinkStateTwoPhase}, p...), nil
	}
	st, err := s.stateful.SnapshotState(s.c.ctx, id)
	if err != nil {
		return nil, fmt.Errorf("snapshot sink state: %w", err)
	}
	out := make([]byte, 0, 1+binary.MaxVarintLen64+len(p)+len(st))
	out = append(out, sinkStateStateful)
	out = binary.AppendUvarint(out, uint64(len(p)))
	out = append(out, p...)
	return append(out, st...), nil
}

func (s *sinkOp) restore(state []byte) error {
	if s.twoPhase == nil && s.stateful == nil {
		return nil
	}
	if len(state) == 0 {
		return fmt.Errorf("%w: sink state version", ErrBadManifest)
	}
	var p, st []byte
	switch state[0] {
	case sinkStateTwoPhase:
		p = state[1:]
	case sinkStateStateful:
		n, k := binary.Uvarint(state[1:])
		if k <= 0 || n > uint64(len(state)-1-k) {
			return fmt.Errorf("%w: sink state length", ErrBadManifest)
		}
		p, st = state[1+k:1+k+int(n)], state[1+k+int(n):]
	default:
		return fmt.Errorf("%w: sink state version %d", ErrBadManifest, state[0])
	}
	if s.stateful != nil {
		if state[0] != sinkStateStateful {
			return fmt.Errorf("%w: the checkpoint holds no state of stateful sink %s", ErrBadManifest, s.c.name)
		}
		if err := s.stateful.RestoreState(s.c.ctx, s.c.restoredID, st); err != nil {
			return fmt.Errorf("restore sink state from checkpoint %d: %w", s.c.restoredID, err)
		}
	}
	if s.twoPhase != nil {
		if err := s.twoPhase.RecoverCheckpoint(s.c.ctx, s.c.restoredID, p); err != nil {
			return fmt.Errorf("recover checkpoint %d: %w", s.c.restoredID, err)
		}
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
