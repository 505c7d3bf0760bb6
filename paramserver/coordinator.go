package paramserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/lakestream/lakestream/lake"
)

// Checkpointer is what the coordinator needs from the shards: every shard
// snapshots or restores the named checkpoint, raises its push fence (the
// lowest generation whose pushes it applies, see Local.Fence; Fence returns
// the highest fence of the shards after the call), and reports an instance
// id that changes when its process restarts (and so lost its tables).
// *Client implements it.
type Checkpointer interface {
	Snapshot(ctx context.Context, name string) ([]string, error)
	Restore(ctx context.Context, name string) error
	Fence(ctx context.Context, gen int64) (int64, error)
	Instances(ctx context.Context) ([]uint64, error)
}

// CoordinatorConfig configures a Coordinator.
type CoordinatorConfig struct {
	// Epochs is the number of passes over the splits; 0 means 1.
	Epochs int
	// LeaseTTL is how long a worker stays alive without a call; its splits
	// are then reassigned. 0 means 10s.
	LeaseTTL time.Duration
	// CheckpointEvery takes a checkpoint after this many completed splits
	// (and at every epoch end). 0 checkpoints only at start and epoch ends.
	// Acquire hands out no split beyond the quota of the next checkpoint,
	// so every checkpoint covers exactly a multiple of CheckpointEvery
	// splits: a worker that finishes early waits at the checkpoint instead
	// of starting a split that would delay it.
	CheckpointEvery int
	// Shards snapshots and restores the tables. It may be given later with
	// SetShards (a shard process can only dial the shards once it serves);
	// checkpoints wait for it.
	Shards Checkpointer
	// Workers is the number of distinct workers that must register before
	// Acquire hands out the first split; 0 means 1. Without it the first
	// worker to start may train a small job alone, under every consistency
	// model (under Sync and SSP the clock table's own quorum also holds the
	// first step back, but not the assignment of splits).
	Workers int
	// Clocks, when set, is told when a worker dies so barriers stop
	// waiting for it.
	Clocks *Clocks
	// Lake and Prefix receive the checkpoint manifests:
	// <Prefix>/<name>/manifest.json, written after every shard's snapshot.
	// A nil Lake disables checkpoints and recovery from shard failures.
	Lake   lake.Store
	Prefix string
	// Keep is the number of complete checkpoints kept: once a new
	// manifest is durable, older checkpoints (those an earlier run left
	// under Prefix included) are deleted, manifest first, then the
	// snapshots it lists; the newest and the one pinned with Pin never
	// are. A delete error is logged and retried at the next checkpoint.
	// 0 means DefaultKeepCheckpoints.
	Keep int
	// EpochEnd, when set, is called once an epoch's last checkpoint is
	// durable (name is that checkpoint, epoch counts from 0), before the
	// next epoch opens: no split is in progress and none is handed out
	// while it runs. It returns whether the job stops there (early
	// stopping); a job also ends after its last epoch. An error is retried
	// with a new checkpoint. It needs Lake (checkpoints).
	EpochEnd func(ctx context.Context, epoch int, checkpoint string) (stop bool, err error)
	// Now is the clock for leases; nil means time.Now.
	Now func() time.Time
	// Logger receives progress messages; nil means slog.Default().
	Logger *slog.Logger
}

// AssignmentState says what a worker should do after Acquire.
type AssignmentState int

// Assignment states.
const (
	// Assigned: train Split of Epoch, skipping its first SkipRows rows.
	Assigned AssignmentState = iota
	// Wait: nothing to do now (a checkpoint, a recovery or the end of an
	// epoch is pending); call Acquire again shortly.
	Wait
	// Done: the job is finished.
	Done
)

// Assignment is one unit of work handed to a worker.
type Assignment struct {
	State    AssignmentState
	Split    int
	Epoch    int
	SkipRows int64
	// Generation changes on every recovery; work of an older generation is
	// rejected.
	Generation int64
}

