package job

import (
	"context"
	"errors"
	"fmt"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/predict"
)

// attachCatalogue gives an mf model the catalogue of its training rows
// (every row --where and --dt select): the items a predictor recommends and
// each user's items, left out of that user's top N. It is one more scan of
// the user and item columns. A catalogue past the bounds
// (model.MaxCatalogueItems and the rest) is left out with a warning: the
// version then scores pairs but answers no top-N request. Run and
// SaveShards (a distributed bounded job) both call it, through
// publishVersion.
func attachCatalogue(ctx context.Context, store lake.Store, c *Config, art *model.Model) error {
	if art.Kind() != model.KindMF {
		return nil
	}
	var opts []dataset.Option
	if c.IncludeUncommitted {
		opts = append(opts, dataset.WithoutSuccessMarkers())
	}
	ds, err := dataset.Open(ctx, store, c.Data, opts...)
	if err != nil {
		return fmt.Errorf("catalogue of %s: %w", c.Data, err)
	}
	filter, _ := dataset.ParseWhere(c.Where) // checked by Validate
	dts, _ := DTFilter(c.DT)
	p, err := ds.Plan(ctx, dataset.Query{Columns: []string{art.UserColumn(), art.ItemColumn()}, Where: append(filter, dts...)})
	if err != nil {
		return fmt.Errorf("catalogue of %s: %w", c.Data, err)
	}
	cat, err := predict.CollectCatalogue(ctx, p, c.BatchSize)
	if errors.Is(err, model.ErrCatalogueTooLarge) {
		c.Logger.Warn("the model is saved without its catalogue: predictors will not answer top-N requests for it",
			"data", c.Data, "output", c.Output, "err", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("catalogue of %s: %w", c.Data, err)
	}
	if err := art.SetCatalogue(cat); err != nil {
		return fmt.Errorf("catalogue of %s: %w", c.Data, err)
	}
	return nil
}
