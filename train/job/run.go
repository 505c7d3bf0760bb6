package job

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/datastream"
	"github.com/lakestream/lakestream/eval/evaltable"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/paramserver"
	"github.com/lakestream/lakestream/train"
	"github.com/lakestream/lakestream/train/feature"
	"github.com/lakestream/lakestream/train/publish"
)

// Outcome is what a finished job reports.
type Outcome struct {
	// Result holds the per-epoch losses, the best epoch, its validation
	// metrics and its tables.
	Result train.Result
	// Rows is the training rows per epoch (from the Parquet footers).
	Rows int64
	// Duration is the wall time of the whole job, saving included.
	Duration time.Duration
	// Model is the trained model (its kernels; the weights are in
	// Result.Tables).
	Model train.Model
	// ModelConfig is the model's config as trained (fields, classes, seed
	// filled in).
	ModelConfig train.ModelConfig
	// Spec is the spec as trained (standardization fitted).
	Spec *feature.Spec
	// Schema is the training table's schema: the model's input types.
	Schema *arrow.Schema
	// Version is the saved model version, 0 when Config.Output is "".
	Version int
	// Published is the version as the publish step left it: its lineage
	// and, with Config.Promote, the gate's decision (or why it could not
	// be judged in Error). nil when Config.Output is "".
	Published *publish.Version
	// Prequential is the test-then-train evaluation of the training rows
	// when Config.Prequential was set, nil otherwise.
	Prequential *PrequentialReport
	// WarmStart is the version training started from, "name@version"
	// (resolved when Config.WarmStart named the latest), or "".
	WarmStart string
}

// Run validates c, then plans the scan, fits the spec, trains with
// validation after each epoch and saves the model when c.Output is set.
func Run(ctx context.Context, c Config) (*Outcome, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	out := &Outcome{}
	start := time.Now()
	store, err := lake.Open(ctx, c.Lake)
	if err != nil {
		return nil, fmt.Errorf("--lake: %w", err)
	}
	filter, _ := dataset.ParseWhere(c.Where) // checked by Validate
	dts, _ := DTFilter(c.DT)
	trainPlan, partitions, err := planTable(ctx, store, &c, append(filter, dts...), "training")
	if err != nil {
		return nil, err
	}
	out.Rows, out.Schema = trainPlan.Rows(), trainPlan.Schema()
	if c.Spec, err = FitSpec(ctx, c.Spec, trainPlan); err != nil {
		return nil, err
	}
	in := &train.Bounded{Spec: c.Spec, BatchSize: c.BatchSize, Train: sources(&c, trainPlan, c.ShuffleBuffer)}
	switch {
	case c.ValidationDT != "":
		vdts, _ := DTFilter(c.ValidationDT)
		valPlan, err := Plan(ctx, store, &c, append(filter[:len(filter):len(filter)], vdts...), "validation")
		if err != nil {
			return nil, err
		}
		open := sources(&c, valPlan, 0)
		in.Validation = func(ctx context.Context) (datastream.Source, error) { return open(ctx, 0, 0, 1) }
	case c.ValidationHash != "":
		in.HashSplit, _ = parseHashSplit(c.ValidationHash)
	}

	m, mc, err := NewModel(&c)
	if err != nil {
		return nil, fmt.Errorf("--model %s: %w", c.Model.Kind, err)
	}
	ps, err := paramserver.NewLocal(TableSpecs(m, c.Optimizer, c.Seed, c.WarmStart != "")...)
	if err != nil {
		return nil, err
	}
	if (mc.Kind == train.KindMF && mc.Loss == train.LossSquared || mc.Kind == train.KindLinear) && c.WarmStart == "" {
		// Ratings start from their global mean μ (Koren et al. 2009), not
		// 0: the biases and factors then learn deviations from it. So does
		// linear regression's intercept: from 0, a pass of FTRL does not
		// reach a label mean far from 0 (bench/RESULTS.md, "Defaults").
		mean, err := MeanLabel(ctx, c.Spec, trainPlan)
		if err != nil {
			return nil, err
		}
		if err := ps.SetBase(train.TableBias, nil, []float32{float32(mean)}); err != nil {
			return nil, err
		}
	}
	cfg := c.Train
	cfg.Logger = c.Logger
	cfg.Progress = c.Progress
	cfg.ExpectedExamples = out.Rows
	if in.HashSplit.Column != "" {
		cfg.ExpectedExamples = out.Rows * int64(100-in.HashSplit.Percent) / 100
	}
	st := train.NewStepper(m, ps, cfg.ClipNorm)
	steppers := []*train.Stepper{st}
	for range c.Parallel - 1 {
		// Each goroutine worker needs its own model (per-call scratch);
		// they share the in-process store, which is safe for concurrent use.
		mw, err := train.NewModel(mc)
		if err != nil {
			return nil, err
		}
		steppers = append(steppers, train.NewStepper(mw, ps, cfg.ClipNorm))
	}
	if c.WarmStart != "" {
		name, ver, err := model.ResolveRef(ctx, store, c.WarmStart)
		if err != nil {
			return nil, fmt.Errorf("--warm-start: %w", err)
		}
		base, err := model.Load(ctx, store, name, ver)
		if err != nil {
			return nil, fmt.Errorf("--warm-start: %w", err)
		}
		if err := st.WarmStart(base); err != nil {
			return nil, err
		}
		out.WarmStart = fmt.Sprintf("%s@%d", base.Meta().Name, base.Meta().Version)
	}
	if c.CheckpointEvery > 0 {
		if cfg.Checkpoint, err = checkpointing(ctx, store, &c, mc); err != nil {
			return nil, err
		}
	}
	var preq *prequential
	if c.Prequential != nil {
		if preq, err = newPrequential(&c, train.DefaultMetric(m) == train.MetricRMSE, partitions, cfg); err != nil {
			return nil, err
		}
		cfg.Observe = preq.observe
	}
	res, err := train.Fit(ctx, steppers, in, cfg)
	if err != nil {
		return nil, fmt.Errorf("train %s on %s: %w", m.Kind(), c.Data, err)
	}
	if preq != nil {
		out.Prequential = preq.finish()
	}
	if c.CheckpointEvery > 0 {
		// The job is done: a later run of the same job starts afresh.
		if err := deleteCheckpoints(ctx, store, cfg.Checkpoint.Job); err != nil {
			return nil, err
		}
	}
	out.Result, out.Model, out.ModelConfig, out.Spec = res, m, mc, c.Spec
	for _, w := range QualityWarnings(res) {
		c.Logger.Warn(w, "data", c.Data, "output", c.Output)
	}
	if w := TrainingLabelWarning(m, res, c.Spec.Label.Column, c.DT); w != "" {
		c.Logger.Warn(w, "data", c.Data, "label", c.Spec.Label.Column, "dt", dtRange(c.DT), "output", c.Output)
	}
	if c.Output != "" {
		v, err := publishVersion(ctx, store, &c, trainPlan, out)
		if err != nil {
			return nil, err
		}
		out.Version, out.Published = v.Version, &v
	}
	out.Duration = time.Since(start)
	return out, nil
}

