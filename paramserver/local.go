package paramserver

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Local store.
type Config struct {
	// Tables declares the tables; names must be unique.
	Tables []TableSpec
	// Now is the clock used for row expiry; nil means time.Now. Tests inject
	// a fake clock.
	Now func() time.Time
	// Shard and Shards identify the part of the key space this store holds
	// when it serves one shard of a sharded job (Shards 0 or 1 means the
	// whole key space). They are recorded in snapshots so a snapshot cannot
	// be restored into the wrong shard.
	Shard, Shards int
	// Deferred makes Push accumulate gradients per row without updating
	// the weights; Flush then applies the optimizer once per row to the
	// sum. Bulk-synchronous jobs use it so that a step's pushes from all
	// workers make one update, exactly like one large mini-batch in a
	// single process, and every pull of a step sees the same parameters.
	Deferred bool
}

// Validate reports the first problem of c.
func (c Config) Validate() error {
	seen := make(map[string]bool, len(c.Tables))
	for _, s := range c.Tables {
		if err := s.Validate(); err != nil {
			return err
		}
		if seen[s.Name] {
			return &SpecError{Table: s.Name, Field: "name", Reason: "declared twice"}
		}
		seen[s.Name] = true
	}
	if c.Shards < 0 || c.Shard < 0 || (c.Shards > 0 && c.Shard >= c.Shards) || (c.Shards == 0 && c.Shard != 0) {
		return fmt.Errorf("paramserver: shard %d of %d is not a valid shard", c.Shard, c.Shards)
	}
	return nil
}

// Local is the in-process parameter store: the embedded default on one
// machine and the storage engine behind every gRPC shard. It implements the
// trainer's ParamStore interface. All methods are safe for concurrent use;
// Pull and Push on different rows proceed in parallel.
//
// Pull and Push panic when len(dst) or len(grads) is not len(keys) times the
// table's width: a shape mismatch is a programmer error.
type Local struct {
	cfg    Config
	now    func() time.Time
	tables atomic.Pointer[tableSet]

	flushMu sync.Mutex
	flushed int64 // highest clock flushed

	fence fenceGate // see Fence

	// base holds the warm start's rows per table (SetBase); set before
	// use, read-only after.
	base map[string]*baseTable
}

// tableSet is the immutable name → table map; Restore swaps it whole.
type tableSet struct {
	byName map[string]*table
}

// table is one declared table: exactly one of sparse and dense is set.
type table struct {
	spec   TableSpec
	slots  int
	sparse *sparseTable
	dense  *denseTable
}

// NewLocal returns an in-process store holding the given tables.
func NewLocal(specs ...TableSpec) (*Local, error) {
	return New(Config{Tables: specs})
}

// New returns an in-process store configured by c.
func New(c Config) (*Local, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	l := &Local{cfg: c, now: c.Now}
	if l.now == nil {
		l.now = time.Now
	}
	ts, err := l.newTableSet()
	if err != nil {
		return nil, err
	}
	l.tables.Store(ts)
	return l, nil
}

func (l *Local) newTableSet() (*tableSet, error) {
	ts := &tableSet{byName: make(map[string]*table, len(l.cfg.Tables))}
	for _, s := range l.cfg.Tables {
		r, err := newRule(s.Optimizer)
		if err != nil {
			return nil, &SpecError{Table: s.Name, Field: "optimizer", Reason: err.Error()}
		}
		t := &table{spec: s, slots: r.Slots()}
		if s.Dense {
			t.dense = newDenseTable(s, r, l.cfg.Deferred)
		} else {
			t.sparse = newSparseTable(s, r, l.cfg.Deferred)
		}
		ts.byName[s.Name] = t
	}
	return ts, nil
}

func (l *Local) table(name string) (*table, error) {
	t := l.tables.Load().byName[name]
	if t == nil {
		return nil, fmt.Errorf("%w %q", ErrUnknownTable, name)
	}
	return t, nil
}

