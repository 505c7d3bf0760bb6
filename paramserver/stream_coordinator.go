package paramserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lakestream/lakestream/lake"
)

// StreamCoordinatorConfig configures a StreamCoordinator.
type StreamCoordinatorConfig struct {
	// Workers is the number of stream workers, indexed 0..Workers-1.
	// Required.
	Workers int
	// Partitions is the topic's partition count. Worker i reads the
	// partitions p with p mod Workers = i (StreamPartitions). Required.
	Partitions int
	// Topic is recorded in every manifest; a job resumes only from
	// manifests of the same topic, partition and worker counts. Required.
	Topic string
	// CheckpointEvery is the period between checkpoint barriers; 0 takes
	// them only when Checkpoint is called.
	CheckpointEvery time.Duration
	// LeaseTTL is how long a worker stays alive without a report; 0 means
	// 10s.
	LeaseTTL time.Duration
	// Shards snapshots and restores the tables; it may be given later with
	// SetShards. Nothing starts before it is set.
	Shards Checkpointer
	// Lake and Prefix receive the checkpoints:
	// <Prefix>/<name>/manifest.json, written after every shard's snapshot.
	// Required: the manifest is where the workers' offsets live.
	Lake   lake.Store
	Prefix string
	// Keep is the number of complete checkpoints kept: once a new
	// manifest is durable and the workers are released, older checkpoints
	// (those an earlier run of the job left under Prefix included) are
	// deleted, manifest first, then the snapshots it lists; the newest,
	// which a recovery restores, never is. A delete error is logged and
	// retried at the next checkpoint. 0 means DefaultKeepCheckpoints.
	Keep int
	// OnCheckpoint, when set, is called after a manifest is durable and
	// before the workers are released, so the shards hold exactly the
	// manifest's state while it runs (a publish step exports them then).
	// Its error is logged; the checkpoint stands.
	OnCheckpoint func(ctx context.Context, m *StreamManifest) error
	// Commit, when set, is called with every partition's offsets after a
	// manifest is durable (to commit them to a consumer group for lag
	// monitoring). The manifest, not the group, is what recovery reads;
	// a Commit error is logged.
	Commit func(ctx context.Context, offsets map[int32]int64) error
	// Now is the clock for leases and the checkpoint period; nil means
	// time.Now.
	Now func() time.Time
	// Logger receives progress messages; nil means slog.Default().
	Logger *slog.Logger
}

// StreamManifest describes a stream checkpoint: the shards' snapshots and,
// for every partition, the offset of the first record not trained into
// them. It is written to the lake last, so it exists only for a complete
// checkpoint.
type StreamManifest struct {
	Name       string `json:"name"`
	Barrier    int64  `json:"barrier"`
	Generation int64  `json:"generation"`
	Topic      string `json:"topic"`
	Partitions int    `json:"partitions"`
	Workers    int    `json:"workers"`
	// Offsets is the next offset of each partition. A partition absent
	// from it has trained nothing: its worker starts it at its configured
	// start.
	Offsets  map[int32]int64 `json:"offsets"`
	Shards   []string        `json:"shards"`
	Examples int64           `json:"examples"`
	Time     time.Time       `json:"time"`
}

// StreamPartitions returns the partitions worker reads: p with
// p mod workers = worker, ascending. The assignment is static, so a
// partition's offsets always come from the same worker index.
func StreamPartitions(worker, workers, partitions int) []int32 {
	var out []int32
	for p := worker; p < partitions && workers > 0; p += workers {
		out = append(out, int32(p))
	}
	return out
}

// StreamReport is what a stream worker tells the coordinator, at each batch
// boundary and while it waits.
type StreamReport struct {
	// Worker is the worker's index and Instance an id unique to its
	// process (a restarted process has a new one).
	Worker   int
	Instance string
	// Generation is the generation the worker last ran in (0 if none).
	Generation int64
	// Stopped says the worker is at a batch boundary, every push
	// acknowledged, and pushes nothing until told to run.
	Stopped bool
	// Barrier and Offsets, with Stopped: the barrier the worker stopped
	// for (0 for a recovery or before its first run) and the next offset
	// of each of its partitions.
	// Examples is the examples the worker trained since it last seeked
	// (StreamOrder.Seek): the coordinator counts what its checkpoints
	// hold of them, so a report repeated at a later barrier counts once.
	Barrier  int64
	Offsets  map[int32]int64
	Examples int64
	// ShardLost reports that a push failed because a shard went away:
	// the job rolls back to its last checkpoint.
	ShardLost bool
	Reason    string
}

