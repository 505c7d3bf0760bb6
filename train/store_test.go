package train

import (
	"context"
	"testing"

	"github.com/lakestream/lakestream/paramserver"
	"github.com/lakestream/lakestream/train/optim"
)

// newStore returns the in-process parameter store production uses
// (paramserver.Local), holding m's tables with optimizer opt; factor tables
// start random with seed, as train/job.TableSpecs declares them.
func newStore(t testing.TB, m Model, opt optim.Config, seed uint64) *paramserver.Local {
	t.Helper()
	s, err := paramserver.NewLocal(tableSpecs(m, opt, seed)...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// tableSpecs is train/job.TableSpecs without a warm start (that package
// imports this one).
func tableSpecs(m Model, opt optim.Config, seed uint64) []paramserver.TableSpec {
	var specs []paramserver.TableSpec
	for _, t := range m.Tables() {
		s := paramserver.TableSpec{Name: t.Name, Width: t.Width, Dense: t.Dense, Rows: t.Rows, Optimizer: t.Optimizer(opt)}
		if t.InitStd > 0 {
			s.Init = paramserver.InitConfig{Kind: paramserver.InitNormal, Std: t.InitStd, Seed: seed}
		}
		specs = append(specs, s)
	}
	return specs
}

// sliceBatches iterates over batches held in memory.
type sliceBatches struct {
	bs []*Batch
	i  int
}

func (s *sliceBatches) Next(ctx context.Context) bool {
	if ctx.Err() != nil || s.i >= len(s.bs) {
		return false
	}
	s.i++
	return true
}
func (s *sliceBatches) At() *Batch { return s.bs[s.i-1] }
func (s *sliceBatches) Err() error { return nil }

// split cuts examples (one batch) into batches of size n.
func split(b *Batch, n int) []*Batch {
	var out []*Batch
	for lo := 0; lo < b.Rows(); lo += n {
		hi := min(lo+n, b.Rows())
		s, e := b.Indptr[lo], b.Indptr[hi]
		c := &Batch{Indices: b.Indices[s:e], Values: b.Values[s:e], Fields: b.Fields[s:e], Labels: b.Labels[lo:hi]}
		for _, p := range b.Indptr[lo : hi+1] {
			c.Indptr = append(c.Indptr, p-s)
		}
		if b.Weights != nil {
			c.Weights = b.Weights[lo:hi]
		}
		out = append(out, c)
	}
	return out
}
