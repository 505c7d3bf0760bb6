package serve

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
)

// RegistryLoader loads versions from the model registry in a lake: aliases
// resolve through model.Resolve, versions load (with checksum verification)
// through model.Load.
type RegistryLoader struct {
	store lake.Store
}

// NewRegistryLoader returns a Loader over the registry in store.
func NewRegistryLoader(store lake.Store) *RegistryLoader { return &RegistryLoader{store: store} }

// Resolve implements Loader.
func (l *RegistryLoader) Resolve(ctx context.Context, name, ref string) (string, error) {
	v, err := model.Resolve(ctx, l.store, name, ref)
	if err != nil {
		return "", err
	}
	return strconv.Itoa(v), nil
}

// Load implements Loader.
func (l *RegistryLoader) Load(ctx context.Context, name, version string) (Model, error) {
	v, err := strconv.Atoi(version)
	if err != nil || v < 1 {
		return nil, fmt.Errorf("version %q of %s is not a version number", version, name)
	}
	m, err := model.Load(ctx, l.store, name, v)
	if err != nil {
		return nil, err
	}
	schema, typed, err := m.InputSchema()
	if err != nil {
		return nil, err
	}
	if !typed {
		slog.Warn("model artifact does not record its input types; numeric columns are read as FP64 and categorical ones as BYTES",
			"model", name, "version", version)
	}
	topn, err := newTopNIndex(m, schema)
	if err != nil {
		return nil, fmt.Errorf("load %s version %s: %w: %w", name, version, model.ErrIncompatible, err)
	}
	return &registryModel{Model: m, schema: schema, topn: topn}, nil
}

// registryModel adapts a *model.Model to the engine's Model, and to
// Recommender when its version has a catalogue.
type registryModel struct {
	*model.Model
	schema *arrow.Schema
	topn   *topNIndex // nil without a catalogue
}

func (m *registryModel) Schema() *arrow.Schema { return m.schema }