// StreamCommand is what a stream worker must do next.
type StreamCommand int

// Stream commands.
const (
	// StreamStop: stop at the next batch boundary and report (with
	// StreamOrder.Barrier, the offsets for that barrier).
	StreamStop StreamCommand = iota
	// StreamRun: train.
	StreamRun
)

// StreamOrder is the coordinator's answer to a StreamReport.
type StreamOrder struct {
	Command    StreamCommand
	Generation int64
	// Barrier is the barrier to stop for (with StreamStop; 0 is a stop
	// for a recovery or the start).
	Barrier int64
	// Partitions are the worker's partitions.
	Partitions []int32
	// Offsets, with StreamRun in a generation other than the report's,
	// are where the worker's partitions resume: it drops what it buffered
	// and seeks there (a partition absent starts at the configured start).
	Offsets map[int32]int64
	// Seek says Offsets apply: the worker starts a new generation.
	Seek bool
}

// StreamStatus is a summary for monitoring and tests.
type StreamStatus struct {
	Phase          string // starting, running, barrier, recovering
	Generation     int64
	Barrier        int64
	Checkpoints    int
	Recoveries     int
	LastCheckpoint string
	// Examples is the examples trained into the last checkpoint's tables.
	Examples int64
	// Offsets is the last checkpoint's offsets.
	Offsets map[int32]int64
	// Workers is the number of worker indexes with a live process.
	Workers int
}

type streamPhase int

const (
	streamStarting streamPhase = iota
	streamRunning
	streamBarrier
	streamRecovering
)

func (p streamPhase) String() string {
	return [...]string{"starting", "running", "barrier", "recovering"}[p]
}

type streamWorker struct {
	instance string
	seen     time.Time
	stopped  bool  // reported stopped since it was last told to run
	gen      int64 // the generation of its last report
	barrier  int64
	offsets  map[int32]int64
	examples int64 // reported: trained since its last seek
	counted  int64 // of examples, those in the last checkpoint
	ran      int64 // the generation this coordinator last told it to run in
}

// StreamCoordinator drives an exactly-once stream job: W workers each read
// a fixed set of a topic's partitions and push to the shards; every
// CheckpointEvery it runs a barrier: every worker stops at a batch boundary
// (its pushes acknowledged) and reports its partitions' next offsets; once
// all have, every shard snapshots its tables and optimizer state, the
// manifest with every offset is written last, and the workers are released.
// When a worker dies or restarts, a shard restarts, or a worker reports a
// lost shard, the job rolls back: once every worker index has a live,
// stopped process, every shard restores the last checkpoint and the workers
// seek their partitions to its offsets, in a new generation. A coordinator
// that starts where manifests exist resumes from the latest the same way.
//
// Run drives the background work; Report is called by the workers (over
// gRPC: the StreamCoordinator service).
type StreamCoordinator struct {
	cfg StreamCoordinatorConfig
	now func() time.Time
	log *slog.Logger

	mu         sync.Mutex
	shards     Checkpointer
	phase      streamPhase
	gen        int64
	barrier    int64 // the barrier in progress, or the last one taken
	workers    []streamWorker
	retired    map[string]bool // instances replaced or expired
	last       *StreamManifest
	instances  []uint64 // shard instances holding the state since the last checkpoint or restore
	next       time.Time
	ckpts      int
	recoveries int
	want       bool // Checkpoint was called
	changed    chan struct{}
	retain     *retainer
}

