package predict

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
)

// ErrNotRecommender is wrapped by the error of TopN for a model that does
// not score (user, item) pairs.
var ErrNotRecommender = errors.New("top-N items need a recommendation model (kind mf)")

// MaxTopN bounds TopNConfig.N.
const MaxTopN = 1000

// TopNConfig is one run of top-N recommendation in batch.
type TopNConfig struct {
	// Data, Where, DT and IncludeUncommitted select the interactions: the
	// users to recommend to, the item catalogue (every item in them) and
	// what each user has seen (their items there).
	Data, Where, DT    string
	IncludeUncommitted bool
	// Model is the mf model: "name", "name@version" or "name@alias".
	Model string
	// N is the number of items per user, 1 to MaxTopN.
	N int
	// Output is the folder of the output table: one Parquet file and its
	// _SUCCESS marker.
	Output string
	// Overwrite replaces an existing output.
	Overwrite bool
	// BatchSize is the number of rows per record read and written.
	BatchSize int
}

// DefaultTopNConfig returns N = 10.
func DefaultTopNConfig() TopNConfig {
	return TopNConfig{N: 10, BatchSize: dataset.DefaultBatchSize}
}

// Validate reports the first field that cannot work, before anything is
// read.
func (c TopNConfig) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrInvalidConfig)
	}
	switch {
	case c.Data == "":
		return bad("no interactions table (Data)")
	case c.Model == "":
		return bad("no model (Model)")
	case c.Output == "":
		return bad("no output table (Output)")
	case c.N < 1 || c.N > MaxTopN:
		return bad("top N = %d: want 1 to %d", c.N, MaxTopN)
	case c.BatchSize <= 0:
		return bad("batch size %d: want > 0", c.BatchSize)
	}
	if _, _, err := model.ParseRef(c.Model); err != nil {
		return bad("model %v", err)
	}
	if err := lake.ValidateKey(strings.TrimSuffix(c.Output, "/")); err != nil {
		return bad("output %q: %v", c.Output, err)
	}
	if _, err := dataset.ParseWhere(c.Where); err != nil {
		return bad("where: %v", err)
	}
	if _, err := dataset.DayRange("dt", c.DT); err != nil {
		return bad("dt %v", err)
	}
	return nil
}

// TopNResult describes a finished top-N run.
type TopNResult struct {
	Model   string
	Version int
	// Users and Items count the users written and the catalogue's items.
	Users, Items int
	// Rows is the number of rows written (≤ Users·N: a user who has seen
	// nearly every item gets fewer).
	Rows int64
}

// TopN writes, for every user of the interactions cfg selects, the N items
// of the catalogue the user has not interacted with there that the model
// scores highest: rows (user, item, score, rank) with rank 1 the best,
// ties broken by the item's first appearance. The output is one file,
// Output/part-00000.parquet, then Output/_SUCCESS. The catalogue is the
// selected rows', not the one saved with the version: the model's top-N
// index (model.SetCatalogue, model.TopN, what the predictor answers from)
// is built over it, so scoring costs users × items products of k factors,
// and the scores are Score's bit for bit.
func TopN(ctx context.Context, store lake.Store, cfg TopNConfig) (*TopNResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Output = strings.TrimSuffix(cfg.Output, "/")
	m, err := model.LoadRef(ctx, store, cfg.Model)
	if err != nil {
		return nil, err
	}
	meta := m.Meta()
	if m.Kind() != model.KindMF {
		return nil, fmt.Errorf("model %s is %s: %w", cfg.Model, m.Kind(), ErrNotRecommender)
	}
	userCol, itemCol := m.UserColumn(), m.ItemColumn()

	ds, err := openInput(ctx, store, cfg.Data, cfg.Output, cfg.IncludeUncommitted, "interactions")
	if err != nil {
		return nil, err
	}
	filter, _ := dataset.ParseWhere(cfg.Where)
	dt, _ := dataset.DayRange("dt", cfg.DT)
	plan, err := ds.Plan(ctx, dataset.Query{Columns: []string{userCol, itemCol}, Where: append(filter, dt...)})
	if err != nil {
		return nil, fmt.Errorf("interactions %s: %w", cfg.Data, err)
	}
	if plan.Rows() == 0 {
		return nil, fmt.Errorf("interactions %s: %w", cfg.Data, ErrNoRows)
	}
	schema := plan.Schema()
	ref := meta.Name + "@" + strconv.Itoa(meta.Version)
	if err := checkTypes(m, schema, cfg.Data, ref, "interactions"); err != nil {
		return nil, err
	}
	if err := checkOutput(ctx, store, cfg.Output, cfg.Overwrite); err != nil {
		return nil, err
	}

	// The interactions: users in order of first appearance, the catalogue,
	// and each user's seen items.
	cat, err := CollectCatalogue(ctx, plan, cfg.BatchSize)
	if err != nil {
		return nil, fmt.Errorf("interactions %s: %w", cfg.Data, err)
	}
	if err := m.SetCatalogue(cat); err != nil {
		return nil, fmt.Errorf("interactions %s: %w", cfg.Data, err)
	}

	userType := schema.Field(schema.FieldIndices(userCol)[0]).Type
	itemType := schema.Field(schema.FieldIndices(itemCol)[0]).Type
	w := &topNWriter{cfg: cfg, m: m, userCol: userCol, itemCol: itemCol, userType: userType, itemType: itemType,
		cat: cat}
	res := &TopNResult{Model: meta.Name, Version: meta.Version, Users: len(cat.Users), Items: len(cat.Items)}
	if cfg.Overwrite {
		if err := clear(ctx, store, cfg.Output); err != nil {
			return nil, err
		}
	}
	rows, err := upload(ctx, store, cfg.Output+"/"+FileName, func(sink io.Writer) (int64, error) { return w.write(ctx, sink) })
	if err != nil {
		return nil, err
	}
	if err := lake.Commit(ctx, store, cfg.Output); err != nil {
		return nil, err
	}
	res.Rows = rows
	return res, nil
}