// QualityWarnings returns what a person should hear about a trained model
// before it is saved: a binary model whose validation AUC is at most 0.5
// ranks no better than chance, which is what a label column holding one
// class (or the wrong column) gives.
func QualityWarnings(res train.Result) []string {
	v := res.Validation
	if v == nil || v.RMSE > 0 || v.Accuracy > 0 {
		return nil
	}
	if math.IsNaN(v.AUC) {
		return []string{"validation AUC undefined: the validation rows hold one class of the label; check that the label column is right and that the rows hold both classes"}
	}
	if v.AUC <= 0.5 {
		return []string{fmt.Sprintf("validation AUC %.4f ≤ 0.5: the model ranks no better than chance; check that the label column is right and that the training rows hold both classes", v.AUC)}
	}
	return nil
}

// TrainingLabelWarning returns what a person should hear before a binary
// model is saved when its training rows held one class of the label column
// (every label 0, or every label 1): such a model learns no ranking at all,
// whether or not validation rows exist. It returns "" otherwise.
func TrainingLabelWarning(m train.Model, res train.Result, label, dt string) string {
	if train.DefaultMetric(m) != train.MetricAUC || len(res.Epochs) == 0 {
		return ""
	}
	e := res.Epochs[0] // every epoch reads the same rows
	class := ""
	switch {
	case e.Examples == 0:
		return ""
	case e.Positives == 0:
		class = "0 (no positives)"
	case e.Positives == e.Examples:
		class = "1 (no negatives)"
	default:
		return ""
	}
	return fmt.Sprintf("training label %q holds one class: all %d training rows of --dt %s are %s; the model cannot learn to rank; check the label column and the --dt range",
		label, e.Examples, dtRange(dt), class)
}

// dtRange is the --dt range for messages: "(all partitions)" when none
// was given.
func dtRange(dt string) string {
	if dt == "" {
		return "(all partitions)"
	}
	return dt
}