// NewStreamCoordinator returns a stream coordinator; call Run to drive it.
func NewStreamCoordinator(c StreamCoordinatorConfig) (*StreamCoordinator, error) {
	switch {
	case c.Workers < 1:
		return nil, fmt.Errorf("paramserver: stream coordinator: %d workers, want at least 1", c.Workers)
	case c.Partitions < c.Workers:
		return nil, fmt.Errorf("paramserver: stream coordinator: %d partitions for %d workers: a worker would read nothing", c.Partitions, c.Workers)
	case c.Topic == "":
		return nil, errors.New("paramserver: stream coordinator: no topic")
	case c.Lake == nil:
		return nil, errors.New("paramserver: stream coordinator: no lake for the checkpoints")
	case c.CheckpointEvery < 0 || c.LeaseTTL < 0:
		return nil, errors.New("paramserver: stream coordinator: negative CheckpointEvery or LeaseTTL")
	}
	if err := validKeep(c.Keep); err != nil {
		return nil, err
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = 10 * time.Second
	}
	co := &StreamCoordinator{cfg: c, now: c.Now, log: c.Logger, shards: c.Shards, workers: make([]streamWorker, c.Workers),
		retired: map[string]bool{}, changed: make(chan struct{})}
	if co.now == nil {
		co.now = time.Now
	}
	if co.log == nil {
		co.log = slog.Default()
	}
	co.retain = newRetainer(c.Lake, c.Prefix, "stream-", c.Keep, co.log)
	return co, nil
}

// SetShards gives the coordinator the shards, when they were not in its
// configuration.
func (co *StreamCoordinator) SetShards(c Checkpointer) {
	co.mu.Lock()
	co.shards = c
	co.mu.Unlock()
}

func (co *StreamCoordinator) broadcast() {
	close(co.changed)
	co.changed = make(chan struct{})
}

// Checkpoint asks for a barrier now (as the period would).
func (co *StreamCoordinator) Checkpoint() {
	co.mu.Lock()
	co.want = true
	co.mu.Unlock()
}

// Report records a worker's state and returns what it must do. A report of
// an instance that was replaced or expired fails with ErrWorkerExpired: the
// process must stop pushing and report again under a new instance id.
func (co *StreamCoordinator) Report(_ context.Context, r StreamReport) (StreamOrder, error) {
	co.mu.Lock()
	defer co.mu.Unlock()
	if r.Worker < 0 || r.Worker >= len(co.workers) {
		return StreamOrder{}, fmt.Errorf("paramserver: stream worker index %d: the job has workers 0..%d (trainer worker --worker-index)", r.Worker, len(co.workers)-1)
	}
	if r.Instance == "" {
		return StreamOrder{}, errors.New("paramserver: stream worker report without an instance id")
	}
	if co.retired[r.Instance] {
		return StreamOrder{}, fmt.Errorf("%w: stream worker %d instance %s was replaced or expired", ErrWorkerExpired, r.Worker, r.Instance)
	}
	w := &co.workers[r.Worker]
	if w.instance != r.Instance {
		if w.instance != "" {
			co.retired[w.instance] = true
			co.log.Warn("a new process joined as a stream worker that was running; rolling back", "worker", r.Worker, "old", w.instance, "new", r.Instance)
			co.rollbackLocked("worker restarted")
		}
		*w = streamWorker{instance: r.Instance}
		co.broadcast()
	}
	w.seen = co.now()
	if r.ShardLost && r.Generation == co.gen {
		co.log.Warn("a worker reports a shard failure", "worker", r.Worker, "reason", r.Reason)
		co.rollbackLocked("shard lost")
	}
	if r.Stopped {
		if !w.stopped {
			co.broadcast()
		}
		w.stopped, w.gen, w.barrier, w.offsets, w.examples = true, r.Generation, r.Barrier, r.Offsets, r.Examples
	} else {
		w.stopped = false
	}
	o := StreamOrder{Generation: co.gen, Partitions: StreamPartitions(r.Worker, co.cfg.Workers, co.cfg.Partitions)}
	switch {
	case co.phase == streamBarrier:
		o.Barrier = co.barrier
	case co.phase == streamRunning && !r.Stopped && w.ran == co.gen:
		o.Command = StreamRun
	case co.phase == streamRunning && w.stopped:
		// Released: from here on it is assumed to push, until it says
		// it stopped again. A process that has not run in this
		// generation (a new one, or after a restore) seeks first.
		o.Command = StreamRun
		w.stopped = false
		if w.ran != co.gen {
			w.ran, w.examples, w.counted = co.gen, 0, 0
			o.Seek = true
			o.Offsets = map[int32]int64{}
			for _, p := range o.Partitions {
				if off, ok := co.last.Offsets[p]; ok {
					o.Offsets[p] = off
				}
			}
		}
	}
	return o, nil
}