// topNWriter writes every catalogue user's top N (model.TopN over the
// catalogue set on m).
type topNWriter struct {
	cfg                TopNConfig
	m                  *model.Model
	userCol, itemCol   string
	userType, itemType arrow.DataType
	cat                *model.Catalogue
}

func (w *topNWriter) write(ctx context.Context, sink io.Writer) (int64, error) {
	md := arrow.NewMetadata([]string{ModelMetadataKey}, []string{w.m.Meta().Name + "@" + strconv.Itoa(w.m.Meta().Version)})
	out := arrow.NewSchema([]arrow.Field{
		{Name: w.userCol, Type: w.userType}, {Name: w.itemCol, Type: w.itemType},
		{Name: "score", Type: arrow.PrimitiveTypes.Float64}, {Name: "rank", Type: arrow.PrimitiveTypes.Int32},
	}, &md)
	fw, err := newFileWriter(out, sink, DefaultConfig().RowGroupRows)
	if err != nil {
		return 0, err
	}
	ob := array.NewRecordBuilder(memory.DefaultAllocator, out)
	defer ob.Release()
	var r model.Recommendation
	var rows int64
	flush := func() error {
		rec := ob.NewRecord()
		defer rec.Release()
		if rec.NumRows() == 0 {
			return nil
		}
		return fw.WriteBuffered(rec)
	}
	for _, uv := range w.cat.Users {
		if err := ctx.Err(); err != nil {
			fw.Close()
			return rows, err
		}
		if err := w.m.TopN(uv, w.cfg.N, &r); err != nil {
			fw.Close()
			return rows, fmt.Errorf("top %d of user %s: %w", w.cfg.N, uv, err)
		}
		for rank, i := range r.Items {
			if err := ob.Field(0).AppendValueFromString(uv); err != nil {
				fw.Close()
				return rows, err
			}
			if err := ob.Field(1).AppendValueFromString(w.cat.Items[i]); err != nil {
				fw.Close()
				return rows, err
			}
			ob.Field(2).(*array.Float64Builder).Append(r.Scores[rank])
			ob.Field(3).(*array.Int32Builder).Append(int32(rank + 1))
			rows++
		}
		if ob.Field(2).Len() >= w.cfg.BatchSize {
			if err := flush(); err != nil {
				fw.Close()
				return rows, err
			}
		}
	}
	if err := flush(); err != nil {
		fw.Close()
		return rows, err
	}
	return rows, fw.Close()
}

// CollectCatalogue reads the two columns of plan, user then item, and
// returns their catalogue (model.Catalogue): items and users in order of
// first appearance, each user's items. Rows with a null user or item are
// skipped. It fails with an error wrapping model.ErrCatalogueTooLarge past
// the catalogue's bounds.
func CollectCatalogue(ctx context.Context, plan *dataset.Plan, batchSize int) (*model.Catalogue, error) {
	b := model.NewCatalogueBuilder()
	sc := plan.Scan(ctx, plan.Splits(), dataset.ScanOptions{BatchSize: batchSize})
	defer sc.Close()
	for sc.Next() {
		rec := sc.At()
		uc, ic := rec.Column(0), rec.Column(1)
		for r := range int(rec.NumRows()) {
			if uc.IsNull(r) || ic.IsNull(r) {
				continue
			}
			if err := b.Add(uc.ValueStr(r), ic.ValueStr(r)); err != nil {
				return nil, err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return b.Catalogue(), nil
}
