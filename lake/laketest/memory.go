package laketest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lakestream/lakestream/lake"
)

// Memory is an in-memory lake.Store, lake.Deleter and lake.Creator for unit
// tests. It
// follows the same rules as the real stores (key validation, lexical listing,
// atomic Put, readers that keep the bytes they opened) so code tested against
// it behaves the same on a folder or on S3. The zero value is not usable; call
// NewMemory.
type Memory struct {
	mu      sync.RWMutex
	objects map[string]memObject
	now     func() time.Time
}

type memObject struct {
	data    []byte // never modified after Put; Put stores a new slice
	modTime time.Time
}

var (
	_ lake.Store   = (*Memory)(nil)
	_ lake.Deleter = (*Memory)(nil)
	_ lake.Creator = (*Memory)(nil)
)

// NewMemory returns an empty in-memory store. Object modification times come
// from time.Now; use NewMemoryClock for deterministic times.
func NewMemory() lake.Store { return NewMemoryClock(time.Now) }

// NewMemoryClock is NewMemory with an injected clock for ModTime.
func NewMemoryClock(now func() time.Time) *Memory {
	return &Memory{objects: make(map[string]memObject), now: now}
}

// String names the store in error messages.
func (m *Memory) String() string { return "memory://" }

// Stat implements lake.Store.
func (m *Memory) Stat(ctx context.Context, key string) (lake.ObjectInfo, error) {
	if err := lake.ValidateKey(key); err != nil {
		return lake.ObjectInfo{}, err
	}
	m.mu.RLock()
	o, ok := m.objects[key]
	m.mu.RUnlock()
	if !ok {
		return lake.ObjectInfo{}, fmt.Errorf("stat %s: %w", key, lake.ErrNotExist)
	}
	return lake.ObjectInfo{Key: key, Size: int64(len(o.data)), ModTime: o.modTime}, nil
}

// Open implements lake.Store. The reader keeps the bytes present at Open.
func (m *Memory) Open(ctx context.Context, key string) (lake.Reader, error) {
	if err := lake.ValidateKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open %s: %w", key, err)
	}
	m.mu.RLock()
	o, ok := m.objects[key]
	m.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("open %s: %w", key, lake.ErrNotExist)
	}
	return memReader{bytes.NewReader(o.data), int64(len(o.data))}, nil
}

type memReader struct {
	*bytes.Reader
	size int64
}

func (r memReader) Size() int64  { return r.size }
func (r memReader) Close() error { return nil }

// Put implements lake.Store: the object becomes visible only after r is read
// to the end without error and its length matches size (unless size is -1).
func (m *Memory) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := lake.ValidateKey(key); err != nil {
		return err
	}
	var buf bytes.Buffer
	if size > 0 {
		buf.Grow(int(size))
	}
	if _, err := buf.ReadFrom(ctxReader{ctx, r}); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if size >= 0 && int64(buf.Len()) != size {
		return fmt.Errorf("put %s: %w: declared %d bytes, reader gave %d", key, lake.ErrSizeMismatch, size, buf.Len())
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	m.mu.Lock()
	m.objects[key] = memObject{data: buf.Bytes(), modTime: m.now()}
	m.mu.Unlock()
	return nil
}

// Create implements lake.Creator: like Put, but the object is stored only if
// the key is free when the whole body has been read.
func (m *Memory) Create(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := lake.ValidateKey(key); err != nil {
		return err
	}
	data, err := io.ReadAll(ctxReader{ctx, r})
	if err != nil {
		return fmt.Errorf("create %s: %w", key, err)
	}
	if size >= 0 && int64(len(data)) != size {
		return fmt.Errorf("create %s: %w: declared %d bytes, reader gave %d", key, lake.ErrSizeMismatch, size, len(data))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.objects[key]; ok {
		return fmt.Errorf("create %s: %w", key, lake.ErrExist)
	}
	m.objects[key] = memObject{data: data, modTime: m.now()}
	return nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Delete implements lake.Deleter.
func (m *Memory) Delete(ctx context.Context, key string) error {
	if err := lake.ValidateKey(key); err != nil {
		return err
	}
	m.mu.Lock()
	delete(m.objects, key)
	m.mu.Unlock()
	return nil
}

// List implements lake.Store with a snapshot taken when List is called.
func (m *Memory) List(ctx context.Context, prefix string) lake.Objects {
	if err := lake.ValidatePrefix(prefix); err != nil {
		return lake.SliceObjects(nil, err)
	}
	if err := ctx.Err(); err != nil {
		return lake.SliceObjects(nil, fmt.Errorf("list %q: %w", prefix, err))
	}
	m.mu.RLock()
	var infos []lake.ObjectInfo
	for k, o := range m.objects {
		if strings.HasPrefix(k, prefix) {
			infos = append(infos, lake.ObjectInfo{Key: k, Size: int64(len(o.data)), ModTime: o.modTime})
		}
	}
	m.mu.RUnlock()
	slices.SortFunc(infos, func(a, b lake.ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	return lake.SliceObjects(infos, nil)
}