// rollbackLocked starts a recovery unless the job has not started (nothing
// was pushed) or one is under way.
func (co *StreamCoordinator) rollbackLocked(reason string) {
	if co.phase == streamRunning || co.phase == streamBarrier {
		co.log.Warn("rolling back to the last checkpoint", "reason", reason, "checkpoint", co.last.Name)
		co.phase = streamRecovering
		co.broadcast()
	}
}

// reap retires the workers whose lease expired.
func (co *StreamCoordinator) reap() {
	co.mu.Lock()
	defer co.mu.Unlock()
	cutoff := co.now().Add(-co.cfg.LeaseTTL)
	for i := range co.workers {
		w := &co.workers[i]
		if w.instance != "" && w.seen.Before(cutoff) {
			co.log.Warn("stream worker lease expired", "worker", i, "instance", w.instance)
			co.retired[w.instance] = true
			*w = streamWorker{}
			co.rollbackLocked("worker lease expired")
			co.broadcast()
		}
	}
}

// allStopped reports whether every worker index has a live process that
// reported it stopped; with barrier > 0, for that barrier in generation gen.
func (co *StreamCoordinator) allStopped(barrier int64) bool {
	for _, w := range co.workers {
		if w.instance == "" || !w.stopped || barrier > 0 && (w.barrier != barrier || w.gen != co.gen || w.ran != co.gen) {
			return false
		}
	}
	return true
}

// Status returns a summary.
func (co *StreamCoordinator) Status() StreamStatus {
	co.mu.Lock()
	defer co.mu.Unlock()
	st := StreamStatus{Phase: co.phase.String(), Generation: co.gen, Barrier: co.barrier, Checkpoints: co.ckpts, Recoveries: co.recoveries}
	if co.last != nil {
		st.LastCheckpoint, st.Examples, st.Offsets = co.last.Name, co.last.Examples, maps.Clone(co.last.Offsets)
	}
	for _, w := range co.workers {
		if w.instance != "" {
			st.Workers++
		}
	}
	return st
}

