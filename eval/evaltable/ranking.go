package evaltable

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/eval"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
)

// ErrNotRecommender is wrapped by the error of EvaluateRanking for a model
// that does not score (user, item) pairs.
var ErrNotRecommender = errors.New("ranking metrics need a recommendation model")

// RankingConfig is one ranking evaluation of a recommendation model (kind
// mf) on held-out interactions.
type RankingConfig struct {
	// Data, Where, DT and IncludeUncommitted select the held-out rows, as
	// in Config.
	Data, Where, DT    string
	IncludeUncommitted bool
	// Model is the mf model: "name", "name@version" or "name@alias".
	Model string
	// K is the cut-off of every metric.
	K int
	// RelevantMin makes a held-out row relevant when its label is at least
	// this value (4 on a 1–5 rating scale); 0 means any label > 0 (every
	// rating, or every positive of implicit feedback).
	RelevantMin float64
	// ExcludeDT, when set, is a day range of the same table whose (user,
	// item) pairs are not ranked for that user (the training days: items a
	// user has already seen are no recommendation).
	ExcludeDT string
	// BatchSize is the number of rows per record read.
	BatchSize int
	// Now stamps the report; time.Now by default.
	Now func() time.Time
	// Logger receives warnings about skipped partitions; nil discards them.
	Logger *slog.Logger
}

// DefaultRankingConfig returns K = 10, every positive label relevant.
func DefaultRankingConfig() RankingConfig {
	return RankingConfig{K: 10, BatchSize: dataset.DefaultBatchSize, Now: time.Now}
}

// Validate reports the first field that cannot work, before anything is
// read.
func (c RankingConfig) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrInvalidConfig)
	}
	switch {
	case c.Data == "":
		return bad("no held-out table (Data)")
	case c.Model == "":
		return bad("no model (Model)")
	case c.K < 1:
		return bad("cut-off K = %d: want ≥ 1", c.K)
	case c.RelevantMin < 0:
		return bad("relevant-min %g: want ≥ 0", c.RelevantMin)
	case c.BatchSize <= 0:
		return bad("batch size %d: want > 0", c.BatchSize)
	}
	if _, _, err := model.ParseRef(c.Model); err != nil {
		return bad("model %v", err)
	}
	if _, err := dataset.ParseWhere(c.Where); err != nil {
		return bad("where: %v", err)
	}
	for _, r := range []string{c.DT, c.ExcludeDT} {
		if _, err := dataset.DayRange("dt", r); err != nil {
			return bad("dt %v", err)
		}
	}
	return nil
}

