package model

import (
	"fmt"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/lakestream/lakestream/train/feature"
)

// Column is one input column of a model as it was typed in training. The
// featurizer hashes an integer and its decimal string differently, so a
// scorer must build its records with the training types; the predictor uses
// these to decode requests.
type Column struct {
	Name string `json:"name"`
	// Type is one of bool, int8…int64, uint8…uint64, float32, float64,
	// string, binary, date32, timestamp_s|ms|us|ns, or list<T> of those.
	Type string `json:"type"`
}

// InputsOf returns the columns of schema that spec reads as features (the
// label, weight and event-time columns are not inputs; a derived column
// stands for the columns its expression reads), in spec order. A windowed
// feature is an input of its own (int64 or float64): the predictor's
// client sends its value.
// Columns spec names that schema lacks are left out; the featurizer
// reports them when it binds.
func InputsOf(schema *arrow.Schema, spec *feature.Spec) ([]Column, error) {
	var cols []Column
	seen := map[string]bool{}
	windows := spec.WindowTypes()
	add := func(name string) error {
		if name == "" || seen[name] {
			return nil
		}
		seen[name] = true
		idx := schema.FieldIndices(name)
		if len(idx) == 0 {
			if t, ok := windows[name]; ok {
				// A windowed feature: the scorer's client sends its value.
				tn, err := typeName(t)
				if err != nil {
					return err
				}
				cols = append(cols, Column{Name: name, Type: tn})
			}
			return nil
		}
		t, err := typeName(schema.Field(idx[0]).Type)
		if err != nil {
			return fmt.Errorf("input column %q: %w", name, err)
		}
		cols = append(cols, Column{Name: name, Type: t})
		return nil
	}
	for _, c := range spec.InputColumns(false) {
		if err := add(c); err != nil {
			return nil, err
		}
	}
	return cols, nil
}

var scalarTypes = map[string]arrow.DataType{
	"bool": arrow.FixedWidthTypes.Boolean,
	"int8": arrow.PrimitiveTypes.Int8, "int16": arrow.PrimitiveTypes.Int16,
	"int32": arrow.PrimitiveTypes.Int32, "int64": arrow.PrimitiveTypes.Int64,
	"uint8": arrow.PrimitiveTypes.Uint8, "uint16": arrow.PrimitiveTypes.Uint16,
	"uint32": arrow.PrimitiveTypes.Uint32, "uint64": arrow.PrimitiveTypes.Uint64,
	"float32": arrow.PrimitiveTypes.Float32, "float64": arrow.PrimitiveTypes.Float64,
	"string": arrow.BinaryTypes.String, "binary": arrow.BinaryTypes.Binary,
	"date32":       arrow.FixedWidthTypes.Date32,
	"timestamp_s":  arrow.FixedWidthTypes.Timestamp_s,
	"timestamp_ms": arrow.FixedWidthTypes.Timestamp_ms,
	"timestamp_us": arrow.FixedWidthTypes.Timestamp_us,
	"timestamp_ns": arrow.FixedWidthTypes.Timestamp_ns,
}

func typeName(t arrow.DataType) (string, error) {
	switch t.ID() {
	case arrow.LIST, arrow.LARGE_LIST:
		elem, err := typeName(t.(arrow.ListLikeType).Elem())
		if err != nil || strings.HasPrefix(elem, "list<") {
			return "", fmt.Errorf("type %s is not supported as a model input", t)
		}
		return "list<" + elem + ">", nil
	case arrow.LARGE_STRING:
		return "string", nil
	case arrow.LARGE_BINARY:
		return "binary", nil
	case arrow.TIMESTAMP:
		return "timestamp_" + t.(*arrow.TimestampType).Unit.String(), nil
	}
	for name, st := range scalarTypes {
		if arrow.TypeEqual(st, t) {
			return name, nil
		}
	}
	return "", fmt.Errorf("type %s is not supported as a model input", t)
}

// ArrowType returns the Arrow type of c.
func (c Column) ArrowType() (arrow.DataType, error) {
	if elem, ok := strings.CutPrefix(c.Type, "list<"); ok {
		elem, ok = strings.CutSuffix(elem, ">")
		if t, found := scalarTypes[elem]; ok && found {
			return arrow.ListOf(t), nil
		}
	} else if t, ok := scalarTypes[c.Type]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("input column %q: unknown type %q", c.Name, c.Type)
}

// InputSchema returns the Arrow schema of the model's input columns as typed
// in training (Metadata.Inputs). For artifacts that do not record them, it
// falls back to float64 for numeric columns and string for categorical and
// crossed ones, and says so with ok false.
func (m *Model) InputSchema() (schema *arrow.Schema, ok bool, err error) {
	if len(m.meta.Inputs) > 0 {
		fields := make([]arrow.Field, len(m.meta.Inputs))
		for i, c := range m.meta.Inputs {
			t, err := c.ArrowType()
			if err != nil {
				return nil, false, err
			}
			fields[i] = arrow.Field{Name: c.Name, Type: t, Nullable: true}
		}
		return arrow.NewSchema(fields, nil), true, nil
	}
	var fields []arrow.Field
	seen := map[string]bool{}
	add := func(name string, t arrow.DataType) {
		if name != "" && !seen[name] {
			seen[name] = true
			fields = append(fields, arrow.Field{Name: name, Type: t, Nullable: true})
		}
	}
	for _, n := range m.spec.Numeric {
		add(n.Column, arrow.PrimitiveTypes.Float64)
	}
	for _, c := range m.spec.Categorical {
		add(c.Column, arrow.BinaryTypes.String)
	}
	for _, x := range m.spec.Crosses {
		for _, c := range x.Columns {
			add(c, arrow.BinaryTypes.String)
		}
	}
	return arrow.NewSchema(fields, nil), false, nil
}
