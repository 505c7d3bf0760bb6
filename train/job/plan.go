package job

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/paramserver"
	"github.com/lakestream/lakestream/train"
	"github.com/lakestream/lakestream/train/feature"
	"github.com/lakestream/lakestream/train/optim"
)

// SpecColumns lists the record columns the spec reads (derived columns
// resolved to what their expressions read: feature.Spec.InputColumns), then
// extra, each once: the projection of a scan that feeds it.
func SpecColumns(s *feature.Spec, extra ...string) []string {
	cols := s.InputColumns(true)
	for _, c := range extra {
		if c != "" && !slices.Contains(cols, c) {
			cols = append(cols, c)
		}
	}
	return cols
}

// Plan opens the job's table in store and plans a scan of the columns its
// spec (and --validation-hash) reads under filter. what names the rows in
// errors ("training", "validation"). It fails with train.ErrNoData when no
// row matches, and when the table's types do not fit the spec.
func Plan(ctx context.Context, store lake.Store, c *Config, filter dataset.Filter, what string) (*dataset.Plan, error) {
	p, _, err := planTable(ctx, store, c, filter, what)
	return p, err
}

// planTable is Plan; it also returns the names of the table's partition
// columns.
func planTable(ctx context.Context, store lake.Store, c *Config, filter dataset.Filter, what string) (*dataset.Plan, []string, error) {
	var opts []dataset.Option
	if c.IncludeUncommitted {
		opts = append(opts, dataset.WithoutSuccessMarkers())
	}
	ds, err := dataset.Open(ctx, store, c.Data, opts...)
	if ue := (*dataset.UncommittedError)(nil); errors.As(err, &ue) {
		return nil, nil, fmt.Errorf("open --data %s: %w; pass --include-uncommitted to read them anyway", c.Data, err)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("open --data %s: %w", c.Data, err)
	}
	skipped := ds.SkippedPartitions()
	if len(skipped) > 0 && c.Logger != nil {
		c.Logger.Warn("skipping partitions without a _SUCCESS marker (pass --include-uncommitted to read them)",
			"data", c.Data, "rows", what, "partitions", dataset.PartitionList(skipped))
	}
	extra := []string{}
	if col, _, ok := strings.Cut(c.ValidationHash, ":"); ok {
		extra = append(extra, col)
	}
	var parts []string
	for _, f := range ds.PartitionColumns() {
		parts = append(parts, f.Name)
	}
	if c.Prequential != nil {
		// A row out of event-time order is reported with its partition.
		extra = append(extra, parts...)
	}
	cols := SpecColumns(c.Spec, extra...)
	p, err := ds.Plan(ctx, dataset.Query{Columns: cols, Where: filter})
	if err != nil {
		return nil, nil, fmt.Errorf("plan %s data of %s: %w", what, c.Data, err)
	}
	if p.Rows() == 0 {
		why := ""
		if len(skipped) > 0 {
			why = fmt.Sprintf(" among the committed partitions; %s skipped for want of a _SUCCESS marker: pass --include-uncommitted to read them", dataset.PartitionList(skipped))
		}
		return nil, nil, fmt.Errorf("%s data: %w: no rows of %s match %s%s", what, train.ErrNoData, c.Data, filter, why)
	}
	if err := c.Spec.ValidateSchema(p.Schema()); err != nil {
		return nil, nil, fmt.Errorf("spec %s against %s: %w", c.SpecPath, c.Data, err)
	}
	return p, parts, nil
}

// FitSpec returns spec with its standardization statistics fitted on every
// row of p when it asks for them, and spec itself when it does not.
func FitSpec(ctx context.Context, spec *feature.Spec, p *dataset.Plan) (*feature.Spec, error) {
	needs := false
	for _, n := range spec.Numeric {
		needs = needs || (n.Standardize && (n.Mean == nil || n.Std == nil))
	}
	if !needs {
		return spec, nil
	}
	st, err := feature.NewStats(spec)
	if err != nil {
		return nil, err
	}
	sc := p.Scan(ctx, p.Splits(), dataset.ScanOptions{})
	defer sc.Close()
	for sc.Next() {
		if err := st.Add(sc.At()); err != nil {
			return nil, fmt.Errorf("standardization pass: %w", err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("standardization pass: %w", err)
	}
	return st.Freeze()
}

// MeanLabel returns the mean label of the rows of p (weighted by the
// spec's weight column, if any): one pass that reads the label through
// spec's featurizer.
func MeanLabel(ctx context.Context, spec *feature.Spec, p *dataset.Plan) (float64, error) {
	f, err := feature.NewFeaturizer(spec)
	if err != nil {
		return 0, err
	}
	sc := p.Scan(ctx, p.Splits(), dataset.ScanOptions{})
	defer sc.Close()
	var b feature.Batch
	var sum, n float64
	for sc.Next() {
		if err := f.Featurize(sc.At(), &b); err != nil {
			return 0, fmt.Errorf("mean label pass: %w", err)
		}
		for i, y := range b.Labels {
			w := 1.0
			if b.Weights != nil {
				w = float64(b.Weights[i])
			}
			sum, n = sum+w*float64(y), n+w
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("mean label pass: %w", err)
	}
	if n == 0 {
		return 0, nil
	}
	return sum / n, nil
}

// NewModel builds the model of c for its (fitted) spec: the spec gives the
// field count and, for softmax, the classes; c.Seed seeds it. It leaves c
// alone and returns the completed model config with the model.
func NewModel(c *Config) (train.Model, train.ModelConfig, error) {
	mc := c.modelConfig()
	m, err := train.NewModel(mc)
	return m, mc, err
}

// modelConfig completes c.Model for c.Spec and c.Seed.
func (c *Config) modelConfig() train.ModelConfig {
	mc := c.Model
	mc.Fields = c.Spec.NumFields()
	if mc.Kind == train.KindSoftmax {
		mc.Classes = c.Spec.NumClasses()
	}
	mc.Seed = c.Seed
	return mc
}

// TableSpecs declares the model's tables on the parameter server: every
// process of a job (the in-process store of Run, the shards of "trainer ps",
// the workers) declares them through this one mapping. A warm start (warm
// true) needs rows that start at zero (see train.Stepper.WarmStart), so
// factor tables get no random start then.
func TableSpecs(m train.Model, opt optim.Config, seed uint64, warm bool) []paramserver.TableSpec {
	var specs []paramserver.TableSpec
	for _, t := range m.Tables() {
		s := paramserver.TableSpec{Name: t.Name, Width: t.Width, Dense: t.Dense, Rows: t.Rows, Optimizer: t.Optimizer(opt)}
		if t.InitStd > 0 && !warm {
			s.Init = paramserver.InitConfig{Kind: paramserver.InitNormal, Std: t.InitStd, Seed: seed}
		}
		specs = append(specs, s)
	}
	return specs
}

// TablesDiff returns the largest absolute difference between the values of
// two exports of the same model's tables (train.Stepper.Export), or +Inf
// when their names, shapes or keys differ. 0 means bit-identical values
// (up to the sign of zero).
func TablesDiff(a, b []train.TableData) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range a {
		x, y := a[i], b[i]
		if x.Name != y.Name || x.Width != y.Width || !slices.Equal(x.Keys, y.Keys) || len(x.Values) != len(y.Values) {
			return math.Inf(1)
		}
		for j, v := range x.Values {
			w := y.Values[j]
			if v != w {
				if math.IsNaN(float64(v)) || math.IsNaN(float64(w)) {
					return math.Inf(1)
				}
				d = max(d, math.Abs(float64(v)-float64(w)))
			}
		}
	}
	return d
}