// Manifest describes a checkpoint; it is written to the lake last.
type Manifest struct {
	Name       string    `json:"name"`
	Epoch      int       `json:"epoch"`
	Done       []bool    `json:"done"`
	Generation int64     `json:"generation"`
	Shards     []string  `json:"shards"` // snapshot keys
	Time       time.Time `json:"time"`
	// Examples is the rows trained into the checkpointed tables (see
	// CoordinatorStatus.Examples).
	Examples int64 `json:"examples"`
}

// CoordinatorStatus is a summary for monitoring and tests.
type CoordinatorStatus struct {
	Epoch          int
	Splits         int
	DoneSplits     int
	Finished       bool
	Generation     int64
	Workers        int
	Checkpoints    int
	LastCheckpoint string
	// Examples is the rows trained into the tables over the job: the
	// rows of every completed split as its workers recorded them with
	// Progress (after --where's row filter), less those a restore rolled
	// back. At the end of a job it is the rows of every epoch.
	Examples int64
	// Trained counts, per split, the completions accepted over the job,
	// less those a restore rolled back: at the end of a job without
	// duplicates every split shows Epochs.
	Trained []int
	// Owners and Rows give, per split, the worker holding it ("" if none)
	// and the rows recorded by Progress.
	Owners []string
	Rows   []int64
}

// Coordinator hands out the splits of a bounded job (Parquet row groups, by
// index into the plan's split list, which every worker computes identically)
// to workers, tracks epochs, reassigns the splits of workers whose lease
// expired from the row they had reached, and takes checkpoints at a barrier:
// it stops handing out splits, waits until no split is in progress, makes
// every shard snapshot, and writes a manifest. When a worker reports a shard
// failure it recovers: waits for the in-progress splits to stop, restores
// every shard from the last checkpoint, and rewinds the splits to the
// checkpoint's set of completed splits.
//
// Run drives the background work (lease expiry, checkpoints, recovery); the
// other methods are called by workers (over gRPC: CoordinatorServer).
type Coordinator struct {
	cfg CoordinatorConfig
	now func() time.Time
	log *slog.Logger

	mu        sync.Mutex
	shards    Checkpointer
	nsplits   int // -1 until the first worker registers
	epoch     int
	gen       int64
	splits    []splitState
	workers   map[string]time.Time // last call
	joined    map[string]bool      // every worker that ever registered
	pause     pauseReason
	finished  bool
	sinceCkpt int
	ckpts     int
	examples  int64 // rows of the completed splits
	last      *Manifest
	instances []uint64 // shard instances that hold the state since the last checkpoint or restore
	pinned    string   // a checkpoint retention keeps (Pin)
	changed   chan struct{}
	retain    *retainer // nil without Lake
}

type splitState struct {
	owner   string
	rows    int64 // rows trained by the current or a dead owner
	done    bool
	trained int
}

type pauseReason int

const (
	running pauseReason = iota
	wantCheckpoint
	wantRecovery
)

// NewCoordinator returns a coordinator; call Run to drive it.
func NewCoordinator(c CoordinatorConfig) (*Coordinator, error) {
	if c.Epochs < 0 || c.CheckpointEvery < 0 || c.LeaseTTL < 0 || c.Workers < 0 {
		return nil, errors.New("paramserver: coordinator: negative Epochs, CheckpointEvery, LeaseTTL or Workers")
	}
	if err := validKeep(c.Keep); err != nil {
		return nil, err
	}
	if c.Epochs == 0 {
		c.Epochs = 1
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = 10 * time.Second
	}
	co := &Coordinator{cfg: c, shards: c.Shards, now: c.Now, log: c.Logger, nsplits: -1, workers: map[string]time.Time{}, joined: map[string]bool{}, changed: make(chan struct{})}
	if co.now == nil {
		co.now = time.Now
	}
	if co.log == nil {
		co.log = slog.Default()
	}
	if c.Lake != nil {
		co.retain = newRetainer(c.Lake, c.Prefix, "ckpt-", c.Keep, co.log)
	}
	return co, nil
}

