package dataset

import (
	"fmt"
	"slices"
	"sync"
)

// Counter is an Observer that records what was read. The zero value is
// ready to use and safe for concurrent use.
type Counter struct {
	mu        sync.Mutex
	files     []string
	rowGroups []string
}

// OpenFile implements Observer.
func (c *Counter) OpenFile(key string) {
	c.mu.Lock()
	c.files = append(c.files, key)
	c.mu.Unlock()
}

// ReadRowGroup implements Observer.
func (c *Counter) ReadRowGroup(key string, rowGroup int) {
	c.mu.Lock()
	c.rowGroups = append(c.rowGroups, RowGroupName(key, rowGroup))
	c.mu.Unlock()
}

// Files returns the keys whose footers were read, sorted, one entry per read.
func (c *Counter) Files() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := slices.Clone(c.files)
	slices.Sort(out)
	return out
}

// RowGroups returns the row groups read as "key#index", sorted, one entry per
// read.
func (c *Counter) RowGroups() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := slices.Clone(c.rowGroups)
	slices.Sort(out)
	return out
}

// RowGroupName formats a row group as Counter.RowGroups reports it.
func RowGroupName(key string, rowGroup int) string {
	return fmt.Sprintf("%s#%d", key, rowGroup)
}

type nopObserver struct{}

func (nopObserver) OpenFile(string)          {}
func (nopObserver) ReadRowGroup(string, int) {}
