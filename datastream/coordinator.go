package datastream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// coordinator triggers checkpoints at the sources, collects the
// acknowledgements of every task, writes the manifest last, applies
// retention and tells sources and sinks when a checkpoint is durable.
// It runs in one goroutine; tasks talk to it through acks, the API through
// requests.
type coordinator struct {
	x        *execution
	acks     chan ack
	requests chan request
	timeouts chan int64

	stall atomic.Int64 // ns task goroutines spent snapshotting and writing state

	// finished holds the last word of every task that has ended (with the
	// final position of sources). Checkpoints go on while some sources run:
	// a finished task counts as aligned and gets an empty state file.
	finished map[*task]ack

	nextID    int64
	pending   *pending
	waiting   []request
	completed []*Manifest // retained, oldest first
	aborted   map[int64]bool

	mu        sync.Mutex // guards the stats below, read by metrics and the summary
	okCount   int
	failCount int
	lastID    int64
	lastDur   time.Duration
	lastSize  int64
	commitErr int
	lastErr   error
}

type ack struct {
	t       *task
	done    bool // not an ack: task t has finished (sent after its last ack)
	id      int64
	chain   int
	subtask int
	state   StateFile
	source  bool
	pos     []byte
	err     error
}

type request struct {
	stop  bool
	reply chan result
}

type result struct {
	id  int64
	err error
}

type pending struct {
	id      int64
	stop    bool
	started time.Time
	acks    []ack
	replies []chan result
	cancel  func() bool // the timeout timer
}

func newCoordinator(x *execution) *coordinator {
	return &coordinator{
		x:        x,
		acks:     make(chan ack, 2*len(x.tasks)+4),
		requests: make(chan request),
		timeouts: make(chan int64, 1),
		nextID:   1,
		aborted:  map[int64]bool{},
		finished: map[*task]ack{},
	}
}

// taskFinished is called when task t has ended normally. It goes through
// the acks queue, after that task's last ack, so the coordinator knows
// whether the task acknowledged the pending checkpoint before it ended.
func (c *coordinator) taskFinished(ctx context.Context, t *task) {
	select {
	case c.acks <- ack{t: t, done: true, source: t.src != nil, pos: t.pos, chain: t.chain.index, subtask: t.subtask}:
	case <-ctx.Done():
	}
}

func (c *coordinator) liveSources() int {
	n := 0
	for _, t := range c.x.tasks {
		if _, done := c.finished[t]; t.src != nil && !done {
			n++
		}
	}
	return n
}

// writeState writes a task's state file for checkpoint id.
func (c *coordinator) writeState(ctx context.Context, id int64, t *task, states []opState) (StateFile, error) {
	b := encodeStates(states)
	sf := StateFile{
		Chain: t.chain.name, Subtask: t.subtask, Parallelism: t.chain.parallelism,
		Key:  checkpointDir(c.x.job.name, id) + t.chain.name + "-" + strconv.Itoa(t.subtask) + ".state",
		Size: int64(len(b)), CRC32: crc32.ChecksumIEEE(b),
	}
	if err := c.x.cfg.store.Put(ctx, sf.Key, bytes.NewReader(b), sf.Size); err != nil {
		return sf, fmt.Errorf("write %s: %w", sf.Key, err)
	}
	return sf, nil
}

