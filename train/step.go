package train

import (
	"context"
	"fmt"
	"math"
	"slices"
	"unsafe"
)

// Stepper runs one training step per mini-batch against a ParamStore: it
// deduplicates the batch's keys, pulls their rows and the dense tables,
// computes the gradient with the model's kernel, checks it is finite, clips
// it, and pushes it. It drives the model directly, so it works inside the
// trainer's loop, inside a stream operator, or from a test.
//
// A step makes two store calls per table (pull, then push), or, when the
// store has multi-table PullTables/PushTables (the gRPC client does) and
// not the in-process hinted path, one PullTables and one PushTables for all
// tables: two round trips to each shard per step instead of two per table.
//
// StepAhead also pulls the next batch's rows in the round trip that pushes
// the current batch's gradients (asynchronous stores only; see there), so
// a step costs one round trip per shard instead of two.
//
// A Stepper reuses every buffer between calls: after the first batches of
// the largest size, a step allocates nothing. It is not safe for concurrent
// use; data-parallel workers each own one.
type Stepper struct {
	model Model
	store ParamStore
	// hinted and batch are store's optional capabilities, looked up at the
	// start of every step (usePaths), so a store wrapped after NewStepper
	// (WarmStart) is never bypassed. hinted is the in-process fast path;
	// batch the multi-table calls, used when there is more than one table
	// and no hinted path. bNames, bKeys and bVals are batch's reused
	// arguments (all tables, sparse first) and bLabel names the tables in
	// errors.
	hinted hintedStore
	batch  tableBatcher
	bNames []string
	bKeys  [][]uint64
	bVals  [][]float32
	bLabel string
	tables []Table
	width  int // width of the sparse table
	clip   float64

	idx     keyIndex
	params  Params
	grads   Params
	denseKs [][]uint64
	pred    []float64
	hints   []int32 // the hinted store's row positions of idx.uniq
	seen    keySet
	steps   int64

	// StepAhead's prefetch: pipe is the store's pushPuller, looked up with
	// the other paths. ahead identifies the batch whose rows the last step
	// pulled into idx and params (zero when none). nidx and nparams are the
	// second buffers the next batch is deduplicated and pulled into before
	// the swap; pKeys and pVals are PushPullTables's pull arguments.
	pipe    pushPuller
	ahead   batchID
	nidx    keyIndex
	nparams Params
	pKeys   [][]uint64
	pVals   [][]float32
}

// batchID identifies a mini-batch by its address and the memory of its
// slices, so that a Batch value since refilled with other rows (an
// iterator's reused buffer) is not taken for the one prefetched.
type batchID struct {
	b       *Batch
	indptr  *int32
	indices *uint64
	labels  *float32
	nnz     int
	rows    int
}

func idOf(b *Batch) batchID {
	return batchID{b: b, indptr: unsafe.SliceData(b.Indptr), indices: unsafe.SliceData(b.Indices),
		labels: unsafe.SliceData(b.Labels), nnz: len(b.Indices), rows: len(b.Labels)}
}

// StepResult summarizes one training step.
type StepResult struct {
	Examples int     // rows in the batch (after negative sampling)
	Loss     float64 // summed weighted loss
	Weight   float64 // summed example weight
	// Predictions made before the update, Outputs() per row; valid until
	// the next call on the Stepper.
	Predictions []float64
}

