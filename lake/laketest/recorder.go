package laketest

import (
	"context"
	"io"
	"slices"
	"sync"

	"github.com/lakestream/lakestream/lake"
)

// Call is one operation seen by a Recorder.
type Call struct {
	Op  string // "stat", "open", "readat", "put", "list" or "delete"
	Key string // the key, or the prefix for "list"
	Off int64  // "readat": offset
	Len int    // "readat": length of the buffer
}

// Recorder wraps a lake.Store and records every call, so tests can assert
// which objects were listed, opened and read (for example that partition
// pruning never opened a pruned file, or that a Parquet footer read took one
// range). It is safe for concurrent use.
type Recorder struct {
	store lake.Store
	mu    sync.Mutex
	calls []Call
}

var _ lake.Store = (*Recorder)(nil)
var _ lake.Deleter = (*Recorder)(nil)

// Record returns a Recorder over s.
func Record(s lake.Store) *Recorder { return &Recorder{store: s} }

// Calls returns a copy of the calls recorded so far, in the order they began.
func (r *Recorder) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// Keys returns the keys of the recorded calls with operation op, in order,
// with repeats.
func (r *Recorder) Keys(op string) []string {
	var keys []string
	for _, c := range r.Calls() {
		if c.Op == op {
			keys = append(keys, c.Key)
		}
	}
	return keys
}

// Reset forgets the recorded calls.
func (r *Recorder) Reset() {
	r.mu.Lock()
	r.calls = nil
	r.mu.Unlock()
}

func (r *Recorder) add(c Call) {
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
}

// Stat implements lake.Store.
func (r *Recorder) Stat(ctx context.Context, key string) (lake.ObjectInfo, error) {
	r.add(Call{Op: "stat", Key: key})
	return r.store.Stat(ctx, key)
}

// Open implements lake.Store; the reader records its ReadAt calls.
func (r *Recorder) Open(ctx context.Context, key string) (lake.Reader, error) {
	r.add(Call{Op: "open", Key: key})
	rd, err := r.store.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	return &recordingReader{Reader: rd, rec: r, key: key}, nil
}

type recordingReader struct {
	lake.Reader
	rec *Recorder
	key string
}

func (rr *recordingReader) ReadAt(p []byte, off int64) (int, error) {
	rr.rec.add(Call{Op: "readat", Key: rr.key, Off: off, Len: len(p)})
	return rr.Reader.ReadAt(p, off)
}

// Put implements lake.Store.
func (r *Recorder) Put(ctx context.Context, key string, body io.Reader, size int64) error {
	r.add(Call{Op: "put", Key: key})
	return r.store.Put(ctx, key, body, size)
}

// List implements lake.Store.
func (r *Recorder) List(ctx context.Context, prefix string) lake.Objects {
	r.add(Call{Op: "list", Key: prefix})
	return r.store.List(ctx, prefix)
}

// Delete implements lake.Deleter through lake.Delete, so it fails with
// lake.ErrUnsupported when the wrapped store cannot delete.
func (r *Recorder) Delete(ctx context.Context, key string) error {
	r.add(Call{Op: "delete", Key: key})
	return lake.Delete(ctx, r.store, key)
}