func (c *coordinator) run(tasksDone <-chan struct{}) {
	cfg := c.x.cfg
	if c.x.restored != nil {
		c.nextID = c.x.restored.ID + 1
		c.completed = []*Manifest{c.x.restored}
	}
	tick := make(chan struct{}, 1)
	notify := func(ch chan struct{}) func() {
		return func() {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
	stopTick := cfg.clock.AfterFunc(cfg.interval, notify(tick))
	defer func() { stopTick() }()
	for {
		select {
		case <-tick:
			stopTick = cfg.clock.AfterFunc(cfg.interval, notify(tick))
			if c.pending == nil && c.liveSources() > 0 {
				c.trigger(false, nil)
			}
		case req := <-c.requests:
			if c.pending != nil {
				c.waiting = append(c.waiting, req)
				continue
			}
			c.trigger(req.stop, req.reply)
		case a := <-c.acks:
			c.onAck(a)
		case id := <-c.timeouts:
			if c.pending != nil && c.pending.id == id {
				c.abort(fmt.Errorf("checkpoint %d timed out after %v", id, cfg.timeout))
			}
		case <-tasksDone:
			for {
				select {
				case a := <-c.acks:
					c.onAck(a)
					continue
				default:
				}
				break
			}
			if c.pending != nil {
				c.abort(errors.New("job ended before the checkpoint completed"))
			}
			for _, w := range c.waiting {
				w.reply <- result{err: ErrJobNotRunning}
			}
			return
		case <-c.x.ctx.Done():
			if c.pending != nil {
				c.abort(context.Cause(c.x.ctx))
			}
			for _, w := range c.waiting {
				w.reply <- result{err: ErrJobNotRunning}
			}
			return
		}
	}
}

func (c *coordinator) trigger(stop bool, reply chan result) {
	p := &pending{id: c.nextID, stop: stop, started: c.x.cfg.clock.Now()}
	c.nextID++
	if reply != nil {
		p.replies = append(p.replies, reply)
	}
	c.pending = p
	p.cancel = c.x.cfg.clock.AfterFunc(c.x.cfg.timeout, func() {
		select {
		case c.timeouts <- p.id:
		default:
		}
	})
	if c.liveSources() == 0 {
		c.abort(errors.New("every source has ended"))
		return
	}
	for _, t := range c.x.tasks {
		if _, done := c.finished[t]; t.src == nil || done {
			continue
		}
		select {
		case t.control <- trigger{id: p.id, stop: stop}:
		default:
			c.abort(fmt.Errorf("source %s is not taking triggers", t.name()))
			return
		}
	}
}

func (c *coordinator) onAck(a ack) {
	p := c.pending
	if a.done {
		c.finished[a.t] = a
		if p != nil {
			c.checkComplete()
		}
		return
	}
	if p == nil || a.id != p.id {
		if c.aborted[a.id] {
			// A late ack of an aborted checkpoint: its file is an orphan, and
			// a transactional sink waits to hear the outcome.
			if a.state.Key != "" {
				_ = c.x.cfg.store.Delete(context.WithoutCancel(c.x.ctx), a.state.Key)
			}
			c.decideTask(a, false)
		}
		return
	}
	p.acks = append(p.acks, a)
	if a.err != nil {
		c.abort(fmt.Errorf("checkpoint %d: %s[%d]: %w", p.id, c.x.chains[a.chain].name, a.subtask, a.err))
		return
	}
	c.checkComplete()
}

// checkComplete completes the pending checkpoint once every task has
// acknowledged it or finished without seeing its barrier (all its inputs
// ended before the barrier could reach it).
func (c *coordinator) checkComplete() {
	p := c.pending
	acked := make(map[*task]bool, len(p.acks))
	for _, a := range p.acks {
		acked[a.t] = true
	}
	for _, t := range c.x.tasks {
		if _, done := c.finished[t]; !acked[t] && !done {
			return
		}
	}
	if len(p.acks) == 0 {
		c.abort(errors.New("the job finished before the checkpoint"))
		return
	}
	c.complete(acked)
}

func (c *coordinator) finishPending(res result) {
	p := c.pending
	c.pending = nil
	if p.cancel != nil {
		p.cancel()
	}
	for _, r := range p.replies {
		r <- res
	}
	if len(c.waiting) > 0 {
		w := c.waiting[0]
		c.waiting = c.waiting[1:]
		c.trigger(w.stop, w.reply)
	}
}

// decide tells the transactional sinks that acknowledged checkpoint p its
// outcome. A sink waits for it after acknowledging, so it has at most one
// outstanding decision and the send never blocks.
func (c *coordinator) decide(p *pending, commit bool) {
	for _, a := range p.acks {
		c.decideTask(a, commit)
	}
}

func (c *coordinator) decideTask(a ack, commit bool) {
	if a.t != nil && a.t.decisions != nil {
		select {
		case a.t.decisions <- decision{id: a.id, commit: commit}:
		default:
		}
	}
}

func (c *coordinator) abort(err error) {
	p := c.pending
	c.aborted[p.id] = true
	delete(c.aborted, p.id-64)
	ctx := context.WithoutCancel(c.x.ctx)
	for _, a := range p.acks {
		if a.state.Key != "" {
			_ = c.x.cfg.store.Delete(ctx, a.state.Key) // best effort: an orphan file is harmless
		}
	}
	c.decide(p, false)
	c.mu.Lock()
	c.failCount++
	c.lastErr = err
	c.mu.Unlock()
	c.x.cfg.logger.Warn("checkpoint failed", "job", c.x.job.name, "checkpoint", p.id, "err", err)
	c.finishPending(result{id: p.id, err: err})
}

func (c *coordinator) complete(acked map[*task]bool) {
	p := c.pending
	cfg := c.x.cfg
	ctx := c.x.ctx
	m := &Manifest{Version: ManifestVersion, Job: c.x.job.name, ID: p.id, Savepoint: p.stop, CreatedMs: p.started.UnixMilli()}
	entries := slices.Clone(p.acks)
	var err error
	for _, t := range c.x.tasks {
		if acked[t] {
			continue
		}
		// Finished before the barrier: nothing left to restore but the
		// source's final position.
		a := c.finished[t]
		if a.state, err = c.writeState(ctx, p.id, t, nil); err != nil {
			c.abort(err)
			return
		}
		p.acks = append(p.acks, ack{t: t, id: p.id, chain: a.chain, subtask: a.subtask, state: a.state})
		entries = append(entries, a)
	}
	for _, a := range entries {
		m.States = append(m.States, a.state)
		if a.source {
			m.Sources = append(m.Sources, SourcePosition{Operator: c.x.chains[a.chain].name, Subtask: a.subtask, Position: a.pos})
		}
	}
	b, err := m.Encode()
	if err == nil {
		err = cfg.store.Put(ctx, manifestKey(m.Job, m.ID), bytes.NewReader(b), int64(len(b)))
	}
	if err == nil {
		id := []byte(strconv.FormatInt(m.ID, 10))
		err = cfg.store.Put(ctx, latestKey(m.Job), bytes.NewReader(id), int64(len(id)))
	}
	if err != nil {
		c.abort(fmt.Errorf("write manifest of checkpoint %d: %w", m.ID, err))
		return
	}
	dur := cfg.clock.Now().Sub(p.started)
	c.mu.Lock()
	c.okCount++
	c.lastID, c.lastDur, c.lastSize = m.ID, dur, m.Size()+int64(len(b))
	c.mu.Unlock()
	c.completed = append(c.completed, m)
	c.retain(ctx)
	c.commit(ctx, m)
	c.decide(p, true)
	c.finishPending(result{id: p.id})
}

// retain deletes complete checkpoints beyond the newest cfg.retain, the
// manifest first so a half-deleted checkpoint is never taken for complete.
func (c *coordinator) retain(ctx context.Context) {
	for len(c.completed) > c.x.cfg.retain {
		old := c.completed[0]
		keys := []string{manifestKey(old.Job, old.ID)}
		for _, s := range old.States {
			keys = append(keys, s.Key)
		}
		for _, k := range keys {
			if err := c.x.cfg.store.Delete(ctx, k); err != nil {
				c.x.cfg.logger.Warn("checkpoint retention", "job", old.Job, "checkpoint", old.ID, "key", k, "err", err)
				if errors.Is(err, errors.ErrUnsupported) {
					c.completed = c.completed[1:]
					return
				}
				break
			}
		}
		c.completed = c.completed[1:]
	}
}

// commit tells sources and non-transactional sinks that m is durable.
func (c *coordinator) commit(ctx context.Context, m *Manifest) {
	for _, t := range c.x.tasks {
		var cc CheckpointCommitter
		var state []byte
		switch {
		case t.src != nil:
			cc, _ = t.src.(CheckpointCommitter)
			for _, sp := range m.Sources {
				if sp.Operator == t.chain.name && sp.Subtask == t.subtask {
					state = sp.Position
				}
			}
		case t.sink != nil && t.sink.twoPhase == nil:
			cc, _ = t.sink.sink.(CheckpointCommitter)
		}
		if cc == nil {
			continue
		}
		if err := cc.CommitCheckpoint(ctx, m.ID, state); err != nil {
			c.mu.Lock()
			c.commitErr++
			c.mu.Unlock()
			c.x.cfg.logger.Warn("commit checkpoint", "job", m.Job, "checkpoint", m.ID, "task", t.name(), "err", err)
		}
	}
}

func (c *coordinator) request(ctx context.Context, stop bool) (int64, error) {
	reply := make(chan result, 1)
	select {
	case c.requests <- request{stop: stop, reply: reply}:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-c.x.ctx.Done():
		return 0, ErrJobNotRunning
	}
	select {
	case r := <-reply:
		return r.id, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (j *Job) coordinator() (*coordinator, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.exec == nil || j.exec.coord == nil {
		return nil, ErrJobNotRunning
	}
	return j.exec.coord, nil
}

// TriggerCheckpoint takes a checkpoint now (after the one in progress, if
// any) and returns its id once it is durable.
func (j *Job) TriggerCheckpoint(ctx context.Context) (int64, error) {
	c, err := j.coordinator()
	if err != nil {
		return 0, err
	}
	return c.request(ctx, false)
}

// StopWithSavepoint stops the sources at a checkpoint barrier, writes a
// savepoint (a checkpoint with Savepoint set in its manifest) and lets the
// job end without firing the open windows: a job restored from it with
// WithRestore continues exactly where this one stopped. It returns the
// savepoint's id; Run then returns.
func (j *Job) StopWithSavepoint(ctx context.Context) (int64, error) {
	c, err := j.coordinator()
	if err != nil {
		return 0, err
	}
	return c.request(ctx, true)
}
