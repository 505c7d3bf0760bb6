package evaltable

import (
	"bytes"
	"context"
	"fmt"

	"github.com/lakestream/lakestream/eval"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
)

// SaveReport keeps rep, an evaluation of version of model name, beside the
// version in the registry (model.ReportKey), where the console draws its
// plots from. The write is atomic; a later report replaces an earlier one.
func SaveReport(ctx context.Context, store lake.Store, name string, version int, rep *eval.Report) error {
	if _, err := model.ReadManifest(ctx, store, name, version); err != nil {
		return fmt.Errorf("save the report of %s version %d: %w", name, version, err)
	}
	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		return err
	}
	key := model.ReportKey(name, version)
	if err := lake.PutBytes(ctx, store, key, buf.Bytes()); err != nil {
		return fmt.Errorf("save the report of %s version %d: %w", name, version, err)
	}
	return nil
}
