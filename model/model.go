package model

import (
	"fmt"
	"sync"
	"time"

	"github.com/lakestream/lakestream/train/feature"
	"github.com/lakestream/lakestream/train/optim"
)

// Metadata describes a model version. Name and Version are set by Save and
// Load; the trainer fills the rest.
type Metadata struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
	Kind    Kind   `json:"kind"`
	Arch    Arch   `json:"arch"`
	// Data says what the model was trained on.
	Data DataRange `json:"data"`
	// Rows is the number of training examples seen (over all epochs).
	Rows int64 `json:"rows"`
	// Optimizer is the optimizer of the run, if any.
	Optimizer *optim.Config `json:"optimizer,omitempty"`
	// Hyperparameters holds any other settings of the run, as given.
	Hyperparameters map[string]string `json:"hyperparameters,omitempty"`
	Seed            uint64            `json:"seed"`
	// Metrics holds evaluation results, e.g. "validation_auc".
	Metrics map[string]float64 `json:"metrics,omitempty"`
	// Lineage says exactly which input the version was trained up to; set
	// by the publish step of a training job.
	Lineage *Lineage `json:"lineage,omitempty"`

	// Inputs are the feature columns with their training types (see
	// InputsOf); scorers that build records from requests need them.
	Inputs []Column `json:"inputs,omitempty"`
	// WindowInputs are the columns the spec's windowed features read (see
	// WindowInputsOf), for stream scoring, which computes the windows.
	WindowInputs []Column `json:"window_inputs,omitempty"`
	// CodeVersion identifies the code that trained the model; Save fills it
	// from the binary's build information when empty.
	CodeVersion string `json:"code_version,omitempty"`
	// Created is when the model was saved; Save fills it when zero.
	Created time.Time `json:"created"`
}

// DataRange describes the training data: where it came from and which slice
// of it (for the lake, a dt range; for a stream, offsets or times).
type DataRange struct {
	Source string `json:"source,omitempty"`
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
}

// Lineage is the position of a training job's input when a version was cut:
// every example before it was trained into the version, none after.
type Lineage struct {
	// Job names the training job that published the version.
	Job string `json:"job,omitempty"`
	// Source is the input: "kafka://<topic>" or the lake table.
	Source string `json:"source,omitempty"`
	// Offsets are, for a Kafka source, the next offset to train per
	// partition.
	Offsets map[int32]int64 `json:"offsets,omitempty"`
	// Position is, for a bounded source, the position in the source's own
	// terms (Parquet file, row group, row, epoch).
	Position string `json:"position,omitempty"`
	// Watermark is the event-time watermark (ms since the Unix epoch) the
	// version was trained up to; 0 when the job has no event time.
	Watermark int64 `json:"watermark,omitempty"`
	// Examples counts the examples the job had trained when the version
	// was cut (a warm start's base not included).
	Examples int64 `json:"examples"`
}

// Model is a trained model: spec, tables and metadata, compiled for scoring.
// It is immutable after New and safe for concurrent use.
type Model struct {
	meta   Metadata
	spec   *feature.Spec
	tables []Table // in layout order
	layout []TableShape

	w       *Table
	index   *keyIndex
	outputs int
	kernel  kernel
	pool    sync.Pool // *scorer

	catalogue *Catalogue   // mf only, see SetCatalogue
	rec       *recommender // built from catalogue
}

// New checks tables against the layout of meta.Kind (LayoutOf), copies the
// spec, and compiles a scorer. Tables are used as given, not copied: do not
// modify them afterwards. Extra tables are an error; a missing one too.
func New(meta Metadata, spec *feature.Spec, tables []Table) (*Model, error) {
	if err := spec.Validate(); err != nil {
		return nil, fmt.Errorf("model %s: %w", meta.Kind, err)
	}
	layout, err := LayoutOf(meta.Kind, meta.Arch, spec)
	if err != nil {
		return nil, err
	}
	m := &Model{meta: meta, spec: spec.Clone(), layout: layout}
	byName := make(map[string]*Table, len(tables))
	for i := range tables {
		t := &tables[i]
		if _, dup := byName[t.Name]; dup {
			return nil, &LayoutError{Kind: meta.Kind, Table: t.Name, Reason: "given twice"}
		}
		byName[t.Name] = t
	}
	for _, want := range layout {
		t, ok := byName[want.Name]
		if !ok {
			return nil, &LayoutError{Kind: meta.Kind, Table: want.Name, Reason: "missing"}
		}
		delete(byName, want.Name)
		if err := checkTable(t, want); err != nil {
			return nil, &LayoutError{Kind: meta.Kind, Table: want.Name, Reason: err.Error()}
		}
		kept := *t // the struct is copied; its slices are shared
		if want.Dense {
			kept.Keys = nil
		}
		m.tables = append(m.tables, kept)
	}
	for name := range byName {
		return nil, &LayoutError{Kind: meta.Kind, Table: name, Reason: "not part of the layout"}
	}
	m.w = &m.tables[0]
	if m.index, err = newKeyIndex(m.w.Keys); err != nil {
		return nil, &LayoutError{Kind: meta.Kind, Table: TableWeights, Reason: err.Error()}
	}
	m.outputs = 1
	if meta.Kind == KindSoftmax || (meta.Kind == KindMLP && spec.Label.Type == feature.Multiclass) {
		m.outputs = spec.NumClasses()
	}
	m.kernel = newKernel(m)
	m.pool.New = func() any { return m.newScorer() }
	return m, nil
}

func checkTable(t *Table, want TableShape) error {
	if t.Dense != want.Dense {
		return fmt.Errorf("dense = %v, want %v", t.Dense, want.Dense)
	}
	if t.Width != want.Width {
		return fmt.Errorf("width %d, want %d", t.Width, want.Width)
	}
	if len(t.Values)%t.Width != 0 {
		return fmt.Errorf("%d values is not a multiple of the width %d", len(t.Values), t.Width)
	}
	rows := len(t.Values) / t.Width
	if want.Dense {
		if rows != want.Rows {
			return fmt.Errorf("%d rows, want %d", rows, want.Rows)
		}
		if t.Keys != nil {
			if len(t.Keys) != rows {
				return fmt.Errorf("dense table with %d keys for %d rows", len(t.Keys), rows)
			}
			for i, k := range t.Keys {
				if k != uint64(i) {
					return fmt.Errorf("dense row %d has key %d, want %d", i, k, i)
				}
			}
		}
		return nil
	}
	if len(t.Keys) != rows {
		return fmt.Errorf("%d keys for %d rows", len(t.Keys), rows)
	}
	return nil
}

// Meta returns the model's metadata.
func (m *Model) Meta() Metadata { return m.meta }

// Spec returns the model's feature spec; do not modify it.
func (m *Model) Spec() *feature.Spec { return m.spec }

// Kind returns the model's kind.
func (m *Model) Kind() Kind { return m.meta.Kind }

// Outputs returns the number of scores per example: the class count for
// softmax and multiclass mlp, else 1.
func (m *Model) Outputs() int { return m.outputs }

// Tables returns the model's tables in layout order, sharing memory; do not
// modify them.
func (m *Model) Tables() []Table { return m.tables }

// Table returns the named table, or nil.
func (m *Model) Table(name string) *Table {
	for i := range m.tables {
		if m.tables[i].Name == name {
			return &m.tables[i]
		}
	}
	return nil
}

// dense returns the values of the named dense table.
func (m *Model) dense(name string) []float32 {
	if t := m.Table(name); t != nil {
		return t.Values
	}
	return nil
}
