package datastream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/compute/exec"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

type opStats struct {
	in, out, late atomic.Int64
	backpressure  atomic.Int64 // nanoseconds senders spent blocked on full queues
	watermark     atomic.Int64
}

type execution struct {
	job      *Job
	cfg      *jobConfig
	ctx      context.Context
	cancel   context.CancelCauseFunc
	mem      memory.Allocator
	chains   []*chain
	tasks    []*task
	stats    map[*node][]*opStats
	coord    *coordinator
	restored *Manifest
	start    time.Time
}

func (x *execution) now() int64 { return x.cfg.clock.Now().UnixMilli() }

// Run executes the job until every source has ended and every window and
// timer has fired (bounded inputs), until StopWithSavepoint completes, or
// until ctx is done or an operator fails. It returns a summary of what ran in
// every case, with the first error. A Job runs once.
func (j *Job) Run(ctx context.Context) (*Summary, error) {
	j.mu.Lock()
	if j.ran {
		j.mu.Unlock()
		return nil, fmt.Errorf("%w: job %q already ran", ErrGraph, j.name)
	}
	j.ran = true
	j.mu.Unlock()
	if j.err != nil {
		return nil, j.err
	}
	if err := j.validate(); err != nil {
		return nil, err
	}
	x := &execution{job: j, cfg: &j.cfg, mem: j.cfg.mem, stats: map[*node][]*opStats{}, start: time.Now()}
	x.ctx, x.cancel = context.WithCancelCause(exec.WithAllocator(ctx, j.cfg.mem))
	defer x.cancel(nil)
	x.plan()
	if j.cfg.store != nil {
		x.coord = newCoordinator(x)
		if j.cfg.restore {
			m, err := latestManifest(ctx, j.cfg.store, j.name)
			switch {
			case errors.Is(err, ErrNoCheckpoint):
			case err != nil:
				return nil, fmt.Errorf("restore job %q: %w", j.name, err)
			default:
				x.restored = m
			}
		}
	}
	unregister, err := x.registerMetrics()
	if err != nil {
		return nil, err
	}
	defer unregister()
	err = x.open()
	if err == nil {
		j.mu.Lock()
		j.exec = x
		j.mu.Unlock()
		err = x.runTasks()
		j.mu.Lock()
		j.exec = nil
		j.mu.Unlock()
	}
	closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if cerr := x.close(closeCtx); err == nil {
		err = cerr
	}
	return x.summary(), err
}

func (j *Job) validate() error {
	if len(j.nodes) == 0 {
		return fmt.Errorf("%w: job %q has no source", ErrGraph, j.name)
	}
	for _, n := range j.nodes {
		if n.kind != kindSink && len(n.out[0]) == 0 {
			return fmt.Errorf("%w: the output of operator %q is not consumed (add a sink)", ErrGraph, n.name)
		}
	}
	return nil
}

