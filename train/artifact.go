package train

import (
	"context"
	"fmt"

	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/train/feature"
)

// Arch returns the shape hyperparameters the model artifact records for c.
func (c ModelConfig) Arch() model.Arch {
	a := model.Arch{}
	switch c.Kind {
	case KindFM, KindFFM, KindMF, KindMLP, KindDeepFM:
		a.Loss, a.Factors = string(c.Loss), c.Factors
	}
	switch c.Kind {
	case KindMF:
		a.UserField, a.ItemField = c.UserField, c.ItemField
	case KindBayesLinear, KindAdPredictor:
		a.PriorVariance, a.NoiseVariance = c.PriorVariance, c.NoiseVariance
	case KindMLP, KindDeepFM:
		a.Hidden = append([]int(nil), c.Hidden...)
	}
	return a
}

// NewArtifact builds the portable model (package model) of a finished run:
// the spec the run featurized with, its exported tables, and meta, whose Kind
// and Arch it fills from c.
func NewArtifact(c ModelConfig, spec *feature.Spec, tables []TableData, meta model.Metadata) (*model.Model, error) {
	meta.Kind = model.Kind(c.Kind)
	meta.Arch = c.Arch()
	ts := make([]model.Table, len(tables))
	for i, t := range tables {
		ts[i] = model.Table{Name: t.Name, Width: t.Width, Dense: t.Dense, Keys: t.Keys, Values: t.Values}
	}
	return model.New(meta, spec, ts)
}

// WarmStart makes the Stepper continue from a published model: every
// parameter starts at the model's value. It wraps the Stepper's store so that
// the store holds the change from base (w = base + δ, δ starting at zero):
// gradient rules see the same gradient for δ as for w, so training proceeds
// exactly as from base with fresh optimizer state, except that L1/L2
// penalties shrink towards base rather than towards zero. Keys of base's "w"
// table are exported even if training never sees them.
//
// The store must start every row at zero (declare the tables without
// InitStd): δ starts at zero, and keys base lacks start at zero too (their
// factors then grow from the gradient through base's factors).
//
// base must have the Stepper's model kind and table shapes, else the error
// names the first difference. Call WarmStart before the first step.
func (s *Stepper) WarmStart(base *model.Model) error {
	if string(base.Kind()) != string(s.model.Kind()) {
		return fmt.Errorf("warm start: model is %s, training %s", base.Kind(), s.model.Kind())
	}
	ws := &warmStore{inner: s.store, base: map[string]*model.Table{}}
	for _, t := range s.tables {
		bt := base.Table(t.Name)
		if bt == nil {
			return fmt.Errorf("warm start: model %s v%d has no table %q", base.Meta().Name, base.Meta().Version, t.Name)
		}
		if bt.Width != t.Width || bt.Dense != t.Dense || (t.Dense && bt.Rows() != t.Rows) {
			return fmt.Errorf("warm start: table %q of model %s v%d is %d×%d (dense %v), training needs width %d (dense %v, %d rows): train with the same spec and model flags",
				t.Name, base.Meta().Name, base.Meta().Version, bt.Rows(), bt.Width, bt.Dense, t.Width, t.Dense, t.Rows)
		}
		ws.base[t.Name] = bt
	}
	w := ws.base[s.tables[0].Name]
	ws.index = make(map[uint64]int32, len(w.Keys))
	for i, k := range w.Keys {
		ws.index[k] = int32(i)
		s.seen.add(k)
	}
	s.store = ws
	return nil
}

// warmStore presents base + δ over a store holding δ.
type warmStore struct {
	inner ParamStore
	base  map[string]*model.Table
	index map[uint64]int32 // row of each key in the sparse base table
}

func (w *warmStore) Pull(ctx context.Context, table string, keys []uint64, dst []float32) error {
	if err := w.inner.Pull(ctx, table, keys, dst); err != nil {
		return err
	}
	bt := w.base[table]
	if bt == nil {
		return nil
	}
	wd := bt.Width
	for i, k := range keys {
		var row []float32
		if bt.Dense {
			row = bt.Row(int(k))
		} else if r, ok := w.index[k]; ok {
			row = bt.Row(int(r))
		} else {
			continue
		}
		d := dst[i*wd : i*wd+wd]
		for c, v := range row {
			d[c] += v
		}
	}
	return nil
}

func (w *warmStore) Push(ctx context.Context, table string, keys []uint64, grads []float32) error {
	return w.inner.Push(ctx, table, keys, grads)
}