// sources returns an opener of the plan's scans as datastream sources: part
// i of n scans the plan's splits dealt out round-robin
// (dataset.AssignSplits), shuffled with a seed of the epoch and part (one
// part: the seed of the epoch).
func sources(c *Config, p *dataset.Plan, shuffle int) func(ctx context.Context, epoch, part, n int) (datastream.Source, error) {
	return func(ctx context.Context, epoch, part, n int) (datastream.Source, error) {
		// The train operator reads a record only until it asks for the
		// next one, so its value buffers can go back to the decoder's pool.
		opts := dataset.ScanOptions{BatchSize: 8192, ShuffleBuffer: shuffle, Seed: c.Seed + uint64(epoch), RecycleBuffers: true}
		splits := p.Splits()
		if n > 1 {
			opts.Seed = c.Seed + uint64(epoch)<<32 + uint64(part)
			splits = dataset.AssignSplits(splits, part, n)
		}
		return dataset.NewSource(p.Scan(ctx, splits, opts)), nil
	}
}

// publishVersion ends the job through the publish step that "trainer
// stream" uses (train/publish): it saves the trained model as the next
// version of c.Output with its lineage (the Parquet position the best
// epoch ended at) and, with c.Promote, judges it with the gate on the
// validation slice, promotes it and announces the move.
func publishVersion(ctx context.Context, store lake.Store, c *Config, plan *dataset.Plan, out *Outcome) (publish.Version, error) {
	art, err := artifact(c, plan, out)
	if err != nil {
		return publish.Version{}, err
	}
	if err := attachCatalogue(ctx, store, c, art); err != nil {
		return publish.Version{}, err
	}
	pc := publish.DefaultConfig(store, c.Output)
	pc.Job, pc.Bounded, pc.SaveOnly, pc.Logger = art.Meta().Lineage.Job, true, c.Promote == nil, c.Logger
	if p := c.Promote; p != nil {
		pc.Gate, pc.Announce = p.Gate, p.Announce
		ec := evaltable.DefaultConfig()
		ec.Data, ec.Where, ec.DT, ec.IncludeUncommitted, ec.Logger = c.Data, c.Where, c.ValidationDT, c.IncludeUncommitted, c.Logger
		pc.HeldOut = func(ctx context.Context, candidate, _ int) (model.Evaluation, error) {
			return evaltable.GateEvaluation(ctx, store, ec, c.Output, candidate)
		}
	}
	pub, err := publish.New(ctx, pc)
	if err != nil {
		return publish.Version{}, err
	}
	defer pub.Close()
	v, _, err := pub.Publish(ctx, art)
	return v, err
}

// artifact builds the trained model with its metadata and lineage.
func artifact(c *Config, plan *dataset.Plan, out *Outcome) (*model.Model, error) {
	res := out.Result
	meta := model.Metadata{
		Data:      model.DataRange{Source: strings.TrimSuffix(c.Lake, "/") + "/" + c.Data},
		Rows:      res.Examples,
		Optimizer: &c.Optimizer,
		Seed:      c.Seed,
		Hyperparameters: map[string]string{
			"epochs":     fmt.Sprint(c.Train.Epochs),
			"batch_size": fmt.Sprint(c.BatchSize),
			"clip_norm":  fmt.Sprint(c.Train.ClipNorm),
			"where":      c.Where,
			// The lineage's parent (the console links it).
			"warm_start": out.WarmStart,
		},
		Metrics: map[string]float64{},
	}
	meta.Hyperparameters["best_epoch"] = fmt.Sprint(res.BestEpoch + 1)
	// A distributed job's coordinator has no per-epoch losses (SaveShards).
	if len(res.Epochs) > 0 {
		meta.Metrics["train_loss"] = res.Epochs[res.BestEpoch].TrainLoss
	}
	// The input types travel with the model: a predictor must hash an
	// integer column as an integer, not as its decimal string.
	inputs, err := model.InputsOf(out.Schema, out.Spec)
	if err != nil {
		return nil, fmt.Errorf("save model %s: %w", c.Output, err)
	}
	meta.Inputs = inputs
	if meta.WindowInputs, err = model.WindowInputsOf(out.Schema, out.Spec); err != nil {
		return nil, fmt.Errorf("save model %s: %w", c.Output, err)
	}
	if lo, hi, ok := strings.Cut(c.DT, ".."); ok {
		meta.Data.From, meta.Data.To = lo, hi
	} else if c.DT != "" {
		meta.Data.From, meta.Data.To = c.DT, c.DT
	}
	if v := res.Validation; v != nil {
		switch {
		case v.RMSE > 0:
			meta.Metrics["validation_rmse"], meta.Metrics["validation_mae"] = v.RMSE, v.MAE
		case v.Accuracy > 0:
			meta.Metrics["validation_accuracy"], meta.Metrics["validation_logloss"] = v.Accuracy, v.LogLoss
		default:
			meta.Metrics["validation_auc"], meta.Metrics["validation_logloss"] = v.AUC, v.LogLoss
		}
	}
	if p := out.Prequential; p != nil {
		maps.Copy(meta.Metrics, p.metrics())
	}
	meta.Lineage = lineage(c, plan, res)
	art, err := train.NewArtifact(out.ModelConfig, out.Spec, res.Tables, meta)
	if err != nil {
		return nil, fmt.Errorf("build model %s: %w", c.Output, err)
	}
	return art, nil
}

