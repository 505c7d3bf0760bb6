package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow/go/v17/arrow"

	pb "github.com/lakestream/lakestream/api/inference"
	"github.com/lakestream/lakestream/model"
)

// Model is one loaded, immutable model version.
type Model interface {
	// Schema is the Arrow schema of the feature columns Score reads.
	Schema() *arrow.Schema
	// Outputs is the number of scores per example (1, or the classes of a
	// softmax model).
	Outputs() int
	// Score writes Outputs() scores per row of rec into dst, which holds
	// rec.NumRows()*Outputs() values. It must be safe for concurrent use
	// and must not retain rec or its columns after it returns: the
	// service reuses their memory for the next request.
	Score(rec arrow.Record, dst []float64) error
}

// Loader resolves references and loads versions, usually from the model
// registry in the lake.
type Loader interface {
	// Resolve returns the version ref designates for model name: ref is an
	// alias ("champion") or a version ("7").
	Resolve(ctx context.Context, name, ref string) (string, error)
	// Load loads and verifies one version.
	Load(ctx context.Context, name, version string) (Model, error)
}

// Sentinel errors.
var (
	// ErrUnknownModel is returned for a model name the engine does not serve.
	ErrUnknownModel = errors.New("serve: unknown model")
	// ErrNotReady is returned when a served model has no version loaded yet.
	ErrNotReady = errors.New("serve: model not loaded yet")
)

// ModelRef names a model to serve and the reference it follows.
type ModelRef struct {
	Name string
	// Ref is an alias or a pinned version. Empty means "champion".
	Ref string
}

// Engine serves a fixed set of models. It is safe for concurrent use.
type Engine struct {
	loader  Loader
	log     *slog.Logger
	metrics *Metrics
	slots   map[string]*slot
	order   []string
	onSwap  func(name, version string)
}

// slot is the serving state of one model name.
type slot struct {
	ModelRef
	cur    atomic.Pointer[version]
	loadMu sync.Mutex // serializes loads and swaps of this slot
	failed sync.Map   // version string → error: versions that can never load are not retried
}

// version is one loaded version with its in-flight reference count. refs
// starts at 1 for the slot's own reference, dropped when it is swapped out.
type version struct {
	name    string
	version string
	model   Model
	refs    atomic.Int64
	loaded  time.Time
	// params are the response parameters naming the version, shared by
	// every response it produces.
	params map[string]*pb.InferParameter
	// knownParams and unknownParams are the parameters of top-N
	// responses, for a user the catalogue holds and for one it does not.
	knownParams, unknownParams map[string]*pb.InferParameter
	scratch                    sync.Pool // *recordScratch in model.Schema()
}

func (v *version) topNParams(known bool) map[string]*pb.InferParameter {
	if known {
		return v.knownParams
	}
	return v.unknownParams
}

// getScratch returns a request scratch for v's schema; putScratch returns
// it after the response no longer needs its memory.
func (v *version) getScratch() *recordScratch {
	if s, ok := v.scratch.Get().(*recordScratch); ok {
		return s
	}
	return newRecordScratch(v.model.Schema())
}

func (v *version) putScratch(s *recordScratch) {
	if s.size() > maxPooledScratch {
		s.release()
		return
	}
	v.scratch.Put(s)
}

func (v *version) release() {
	if v.refs.Add(-1) == 0 {
		if c, ok := v.model.(interface{ Close() error }); ok {
			c.Close()
		}
	}
}

// EngineOption configures an Engine.
type EngineOption func(*Engine)

// WithLogger sets the logger; the default is slog.Default().
func WithLogger(l *slog.Logger) EngineOption { return func(e *Engine) { e.log = l } }

// WithMetrics makes the engine record into m.
func WithMetrics(m *Metrics) EngineOption { return func(e *Engine) { e.metrics = m } }

// WithSwapHook calls fn right after each swap, from the goroutine that
// swapped, with the model and the version now served. Tests and benchmarks
// use it to know exactly when a version stopped serving.
func WithSwapHook(fn func(name, version string)) EngineOption {
	return func(e *Engine) { e.onSwap = fn }
}

// NewEngine returns an engine for the given models. Nothing is loaded until
// Refresh (or RefreshAll) is called.
func NewEngine(loader Loader, models []ModelRef, opts ...EngineOption) (*Engine, error) {
	if len(models) == 0 {
		return nil, errors.New("serve: no models to serve: name at least one")
	}
	e := &Engine{loader: loader, log: slog.Default(), slots: make(map[string]*slot)}
	for _, o := range opts {
		o(e)
	}
	for _, m := range models {
		if m.Name == "" {
			return nil, errors.New("serve: a model has an empty name")
		}
		if _, dup := e.slots[m.Name]; dup {
			return nil, fmt.Errorf("serve: model %q named twice", m.Name)
		}
		if m.Ref == "" {
			m.Ref = "champion"
		}
		e.slots[m.Name] = &slot{ModelRef: m}
		e.order = append(e.order, m.Name)
	}
	return e, nil
}

// Models returns the served model names in the order given to NewEngine.
func (e *Engine) Models() []string { return append([]string(nil), e.order...) }

// Ref returns the reference model name follows.
func (e *Engine) Ref(name string) (string, bool) {
	s, ok := e.slots[name]
	if !ok {
		return "", false
	}
	return s.Ref, true
}