// WaitFor blocks until cond holds on the status or ctx is done.
func (co *StreamCoordinator) WaitFor(ctx context.Context, cond func(StreamStatus) bool) error {
	for {
		co.mu.Lock()
		ch := co.changed
		co.mu.Unlock()
		if cond(co.Status()) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Run performs the barriers and recoveries until ctx is done. tick is the
// polling period (0 means 50ms). It first looks for the latest manifest of
// the job under Prefix, to resume from.
func (co *StreamCoordinator) Run(ctx context.Context, tick time.Duration) error {
	if tick <= 0 {
		tick = 50 * time.Millisecond
	}
	m, err := co.latest(ctx)
	if err != nil {
		return err
	}
	if m != nil {
		co.mu.Lock()
		co.last, co.gen, co.barrier, co.ckpts = m, m.Generation, m.Barrier, 0
		co.mu.Unlock()
		co.log.Info("resuming the stream job from its last checkpoint", "name", m.Name, "examples", m.Examples)
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		co.reap()
		if err := co.step(ctx); err != nil && ctx.Err() == nil {
			co.log.Error("stream checkpoint or recovery failed; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// step moves the job on by one transition, when it can.
func (co *StreamCoordinator) step(ctx context.Context) error {
	co.mu.Lock()
	shards, phase := co.shards, co.phase
	co.mu.Unlock()
	if shards == nil {
		return nil
	}
	switch phase {
	case streamStarting:
		co.mu.Lock()
		ready, resume := co.allStopped(0), co.last != nil
		co.mu.Unlock()
		if !ready {
			return nil
		}
		if resume {
			return co.restore(ctx, shards)
		}
		return co.take(ctx, shards, true)
	case streamRecovering:
		co.mu.Lock()
		ready := co.allStopped(0)
		co.mu.Unlock()
		if ready {
			return co.restore(ctx, shards)
		}
		return nil
	case streamRunning:
		if co.shardRestarted(ctx, shards) {
			return nil
		}
		co.mu.Lock()
		due := co.want || co.cfg.CheckpointEvery > 0 && !co.now().Before(co.next)
		for _, w := range co.workers {
			// A worker not yet released into this generation would stop
			// for the barrier with its offsets of another one.
			due = due && w.ran == co.gen
		}
		if due {
			co.want = false
			co.phase, co.barrier = streamBarrier, co.barrier+1
			co.log.Debug("checkpoint barrier", "barrier", co.barrier)
			co.broadcast()
		}
		co.mu.Unlock()
		return nil
	case streamBarrier:
		if co.shardRestarted(ctx, shards) {
			return nil
		}
		co.mu.Lock()
		ready := co.allStopped(co.barrier)
		co.mu.Unlock()
		if ready {
			return co.take(ctx, shards, false)
		}
	}
	return nil
}

// shardRestarted starts a recovery when a shard's instance changed since
// the last checkpoint or restore (its tables are gone).
func (co *StreamCoordinator) shardRestarted(ctx context.Context, shards Checkpointer) bool {
	ids, err := shards.Instances(ctx)
	if err != nil {
		return false // a shard is down: pushes fail, and this is asked again
	}
	co.mu.Lock()
	defer co.mu.Unlock()
	if co.instances != nil && !slices.Equal(ids, co.instances) {
		co.log.Warn("a shard restarted")
		co.rollbackLocked("shard restarted")
		return true
	}
	return false
}

func (co *StreamCoordinator) key(name string) string {
	key := name + "/manifest.json"
	if co.cfg.Prefix != "" {
		key = co.cfg.Prefix + "/" + key
	}
	return key
}

// take snapshots every shard and writes the manifest with the workers'
// offsets, then releases them. first is the checkpoint a new job takes
// before it trains: it has no offsets.
func (co *StreamCoordinator) take(ctx context.Context, shards Checkpointer, first bool) error {
	before, err := shards.Instances(ctx)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	fenced := int64(0)
	if first {
		// The first checkpoint opens generation 1 (or the generation
		// above shards fenced by an earlier process): the workers run
		// under it, and nothing of an earlier one is accepted once they do.
		co.mu.Lock()
		gen := co.gen + 1
		co.mu.Unlock()
		if fenced, err = shards.Fence(ctx, gen); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
	}
	co.mu.Lock()
	if co.instances != nil && !slices.Equal(before, co.instances) {
		co.rollbackLocked("shard restarted")
		co.mu.Unlock()
		return nil
	}
	gen := co.gen
	if first {
		gen = max(co.gen+1, fenced)
	}
	m := &StreamManifest{Name: fmt.Sprintf("stream-%09d", co.barrier), Barrier: co.barrier, Generation: gen, Topic: co.cfg.Topic,
		Partitions: co.cfg.Partitions, Workers: co.cfg.Workers, Offsets: map[int32]int64{}, Time: co.now().UTC()}
	if co.last != nil {
		maps.Copy(m.Offsets, co.last.Offsets)
		m.Examples = co.last.Examples
	}
	counted := make([]int64, len(co.workers))
	if !first {
		for i, w := range co.workers {
			for _, p := range StreamPartitions(i, co.cfg.Workers, co.cfg.Partitions) {
				if off, ok := w.offsets[p]; ok {
					m.Offsets[p] = off
				}
			}
			m.Examples += w.examples - w.counted
			counted[i] = w.examples
		}
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
	if err := co.cfg.Lake.Put(ctx, co.key(m.Name), bytes.NewReader(raw), int64(len(raw))); err != nil {
		return fmt.Errorf("checkpoint manifest %s: %w", co.key(m.Name), err)
	}
	co.log.Info("stream checkpoint taken", "name", m.Name, "examples", m.Examples, "offsets", m.Offsets)
	if co.cfg.OnCheckpoint != nil {
		if err := co.cfg.OnCheckpoint(ctx, m); err != nil {
			co.log.Error("after checkpoint", "name", m.Name, "err", err)
		}
	}
	co.mu.Lock()
	co.last, co.ckpts, co.instances = m, co.ckpts+1, before
	if co.phase == streamBarrier || co.phase == streamStarting {
		co.phase, co.gen = streamRunning, gen
		co.next = co.now().Add(co.cfg.CheckpointEvery)
		if !first {
			for i := range co.workers {
				co.workers[i].counted = counted[i]
			}
		}
	}
	co.broadcast()
	co.mu.Unlock()
	if co.cfg.Commit != nil && len(m.Offsets) > 0 {
		if err := co.cfg.Commit(ctx, m.Offsets); err != nil {
			co.log.Warn("offset commit failed (the manifest holds them)", "name", m.Name, "err", err)
		}
	}
	co.retain.added(ctx, m.Name, co.key(m.Name), m.Shards)
	return nil
}

// restore makes every shard load the last checkpoint and opens a new
// generation in which the workers resume from its offsets.
func (co *StreamCoordinator) restore(ctx context.Context, shards Checkpointer) error {
	co.mu.Lock()
	m := co.last
	co.mu.Unlock()
	before, err := shards.Instances(ctx)
	if err != nil {
		return fmt.Errorf("recovery from %s: %w", m.Name, err)
	}
	// Fence before the restore and before any worker runs in the new
	// generation: a retired process that still has a batch in flight (a
	// long pause, a partition) is refused from now on instead of adding
	// it to the restored tables, and what it pushed before is overwritten
	// by the restore. The instance check below makes sure no shard
	// restarted (and forgot its fence) in between; see Local.Fence.
	// The shards may be fenced higher than this generation (by this
	// coordinator's previous process, after the manifest it resumed
	// from): the new generation is above every fence.
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
	co.recoveries++
	co.barrier = max(co.barrier, m.Barrier)
	co.phase = streamRunning
	co.next = co.now().Add(co.cfg.CheckpointEvery)
	co.log.Info("restored the last checkpoint", "name", m.Name, "generation", co.gen, "examples", m.Examples)
	co.broadcast()
	return nil
}

// latest returns the newest manifest of the job, or nil. A manifest of
// another topic, partition or worker count is refused: the checkpoint
// folder belongs to another job.
func (co *StreamCoordinator) latest(ctx context.Context) (*StreamManifest, error) {
	m, err := LatestStreamManifest(ctx, co.cfg.Lake, co.cfg.Prefix)
	if err != nil || m == nil {
		return nil, err
	}
	if m.Topic != co.cfg.Topic || m.Partitions != co.cfg.Partitions || m.Workers != co.cfg.Workers {
		return nil, fmt.Errorf("stream checkpoint %s is of topic %s with %d partitions and %d workers, this job reads %s with %d partitions and %d workers: give another --checkpoint-prefix",
			co.key(m.Name), m.Topic, m.Partitions, m.Workers, co.cfg.Topic, co.cfg.Partitions, co.cfg.Workers)
	}
	return m, nil
}

// LatestStreamManifest returns the newest stream checkpoint manifest under
// prefix in store, or nil when there is none.
func LatestStreamManifest(ctx context.Context, store lake.Store, prefix string) (*StreamManifest, error) {
	p := "stream-"
	if prefix != "" {
		p = prefix + "/stream-"
	}
	var key string
	it := store.List(ctx, p)
	for it.Next() {
		if k := it.At().Key; strings.HasSuffix(k, "/manifest.json") {
			key = k // lexical order: the names carry zero-padded barrier numbers
		}
	}
	if err := it.Err(); err != nil && !errors.Is(err, lake.ErrNotExist) {
		return nil, fmt.Errorf("list stream checkpoints under %s: %w", p, err)
	}
	if key == "" {
		return nil, nil
	}
	r, err := store.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	raw, err := io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	var m StreamManifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("stream checkpoint %s: %w", key, err)
	}
	return &m, nil
}
