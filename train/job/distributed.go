package job

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/paramserver"
	"github.com/lakestream/lakestream/train"
	"github.com/lakestream/lakestream/train/feature"
	"github.com/lakestream/lakestream/train/publish"
)

// ShardJob is what the coordinator of a distributed job ("trainer ps
// --coordinate") knows when the job ends, to save the model the shards
// trained as Run saves a single process's.
type ShardJob struct {
	// Config is the job's configuration, the one every worker trains
	// (Output names the model).
	Config Config
	// Spec is the spec fitted on the training rows (FitSpec), which the
	// workers featurized with.
	Spec *feature.Spec
	// Plan is the job's training rows, planned as the workers plan them:
	// its schema gives the model's input types, its splits the lineage.
	Plan *dataset.Plan
	// Model is the job's model; ModelConfig its configuration as built by
	// NewModel.
	Model       train.Model
	ModelConfig train.ModelConfig
	// Epoch is the epoch whose tables the shards hold (from 0): the last
	// one, or the best one with early stopping.
	Epoch int
	// Examples is the rows trained into those tables, over all epochs up
	// to Epoch.
	Examples int64
	// Validation holds the trained model's metrics on the validation
	// rows, or nil.
	Validation *train.Metrics
	// WarmStart is the version the shards started from, "name@N"
	// (WarmStartShard), or "".
	WarmStart string
}

// ExportShards reads a distributed job's trained tables from its shards:
// every row pushed at least once of its sparse tables and every row of its
// dense tables, in the layout Stepper.Export gives a single process. Call it
// once no worker pushes.
func ExportShards(ctx context.Context, ps *paramserver.Client, m train.Model) ([]train.TableData, error) {
	var out []train.TableData
	for _, t := range m.Tables() {
		spec := paramserver.TableSpec{Name: t.Name, Width: t.Width, Dense: t.Dense, Rows: t.Rows}
		keys, vals, err := ps.ExportTable(ctx, spec, 0)
		if err != nil {
			return nil, err
		}
		out = append(out, train.TableData{Name: t.Name, Width: t.Width, Dense: t.Dense, Keys: keys, Values: vals})
	}
	return out, nil
}

// SaveShards exports the trained tables from the shards (ExportShards) and
// ends the job as Run ends a single-process one: it saves them as the next
// version of j.Config.Output with the same metadata and lineage (files
// first, manifest last) and, with j.Config.Promote, judges the version with
// the gate on the validation days, promotes and announces it (the publish
// step, train/publish). It returns the version as the publish step left it
// and the time the export from the shards took.
func SaveShards(ctx context.Context, store lake.Store, ps *paramserver.Client, j *ShardJob) (publish.Version, time.Duration, error) {
	start := time.Now()
	tables, err := ExportShards(ctx, ps, j.Model)
	if err != nil {
		return publish.Version{}, 0, fmt.Errorf("export model %s from the shards: %w", j.Config.Output, err)
	}
	exported := time.Since(start)
	out := &Outcome{
		Result:      train.Result{Examples: j.Examples, BestEpoch: j.Epoch, Tables: tables, Validation: j.Validation},
		Model:       j.Model,
		ModelConfig: j.ModelConfig,
		Spec:        j.Spec,
		Schema:      j.Plan.Schema(),
		WarmStart:   j.WarmStart,
	}
	v, err := publishVersion(ctx, store, &j.Config, j.Plan, out)
	return v, exported, err
}

