// Package traintest holds test doubles for package train: an in-memory
// parameter store that applies the optimizer rules of train/optim, so the
// trainer's tests do not depend on the parameter server.
package traintest

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"

	"github.com/lakestream/lakestream/train/optim"
)

// Table declares one table of a Store.
type Table struct {
	Name      string
	Width     int
	Dense     bool
	Rows      int
	Optimizer optim.Config
	// InitStd > 0 draws initial values from N(0, InitStd²), a pure function
	// of (Seed, key, column).
	InitStd float64
	Seed    uint64
}

// Store is an in-memory train.ParamStore. It is safe for concurrent use (one
// mutex) and counts calls for tests.
type Store struct {
	mu     sync.Mutex
	tables map[string]*table
	// Pulls and Pushes count calls.
	Pulls, Pushes int
}

type table struct {
	spec  Table
	rule  optim.Rule
	rows  map[uint64][]float32 // values then optimizer state
	steps int64
}

// NewStore returns a store holding the given tables.
func NewStore(tables ...Table) (*Store, error) {
	s := &Store{tables: map[string]*table{}}
	for _, t := range tables {
		r, err := optim.New(t.Optimizer)
		if err != nil {
			return nil, fmt.Errorf("traintest: table %s: %w", t.Name, err)
		}
		s.tables[t.Name] = &table{spec: t, rule: r, rows: map[uint64][]float32{}}
	}
	return s, nil
}

func (t *table) row(key uint64) []float32 {
	r, ok := t.rows[key]
	if !ok {
		w := t.spec.Width
		r = make([]float32, w*(1+t.rule.Slots()))
		if t.spec.InitStd > 0 {
			for c := range w {
				rng := rand.New(rand.NewPCG(t.spec.Seed^key, uint64(c)))
				r[c] = float32(rng.NormFloat64() * t.spec.InitStd)
			}
		}
		optim.InitState(t.rule, r[:w], r[w:])
		t.rows[key] = r
	}
	return r
}

func (s *Store) table(name string, keys []uint64, vals []float32) (*table, error) {
	t := s.tables[name]
	if t == nil {
		return nil, fmt.Errorf("traintest: unknown table %q", name)
	}
	if len(vals) != len(keys)*t.spec.Width {
		panic(fmt.Sprintf("traintest: table %s: %d values for %d keys of width %d", name, len(vals), len(keys), t.spec.Width))
	}
	if t.spec.Dense {
		for _, k := range keys {
			if k >= uint64(t.spec.Rows) {
				return nil, fmt.Errorf("traintest: table %s: row %d of %d", name, k, t.spec.Rows)
			}
		}
	}
	return t, nil
}

// Pull implements train.ParamStore.
func (s *Store) Pull(ctx context.Context, name string, keys []uint64, dst []float32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Pulls++
	t, err := s.table(name, keys, dst)
	if err != nil {
		return err
	}
	w := t.spec.Width
	for i, k := range keys {
		copy(dst[i*w:(i+1)*w], t.row(k)[:w])
	}
	return nil
}

// Push implements train.ParamStore: it applies the table's rule to each row.
func (s *Store) Push(ctx context.Context, name string, keys []uint64, grads []float32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Pushes++
	t, err := s.table(name, keys, grads)
	if err != nil {
		return err
	}
	t.steps++
	w := t.spec.Width
	for i, k := range keys {
		r := t.row(k)
		g := grads[i*w : (i+1)*w]
		for _, v := range g {
			if math.IsNaN(float64(v)) {
				return fmt.Errorf("traintest: table %s: NaN gradient pushed for key %d", name, k)
			}
		}
		t.rule.Update(r[:w], r[w:], g, t.steps)
	}
	return nil
}

// Len returns the number of rows the table has materialized.
func (s *Store) Len(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tables[name].rows)
}