// plan groups nodes into chains and wires tasks and queues.
func (x *execution) plan() {
	chainOf := map[*node]*chain{}
	link := map[*edge]bool{}
	for _, n := range x.job.nodes {
		if n.kind != kindSource && len(n.in) == 1 {
			e := n.in[0]
			c := chainOf[e.from]
			if c.nodes[len(c.nodes)-1] == e.from && len(e.from.out[e.port]) == 1 &&
				e.from.parallelism == n.parallelism && e.side == 0 &&
				(e.kind == edgeForward || (e.kind == edgeHash && n.parallelism == 1)) {
				c.nodes = append(c.nodes, n)
				chainOf[n] = c
				link[e] = true
				continue
			}
		}
		c := &chain{index: len(x.chains), name: n.name, nodes: []*node{n}, parallelism: n.parallelism}
		x.chains = append(x.chains, c)
		chainOf[n] = c
	}
	for _, n := range x.job.nodes {
		st := make([]*opStats, n.parallelism)
		for i := range st {
			st[i] = &opStats{}
			st[i].watermark.Store(NoWatermark)
		}
		x.stats[n] = st
	}
	opOf := map[*node][]*opRuntime{}
	for _, c := range x.chains {
		for s := range c.parallelism {
			t := &task{x: x, chain: c, subtask: s, ctx: x.ctx, wakeCh: make(chan struct{}, 1), wm: NoWatermark}
			if c.nodes[0].kind == kindSource {
				t.control = make(chan trigger, 4)
			}
			for _, n := range c.nodes {
				r := &opRuntime{node: n, ports: make([]portOut, n.ports)}
				r.c = &opContext{
					ctx: x.ctx, job: x.job.name, name: n.name, subtask: s, parallelism: n.parallelism,
					clock: x.cfg.clock, logger: x.cfg.logger, mem: x.mem, stats: x.stats[n][s], wm: NoWatermark,
					wake: t.requestWake,
				}
				r.c.emitFn = func(port int, rec arrow.Record) error { return t.emit(r, port, rec) }
				r.c.consumed = func(port int) bool { return r.ports[port].next != nil || len(r.ports[port].edges) > 0 }
				if k := len(t.ops); k > 0 {
					prev := t.ops[k-1]
					prev.ports[n.in[0].port].next = r
				}
				t.ops = append(t.ops, r)
				opOf[n] = append(opOf[n], r)
			}
			c.tasks = append(c.tasks, t)
			x.tasks = append(x.tasks, t)
		}
	}
	for _, n := range x.job.nodes {
		for port, edges := range n.out {
			for _, e := range edges {
				if link[e] {
					continue
				}
				from, to := chainOf[n], chainOf[e.to]
				for u, ut := range from.tasks {
					oe := &outEdge{t: ut, kind: e.kind, stats: x.stats[n][u]}
					if e.kind == edgeHash {
						oe.keys = newKeyColumns(e.keys)
					}
					for d, dt := range to.tasks {
						if e.kind == edgeForward && from.parallelism == to.parallelism && d != u {
							continue
						}
						oe.targets = append(oe.targets, dt)
						oe.idx = append(oe.idx, int32(len(dt.inputs)))
						dt.inputs = append(dt.inputs, inputState{side: e.side, wm: NoWatermark})
					}
					r := opOf[n][u]
					r.ports[port].edges = append(r.ports[port].edges, oe)
					ut.outEdges = append(ut.outEdges, oe)
				}
			}
		}
	}
	for _, t := range x.tasks {
		t.in = make(chan message, x.cfg.queue)
	}
}

// open opens sources, operators and sinks, and restores their state.
func (x *execution) open() error {
	var states map[string][]opPart
	if x.restored != nil {
		var err error
		if states, err = x.loadStates(x.ctx, x.restored); err != nil {
			return err
		}
	}
	for _, t := range x.tasks {
		for _, r := range t.ops {
			n := r.node
			if x.restored != nil {
				r.c.restoredID = x.restored.ID
			}
			switch n.kind {
			case kindSource:
				src, err := n.openSource(t.subtask)
				if err != nil {
					return &OperatorError{Operator: n.name, Subtask: t.subtask, Err: fmt.Errorf("open source: %w", err)}
				}
				t.src = src
				if b, ok := src.(Backlogger); ok {
					t.backlog.Store(b)
				}
				t.wms = newWatermarker(n.watermarks)
				r.op = &passOp{}
				if x.restored != nil {
					if err := x.seek(t, n); err != nil {
						return err
					}
				}
			case kindSink:
				sink, err := n.openSink(t.subtask)
				if err != nil {
					return &OperatorError{Operator: n.name, Subtask: t.subtask, Err: fmt.Errorf("open sink: %w", err)}
				}
				t.sink = newSinkOp(sink)
				if t.sink.twoPhase != nil {
					t.decisions = make(chan decision, 4)
				}
				r.op = t.sink
			default:
				r.op = n.newOp(t.subtask)
			}
			if err := r.op.open(r.c); err != nil {
				return &OperatorError{Operator: n.name, Subtask: t.subtask, Err: fmt.Errorf("open: %w", err)}
			}
			if err := x.restoreOp(t, r, states[n.name]); err != nil {
				return &OperatorError{Operator: n.name, Subtask: t.subtask, Err: fmt.Errorf("restore checkpoint %d: %w", x.restored.ID, err)}
			}
		}
	}
	return nil
}

