package paramserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/lakestream/lakestream/lake"
)

// DefaultKeepCheckpoints is the number of complete checkpoints a
// coordinator keeps when its configuration says 0.
const DefaultKeepCheckpoints = 3

// retainer deletes the checkpoints of one coordinator beyond the newest
// keep. It is told of every checkpoint whose manifest is durable; the first
// time it also lists the complete checkpoints an earlier run of the job left
// under the prefix, which count as older than this run's. A checkpoint goes
// manifest first (so a half-deleted one is never taken for complete), then
// the shard snapshots its manifest lists, then whatever else is left in its
// folder. A failed delete is logged and retried at the next checkpoint.
type retainer struct {
	store  lake.Store
	prefix string // the coordinator's Prefix
	kind   string // the name prefix of its checkpoints: "ckpt-" or "stream-"
	keep   int
	log    *slog.Logger

	mu      sync.Mutex
	scanned bool
	off     bool       // the store cannot delete
	ckpts   []retained // oldest first
	stale   []string   // keys of overwritten checkpoints, not in a live one
}

// retained is one complete checkpoint and the keys left to delete.
type retained struct {
	name   string
	keys   []string // manifest first, then the shards' snapshots
	listed bool     // its folder was listed for keys no manifest names
}

func newRetainer(store lake.Store, prefix, kind string, keep int, log *slog.Logger) *retainer {
	if keep == 0 {
		keep = DefaultKeepCheckpoints
	}
	return &retainer{store: store, prefix: strings.TrimSuffix(prefix, "/"), kind: kind, keep: keep, log: log}
}

func (r *retainer) join(name string) string {
	if r.prefix == "" {
		return name
	}
	return r.prefix + "/" + name
}

// added records checkpoint name, whose manifest at manifestKey is durable
// and lists shards, then deletes the checkpoints beyond the newest keep,
// never one named in protect.
func (r *retainer) added(ctx context.Context, name, manifestKey string, shards []string, protect ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	keys := append([]string{manifestKey}, shards...)
	if i := slices.IndexFunc(r.ckpts, func(c retained) bool { return c.name == name }); i >= 0 {
		// A checkpoint of an earlier run with this name was overwritten:
		// only its keys this one does not reuse are left to delete.
		for _, k := range r.ckpts[i].keys {
			if !slices.Contains(keys, k) {
				r.stale = append(r.stale, k)
			}
		}
		r.ckpts = slices.Delete(r.ckpts, i, i+1)
	}
	r.ckpts = append(r.ckpts, retained{name: name, keys: keys})
	if !r.scanned {
		r.scan(ctx)
	}
	r.prune(ctx, protect)
}

// scan adds the complete checkpoints of earlier runs under the prefix, as
// older than every checkpoint of this run. A listing error is logged and
// the scan retried at the next checkpoint.
func (r *retainer) scan(ctx context.Context) {
	var earlier []retained
	it := r.store.List(ctx, r.join(r.kind))
	for it.Next() {
		key := it.At().Key
		name, ok := strings.CutSuffix(strings.TrimPrefix(key, r.join("")), "/manifest.json")
		if !ok || strings.Contains(name, "/") || slices.ContainsFunc(r.ckpts, func(c retained) bool { return c.name == name }) {
			continue
		}
		raw, err := lake.ReadAll(ctx, r.store, key)
		var m struct {
			Shards []string `json:"shards"`
		}
		if err == nil {
			err = json.Unmarshal(raw, &m)
		}
		if err != nil {
			r.log.Warn("checkpoint retention: an earlier checkpoint's manifest is unreadable; left in place", "key", key, "err", err)
			continue
		}
		earlier = append(earlier, retained{name: name, keys: append([]string{key}, m.Shards...)})
	}
	if err := it.Err(); err != nil && !errors.Is(err, lake.ErrNotExist) {
		r.log.Warn("checkpoint retention: list earlier checkpoints; retrying at the next checkpoint", "prefix", r.join(r.kind), "err", err)
		return
	}
	// Listed in lexical order: the names carry zero-padded numbers.
	r.ckpts = append(earlier, r.ckpts...)
	r.scanned = true
}

// prune deletes the checkpoints older than the newest keep, except those
// protected, and the stale keys.
func (r *retainer) prune(ctx context.Context, protect []string) {
	if r.off {
		return
	}
	for len(r.stale) > 0 {
		if !r.delete(ctx, "", r.stale[0]) {
			return
		}
		r.stale = r.stale[1:]
	}
	// The oldest len-keep go, except those protected: the newest keep
	// stay whatever is protected.
	var kept []retained
	for i := range max(len(r.ckpts)-r.keep, 0) {
		c := &r.ckpts[i]
		if slices.Contains(protect, c.name) {
			kept = append(kept, *c)
			continue
		}
		if !r.deleteCheckpoint(ctx, c) {
			r.ckpts = append(kept, r.ckpts[i:]...)
			return
		}
		r.log.Info("checkpoint deleted (retention)", "name", c.name, "keep", r.keep)
	}
	r.ckpts = append(kept, r.ckpts[max(len(r.ckpts)-r.keep, 0):]...)
}

// deleteCheckpoint deletes the keys left of c, and reports whether all
// went; c keeps those that did not.
func (r *retainer) deleteCheckpoint(ctx context.Context, c *retained) bool {
	for len(c.keys) > 0 {
		if !r.delete(ctx, c.name, c.keys[0]) {
			return false
		}
		c.keys = c.keys[1:]
		if len(c.keys) == 0 && !c.listed {
			// Anything else in its folder (a snapshot of a shard
			// count the manifest does not list) goes too.
			c.listed = true
			c.keys = r.leftInFolder(ctx, c.name)
		}
	}
	return true
}

// leftInFolder lists the keys under the folder of checkpoint name.
func (r *retainer) leftInFolder(ctx context.Context, name string) []string {
	var keys []string
	it := r.store.List(ctx, r.join(name)+"/")
	for it.Next() {
		keys = append(keys, it.At().Key)
	}
	if err := it.Err(); err != nil && !errors.Is(err, lake.ErrNotExist) {
		r.log.Warn("checkpoint retention: list a deleted checkpoint's folder", "name", name, "err", err)
	}
	return keys
}

// delete deletes key, and reports whether it did. A store that cannot
// delete turns retention off with a warning.
func (r *retainer) delete(ctx context.Context, name, key string) bool {
	err := lake.Delete(ctx, r.store, key)
	if err == nil {
		return true
	}
	if errors.Is(err, lake.ErrUnsupported) {
		r.off = true
		r.log.Warn("checkpoint retention is off: the lake store cannot delete; old checkpoints stay", "err", err)
		return false
	}
	r.log.Warn("checkpoint retention: delete failed; retrying at the next checkpoint", "name", name, "key", key, "err", err)
	return false
}

// validKeep checks a coordinator's Keep.
func validKeep(keep int) error {
	if keep < 0 {
		return fmt.Errorf("paramserver: coordinator: Keep %d: want at least 1 checkpoint (0 means %d)", keep, DefaultKeepCheckpoints)
	}
	return nil
}