// Ready reports whether every served model has a version loaded.
func (e *Engine) Ready() bool {
	for _, s := range e.slots {
		if s.cur.Load() == nil {
			return false
		}
	}
	return true
}

// Served returns the version currently served for name, or "" when none.
func (e *Engine) Served(name string) string {
	s, ok := e.slots[name]
	if !ok {
		return ""
	}
	if v := s.cur.Load(); v != nil {
		return v.version
	}
	return ""
}

// acquire returns the current version of name with a reference the caller
// must release.
func (e *Engine) acquire(name string) (*version, error) {
	s, ok := e.slots[name]
	if !ok {
		return nil, fmt.Errorf("%w %q (served: %v)", ErrUnknownModel, name, e.order)
	}
	for {
		v := s.cur.Load()
		if v == nil {
			return nil, fmt.Errorf("%w: %s", ErrNotReady, name)
		}
		// A count of zero means the version was swapped out and drained
		// between the load and the increment; take the new one instead.
		if n := v.refs.Load(); n > 0 && v.refs.CompareAndSwap(n, n+1) {
			return v, nil
		}
	}
}

// RefreshAll refreshes every model and returns the errors joined.
func (e *Engine) RefreshAll(ctx context.Context) error {
	var errs []error
	for _, name := range e.order {
		if err := e.Refresh(ctx, name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Refresh resolves the model's reference and, when it designates another
// version than the one served, loads, verifies and warms that version and
// swaps it in. On failure the served version is left in place. Resolving
// and swapping happen under the slot's load lock, so a slow poll cannot
// swap back a version an announcement has already replaced.
func (e *Engine) Refresh(ctx context.Context, name string) error {
	s, ok := e.slots[name]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownModel, name)
	}
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	want, err := e.loader.Resolve(ctx, name, s.Ref)
	if err != nil {
		return fmt.Errorf("resolve %s@%s: %w", name, s.Ref, err)
	}
	return e.swapLocked(ctx, s, want)
}

// Offer is called when an announcement says that ref of model name moved.
// When the model follows ref it refreshes at once; the registry, not the
// message, says which version to serve, so a late or replayed announcement
// cannot move the model backwards.
func (e *Engine) Offer(ctx context.Context, name, ref string) error {
	s, ok := e.slots[name]
	if !ok || s.Ref != ref {
		return nil
	}
	return e.Refresh(ctx, name)
}

// errWarmUp marks a version whose warm-up score failed: deterministic, so
// the version is not retried.
var errWarmUp = errors.New("warm-up failed")

// permanent reports whether a load failure will repeat on retry (a corrupt
// or incompatible artifact, a failed warm-up) rather than pass (a network
// error, a timeout).
func permanent(err error) bool {
	return errors.Is(err, model.ErrCorrupt) || errors.Is(err, model.ErrIncompatible) || errors.Is(err, errWarmUp)
}

// loadAndWarm loads and warms one version. A panic in either (a loader
// bug a crafted artifact reaches) becomes an error wrapping
// model.ErrCorrupt, so the version is remembered as bad and the served one
// stays: no artifact can take the predictor down.
func loadAndWarm(ctx context.Context, l Loader, name, want string) (m Model, err error) {
	defer func() {
		if p := recover(); p != nil {
			m, err = nil, fmt.Errorf("%w: loading panicked: %v", model.ErrCorrupt, p)
		}
	}()
	if m, err = l.Load(ctx, name, want); err != nil {
		return nil, err
	}
	if err := warmUp(m); err != nil {
		if c, ok := m.(interface{ Close() error }); ok {
			c.Close()
		}
		return nil, err
	}
	return m, nil
}

// swapLocked loads want and swaps it in; the caller holds s.loadMu.
func (e *Engine) swapLocked(ctx context.Context, s *slot, want string) error {
	if cur := s.cur.Load(); cur != nil && cur.version == want {
		return nil
	}
	if prev, bad := s.failed.Load(want); bad {
		return prev.(error)
	}
	start := time.Now()
	m, err := loadAndWarm(ctx, e.loader, s.Name, want)
	if err != nil {
		err = fmt.Errorf("load %s version %s: %w", s.Name, want, err)
		if permanent(err) {
			s.failed.Store(want, err)
		}
		e.metrics.loadFailed(s.Name)
		e.log.Error("model version rejected; the previous version keeps serving", "model", s.Name, "version", want, "err", err)
		return err
	}
	param := func(known bool) map[string]*pb.InferParameter {
		return map[string]*pb.InferParameter{"lakestream.version": {ParameterChoice: &pb.InferParameter_StringParam{StringParam: want}},
			topNKnownUser: {ParameterChoice: &pb.InferParameter_BoolParam{BoolParam: known}}}
	}
	v := &version{name: s.Name, version: want, model: m, loaded: time.Now(),
		params:      map[string]*pb.InferParameter{"lakestream.version": {ParameterChoice: &pb.InferParameter_StringParam{StringParam: want}}},
		knownParams: param(true), unknownParams: param(false)}
	v.refs.Store(1)
	old := s.cur.Swap(v)
	if e.onSwap != nil {
		e.onSwap(s.Name, want)
	}
	e.metrics.swapped(s.Name, want, time.Since(start))
	e.log.Info("serving new model version", "model", s.Name, "version", want, "load", time.Since(start))
	if old != nil {
		old.release()
	}
	return nil
}