// Tables returns the table specs in name order.
func (l *Local) Tables() []TableSpec {
	out := append([]TableSpec(nil), l.cfg.Tables...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Spec returns the spec of the named table.
func (l *Local) Spec(name string) (TableSpec, error) {
	t, err := l.table(name)
	if err != nil {
		return TableSpec{}, err
	}
	return t.spec, nil
}

func checkShape(op string, t *table, keys []uint64, vals []float32) {
	if len(vals) != len(keys)*t.spec.Width {
		panic(fmt.Sprintf("paramserver: %s table %q: %d values for %d keys of width %d", op, t.spec.Name, len(vals), len(keys), t.spec.Width))
	}
}

// Pull copies the rows of keys into dst (len(keys)*width values, row i at
// dst[i*width:(i+1)*width]). A row that does not exist yet reads as its
// initial value; Pull never creates rows.
func (l *Local) Pull(ctx context.Context, table string, keys []uint64, dst []float32) error {
	return l.pull(ctx, table, keys, dst, false, nil)
}

// PullTrained is Pull, except that sparse rows never pushed (or expired)
// read as zeros instead of their initial values: what an exported model
// holds for a feature it never trained on. Evaluation of a finished job uses
// it.
func (l *Local) PullTrained(ctx context.Context, table string, keys []uint64, dst []float32) error {
	return l.pull(ctx, table, keys, dst, true, nil)
}

// PullHinted is Pull that also writes into hints (len(keys) values) where
// each row lives in the store, for PushHinted of the same keys to skip the
// hash lookups: the in-process trainer pulls and then pushes the same
// distinct keys every step. A hint is an opaque position that a later call
// verifies before trusting it, so hints that went stale (Expire, Restore,
// Reset in between) cost a lookup and are never wrong. Dense tables ignore
// hints.
func (l *Local) PullHinted(ctx context.Context, table string, keys []uint64, dst []float32, hints []int32) error {
	if len(hints) != len(keys) {
		panic(fmt.Sprintf("paramserver: pull table %q: %d hints for %d keys", table, len(hints), len(keys)))
	}
	return l.pull(ctx, table, keys, dst, false, hints)
}

// PushHinted is Push with the hints a PullHinted of the same keys wrote.
func (l *Local) PushHinted(ctx context.Context, table string, keys []uint64, grads []float32, hints []int32) error {
	if len(hints) != len(keys) {
		panic(fmt.Sprintf("paramserver: push table %q: %d hints for %d keys", table, len(hints), len(keys)))
	}
	return l.push(ctx, table, keys, grads, hints)
}

func (l *Local) pull(ctx context.Context, table string, keys []uint64, dst []float32, trainedOnly bool, hints []int32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t, err := l.table(table)
	if err != nil {
		return err
	}
	checkShape("pull", t, keys, dst)
	if t.dense != nil {
		if err := t.dense.check(keys); err != nil {
			return err
		}
		t.dense.pull(keys, dst)
	} else {
		var now int64
		if t.sparse.ttl > 0 {
			now = l.now().UnixNano()
		}
		t.sparse.pull(keys, dst, now, trainedOnly, hints)
	}
	if b := l.base[table]; b != nil {
		b.add(keys, dst)
	}
	return nil
}

// Push applies the table's optimizer to the rows of keys with the gradients
// grads (len(keys)*width values). Sparse rows are created on first push
// (after admission, when the table has AdmitAfter > 1). Keys should be
// distinct; a repeated key is updated once per occurrence.
//
// A gradient that is not finite or exceeds MaxGradient fails the call with
// a *NonFiniteError before any row changes; a row whose update would make
// its weights or optimizer state non-finite keeps its values, and the call
// returns a *NonFiniteError counting such rows after applying the others.
func (l *Local) Push(ctx context.Context, table string, keys []uint64, grads []float32) error {
	return l.push(ctx, table, keys, grads, nil)
}

func (l *Local) push(ctx context.Context, table string, keys []uint64, grads []float32, hints []int32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t, err := l.table(table)
	if err != nil {
		return err
	}
	checkShape("push", t, keys, grads)
	if err := checkGrads(t.spec.Name, keys, t.spec.Width, grads); err != nil {
		return err
	}
	if t.dense != nil {
		if err := t.dense.check(keys); err != nil {
			return err
		}
		return t.dense.push(keys, grads).err(t.spec.Name)
	}
	return t.sparse.push(keys, grads, l.now().UnixNano(), hints).err(t.spec.Name)
}

// PullTables pulls several tables at once: keys[i] of tables[i] into
// dst[i], each as Pull does. It exists so that Local and Client share one
// multi-table interface (the Client sends all tables of a shard in one
// round trip); on Local it is a loop. Every table is checked (declared,
// dense rows in range) before any is read.
func (l *Local) PullTables(ctx context.Context, tables []string, keys [][]uint64, dst [][]float32) error {
	if err := l.checkTables("pull", tables, keys, dst); err != nil {
		return err
	}
	for i, name := range tables {
		if err := l.pull(ctx, name, keys[i], dst[i], false, nil); err != nil {
			return fmt.Errorf("pull %q: %w", name, err)
		}
	}
	return nil
}

// PushTables pushes several tables at once, in order: grads[i] for keys[i]
// of tables[i], each as Push does. Every table is checked (declared, dense
// rows in range) before any is updated, so a bad table changes nothing.
func (l *Local) PushTables(ctx context.Context, tables []string, keys [][]uint64, grads [][]float32) error {
	if err := l.checkTables("push", tables, keys, grads); err != nil {
		return err
	}
	for i, name := range tables {
		if err := l.push(ctx, name, keys[i], grads[i], nil); err != nil {
			return fmt.Errorf("push %q: %w", name, err)
		}
	}
	return nil
}

// PushPullTables is PushTables(tables, pushKeys, grads) followed by
// PullTables(tables, pullKeys, dst): the pulls see the pushes, as with the
// Client's single round trip. Both sides are checked before anything is
// updated. On a Deferred store the pushes only accumulate until Flush, so
// the pulls read the rows as they were before them.
func (l *Local) PushPullTables(ctx context.Context, tables []string, pushKeys [][]uint64, grads [][]float32, pullKeys [][]uint64, dst [][]float32) error {
	if err := l.checkTables("pull", tables, pullKeys, dst); err != nil {
		return err
	}
	if err := l.PushTables(ctx, tables, pushKeys, grads); err != nil {
		return err
	}
	for i, name := range tables {
		if err := l.pull(ctx, name, pullKeys[i], dst[i], false, nil); err != nil {
			return fmt.Errorf("pull %q: %w", name, err)
		}
	}
	return nil
}

// checkTables returns the first unknown table, dense key out of range or
// (op "push") refused gradient of a multi-table call; it panics on a shape
// mismatch, as Pull and Push do.
func (l *Local) checkTables(op string, tables []string, keys [][]uint64, vals [][]float32) error {
	if len(keys) != len(tables) || len(vals) != len(tables) {
		panic(fmt.Sprintf("paramserver: %s tables: %d tables, %d key slices, %d value slices", op, len(tables), len(keys), len(vals)))
	}
	ts := l.tables.Load()
	for i, name := range tables {
		t := ts.byName[name]
		if t == nil {
			return fmt.Errorf("%w %q", ErrUnknownTable, name)
		}
		checkShape(op, t, keys[i], vals[i])
		if op == "push" {
			if err := checkGrads(name, keys[i], t.spec.Width, vals[i]); err != nil {
				return err
			}
		}
		if t.dense != nil {
			if err := t.dense.check(keys[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// Flush applies the gradients a Deferred store accumulated: one optimizer
// step per row with the sum of the gradients pushed to it since the last
// flush. clock makes it idempotent per bulk-synchronous step: every worker
// of step c calls Flush(c) after the barrier, the first applies, the others
// (and any call with clock ≤ the highest flushed) return at once, after the
// first one finished. A negative clock always flushes. Flush does nothing on
// a store that is not Deferred. Rows whose update would not be finite keep
// their values and lose their summed gradient; Flush then returns a
// *NonFiniteError per table after applying every other row.
func (l *Local) Flush(ctx context.Context, clock int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !l.cfg.Deferred {
		return nil
	}
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	if clock >= 0 && clock <= l.flushed {
		return nil
	}
	var errs []error
	for _, t := range l.tables.Load().byName {
		var refused refusals
		if t.dense != nil {
			refused = t.dense.flush()
		} else {
			refused = t.sparse.flush()
		}
		if err := refused.err(t.spec.Name); err != nil {
			errs = append(errs, err)
		}
	}
	l.flushed = max(l.flushed, clock)
	return errors.Join(errs...)
}

// Len returns the number of rows the named table holds.
func (l *Local) Len(table string) (int, error) {
	t, err := l.table(table)
	if err != nil {
		return 0, err
	}
	if t.dense != nil {
		return len(t.dense.steps), nil
	}
	return t.sparse.len(), nil
}

// Expire drops, from every sparse table with a TTL, the rows neither pulled
// nor pushed during the last TTL by the store's clock, and returns how many
// rows it dropped. It locks one stripe at a time, so training continues
// while it runs.
func (l *Local) Expire(ctx context.Context) (int, error) {
	now := l.now().UnixNano()
	n := 0
	for _, t := range l.tables.Load().byName {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		if t.sparse != nil && t.sparse.ttl > 0 {
			n += t.sparse.expire(now - t.sparse.ttl)
		}
	}
	return n, nil
}

// Reset puts every table back to its initial state.
func (l *Local) Reset() error {
	ts, err := l.newTableSet()
	if err != nil {
		return err
	}
	l.tables.Store(ts)
	return nil
}