// WarmStartShard makes shard of shards (the store l, declared with
// TableSpecs(m, …, warm=true)) start from the saved model ref, as
// Stepper.WarmStart makes a single process start: l gets the base rows of
// the keys it serves (paramserver.ShardOf) of every sparse table, and every
// dense table, and holds the change from them. ref must name a version
// (name@N): every shard loads it when it starts, so an alias or "the
// latest" could name different versions on different shards. It returns
// the version as "name@N".
func WarmStartShard(ctx context.Context, store lake.Store, ref string, l *paramserver.Local, m train.Model, shard, shards int) (string, error) {
	name, ver, err := PinnedRef(ref)
	if err != nil {
		return "", err
	}
	base, err := model.Load(ctx, store, name, ver)
	if err != nil {
		return "", fmt.Errorf("--warm-start: %w", err)
	}
	if string(base.Kind()) != string(m.Kind()) {
		return "", fmt.Errorf("--warm-start %s: model is %s, training %s", ref, base.Kind(), m.Kind())
	}
	for _, t := range m.Tables() {
		bt := base.Table(t.Name)
		if bt == nil {
			return "", fmt.Errorf("--warm-start %s: no table %q", ref, t.Name)
		}
		if bt.Width != t.Width || bt.Dense != t.Dense || (t.Dense && bt.Rows() != t.Rows) {
			return "", fmt.Errorf("--warm-start %s: table %q is %d×%d (dense %v), training needs width %d (dense %v, %d rows): train with the same spec and model flags",
				ref, t.Name, bt.Rows(), bt.Width, bt.Dense, t.Width, t.Dense, t.Rows)
		}
		if t.Dense {
			if err := l.SetBase(t.Name, nil, bt.Values); err != nil {
				return "", err
			}
			continue
		}
		var keys []uint64
		var vals []float32
		for i, k := range bt.Keys {
			if paramserver.ShardOf(k, shards) == shard {
				keys = append(keys, k)
				vals = append(vals, bt.Row(i)...)
			}
		}
		if err := l.SetBase(t.Name, keys, vals); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("%s@%d", name, ver), nil
}

// PinnedRef parses a --warm-start reference of a distributed job, which
// must name a version: name@N.
func PinnedRef(ref string) (string, int, error) {
	name, at, err := model.ParseRef(ref)
	if err != nil {
		return "", 0, fmt.Errorf("--warm-start: %w", err)
	}
	v, err := strconv.Atoi(at)
	if err != nil || v < 1 {
		return "", 0, fmt.Errorf("--warm-start %q: a distributed job starts from a pinned version, %s@N: each shard loads it when it starts, and an alias or the latest version could move in between", ref, name)
	}
	return name, v, nil
}

// StreamShards is what the coordinator of a distributed stream job needs
// to publish the shards' tables as versions (PublishShards).
type StreamShards struct {
	// Model and ModelConfig are the job's model, as the shards declare it.
	Model       train.Model
	ModelConfig train.ModelConfig
	// Spec is the spec the workers featurize with.
	Spec *feature.Spec
	// Meta is the versions' metadata (inputs, optimizer, seed,
	// hyperparameters); PublishShards sets Rows and Lineage.
	Meta model.Metadata
	// Publisher is the publish step, with the job's name as lineage Job.
	Publisher *publish.Publisher
}

// PublishShards exports the tables the shards hold and publishes them
// through s.Publisher with lineage lin (a checkpoint's offsets and
// examples): the publish step of "trainer stream" — a version whose
// lineage is not past the job's last is skipped, and the gate, promotion
// and announcement are the Publisher's. The shards must not change while
// it exports (a stream coordinator calls it with the workers stopped at
// the checkpoint's barrier). It returns the version and whether it was
// published.
func PublishShards(ctx context.Context, ps *paramserver.Client, s *StreamShards, lin model.Lineage) (publish.Version, bool, error) {
	if !s.Publisher.Behind(lin.Examples) {
		return publish.Version{}, false, nil
	}
	tables, err := ExportShards(ctx, ps, s.Model)
	if err != nil {
		return publish.Version{}, false, fmt.Errorf("export the shards: %w", err)
	}
	meta := s.Meta
	meta.Rows, meta.Lineage = lin.Examples, &lin
	m, err := train.NewArtifact(s.ModelConfig, s.Spec, tables, meta)
	if err != nil {
		return publish.Version{}, false, fmt.Errorf("build version: %w", err)
	}
	return s.Publisher.Publish(ctx, m)
}