// Pin keeps checkpoint name from retention (Keep) until another is pinned:
// an EpochEnd that may restore the best epoch's checkpoint later pins it.
func (co *Coordinator) Pin(name string) {
	co.mu.Lock()
	co.pinned = name
	co.mu.Unlock()
}

// checkpoints reports whether checkpoints (and so recoveries) are enabled.
func (co *Coordinator) checkpoints() bool { return co.cfg.Lake != nil }

// SetShards gives the coordinator the shards to checkpoint, when they were
// not in its configuration.
func (co *Coordinator) SetShards(c Checkpointer) {
	co.mu.Lock()
	co.shards = c
	co.mu.Unlock()
}

func (co *Coordinator) broadcast() {
	close(co.changed)
	co.changed = make(chan struct{})
}

// Register adds a worker that computed nsplits splits from its plan. Every
// worker must compute the same number.
func (co *Coordinator) Register(worker string, nsplits int) error {
	co.mu.Lock()
	defer co.mu.Unlock()
	if nsplits <= 0 {
		return fmt.Errorf("paramserver: worker %q has no splits to train", worker)
	}
	if co.nsplits < 0 {
		co.nsplits = nsplits
		co.splits = make([]splitState, nsplits)
		if co.checkpoints() {
			co.pause = wantCheckpoint // an initial checkpoint to recover to
		}
	} else if nsplits != co.nsplits {
		return fmt.Errorf("paramserver: worker %q planned %d splits, the job has %d (same --data, --where and --dt on every worker?)", worker, nsplits, co.nsplits)
	}
	co.workers[worker] = co.now()
	co.joined[worker] = true
	co.broadcast()
	return nil
}

func (co *Coordinator) touch(worker string) error {
	if _, ok := co.workers[worker]; !ok {
		return fmt.Errorf("%w: %q", ErrWorkerExpired, worker)
	}
	co.workers[worker] = co.now()
	return nil
}

// Acquire returns the next split for worker, or Wait or Done. A worker
// holds at most one split: acquiring releases nothing, so call Complete or
// Fail first.
func (co *Coordinator) Acquire(worker string) (Assignment, error) {
	co.mu.Lock()
	defer co.mu.Unlock()
	if err := co.touch(worker); err != nil {
		return Assignment{}, err
	}
	if co.finished {
		return Assignment{State: Done}, nil
	}
	if co.pause != running || len(co.joined) < co.cfg.Workers {
		return Assignment{State: Wait, Generation: co.gen}, nil
	}
	for i := range co.splits {
		s := &co.splits[i]
		if s.owner == worker {
			return Assignment{State: Assigned, Split: i, Epoch: co.epoch, SkipRows: s.rows, Generation: co.gen}, nil
		}
	}
	if co.cfg.CheckpointEvery > 0 && co.checkpoints() {
		owned := 0
		for i := range co.splits {
			if co.splits[i].owner != "" {
				owned++
			}
		}
		if co.sinceCkpt+owned >= co.cfg.CheckpointEvery {
			return Assignment{State: Wait, Generation: co.gen}, nil // the splits in progress fill the quota
		}
	}
	for i := range co.splits {
		s := &co.splits[i]
		if !s.done && s.owner == "" {
			s.owner = worker
			return Assignment{State: Assigned, Split: i, Epoch: co.epoch, SkipRows: s.rows, Generation: co.gen}, nil
		}
	}
	return Assignment{State: Wait, Generation: co.gen}, nil
}

func (co *Coordinator) owned(worker string, split int, gen int64) (*splitState, error) {
	if err := co.touch(worker); err != nil {
		return nil, err
	}
	if gen != co.gen {
		return nil, fmt.Errorf("%w: generation %d is over (now %d): the job recovered from a checkpoint", ErrLeaseLost, gen, co.gen)
	}
	if split < 0 || split >= len(co.splits) || co.splits[split].owner != worker {
		return nil, fmt.Errorf("%w: split %d is not held by %q", ErrLeaseLost, split, worker)
	}
	return &co.splits[split], nil
}