// EvaluateRanking ranks, for every user with a relevant held-out row, the
// items of the held-out slice (less the items ExcludeDT shows the user
// had) by the model's score, and returns the report with its Ranking:
// precision, recall, MAP, NDCG (binary gains), MRR and hit rate at K,
// averaged over those users. Relevance is binary: the user's held-out rows
// whose label passes RelevantMin. Scoring costs users × items calls of the
// model's kernel (model.Model.Score, the predictor's scores).
func EvaluateRanking(ctx context.Context, store lake.Store, cfg RankingConfig) (*eval.Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := model.LoadRef(ctx, store, cfg.Model)
	if err != nil {
		return nil, err
	}
	meta := m.Meta()
	if m.Kind() != model.KindMF {
		return nil, fmt.Errorf("model %s is %s: %w (kind mf)", cfg.Model, m.Kind(), ErrNotRecommender)
	}
	spec := m.Spec()
	userCol, itemCol := m.UserColumn(), m.ItemColumn()
	label := spec.Label.Column
	if label == "" {
		return nil, fmt.Errorf("model %s: its spec's label is an expression; ranking reads a label column: %w", cfg.Model, ErrInvalidConfig)
	}

	r := &ranker{user: userCol, item: itemCol, label: label, min: cfg.RelevantMin,
		users: map[string]*rankUser{}, items: map[string]int{}}
	heldOut := Config{Data: cfg.Data, Where: cfg.Where, DT: cfg.DT, IncludeUncommitted: cfg.IncludeUncommitted,
		BatchSize: cfg.BatchSize, Logger: cfg.Logger}
	if err := r.read(ctx, store, heldOut, []string{userCol, itemCol, label}, r.addHeldOut); err != nil {
		return nil, err
	}
	if r.relevant == 0 {
		return nil, fmt.Errorf("held-out table %s: no relevant rows (label %s > 0, or ≥ the relevant minimum %g): %w", cfg.Slice(), label, cfg.RelevantMin, ErrNoRows)
	}
	if err := r.checkTypes(m); err != nil {
		return nil, fmt.Errorf("model %s: %w", cfg.Model, err)
	}
	if cfg.ExcludeDT != "" {
		seen := Config{Data: cfg.Data, DT: cfg.ExcludeDT, IncludeUncommitted: cfg.IncludeUncommitted,
			BatchSize: cfg.BatchSize, Logger: cfg.Logger}
		if err := r.read(ctx, store, seen, []string{userCol, itemCol}, r.addSeen); err != nil {
			return nil, fmt.Errorf("--exclude-dt: %w", err)
		}
	}
	acc, err := eval.NewRankingAccumulator(cfg.K)
	if err != nil {
		return nil, err
	}
	if err := r.rank(ctx, m, acc); err != nil {
		return nil, fmt.Errorf("model %s: %w", cfg.Model, err)
	}
	res, err := acc.Result()
	if err != nil {
		return nil, fmt.Errorf("evaluate on %s: %w", cfg.Slice(), err)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &eval.Report{SchemaVersion: eval.ReportSchemaVersion, CreatedAt: now().UTC(), Dataset: cfg.Data,
		Model: &eval.ModelRef{Name: meta.Name, Version: strconv.Itoa(meta.Version)}, Ranking: &res}, nil
}

// Slice describes the held-out rows, for messages.
func (c RankingConfig) Slice() string {
	return Config{Data: c.Data, Where: c.Where, DT: c.DT}.Slice()
}

// ranker gathers the held-out interactions by user.
type ranker struct {
	user, item, label string
	min               float64
	users             map[string]*rankUser
	order             []string       // users in order of appearance
	items             map[string]int // item value (as text) → candidate index
	itemVals          []string
	itemType          arrow.DataType
	userType          arrow.DataType
	relevant          int
}

// rankUser is one user's held-out relevant items and excluded items.
type rankUser struct {
	relevant map[int]bool
	seen     map[int]bool
}

// read scans the columns of cfg's slice and calls add with each record.
func (r *ranker) read(ctx context.Context, store lake.Store, cfg Config, cols []string, add func(arrow.Record) error) error {
	sc, err := scanColumns(ctx, store, cfg, cols)
	if err != nil {
		return err
	}
	defer sc.Close()
	for sc.Next() {
		if err := add(sc.At()); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", cfg.Slice(), err)
	}
	return nil
}

func (r *ranker) addHeldOut(rec arrow.Record) error {
	users, items := rec.Column(0), rec.Column(1)
	labels, err := labelValues(rec.Column(2), r.label)
	if err != nil {
		return err
	}
	defer labels.Release()
	r.userType, r.itemType = users.DataType(), items.DataType()
	for i := range int(rec.NumRows()) {
		if users.IsNull(i) || items.IsNull(i) || labels.IsNull(i) {
			continue
		}
		iv := items.ValueStr(i)
		idx, ok := r.items[iv]
		if !ok {
			idx = len(r.itemVals)
			r.items[iv] = idx
			r.itemVals = append(r.itemVals, iv)
		}
		y := labels.Value(i)
		if !(y > 0) || (r.min > 0 && y < r.min) {
			continue // a candidate, not relevant to this user
		}
		uv := users.ValueStr(i)
		u, ok := r.users[uv]
		if !ok {
			u = &rankUser{relevant: map[int]bool{}}
			r.users[uv] = u
			r.order = append(r.order, uv)
		}
		if !u.relevant[idx] {
			u.relevant[idx] = true
			r.relevant++
		}
	}
	return nil
}

func (r *ranker) addSeen(rec arrow.Record) error {
	users, items := rec.Column(0), rec.Column(1)
	for i := range int(rec.NumRows()) {
		if users.IsNull(i) || items.IsNull(i) {
			continue
		}
		u, ok := r.users[users.ValueStr(i)]
		if !ok {
			continue
		}
		idx, ok := r.items[items.ValueStr(i)]
		if !ok || u.relevant[idx] {
			continue // not a candidate, or held out for this user
		}
		if u.seen == nil {
			u.seen = map[int]bool{}
		}
		u.seen[idx] = true
	}
	return nil
}

// labelValues returns the label column as float64s.
func labelValues(col arrow.Array, name string) (*array.Float64, error) {
	switch c := col.(type) {
	case *array.Float64:
		c.Retain()
		return c, nil
	}
	b := array.NewFloat64Builder(memory.DefaultAllocator)
	defer b.Release()
	n := col.Len()
	b.Reserve(n)
	for i := range n {
		if col.IsNull(i) {
			b.AppendNull()
			continue
		}
		var v float64
		switch c := col.(type) {
		case *array.Float32:
			v = float64(c.Value(i))
		case *array.Int64:
			v = float64(c.Value(i))
		case *array.Int32:
			v = float64(c.Value(i))
		case *array.Int16:
			v = float64(c.Value(i))
		case *array.Int8:
			v = float64(c.Value(i))
		case *array.Boolean:
			if c.Value(i) {
				v = 1
			}
		default:
			return nil, fmt.Errorf("label column %s is %s: want a number or a bool", name, col.DataType())
		}
		b.Append(v)
	}
	return b.NewFloat64Array(), nil
}

// checkTypes refuses user and item columns whose type is not the one the
// model was trained on (they would hash differently).
func (r *ranker) checkTypes(m *model.Model) error {
	schema, typed, err := m.InputSchema()
	if err != nil || !typed {
		return err
	}
	for _, c := range []struct {
		name string
		t    arrow.DataType
	}{{r.user, r.userType}, {r.item, r.itemType}} {
		idx := schema.FieldIndices(c.name)
		if len(idx) == 1 && !arrow.TypeEqual(schema.Field(idx[0]).Type, c.t) {
			return fmt.Errorf("column %s is %s in the table, the model was trained on %s", c.name, c.t, schema.Field(idx[0]).Type)
		}
	}
	return nil
}

// rank scores every candidate item for each user and adds the user's query.
func (r *ranker) rank(ctx context.Context, m *model.Model, acc *eval.RankingAccumulator) error {
	n := len(r.itemVals)
	ib := array.NewBuilder(memory.DefaultAllocator, r.itemType)
	defer ib.Release()
	for _, v := range r.itemVals {
		if err := ib.AppendValueFromString(v); err != nil {
			return fmt.Errorf("item %q: %w", v, err)
		}
	}
	items := ib.NewArray()
	defer items.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: r.user, Type: r.userType}, {Name: r.item, Type: r.itemType}}, nil)
	scores := make([]float64, n)
	var qs, qr []float64
	users := slices.Clone(r.order)
	slices.Sort(users)
	ub := array.NewBuilder(memory.DefaultAllocator, r.userType)
	defer ub.Release()
	for _, uv := range users {
		if err := ctx.Err(); err != nil {
			return err
		}
		u := r.users[uv]
		for range n {
			if err := ub.AppendValueFromString(uv); err != nil {
				return fmt.Errorf("user %q: %w", uv, err)
			}
		}
		col := ub.NewArray()
		rec := array.NewRecord(schema, []arrow.Array{col, items}, int64(n))
		col.Release()
		err := m.Score(rec, scores)
		rec.Release()
		if err != nil {
			return fmt.Errorf("score user %s: %w", uv, err)
		}
		qs, qr = qs[:0], qr[:0]
		for i, s := range scores {
			if u.seen[i] {
				continue
			}
			rel := 0.0
			if u.relevant[i] {
				rel = 1
			}
			qs, qr = append(qs, s), append(qr, rel)
		}
		if err := acc.AddQuery(qs, qr, 1); err != nil {
			return fmt.Errorf("user %s: %w", uv, err)
		}
	}
	return nil
}
