package model

import (
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/lakestream/lakestream/train/feature"
)

// WindowInputsOf returns the columns of schema that spec's windowed
// features read (key, value, denominator and event-time columns, a derived
// one standing for what its expression reads), as typed in training. A
// stream-scoring job decodes them from its data topic and computes the
// windows itself; nil when the spec has no windows.
func WindowInputsOf(schema *arrow.Schema, spec *feature.Spec) ([]Column, error) {
	if len(spec.Windows) == 0 {
		return nil, nil
	}
	windows := &feature.Spec{Version: spec.Version, Derived: spec.Derived, EventTime: spec.EventTime, Windows: spec.Windows}
	var cols []Column
	seen := map[string]bool{}
	for _, w := range spec.Windows {
		windows.Categorical = []feature.Categorical{{Column: w.Name}}
		for _, name := range windows.InputColumns(true) {
			idx := schema.FieldIndices(name)
			if seen[name] || len(idx) == 0 {
				continue
			}
			seen[name] = true
			t, err := typeName(schema.Field(idx[0]).Type)
			if err != nil {
				return nil, fmt.Errorf("window input column %q: %w", name, err)
			}
			cols = append(cols, Column{Name: name, Type: t})
		}
	}
	return cols, nil
}

// WindowInputSchema returns the schema of Metadata.WindowInputs: what a
// stream-scoring job decodes to compute the model's windowed features.
func (m *Model) WindowInputSchema() (*arrow.Schema, error) {
	fields := make([]arrow.Field, len(m.meta.WindowInputs))
	for i, c := range m.meta.WindowInputs {
		t, err := c.ArrowType()
		if err != nil {
			return nil, err
		}
		fields[i] = arrow.Field{Name: c.Name, Type: t, Nullable: true}
	}
	return arrow.NewSchema(fields, nil), nil
}