// NewStepper returns a Stepper for m over s. clipNorm > 0 rescales each
// step's gradient (all non-posterior tables together) to at most that L2
// norm; 0 disables clipping.
func NewStepper(m Model, s ParamStore, clipNorm float64) *Stepper {
	st := &Stepper{model: m, store: s, tables: m.Tables(), clip: clipNorm}
	st.width = st.tables[0].Width
	for _, t := range st.tables[1:] {
		keys := make([]uint64, t.Rows)
		for i := range keys {
			keys[i] = uint64(i)
		}
		st.denseKs = append(st.denseKs, keys)
		st.params.Dense = append(st.params.Dense, make([]float32, t.Rows*t.Width))
		st.grads.Dense = append(st.grads.Dense, make([]float32, t.Rows*t.Width))
	}
	for i, t := range st.tables {
		st.bNames = append(st.bNames, t.Name)
		if i > 0 {
			st.bLabel += ", "
		}
		st.bLabel += t.Name
	}
	st.bKeys = make([][]uint64, len(st.tables))
	st.bVals = make([][]float32, len(st.tables))
	copy(st.bKeys[1:], st.denseKs)
	return st
}

// usePaths looks up the store's optional capabilities for the coming step:
// the hinted path skips hash lookups in process; batching saves round
// trips to remote shards, and only with more than one table. Two type
// assertions cost nanoseconds and allocate nothing.
func (s *Stepper) usePaths() {
	s.hinted, _ = s.store.(hintedStore)
	s.pipe, _ = s.store.(pushPuller)
	s.batch = nil
	if b, ok := s.store.(tableBatcher); ok && s.hinted == nil && len(s.tables) > 1 {
		s.batch = b
	}
}

// batchArgs points the reused multi-table arguments at the sparse keys and
// at sparse, then dense.
func (s *Stepper) batchArgs(sparse []float32, dense [][]float32) {
	s.bKeys[0] = s.idx.uniq
	s.bVals[0] = sparse
	copy(s.bVals[1:], dense)
}

// Model returns the model the Stepper trains.
func (s *Stepper) Model() Model { return s.model }

// Steps returns the number of training steps taken.
func (s *Stepper) Steps() int64 { return s.steps }

// checkLabels returns a *LabelError for the first label the model rejects.
func (s *Stepper) checkLabels(b *Batch) error {
	for r, y := range b.Labels {
		if !s.model.CheckLabel(y) {
			return &LabelError{Row: r, Value: y, Kind: s.model.Kind()}
		}
	}
	return nil
}

// pull deduplicates b's keys and pulls every table; it records the keys in
// the export set when train is true. It picks the store's paths for the
// whole step: Step's push uses the same.
func (s *Stepper) pull(ctx context.Context, b *Batch, train bool) error {
	s.usePaths()
	s.idx.reset(len(b.Indices))
	s.params.Slot = grow(s.params.Slot, len(b.Indices))
	s.idx.index(b.Indices, s.params.Slot)
	uniq := s.idx.uniq
	if train {
		for _, k := range uniq {
			s.seen.add(k)
		}
	}
	s.params.Sparse = grow(s.params.Sparse, len(uniq)*s.width)
	if s.batch != nil {
		s.batchArgs(s.params.Sparse, s.params.Dense)
		if err := s.batch.PullTables(ctx, s.bNames, s.bKeys, s.bVals); err != nil {
			return fmt.Errorf("pull %s: %w", s.bLabel, err)
		}
		return nil
	}
	var err error
	if s.hinted != nil {
		s.hints = grow(s.hints, len(uniq))
		err = s.hinted.PullHinted(ctx, s.tables[0].Name, uniq, s.params.Sparse, s.hints)
	} else {
		err = s.store.Pull(ctx, s.tables[0].Name, uniq, s.params.Sparse)
	}
	if err != nil {
		return fmt.Errorf("pull %s: %w", s.tables[0].Name, err)
	}
	for i, t := range s.tables[1:] {
		if err := s.store.Pull(ctx, t.Name, s.denseKs[i], s.params.Dense[i]); err != nil {
			return fmt.Errorf("pull %s: %w", t.Name, err)
		}
	}
	return nil
}