func (x *execution) seek(t *task, n *node) error {
	count := 0
	for _, sp := range x.restored.Sources {
		if sp.Operator == n.name {
			count++
		}
	}
	if count != n.parallelism {
		return &OperatorError{Operator: n.name, Subtask: t.subtask, Err: fmt.Errorf(
			"checkpoint %d has positions of %d subtasks of this source, the job has %d: a source cannot change parallelism", x.restored.ID, count, n.parallelism)}
	}
	for _, sp := range x.restored.Sources {
		if sp.Operator != n.name || sp.Subtask != t.subtask {
			continue
		}
		if sp.Position == nil {
			return nil
		}
		p, ok := t.src.(Positioner)
		if !ok {
			return &OperatorError{Operator: n.name, Subtask: t.subtask, Err: errors.New("checkpoint has a position but the source cannot seek (no Positioner)")}
		}
		if err := p.SeekTo(x.ctx, sp.Position); err != nil {
			return &OperatorError{Operator: n.name, Subtask: t.subtask, Err: fmt.Errorf("seek to checkpoint %d position: %w", x.restored.ID, err)}
		}
		t.pos = sp.Position
		return nil
	}
	return &OperatorError{Operator: n.name, Subtask: t.subtask, Err: fmt.Errorf("checkpoint %d has no position for this source subtask", x.restored.ID)}
}

// runTasks runs every task goroutine and the checkpoint coordinator until
// all tasks end or one fails.
func (x *execution) runTasks() error {
	var wg sync.WaitGroup
	errs := make([]error, len(x.tasks))
	for i, t := range x.tasks {
		wg.Add(1)
		go func() { // owned by runTasks; stops when the task ends or x.ctx is canceled
			defer wg.Done()
			var err error
			if t.src != nil {
				err = t.runSource()
			} else {
				err = t.run()
			}
			if err != nil {
				errs[i] = err
				x.cancel(err)
				return
			}
			if x.coord != nil {
				x.coord.taskFinished(x.ctx, t)
			}
		}()
	}
	var coordDone chan struct{}
	tasksDone := make(chan struct{})
	if x.coord != nil {
		coordDone = make(chan struct{})
		go func() { // owned by runTasks; stops after tasksDone or x.ctx is canceled
			defer close(coordDone)
			x.coord.run(tasksDone)
		}()
	}
	wg.Wait()
	close(tasksDone)
	if coordDone != nil {
		<-coordDone
	}
	for _, t := range x.tasks {
		if t.stopWake != nil {
			t.stopWake()
		}
	}
	if cause := context.Cause(x.ctx); cause != nil {
		return cause
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// close releases every operator and queued record.
func (x *execution) close(ctx context.Context) error {
	var first error
	for _, t := range x.tasks {
		for _, r := range t.ops {
			if r.op == nil {
				continue
			}
			if err := r.op.close(ctx); err != nil && first == nil {
				first = &OperatorError{Operator: r.node.name, Subtask: t.subtask, Err: fmt.Errorf("close: %w", err)}
			}
		}
		if t.src != nil {
			if err := t.src.Close(ctx); err != nil && first == nil {
				first = &OperatorError{Operator: t.chain.name, Subtask: t.subtask, Err: fmt.Errorf("close source: %w", err)}
			}
		}
		release := func(m message) {
			if m.rec != nil {
				m.rec.Release()
			}
		}
		for _, m := range t.queue {
			release(m)
		}
		for _, in := range t.inputs {
			for _, m := range in.held {
				release(m)
			}
		}
	drain:
		for {
			select {
			case m := <-t.in:
				release(m)
			default:
				break drain
			}
		}
	}
	return first
}
