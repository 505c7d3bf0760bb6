package train

import (
	"context"

	"github.com/lakestream/lakestream/train/optim"
)

// ParamStore is what training needs from a parameter server: rows of named
// tables, read by key and updated by gradient. The embedded in-process store
// (paramserver.NewLocal) and the gRPC client both implement it.
//
// Keys passed to one call are distinct (the caller deduplicates them per
// mini-batch), so a store never has to merge duplicate rows. Dense tables are
// addressed by row number (0 … Rows-1) as keys.
type ParamStore interface {
	// Pull copies the rows for keys into dst, which has len(keys)*width
	// values; row i lands at dst[i*width:(i+1)*width]. Rows never pushed hold
	// the table's initial values.
	Pull(ctx context.Context, table string, keys []uint64, dst []float32) error
	// Push sends gradients for keys, len(keys)*width values laid out like
	// Pull's dst; the store applies the table's optimizer rule to each row.
	Push(ctx context.Context, table string, keys []uint64, grads []float32) error
}

// hintedStore is an optional ParamStore capability, found by type assertion:
// the in-process parameter server (paramserver.Local) has it. PullHinted is
// Pull that also writes into hints (one per key) where each row lives in the
// store, and PushHinted is Push of the same keys given those hints, which
// skips the store's hash lookups. The store verifies a hint before trusting
// it, so the Stepper only has to pass back what the pull wrote.
type hintedStore interface {
	PullHinted(ctx context.Context, table string, keys []uint64, dst []float32, hints []int32) error
	PushHinted(ctx context.Context, table string, keys []uint64, grads []float32, hints []int32) error
}

// tableBatcher is an optional ParamStore capability, found by type
// assertion: PullTables and PushTables are Pull and Push of several tables
// in one call — keys[i] and dst[i] (or grads[i]) belong to tables[i] and are
// laid out as in Pull and Push. The gRPC client (paramserver.Client) sends
// all tables of a shard in one round trip, so a step of a model with dense
// tables costs two round trips instead of two per table. Errors should name
// the table at fault.
type tableBatcher interface {
	PullTables(ctx context.Context, tables []string, keys [][]uint64, dst [][]float32) error
	PushTables(ctx context.Context, tables []string, keys [][]uint64, grads [][]float32) error
}

// pushPuller is an optional ParamStore capability, found by type assertion:
// PushPullTables is PushTables(tables, pushKeys, grads) followed by
// PullTables(tables, pullKeys, dst), in one round trip per shard on the gRPC
// client (paramserver.Client; paramserver.Local has it as two loops). The
// Stepper's StepAhead uses it to push a batch's gradients and pull the next
// batch's rows together. The pulls must see the pushes, which holds only
// when the store applies a push at once: not on bulk-synchronous shards,
// which apply pushes at the barrier's Flush.
type pushPuller interface {
	PushPullTables(ctx context.Context, tables []string, pushKeys [][]uint64, grads [][]float32, pullKeys [][]uint64, dst [][]float32) error
}

// Table declares one parameter table a model reads and updates. The command
// that wires a job turns each Table into the parameter server's table spec,
// giving it the job's optimizer unless Posterior is set.
type Table struct {
	// Name identifies the table in Pull and Push.
	Name string
	// Width is the number of float32 values in one row.
	Width int
	// Dense tables have Rows rows addressed by keys 0…Rows-1; sparse tables
	// are hashed and grow with the keys pushed.
	Dense bool
	Rows  int
	// InitStd is the standard deviation of the normal distribution initial
	// values are drawn from; zero means all rows start at zero. Factor
	// embeddings and dense towers need a non-zero start to break symmetry.
	InitStd float64
	// Posterior marks tables whose rows are Bayesian posterior statistics
	// the model updates itself (Bayesian linear regression, AdPredictor).
	// Their "gradient" is the exact change old−new, so the store must apply
	// plain SGD with learning rate 1 and no decay or regularization, and the
	// trainer never clips them.
	Posterior bool
}

// Optimizer returns the rule the parameter store must apply to t: job, the
// run's optimizer, for ordinary tables, and plain SGD at rate 1 (w ← w − g,
// which applies the model's own exact change) for posterior tables.
func (t Table) Optimizer(job optim.Config) optim.Config {
	if t.Posterior {
		return optim.Config{Name: optim.SGD, LearningRate: 1, Schedule: optim.ScheduleConstant}
	}
	return job
}
