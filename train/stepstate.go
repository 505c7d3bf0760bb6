package train

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// snapshotStore is the parameter store capability checkpoints need
// (paramserver.Local has it).
type snapshotStore interface {
	WriteSnapshot(ctx context.Context, w io.Writer) error
	ReadSnapshot(ctx context.Context, r io.Reader) error
}

// CanCheckpoint reports whether the Stepper's training state can go into
// checkpoints (WriteState): its parameter store snapshots its tables, as
// paramserver.Local does.
func (s *Stepper) CanCheckpoint() bool {
	_, ok := s.snapshotter()
	return ok
}

func (s *Stepper) snapshotter() (snapshotStore, bool) {
	st := s.store
	if ws, ok := st.(*warmStore); ok {
		// A warm-started store holds the change from the base model: that
		// change is the training state (the base is read again on restore).
		st = ws.inner
	}
	ss, ok := st.(snapshotStore)
	return ss, ok
}

// WriteState appends the Stepper's training state to b: the steps taken,
// the keys trained (the rows Export reads) and the parameter store's
// tables with their optimizer state and per-row step counts. The store
// must snapshot its tables (CanCheckpoint); a warm-started Stepper writes
// the change from its base model.
//
// Layout: u64 steps | u64 nkeys | keys (u64 each) | store snapshot.
func (s *Stepper) WriteState(ctx context.Context, b *bytes.Buffer) error {
	ss, ok := s.snapshotter()
	if !ok {
		return errors.New("train: the parameter store cannot snapshot its tables")
	}
	keys := s.seen.keys(nil)
	n := b.Len()
	b.Grow(16 + 8*len(keys))
	kb := b.AvailableBuffer()
	kb = binary.LittleEndian.AppendUint64(kb, uint64(s.steps))
	kb = binary.LittleEndian.AppendUint64(kb, uint64(len(keys)))
	for _, k := range keys {
		kb = binary.LittleEndian.AppendUint64(kb, k)
	}
	b.Write(kb)
	if err := ss.WriteSnapshot(ctx, b); err != nil {
		b.Truncate(n)
		return fmt.Errorf("snapshot parameter tables: %w", err)
	}
	return nil
}

// ReadState restores a state written by WriteState into the Stepper and
// its store; call it before the first step (after WarmStart with the same
// base, if any).
func (s *Stepper) ReadState(ctx context.Context, state []byte) error {
	ss, ok := s.snapshotter()
	if !ok {
		return errors.New("train: the parameter store cannot restore a snapshot")
	}
	if len(state) < 16 {
		return errors.New("train: training state truncated")
	}
	steps := binary.LittleEndian.Uint64(state)
	nk := binary.LittleEndian.Uint64(state[8:])
	state = state[16:]
	if nk > uint64(len(state))/8 {
		return errors.New("train: training state: truncated key list")
	}
	for i := range nk {
		s.seen.add(binary.LittleEndian.Uint64(state[8*i:]))
	}
	if err := ss.ReadSnapshot(ctx, bytes.NewReader(state[8*nk:])); err != nil {
		return fmt.Errorf("restore parameter tables: %w", err)
	}
	s.steps = int64(steps)
	return nil
}