// lineage is where the saved tables stand in the input: the end of the
// best epoch's pass over every split of the plan, and the examples trained
// up to it.
func lineage(c *Config, plan *dataset.Plan, res train.Result) *model.Lineage {
	lin := &model.Lineage{Job: "train-" + c.Output, Source: strings.TrimSuffix(c.Lake, "/") + "/" + c.Data}
	best := res.BestEpoch
	if len(res.Epochs) == 0 {
		// A distributed job (SaveShards) reports only the examples up to
		// its best epoch.
		lin.Examples = res.Examples
	}
	for _, e := range res.Epochs[:min(best+1, len(res.Epochs))] {
		lin.Examples += e.Examples
	}
	splits := plan.Splits()
	last := splits[len(splits)-1]
	lin.Position = fmt.Sprintf("end of epoch %d of %d: all %d row groups, the last %s row %d",
		best+1, c.Train.Epochs, len(splits), last, last.Rows)
	return lin
}

// checkpointing configures the checkpoints of c, named after c.Output.
func checkpointing(ctx context.Context, store lake.Store, c *Config, mc train.ModelConfig) (train.Checkpointing, error) {
	ck := train.Checkpointing{
		Store: datastream.ObjectCheckpoints(store, lake.ErrNotExist),
		Every: c.CheckpointEvery,
		Job:   "train-" + c.Output,
	}
	var err error
	if ck.Fingerprint, err = fingerprint(c, mc); err != nil {
		return ck, err
	}
	if c.Restore {
		found := false
		for e := range c.Train.Epochs {
			m, err := datastream.LatestCheckpoint(ctx, ck.Store, fmt.Sprintf("%s-e%d", ck.Job, e))
			if errors.Is(err, datastream.ErrNoCheckpoint) {
				continue
			}
			if err != nil {
				return ck, fmt.Errorf("--restore: %w", err)
			}
			found = found || m != nil
		}
		if !found {
			return ck, fmt.Errorf("--restore: no checkpoint of job %s in the lake (checkpoints/%s-e*/): drop --restore to start afresh", ck.Job, ck.Job)
		}
	}
	return ck, nil
}

// fingerprint identifies what a checkpoint of c holds: the data, the fitted
// spec, the model, the optimizer and the run's settings. A checkpoint with
// another fingerprint is not resumed.
func fingerprint(c *Config, mc train.ModelConfig) ([]byte, error) {
	tc := c.Train
	b, err := json.Marshal(struct {
		Lake, Data, Where, DT, ValidationDT, ValidationHash, WarmStart string
		Spec                                                           *feature.Spec
		Model                                                          train.ModelConfig
		Optimizer                                                      any
		Epochs                                                         int
		ClipNorm                                                       float64
		BatchSize                                                      int
		Seed                                                           uint64
	}{c.Lake, c.Data, c.Where, c.DT, c.ValidationDT, c.ValidationHash, c.WarmStart, c.Spec, mc, c.Optimizer, tc.Epochs, tc.ClipNorm, c.BatchSize, c.Seed})
	if err != nil {
		return nil, fmt.Errorf("fingerprint the job for its checkpoints: %w", err)
	}
	h := sha256.Sum256(b)
	return h[:], nil
}

// deleteCheckpoints removes every checkpoint of job (all epochs).
func deleteCheckpoints(ctx context.Context, store lake.Store, job string) error {
	d, ok := store.(lake.Deleter)
	if !ok {
		return nil
	}
	var keys []string
	objs := store.List(ctx, "checkpoints/")
	for objs.Next() {
		k := objs.At().Key
		if epochDir(k, job) {
			keys = append(keys, k)
		}
	}
	if err := objs.Err(); err != nil {
		return fmt.Errorf("list checkpoints of %s: %w", job, err)
	}
	for _, k := range keys {
		if err := d.Delete(ctx, k); err != nil {
			return fmt.Errorf("delete checkpoint %s: %w", k, err)
		}
	}
	return nil
}

// epochDir reports whether key lies in the checkpoints of one of job's
// epochs: checkpoints/<job>-e<digits>/….
func epochDir(key, job string) bool {
	rest, ok := strings.CutPrefix(key, "checkpoints/"+job+"-e")
	if !ok {
		return false
	}
	digits, _, ok := strings.Cut(rest, "/")
	return ok && digits != "" && strings.Trim(digits, "0123456789") == ""
}