// Progress records that worker is about to push the gradients of its split's
// rows up to rows (exclusive), and renews its lease. Recording before the
// push means a worker that dies loses at most its last mini-batch but never
// has one trained twice when its split is resumed elsewhere.
func (co *Coordinator) Progress(worker string, split int, gen int64, rows int64) error {
	co.mu.Lock()
	defer co.mu.Unlock()
	s, err := co.owned(worker, split, gen)
	if err != nil {
		return err
	}
	if co.pause == wantRecovery {
		s.owner = ""
		return fmt.Errorf("%w: a shard failed; the job is recovering from checkpoint", ErrLeaseLost)
	}
	s.rows = max(s.rows, rows)
	return nil
}

// Heartbeat renews worker's lease.
func (co *Coordinator) Heartbeat(worker string) error {
	co.mu.Lock()
	defer co.mu.Unlock()
	return co.touch(worker)
}

// Complete marks worker's split done.
func (co *Coordinator) Complete(worker string, split int, gen int64) error {
	co.mu.Lock()
	defer co.mu.Unlock()
	s, err := co.owned(worker, split, gen)
	if err != nil {
		return err
	}
	s.owner, s.done = "", true
	s.trained++
	co.examples += s.rows
	co.sinceCkpt++
	all := true
	for i := range co.splits {
		all = all && co.splits[i].done
	}
	switch {
	case all && co.epoch+1 >= co.cfg.Epochs && !co.checkpoints():
		co.finished = true
	case all && co.checkpoints():
		co.pause = wantCheckpoint // the epoch-end checkpoint also opens the next epoch
	case co.cfg.CheckpointEvery > 0 && co.sinceCkpt >= co.cfg.CheckpointEvery && co.checkpoints():
		co.pause = wantCheckpoint
	}
	if all && !co.checkpoints() && !co.finished {
		co.nextEpochLocked()
	}
	co.broadcast()
	return nil
}

func (co *Coordinator) nextEpochLocked() {
	co.epoch++
	for i := range co.splits {
		co.splits[i] = splitState{trained: co.splits[i].trained}
	}
	co.pause = running
}

// Fail releases worker's split after a store error. If the error may have
// lost parameter state (a shard died), the coordinator recovers from the
// last checkpoint; otherwise the split resumes from its progress.
func (co *Coordinator) Fail(worker string, split int, gen int64, shardLost bool, reason string) error {
	co.mu.Lock()
	defer co.mu.Unlock()
	if err := co.touch(worker); err != nil {
		return err
	}
	if gen == co.gen && split >= 0 && split < len(co.splits) && co.splits[split].owner == worker {
		co.splits[split].owner = ""
	}
	if shardLost && gen == co.gen && co.checkpoints() && co.pause != wantRecovery {
		co.log.Warn("worker reports a shard failure; recovering from the last checkpoint", "worker", worker, "reason", reason)
		co.pause = wantRecovery
	}
	co.broadcast()
	return nil
}

// Leave removes worker; its split, if any, is released.
func (co *Coordinator) Leave(worker string) {
	co.mu.Lock()
	defer co.mu.Unlock()
	co.dropLocked(worker)
}

func (co *Coordinator) dropLocked(worker string) {
	delete(co.workers, worker)
	for i := range co.splits {
		if co.splits[i].owner == worker {
			co.splits[i].owner = ""
		}
	}
	if co.cfg.Clocks != nil {
		co.cfg.Clocks.Leave(worker)
	}
	co.broadcast()
}

// reap drops the workers whose lease expired.
func (co *Coordinator) reap() {
	co.mu.Lock()
	defer co.mu.Unlock()
	cutoff := co.now().Add(-co.cfg.LeaseTTL)
	for w, t := range co.workers {
		if t.Before(cutoff) {
			co.log.Warn("worker lease expired; reassigning its split", "worker", w)
			co.dropLocked(w)
		}
	}
}