// Predict writes the model's predictions for b into dst (Outputs() per row)
// without updating anything. Keys no training step has seen score as a row
// of zeros, not as the store's random initial value, exactly as the saved
// model (package model) scores them, so validation metrics are those of
// the artifact.
func (s *Stepper) Predict(ctx context.Context, b *Batch, dst []float64) error {
	if err := b.Validate(); err != nil {
		return err
	}
	s.ahead = batchID{} // the pull below overwrites the prefetched rows
	if err := s.pull(ctx, b, false); err != nil {
		return err
	}
	if s.tables[0].InitStd > 0 {
		w := s.width
		for i, k := range s.idx.uniq {
			if !s.seen.has(k) {
				clear(s.params.Sparse[i*w : i*w+w])
			}
		}
	}
	s.model.Predict(dst, b, &s.params)
	return nil
}

// Step trains on one mini-batch. Errors: a malformed batch (ErrBadBatch), a
// label the model rejects (*LabelError), a non-finite loss or gradient
// (*DivergenceError, nothing is pushed), or the store's error. When the
// previous call was a StepAhead that prefetched b, Step uses those rows
// instead of pulling.
func (s *Stepper) Step(ctx context.Context, b *Batch) (StepResult, error) {
	return s.step(ctx, b, nil)
}

// StepAhead is Step on b that also prefetches next: the round trip that
// pushes b's gradients pulls next's rows too (one PushPullTables, one
// Exchange per shard), and the following Step or StepAhead on next skips
// its pull. With next nil it is Step. For one worker the result is exactly
// that of Step(b) then Step(next): the store applies b's push before it
// reads next's rows.
//
// Only for stores that apply a push at once, with no barrier between
// steps: asynchronous shards, or in process. A bulk-synchronous (sync)
// shard applies pushes at the barrier's Flush, so next's rows would be
// read before b's update; under SSP the pull would come before the clock
// wait that bounds staleness. Never use it in sync or SSP mode.
//
// next must stay unchanged until the Stepper's next call, which uses the
// prefetched rows only if its batch is next (the same *Batch over the same
// memory); any other batch, a Predict or DiscardAhead drops them. StepAhead
// does not prefetch (and is Step) when next is malformed or has a label
// the model rejects (its own step reports that), when the model adds
// examples to a batch (MF's negative sampling), when the store lacks
// PushPullTables, or when it has the in-process hinted path (faster than
// pipelining where there is no round trip). Export after a prefetch does
// not include next's keys until next is trained.
func (s *Stepper) StepAhead(ctx context.Context, b, next *Batch) (StepResult, error) {
	return s.step(ctx, b, next)
}

// DiscardAhead drops the rows StepAhead prefetched, for a caller that
// abandons the batch it passed as next (an error between steps). A call on
// any other batch drops them by itself; but a new batch that happens to
// reuse next's address and memory (a new iterator's buffer after the old
// one was freed) would be taken for next.
func (s *Stepper) DiscardAhead() { s.ahead = batchID{} }

