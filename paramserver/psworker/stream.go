package psworker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/lakestream/lakestream/paramserver"
)

// StreamCoordinator is the stream coordinator as a worker calls it;
// *paramserver.StreamCoordinatorClient implements it (and so does
// *paramserver.StreamCoordinator, in process).
type StreamCoordinator interface {
	Report(ctx context.Context, r paramserver.StreamReport) (paramserver.StreamOrder, error)
}

// StreamTask is what a stream worker trains: its partitions of a topic.
// The worker calls it from one goroutine.
type StreamTask interface {
	// Seek starts reading partitions afresh at offsets (a partition absent
	// from offsets at the task's configured start), dropping whatever was
	// read before and not trained.
	Seek(ctx context.Context, partitions []int32, offsets map[int32]int64) error
	// Step trains at most one batch, waiting at most wait for one to
	// arrive, and returns the examples it trained. It returns only once
	// every push of the batch was acknowledged, or with the push's error.
	Step(ctx context.Context, wait time.Duration) (examples int64, err error)
	// Offsets returns the next offset of each partition: every record
	// before it was trained (or dead-lettered), none after.
	Offsets() map[int32]int64
}

// StreamConfig configures RunStream.
type StreamConfig struct {
	// Index is the worker's index, 0..workers-1. Its partitions follow
	// from it (paramserver.StreamPartitions).
	Index int
	// Coordinator is the job's stream coordinator. Required.
	Coordinator StreamCoordinator
	// Task reads and trains. Required.
	Task StreamTask
	// Poll is how often the worker reports while it trains (at the batch
	// boundary after it), and waits between reports while stopped; 0
	// means 50ms. A barrier waits up to about Poll plus one batch for
	// each worker.
	Poll time.Duration
	// Generations, when set, is told the generation the coordinator runs
	// the worker in before the worker pushes in it (*paramserver.Client
	// implements it): its pushes carry it, and a shard fenced above it
	// refuses them with paramserver.ErrFenced.
	Generations GenerationSetter
	// Logger receives the worker's warnings; nil means slog.Default().
	Logger *slog.Logger
}

// GenerationSetter sets the generation that later pushes carry;
// *paramserver.Client implements it.
type GenerationSetter interface {
	SetGeneration(gen int64)
}

// RunStream runs the exactly-once stream protocol for one worker until ctx
// is done or an error the protocol does not handle (not a lost shard nor an
// unreachable coordinator): it trains while the coordinator says run; at a
// barrier it stops at the batch boundary after its pushes were
// acknowledged and reports its partitions' next offsets and the examples
// it trained since it last seeked, and waits; when the job rolls back it
// stops, and seeks its partitions to the checkpoint's offsets when told to
// run again. A push that fails because a shard went away is reported, and
// the job rolls back; one a shard refuses as of an older generation
// (paramserver.ErrFenced) only stops the worker until the coordinator
// answers. The worker stops pushing whenever it cannot reach the
// coordinator, so a coordinator that restarts (and may have lost the
// job's state) finds every worker stopped.
func RunStream(ctx context.Context, cfg StreamConfig) error {
	if cfg.Coordinator == nil || cfg.Task == nil {
		return errors.New("psworker: stream worker without a coordinator or a task")
	}
	if cfg.Index < 0 {
		return fmt.Errorf("psworker: stream worker index %d", cfg.Index)
	}
	poll := cfg.Poll
	if poll <= 0 {
		poll = 50 * time.Millisecond
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("worker_index", cfg.Index)
	s := streamState{instance: newInstance(cfg.Index), stopped: true}
	var last time.Time
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !s.stopped && time.Since(last) < poll {
			n, err := cfg.Task.Step(ctx, poll)
			s.examples += n
			switch {
			case err == nil:
				continue
			case ctx.Err() != nil:
				return ctx.Err()
			case errors.Is(err, paramserver.ErrFenced):
				// The job rolled back past this worker's generation (its
				// lease expired, or another rollback): the shards are
				// fine, the coordinator says what comes next.
				log.Warn("a shard refused a push of an old generation; stopping", "generation", s.gen, "err", err)
				s.stop(0)
			case ShardLost(err):
				log.Warn("parameter server failed; the job rolls back", "err", err)
				s.stop(0)
				s.lost, s.reason = true, err.Error()
			default:
				return err
			}
		}
		o, err := cfg.Coordinator.Report(ctx, s.report(cfg))
		last = time.Now()
		switch {
		case err == nil:
			s.lost = false
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, paramserver.ErrWorkerExpired):
			log.Warn("the coordinator dropped this process; joining again", "err", err)
			s = streamState{instance: newInstance(cfg.Index), stopped: true}
			continue
		case ShardLost(err):
			// The coordinator is unreachable (it may be restarting):
			// push nothing until it answers.
			if !s.stopped {
				log.Warn("coordinator unreachable; stopping until it answers", "err", err)
			}
			s.stop(0)
			sleep(ctx, poll)
			continue
		default:
			return err
		}
		switch o.Command {
		case paramserver.StreamStop:
			if !s.stopped || s.barrier != o.Barrier {
				s.stop(o.Barrier)
				continue // report the stop at once
			}
			sleep(ctx, poll)
		case paramserver.StreamRun:
			if o.Seek {
				if err := cfg.Task.Seek(ctx, o.Partitions, o.Offsets); err != nil {
					return fmt.Errorf("seek partitions %v: %w", o.Partitions, err)
				}
				s.examples, s.seeked = 0, true
				log.Info("partitions positioned", "generation", o.Generation, "partitions", o.Partitions, "offsets", o.Offsets)
			}
			if cfg.Generations != nil {
				cfg.Generations.SetGeneration(o.Generation)
			}
			s.gen, s.stopped, s.barrier = o.Generation, false, 0
		}
	}
}

type streamState struct {
	instance string
	gen      int64
	stopped  bool
	barrier  int64
	examples int64
	seeked   bool
	lost     bool
	reason   string
}

func (s *streamState) stop(barrier int64) {
	s.stopped, s.barrier = true, barrier
}

func (s *streamState) report(cfg StreamConfig) paramserver.StreamReport {
	r := paramserver.StreamReport{Worker: cfg.Index, Instance: s.instance, Generation: s.gen, Stopped: s.stopped,
		Barrier: s.barrier, Examples: s.examples, ShardLost: s.lost, Reason: s.reason}
	if s.stopped && s.seeked {
		r.Offsets = cfg.Task.Offsets()
	}
	return r
}

func newInstance(index int) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%d-%s", index, hex.EncodeToString(b[:]))
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