// Status returns a summary.
func (co *Coordinator) Status() CoordinatorStatus {
	co.mu.Lock()
	defer co.mu.Unlock()
	st := CoordinatorStatus{Epoch: co.epoch, Splits: max(co.nsplits, 0), Finished: co.finished, Generation: co.gen,
		Workers: len(co.workers), Checkpoints: co.ckpts, Examples: co.examples}
	if co.last != nil {
		st.LastCheckpoint = co.last.Name
	}
	for _, s := range co.splits {
		if s.done {
			st.DoneSplits++
		}
		st.Trained = append(st.Trained, s.trained)
		st.Owners = append(st.Owners, s.owner)
		st.Rows = append(st.Rows, s.rows)
	}
	return st
}

// Wait blocks until the job is finished or ctx is done.
func (co *Coordinator) Wait(ctx context.Context) error {
	for {
		co.mu.Lock()
		fin, ch := co.finished, co.changed
		co.mu.Unlock()
		if fin {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Run expires leases and performs checkpoints and recoveries until ctx is
// done or the job is finished. tick is the polling period (0 means 50ms).
func (co *Coordinator) Run(ctx context.Context, tick time.Duration) error {
	if tick <= 0 {
		tick = 50 * time.Millisecond
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		co.reap()
		if err := co.barrierWork(ctx); err != nil {
			co.log.Error("checkpoint or recovery failed; retrying", "err", err)
		}
		co.mu.Lock()
		fin := co.finished
		co.mu.Unlock()
		if fin {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// barrierWork notices restarted shards, and runs a pending checkpoint or
// recovery once no split is in progress.
func (co *Coordinator) barrierWork(ctx context.Context) error {
	co.checkInstances(ctx)
	co.mu.Lock()
	pause, shards := co.pause, co.shards
	busy := false
	for i := range co.splits {
		busy = busy || co.splits[i].owner != ""
	}
	co.mu.Unlock()
	if pause == running || busy || shards == nil {
		return nil
	}
	if pause == wantRecovery {
		return co.recover(ctx, shards)
	}
	return co.checkpoint(ctx, shards)
}

// checkInstances asks for a recovery when a shard restarted since the last
// checkpoint or restore: its tables are gone, and pushes into them since
// then built on nothing.
func (co *Coordinator) checkInstances(ctx context.Context) {
	co.mu.Lock()
	shards, known := co.shards, co.instances
	co.mu.Unlock()
	if shards == nil || known == nil {
		return
	}
	ids, err := shards.Instances(ctx)
	if err != nil {
		return // a shard is down: workers fail, and this is asked again
	}
	if !slices.Equal(ids, known) {
		co.mu.Lock()
		if co.pause != wantRecovery {
			co.log.Warn("a shard restarted; recovering from the last checkpoint")
			co.pause = wantRecovery
			co.broadcast()
		}
		co.mu.Unlock()
	}
}

func (co *Coordinator) checkpoint(ctx context.Context, shards Checkpointer) error {
	before, err := shards.Instances(ctx)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	co.mu.Lock()
	first := co.last == nil
	gen := co.gen
	co.mu.Unlock()
	if first {
		// Shards that outlived an earlier coordinator keep its fence:
		// start above it, so this job's pushes are not refused.
		if gen, err = shards.Fence(ctx, gen); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
	}
	co.mu.Lock()
	co.gen = max(co.gen, gen)
	if co.instances != nil && !slices.Equal(before, co.instances) {
		co.pause = wantRecovery // a shard restarted: its state is not worth saving
		co.mu.Unlock()
		return nil
	}
	m := &Manifest{Name: fmt.Sprintf("ckpt-%06d", co.ckpts), Epoch: co.epoch, Generation: co.gen, Time: co.now().UTC(), Examples: co.examples}
	all := len(co.splits) > 0
	for _, s := range co.splits {
		m.Done = append(m.Done, s.done)
		all = all && s.done
	}
	co.mu.Unlock()
	keys, err := shards.Snapshot(ctx, m.Name)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", m.Name, err)
	}
	m.Shards = keys
	if after, err := shards.Instances(ctx); err != nil || !slices.Equal(after, before) {
		return fmt.Errorf("checkpoint %s: a shard restarted during the snapshot", m.Name)
	}
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	key := m.Name + "/manifest.json"
	if co.cfg.Prefix != "" {
		key = co.cfg.Prefix + "/" + key
	}
	if err := co.cfg.Lake.Put(ctx, key, bytes.NewReader(raw), int64(len(raw))); err != nil {
		return fmt.Errorf("checkpoint manifest %s: %w", key, err)
	}
	co.log.Info("checkpoint taken", "name", m.Name, "epoch", m.Epoch)
	// Older checkpoints go once this one is durable, after the epoch end
	// (which may pin a checkpoint) and the release of the workers.
	defer func() {
		co.mu.Lock()
		pinned := co.pinned
		co.mu.Unlock()
		co.retain.added(ctx, m.Name, key, m.Shards, pinned)
	}()
	co.mu.Lock()
	co.last, co.ckpts, co.sinceCkpt, co.instances = m, co.ckpts+1, 0, before
	if co.pause != wantCheckpoint {
		co.mu.Unlock()
		return nil // a recovery was requested meanwhile
	}
	co.mu.Unlock()
	stop := false
	if all && co.cfg.EpochEnd != nil {
		// The pause holds: no split is handed out while the epoch is judged.
		if stop, err = co.cfg.EpochEnd(ctx, m.Epoch, m.Name); err != nil {
			return fmt.Errorf("end of epoch %d: %w", m.Epoch+1, err)
		}
	}
	co.mu.Lock()
	defer co.mu.Unlock()
	if co.pause != wantCheckpoint {
		return nil // a recovery was requested meanwhile
	}
	co.pause = running
	if all {
		if stop || co.epoch+1 >= co.cfg.Epochs {
			co.finished = true
		} else {
			co.nextEpochLocked()
		}
	}
	co.broadcast()
	return nil
}

func (co *Coordinator) recover(ctx context.Context, shards Checkpointer) error {
	co.mu.Lock()
	m := co.last
	co.mu.Unlock()
	if m == nil {
		return errors.New("recovery: no checkpoint yet")
	}
	before, err := shards.Instances(ctx)
	if err != nil {
		return fmt.Errorf("recovery from %s: %w", m.Name, err)
	}
	// Fence before the restore: a worker of the generation that ends here
	// (one that lost its lease but still pushes) is refused from now on,
	// and what it pushed before is overwritten by the restore. The
	// instance check below makes sure no shard restarted (and forgot its
	// fence) in between; see Local.Fence.
	co.mu.Lock()
	next := co.gen + 1
	co.mu.Unlock()
	next, err = shards.Fence(ctx, next)
	if err != nil {
		return fmt.Errorf("recovery from %s: %w", m.Name, err)
	}
	if err := shards.Restore(ctx, m.Name); err != nil {
		return fmt.Errorf("recovery from %s: %w", m.Name, err)
	}
	if after, err := shards.Instances(ctx); err != nil || !slices.Equal(after, before) {
		return fmt.Errorf("recovery from %s: a shard restarted during the restore", m.Name)
	}
	co.mu.Lock()
	defer co.mu.Unlock()
	co.instances = before
	co.gen = next
	co.epoch = m.Epoch
	for i := range co.splits {
		co.splits[i] = splitState{done: m.Done[i], trained: m.Epoch}
		if m.Done[i] {
			co.splits[i].trained++
		}
	}
	co.sinceCkpt = 0
	co.examples = m.Examples
	co.pause = running
	if all := allDone(m.Done); all {
		co.pause = wantCheckpoint
	}
	co.log.Info("recovered from checkpoint", "name", m.Name, "generation", co.gen)
	co.broadcast()
	return nil
}

func allDone(d []bool) bool {
	for _, v := range d {
		if !v {
			return false
		}
	}
	return len(d) > 0
}