func (s *Stepper) step(ctx context.Context, b, next *Batch) (StepResult, error) {
	// The prefetch applies to b only if it was made for b, and only on the
	// path that made it (a store wrapped since, as by WarmStart, lacks it).
	prefetched := s.ahead.b != nil && s.ahead == idOf(b)
	s.ahead = batchID{}
	if !prefetched {
		if err := b.Validate(); err != nil {
			return StepResult{}, err
		}
		if err := s.checkLabels(b); err != nil {
			return StepResult{}, err
		}
	}
	a, augments := s.model.(augmenter)
	if augments {
		b = a.augment(b)
	}
	s.steps++
	if prefetched {
		s.usePaths()
		prefetched = s.pipelined()
	}
	if prefetched {
		for _, k := range s.idx.uniq {
			s.seen.add(k)
		}
	} else if err := s.pull(ctx, b, true); err != nil {
		return StepResult{}, err
	}
	n := b.Rows()
	s.grads.Slot = s.params.Slot
	s.grads.Sparse = grow(s.grads.Sparse, len(s.params.Sparse))
	clear(s.grads.Sparse)
	for _, d := range s.grads.Dense {
		clear(d)
	}
	s.pred = grow(s.pred, n*s.model.Outputs())
	loss := s.model.Gradient(&s.grads, s.pred, b, &s.params)
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return StepResult{}, &DivergenceError{Step: s.steps, Row: -1, Value: loss}
	}
	if err := s.checkAndClip(); err != nil {
		return StepResult{}, err
	}
	if next != nil && !augments && s.pipelined() && next.Validate() == nil && s.checkLabels(next) == nil {
		if err := s.pushPull(ctx, next); err != nil {
			return StepResult{}, err
		}
		return s.result(b, n, loss), nil
	}
	if s.batch != nil {
		s.batchArgs(s.grads.Sparse, s.grads.Dense)
		if err := s.batch.PushTables(ctx, s.bNames, s.bKeys, s.bVals); err != nil {
			return StepResult{}, fmt.Errorf("push %s: %w", s.bLabel, err)
		}
		return s.result(b, n, loss), nil
	}
	var err error
	if s.hinted != nil {
		err = s.hinted.PushHinted(ctx, s.tables[0].Name, s.idx.uniq, s.grads.Sparse, s.hints)
	} else {
		err = s.store.Push(ctx, s.tables[0].Name, s.idx.uniq, s.grads.Sparse)
	}
	if err != nil {
		return StepResult{}, fmt.Errorf("push %s: %w", s.tables[0].Name, err)
	}
	for i, t := range s.tables[1:] {
		if err := s.store.Push(ctx, t.Name, s.denseKs[i], s.grads.Dense[i]); err != nil {
			return StepResult{}, fmt.Errorf("push %s: %w", t.Name, err)
		}
	}
	return s.result(b, n, loss), nil
}

// pipelined reports whether the step's store paths (usePaths) allow a
// prefetch: PushPullTables, and no in-process hinted path.
func (s *Stepper) pipelined() bool { return s.pipe != nil && s.hinted == nil }

// pushPull pushes the step's gradients and pulls next's rows into the
// second buffers in one PushPullTables, then swaps the buffers: next's
// deduplicated keys and rows become the current ones, for the step that
// trains it.
func (s *Stepper) pushPull(ctx context.Context, next *Batch) error {
	if s.pKeys == nil {
		s.pKeys = make([][]uint64, len(s.tables))
		s.pVals = make([][]float32, len(s.tables))
		copy(s.pKeys[1:], s.denseKs)
		for _, t := range s.tables[1:] {
			s.nparams.Dense = append(s.nparams.Dense, make([]float32, t.Rows*t.Width))
		}
	}
	s.nidx.reset(len(next.Indices))
	s.nparams.Slot = grow(s.nparams.Slot, len(next.Indices))
	s.nidx.index(next.Indices, s.nparams.Slot)
	s.nparams.Sparse = grow(s.nparams.Sparse, len(s.nidx.uniq)*s.width)
	s.pKeys[0] = s.nidx.uniq
	s.pVals[0] = s.nparams.Sparse
	copy(s.pVals[1:], s.nparams.Dense)
	s.batchArgs(s.grads.Sparse, s.grads.Dense)
	if err := s.pipe.PushPullTables(ctx, s.bNames, s.bKeys, s.bVals, s.pKeys, s.pVals); err != nil {
		return fmt.Errorf("push %s and pull the next batch: %w", s.bLabel, err)
	}
	s.idx, s.nidx = s.nidx, s.idx
	s.params, s.nparams = s.nparams, s.params
	s.ahead = idOf(next)
	return nil
}

// result summarizes the step that trained on b.
func (s *Stepper) result(b *Batch, n int, loss float64) StepResult {
	res := StepResult{Examples: n, Loss: loss, Predictions: s.pred}
	if b.Weights == nil {
		res.Weight = float64(n)
	} else {
		for _, w := range b.Weights {
			res.Weight += float64(w)
		}
	}
	return res
}

