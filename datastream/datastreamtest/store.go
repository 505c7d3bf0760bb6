package datastreamtest

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"sync"
)

// MemoryStore is an in-memory datastream.CheckpointStore. FailPuts makes
// Puts of keys containing a substring fail, to test failed checkpoints.
type MemoryStore struct {
	mu      sync.Mutex
	objects map[string][]byte
	failing string
	puts    int
}

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore { return &MemoryStore{objects: map[string][]byte{}} }

// Put stores the bytes of r under key.
func (m *MemoryStore) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if size >= 0 && int64(len(b)) != size {
		return fmt.Errorf("put %s: read %d bytes, size says %d", key, len(b), size)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.puts++
	if m.failing != "" && strings.Contains(key, m.failing) {
		return fmt.Errorf("put %s: injected failure", key)
	}
	m.objects[key] = b
	return nil
}

// Get returns the bytes under key or an error wrapping fs.ErrNotExist.
func (m *MemoryStore) Get(ctx context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.objects[key]
	if !ok {
		return nil, fmt.Errorf("get %s: %w", key, fs.ErrNotExist)
	}
	return slices.Clone(b), nil
}

// Delete removes key.
func (m *MemoryStore) Delete(ctx context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.objects, key)
	return nil
}

// Keys returns the stored keys with the given prefix, sorted.
func (m *MemoryStore) Keys(prefix string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var keys []string
	for k := range m.objects {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// FailPuts makes every later Put of a key containing substr fail ("" stops).
func (m *MemoryStore) FailPuts(substr string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failing = substr
}
