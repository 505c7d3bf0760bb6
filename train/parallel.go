package train

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// ShardedData is Data whose training batches of an epoch can be read as n
// disjoint parts, one per worker of RunWorkers.
type ShardedData interface {
	Data
	TrainShards(ctx context.Context, epoch, n int) ([]Batches, error)
}

// ShardedSourceData is SourceData whose training records can also be opened
// in n disjoint parts (for a Parquet plan: its splits dealt out to the
// parts). Train is still used for a HashSplit's validation rows.
type ShardedSourceData struct {
	SourceData
	// TrainShard opens part shard (0-based) of n of the epoch's training
	// records; the n parts together are the epoch's records.
	TrainShard func(ctx context.Context, epoch, shard, n int) (Records, error)
}

// TrainShards implements ShardedData.
func (d *ShardedSourceData) TrainShards(ctx context.Context, epoch, n int) ([]Batches, error) {
	if d.TrainShard == nil {
		return nil, errors.New("train: ShardedSourceData without TrainShard")
	}
	opened := make([]*SourceBatches, 0, n)
	closeAll := func() {
		for _, b := range opened {
			_ = b.Close()
		}
	}
	for i := range n {
		src, err := d.TrainShard(ctx, epoch, i, n)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("training part %d of %d: %w", i, n, err)
		}
		b, err := d.batches(src, false)
		if err != nil {
			closeAll()
			return nil, err
		}
		opened = append(opened, b)
	}
	out := make([]Batches, n)
	for i, b := range opened {
		out[i] = b
	}
	return out, nil
}

// RunWorkers is Run with len(ss) Steppers training at once, one goroutine
// each, on disjoint parts of every epoch (data must then be ShardedData).
// The Steppers share one parameter store, which must be safe for concurrent
// use (paramserver.Local is), and each needs its own Model instance, since
// models keep per-call scratch. Updates interleave as the goroutines run:
// asynchronous data-parallel SGD without locks around a step ("Hogwild!",
// Recht et al., NIPS 2011), so a run with more than one worker is not
// reproducible bit for bit, while one with a single Stepper is exactly Run.
//
// ss[0] validates, exports and reports: after each epoch it takes over the
// keys the other Steppers trained, so validation scores them and Export
// writes them.
func RunWorkers(ctx context.Context, ss []*Stepper, data Data, cfg Config) (Result, error) {
	if len(ss) == 0 {
		return Result{}, fmt.Errorf("%w: no Stepper", ErrBadConfig)
	}
	if len(ss) > 1 {
		if _, ok := data.(ShardedData); !ok {
			return Result{}, fmt.Errorf("%w: %d workers need data that splits into parts (ShardedData)", ErrBadConfig, len(ss))
		}
		for i, s := range ss[1:] {
			if s.model.Kind() != ss[0].model.Kind() {
				return Result{}, fmt.Errorf("%w: worker %d trains %s, worker 0 %s", ErrBadConfig, i+1, s.model.Kind(), ss[0].model.Kind())
			}
			for _, o := range ss[:i+1] {
				if s.model == o.model {
					return Result{}, fmt.Errorf("%w: workers share a Model instance; give each Stepper its own (NewModel)", ErrBadConfig)
				}
			}
		}
	}
	return run(ctx, ss, data, cfg)
}

// runEpochParallel makes one pass over the parts of the epoch's training
// batches, one goroutine and Stepper per part. The first error cancels the
// others.
func runEpochParallel(ctx context.Context, ss []*Stepper, data ShardedData, cfg Config, epoch int, log *slog.Logger, now func() time.Time) (EpochReport, error) {
	rep := EpochReport{Epoch: epoch}
	parts, err := data.TrainShards(ctx, epoch, len(ss))
	if err != nil {
		return rep, fmt.Errorf("open training data for epoch %d: %w", epoch, err)
	}
	pr := newProgress(cfg, epoch, log, now)
	var (
		mu           sync.Mutex
		loss, weight float64
	)
	g, gctx := errgroup.WithContext(ctx)
	for i, s := range ss {
		bs := parts[i]
		g.Go(func() error {
			for bs.Next(gctx) {
				r, err := s.Step(gctx, bs.At())
				if err != nil {
					return fmt.Errorf("worker %d: %w", i, err)
				}
				mu.Lock()
				rep.Examples += int64(r.Examples)
				loss += r.Loss
				weight += r.Weight
				pr.update(rep.Examples, r.Loss/max(r.Weight, 1e-12))
				mu.Unlock()
			}
			if err := bs.Err(); err != nil {
				return fmt.Errorf("worker %d: read training data: %w", i, err)
			}
			return nil
		})
	}
	err = g.Wait()
	pr.finish()
	for _, b := range parts {
		if c, ok := b.(interface{ Close() error }); ok {
			_ = c.Close()
		}
	}
	if err != nil {
		return rep, err
	}
	if weight > 0 {
		rep.TrainLoss = loss / weight
	}
	rep.Duration = now().Sub(pr.start)
	// ss[0] scores and exports every key any worker trained.
	for _, s := range ss[1:] {
		for _, k := range s.seen.keys(nil) {
			ss[0].seen.add(k)
		}
	}
	return rep, nil
}