// maxGradient is paramserver.MaxGradient: the parameter stores refuse a
// gradient above it (its square overflows float32), so the Stepper reports
// it as divergence before pushing.
const maxGradient = 1 << 64

// checkAndClip fails on the first table with a non-finite gradient (or one
// above maxGradient) and
// rescales the non-posterior gradients to the clipping norm.
func (s *Stepper) checkAndClip() error {
	var total float64
	for i, t := range s.tables {
		g := s.grads.Sparse
		if i > 0 {
			g = s.grads.Dense[i-1]
		}
		var ss float64
		for _, v := range g {
			ss += float64(v) * float64(v)
		}
		if math.IsNaN(ss) || math.IsInf(ss, 0) || ss > maxGradient*maxGradient {
			bad := math.NaN()
			for _, v := range g {
				if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > maxGradient {
					bad = f
					break
				}
			}
			// A large norm from many moderate gradients is not divergence.
			if math.IsNaN(ss) || math.IsInf(ss, 0) || !math.IsNaN(bad) {
				return &DivergenceError{Step: s.steps, Table: t.Name, Row: -1, Value: bad}
			}
		}
		if !t.Posterior {
			total += ss
		}
	}
	if s.clip <= 0 {
		return nil
	}
	norm := math.Sqrt(total)
	if norm <= s.clip {
		return nil
	}
	scale := float32(s.clip / norm)
	for i, t := range s.tables {
		if t.Posterior {
			continue
		}
		g := s.grads.Sparse
		if i > 0 {
			g = s.grads.Dense[i-1]
		}
		for j := range g {
			g[j] *= scale
		}
	}
	return nil
}

// TableData is one exported parameter table: row i holds the values
// Values[i*Width:(i+1)*Width] of key Keys[i]. Dense tables list keys
// 0 … Rows-1.
type TableData struct {
	Name   string
	Width  int
	Dense  bool
	Keys   []uint64
	Values []float32
}

// Export pulls every row the Stepper has trained (every key seen in a
// training step, and the dense tables) from the store.
func (s *Stepper) Export(ctx context.Context) ([]TableData, error) {
	out := make([]TableData, 0, len(s.tables))
	keys := s.seen.keys(make([]uint64, 0, s.seen.len()))
	slices.Sort(keys)
	t0 := s.tables[0]
	vals := make([]float32, len(keys)*t0.Width)
	if err := s.store.Pull(ctx, t0.Name, keys, vals); err != nil {
		return nil, fmt.Errorf("export %s: %w", t0.Name, err)
	}
	out = append(out, TableData{Name: t0.Name, Width: t0.Width, Keys: keys, Values: vals})
	for i, t := range s.tables[1:] {
		v := make([]float32, t.Rows*t.Width)
		if err := s.store.Pull(ctx, t.Name, s.denseKs[i], v); err != nil {
			return nil, fmt.Errorf("export %s: %w", t.Name, err)
		}
		out = append(out, TableData{Name: t.Name, Width: t.Width, Dense: true, Keys: append([]uint64(nil), s.denseKs[i]...), Values: v})
	}
	return out, nil
}

// LabelError reports a label outside the model's target type.
type LabelError struct {
	Row   int // row within the mini-batch
	Value float32
	Kind  Kind
}

func (e *LabelError) Error() string {
	want := "a finite number"
	switch e.Kind {
	case KindLogistic, KindAdPredictor, KindFM, KindFFM, KindMF:
		want = "0 or 1 (or a finite number with the squared loss)"
		if e.Kind == KindLogistic || e.Kind == KindAdPredictor {
			want = "0 or 1"
		}
	case KindSoftmax:
		want = "a class number 0 … classes-1"
	}
	return fmt.Sprintf("train: label %v in batch row %d is outside the %s model's targets (want %s)", e.Value, e.Row, e.Kind, want)
}

// Unwrap makes errors.Is(err, ErrBadLabel) hold.
func (e *LabelError) Unwrap() error { return ErrBadLabel }
