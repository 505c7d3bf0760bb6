package paramserver

import (
	"context"
	"fmt"
	"sync"
)

// fenceGate is a store's generation fence: the lowest generation whose
// pushes it applies. Pushes hold the read side from the comparison until
// their rows are written, so raising the fence (the write side) waits for
// every push admitted below it: once Fence returns, no stale push is being
// applied, and a restore that follows cannot be overwritten by one. The
// cost on the push path is one read lock and one compare per call, not
// per key.
type fenceGate struct {
	mu  sync.RWMutex
	gen int64
}

// Fence raises the lowest generation whose pushes PushAt and PushTablesAt
// apply to gen (it never lowers it) and returns the fence after the call.
// It returns once no push below the new fence is being applied.
//
// A coordinator raises the fence on every shard before it restores a
// checkpoint and releases workers into a new generation, so a worker of an
// earlier generation that lost its lease (a long pause, a partition) and
// pushes the batch it had in flight is refused instead of adding it to the
// restored tables, which the replacement worker trains again.
//
// The fence lives in memory only. A restarted shard starts at 0 and accepts
// stale pushes, but only into tables that hold nothing of a checkpoint: the
// restart changes its instance id, which makes the coordinator roll back,
// and a rollback fences every shard, then restores, then checks that no
// instance id changed since before the fence. A shard restored with its
// fence in place is therefore the same process that raised it; a shard that
// restarted in between fails the check and the rollback starts again with
// a new fence.
func (l *Local) Fence(gen int64) int64 {
	l.fence.mu.Lock()
	defer l.fence.mu.Unlock()
	l.fence.gen = max(l.fence.gen, gen)
	return l.fence.gen
}

// Fenced returns the store's fence: the lowest generation it accepts
// pushes of (0 until Fence is called).
func (l *Local) Fenced() int64 {
	l.fence.mu.RLock()
	defer l.fence.mu.RUnlock()
	return l.fence.gen
}

// admit takes the fence's read side for a push of generation gen, or
// refuses it with ErrFenced; after a nil error the caller calls release
// once the push is applied.
func (l *Local) admit(gen int64) error {
	l.fence.mu.RLock()
	if f := l.fence.gen; gen < f {
		l.fence.mu.RUnlock()
		return fmt.Errorf("%w: push of generation %d, the shard accepts generation %d and later: this worker was replaced", ErrFenced, gen, f)
	}
	return nil
}

func (l *Local) release() { l.fence.mu.RUnlock() }

// PushAt is Push by a worker of generation gen: below the store's fence
// (Fence) it fails with ErrFenced and changes nothing. Jobs without a
// coordinator push at generation 0 and never raise the fence.
func (l *Local) PushAt(ctx context.Context, gen int64, table string, keys []uint64, grads []float32) error {
	if err := l.admit(gen); err != nil {
		return err
	}
	defer l.release()
	return l.push(ctx, table, keys, grads, nil)
}

// PushTablesAt is PushTables by a worker of generation gen: below the
// store's fence it fails with ErrFenced and changes nothing.
func (l *Local) PushTablesAt(ctx context.Context, gen int64, tables []string, keys [][]uint64, grads [][]float32) error {
	if err := l.admit(gen); err != nil {
		return err
	}
	defer l.release()
	return l.PushTables(ctx, tables, keys, grads)
}
