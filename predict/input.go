package predict

import (
	"context"
	"fmt"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
)

// openInput opens the table data (what names it in errors: "input table",
// "interactions") and refuses an output folder that overlaps it.
func openInput(ctx context.Context, store lake.Store, data, output string, uncommitted bool, what string) (*dataset.Dataset, error) {
	var opts []dataset.Option
	if uncommitted {
		opts = append(opts, dataset.WithoutSuccessMarkers())
	}
	ds, err := dataset.Open(ctx, store, data, opts...)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, data, err)
	}
	if in, out := ds.Prefix(), output+"/"; strings.HasPrefix(out, in) || strings.HasPrefix(in, out) {
		return nil, fmt.Errorf("output %s and %s %s overlap: write to a folder outside the table: %w", output, what, data, ErrInvalidConfig)
	}
	return ds, nil
}

// checkTypes refuses columns of schema whose type differs from the one m
// was trained on: the featurizer hashes an integer and its string
// differently, so the scores would not be the predictor's. Columns schema
// lacks are not checked.
func checkTypes(m *model.Model, schema *arrow.Schema, data, ref, what string) error {
	trained := m.Meta().Inputs
	if len(trained) == 0 {
		return nil // an older artifact: nothing recorded to compare with
	}
	have, err := model.InputsOf(schema, m.Spec())
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, data, err)
	}
	types := map[string]string{}
	for _, c := range have {
		types[c.Name] = c.Type
	}
	for _, c := range trained {
		if t, ok := types[c.Name]; ok && t != c.Type {
			return fmt.Errorf("%s %s: column %s is %s, but model %s was trained on %s: cast the column (scores of other types would not be the predictor's): %w",
				what, data, c.Name, t, ref, c.Type, model.ErrIncompatible)
		}
	}
	return nil
}

// checkOutput refuses an output folder that holds objects, unless
// overwrite.
func checkOutput(ctx context.Context, store lake.Store, folder string, overwrite bool) error {
	objs, err := lake.ListAll(ctx, store, folder+"/")
	if err != nil {
		return fmt.Errorf("output %s: %w", folder, err)
	}
	if len(objs) > 0 && !overwrite {
		return &OutputExistsError{Folder: folder, Objects: len(objs), First: objs[0].Key}
	}
	return nil
}
