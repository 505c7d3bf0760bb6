package job

import (
	"context"
	"fmt"
	"time"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/lake"
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
	}
	v, err := publishVersion(ctx, store, &j.Config, j.Plan, out)
	return v, exported, err
}
