package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"

	"golang.org/x/term"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/paramserver"
	"github.com/lakestream/lakestream/train"
	"github.com/lakestream/lakestream/train/feature"
	"github.com/lakestream/lakestream/train/optim"
)

// trainJob is everything a bounded training run needs, gathered from flags
// (trainer train) or built in code (trainer quickstart).
type trainJob struct {
	lakeURI   string // the lake holding the data and the models
	data      string // table folder in the lake, e.g. "clicks"
	where     string // --where filter on the table
	dt        string // --dt partition range "a" or "a..b"
	valDT     string // --validation-dt: held-out partition range
	valHash   string // --validation-hash column:percent
	spec      *feature.Spec
	specPath  string
	model     train.ModelConfig
	opt       optim.Config
	run       train.Config
	batchSize int
	shuffle   int
	parallel  int // goroutine workers of "trainer train" (0 or 1: one)
	seed      uint64
	output    string // model name to save under models/, "" to not save
	warm      string // --warm-start name or name@version
	stderr    io.Writer
	logger    *slog.Logger
}

// trainOutcome is what a finished run reports.
type trainOutcome struct {
	result   train.Result
	rows     int64 // training rows per epoch (from the Parquet footers)
	duration time.Duration
	model    train.Model
	spec     *feature.Spec // the spec as trained (standardization fitted)
	schema   *arrow.Schema // the training table's schema: the model's input types
	version  string        // saved model version, if saved
}

// dtFilter turns "a" or "a..b" into predicates on the dt partition column.
func dtFilter(r string) (dataset.Filter, error) {
	if r == "" {
		return nil, nil
	}
	lo, hi, isRange := strings.Cut(r, "..")
	if !isRange {
		hi = lo
	}
	if lo == "" || hi == "" {
		return nil, fmt.Errorf("--dt %q: want a day (2026-11-01) or a range (2026-11-01..2026-11-07)", r)
	}
	return dataset.Filter{
		dataset.Where("dt", dataset.Ge, dataset.String(lo)),
		dataset.Where("dt", dataset.Le, dataset.String(hi)),
	}, nil
}

// specColumns lists the columns the spec reads, for the scan's projection.
func specColumns(s *feature.Spec, extra ...string) []string {
	var cols []string
	seen := map[string]bool{}
	add := func(c string) {
		if c != "" && !seen[c] {
			seen[c] = true
			cols = append(cols, c)
		}
	}
	add(s.Label.Column)
	add(s.Weight)
	for _, n := range s.Numeric {
		add(n.Column)
	}
	for _, c := range s.Categorical {
		add(c.Column)
	}
	for _, x := range s.Crosses {
		for _, c := range x.Columns {
			add(c)
		}
	}
	for _, c := range extra {
		add(c)
	}
	return cols
}

// plan opens the table and plans a scan of the spec's columns under filter.
func (j *trainJob) plan(ctx context.Context, store lake.Store, filter dataset.Filter, what string) (*dataset.Plan, error) {
	ds, err := dataset.Open(ctx, store, j.data)
	if err != nil {
		return nil, fmt.Errorf("open --data %s: %w", j.data, err)
	}
	extra := []string{}
	if col, _, ok := strings.Cut(j.valHash, ":"); ok {
		extra = append(extra, col)
	}
	cols := specColumns(j.spec, extra...)
	p, err := ds.Plan(ctx, dataset.Query{Columns: cols, Where: filter})
	if err != nil {
		return nil, fmt.Errorf("plan %s data of %s: %w", what, j.data, err)
	}
	if p.Rows() == 0 {
		return nil, fmt.Errorf("%s data: %w: no rows of %s match %s", what, train.ErrNoData, j.data, filter)
	}
	if err := j.spec.ValidateSchema(p.Schema()); err != nil {
		return nil, fmt.Errorf("spec %s against %s: %w", j.specPath, j.data, err)
	}
	return p, nil
}

// records returns an opener of scans over p.
func (j *trainJob) records(p *dataset.Plan, shuffle int) func(ctx context.Context, epoch int) (train.Records, error) {
	return func(ctx context.Context, epoch int) (train.Records, error) {
		// SourceBatches reads a record only until it asks for the next one,
		// so its value buffers can go back to the decoder's pool.
		opts := dataset.ScanOptions{BatchSize: 8192, ShuffleBuffer: shuffle, Seed: j.seed + uint64(epoch), RecycleBuffers: true}
		return p.Scan(ctx, p.Splits(), opts), nil
	}
}

// recordParts is records for goroutine workers: part i of n scans the
// plan's splits dealt out round-robin (dataset.AssignSplits), shuffled with
// a seed of its own.
func (j *trainJob) recordParts(p *dataset.Plan, shuffle int) func(ctx context.Context, epoch, part, n int) (train.Records, error) {
	return func(ctx context.Context, epoch, part, n int) (train.Records, error) {
		opts := dataset.ScanOptions{BatchSize: 8192, ShuffleBuffer: shuffle, Seed: j.seed + uint64(epoch)<<32 + uint64(part), RecycleBuffers: true}
		return p.Scan(ctx, dataset.AssignSplits(p.Splits(), part, n), opts), nil
	}
}

// fitSpec fills the standardization statistics of the spec from the training
// data when it asks for them.
func (j *trainJob) fitSpec(ctx context.Context, p *dataset.Plan) error {
	needs := false
	for _, n := range j.spec.Numeric {
		needs = needs || (n.Standardize && (n.Mean == nil || n.Std == nil))
	}
	if !needs {
		return nil
	}
	st, err := feature.NewStats(j.spec)
	if err != nil {
		return err
	}
	sc := p.Scan(ctx, p.Splits(), dataset.ScanOptions{})
	defer sc.Close()
	for sc.Next() {
		if err := st.Add(sc.At()); err != nil {
			return fmt.Errorf("standardization pass: %w", err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("standardization pass: %w", err)
	}
	fitted, err := st.Freeze()
	if err != nil {
		return err
	}
	j.spec = fitted
	return nil
}

// tableSpecs declares the model's tables on the parameter server. A warm
// start (warm true) needs rows that start at zero (see
// train.Stepper.WarmStart), so factor tables get no random start then.
func tableSpecs(m train.Model, opt optim.Config, seed uint64, warm bool) []paramserver.TableSpec {
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

// execute runs the job: plan, fit, train with validation, and save.
func (j *trainJob) execute(ctx context.Context) (trainOutcome, error) {
	var out trainOutcome
	start := time.Now()
	store, err := lake.Open(ctx, j.lakeURI)
	if err != nil {
		return out, fmt.Errorf("--lake: %w", err)
	}
	filter, err := dataset.ParseWhere(j.where)
	if err != nil {
		return out, &usageError{fmt.Sprintf("--where: %v", err)}
	}
	dts, err := dtFilter(j.dt)
	if err != nil {
		return out, &usageError{err.Error()}
	}
	trainPlan, err := j.plan(ctx, store, append(filter, dts...), "training")
	if err != nil {
		return out, err
	}
	out.rows, out.schema = trainPlan.Rows(), trainPlan.Schema()
	if err := j.fitSpec(ctx, trainPlan); err != nil {
		return out, err
	}
	sharded := &train.ShardedSourceData{
		SourceData: train.SourceData{Spec: j.spec, BatchSize: j.batchSize, Train: j.records(trainPlan, j.shuffle)},
		TrainShard: j.recordParts(trainPlan, j.shuffle),
	}
	data := &sharded.SourceData
	switch {
	case j.valDT != "" && j.valHash != "":
		return out, &usageError{"give --validation-dt or --validation-hash, not both"}
	case j.valDT != "":
		vdts, err := dtFilter(j.valDT)
		if err != nil {
			return out, &usageError{strings.Replace(err.Error(), "--dt", "--validation-dt", 1)}
		}
		valPlan, err := j.plan(ctx, store, append(filter[:len(filter):len(filter)], vdts...), "validation")
		if err != nil {
			return out, err
		}
		open := j.records(valPlan, 0)
		data.Validation = func(ctx context.Context) (train.Records, error) { return open(ctx, 0) }
	case j.valHash != "":
		col, pct, ok := strings.Cut(j.valHash, ":")
		var p int
		if _, err := fmt.Sscanf(pct, "%d", &p); !ok || err != nil || p <= 0 || p >= 100 {
			return out, &usageError{fmt.Sprintf("--validation-hash %q: want column:percent with percent in 1..99", j.valHash)}
		}
		data.HashSplit = train.HashSplit{Column: col, Percent: p}
	}

	j.model.Fields = j.spec.NumFields()
	if j.model.Kind == train.KindSoftmax {
		j.model.Classes = j.spec.NumClasses()
	}
	j.model.Seed = j.seed
	m, err := train.NewModel(j.model)
	if err != nil {
		return out, &usageError{err.Error()}
	}
	if err := j.opt.Validate(); err != nil {
		return out, &usageError{fmt.Sprintf("optimizer: %v", err)}
	}
	ps, err := paramserver.NewLocal(tableSpecs(m, j.opt, j.seed, j.warm != "")...)
	if err != nil {
		return out, err
	}
	cfg := j.run
	cfg.Logger = j.logger
	cfg.ExpectedExamples = out.rows
	if data.HashSplit.Column != "" {
		cfg.ExpectedExamples = out.rows * int64(100-data.HashSplit.Percent) / 100
	}
	if f, ok := j.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		cfg.Progress = j.stderr
	}
	st := train.NewStepper(m, ps, cfg.ClipNorm)
	steppers := []*train.Stepper{st}
	for range j.parallel - 1 {
		// Each goroutine worker needs its own model (per-call scratch);
		// they share the in-process store, which is safe for concurrent use.
		mw, err := train.NewModel(j.model)
		if err != nil {
			return out, err
		}
		steppers = append(steppers, train.NewStepper(mw, ps, cfg.ClipNorm))
	}
	if j.warm != "" {
		if j.parallel > 1 {
			return out, &usageError{"--warm-start with --parallel > 1 is not supported yet: use --parallel 1"}
		}
		name, ver, err := parseModelRef(j.warm)
		if err != nil {
			return out, &usageError{"--warm-start: " + err.Error()}
		}
		base, err := model.Load(ctx, store, name, ver)
		if err != nil {
			return out, fmt.Errorf("--warm-start: %w", err)
		}
		if err := st.WarmStart(base); err != nil {
			return out, err
		}
	}
	var res train.Result
	if j.parallel > 1 {
		res, err = train.RunWorkers(ctx, steppers, sharded, cfg)
	} else {
		res, err = train.Run(ctx, st, data, cfg)
	}
	if err != nil {
		return out, fmt.Errorf("train %s on %s: %w", m.Kind(), j.data, err)
	}
	out.result, out.model, out.spec = res, m, j.spec
	if j.output != "" {
		v, err := j.save(ctx, store, out)
		if err != nil {
			return out, err
		}
		out.version = v
	}
	out.duration = time.Since(start)
	return out, nil
}

// parseModelRef splits "name" or "name@version" (version 0 or absent: the
// latest).
func parseModelRef(ref string) (string, int, error) {
	name, v, ok := strings.Cut(ref, "@")
	if !ok {
		return name, 0, model.ValidateName(name)
	}
	var ver int
	if _, err := fmt.Sscanf(v, "%d", &ver); err != nil || ver < 0 {
		return "", 0, fmt.Errorf("%q: want name or name@version", ref)
	}
	return name, ver, model.ValidateName(name)
}

// save writes the trained model as the next version of j.output.
func (j *trainJob) save(ctx context.Context, store lake.Store, out trainOutcome) (string, error) {
	res := out.result
	meta := model.Metadata{
		Data:      model.DataRange{Source: strings.TrimSuffix(j.lakeURI, "/") + "/" + j.data},
		Rows:      res.Examples,
		Optimizer: &j.opt,
		Seed:      j.seed,
		Hyperparameters: map[string]string{
			"epochs":     fmt.Sprint(j.run.Epochs),
			"batch_size": fmt.Sprint(j.batchSize),
			"clip_norm":  fmt.Sprint(j.run.ClipNorm),
			"where":      j.where,
			"best_epoch": fmt.Sprint(res.BestEpoch + 1),
		},
		Metrics: map[string]float64{"train_loss": res.Epochs[res.BestEpoch].TrainLoss},
	}
	// The input types travel with the model: a predictor must hash an
	// integer column as an integer, not as its decimal string.
	inputs, err := model.InputsOf(out.schema, out.spec)
	if err != nil {
		return "", fmt.Errorf("save model %s: %w", j.output, err)
	}
	meta.Inputs = inputs
	if lo, hi, ok := strings.Cut(j.dt, ".."); ok {
		meta.Data.From, meta.Data.To = lo, hi
	} else if j.dt != "" {
		meta.Data.From, meta.Data.To = j.dt, j.dt
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
	art, err := train.NewArtifact(j.model, out.spec, res.Tables, meta)
	if err != nil {
		return "", fmt.Errorf("build model %s: %w", j.output, err)
	}
	v, err := art.Save(ctx, store, j.output)
	if err != nil {
		return "", fmt.Errorf("save model %s: %w", j.output, err)
	}
	return fmt.Sprint(v), nil
}

// trainFlags registers the flags shared by train-like commands on fs and
// returns a function that finishes the job once fs is parsed.
func trainFlags(fs *flag.FlagSet) func() (*trainJob, error) {
	j := &trainJob{}
	fs.StringVar(&j.lakeURI, "lake", "lake", "the lake: a folder, file:///path or s3://bucket/prefix")
	fs.StringVar(&j.data, "data", "", "table in the lake: a folder (clicks), an object key or a glob (clicks/dt=2026-11-0[1-7]/*.parquet); Hive-partitioned Parquet")
	fs.StringVar(&j.where, "where", "", "row filter, e.g. \"dt >= '2026-11-01' AND country = 'fr'\" (prunes partitions and row groups)")
	fs.StringVar(&j.dt, "dt", "", "dt partition day or range a..b to train on (a scheduler's data interval)")
	fs.StringVar(&j.valDT, "validation-dt", "", "dt day or range a..b held out for validation and early stopping")
	fs.StringVar(&j.valHash, "validation-hash", "", "column:percent: hold out rows whose column hashes into percent% of buckets")
	fs.StringVar(&j.specPath, "spec", "", "feature spec YAML file")
	kind := fs.String("model", string(train.KindLogistic), fmt.Sprintf("model kind: %v", train.Kinds))
	loss := fs.String("loss", "", "fm/ffm/mf target: logistic or squared (default: logistic, squared for mf)")
	factors := fs.Int("factors", 8, "latent factors k of fm, ffm and mf")
	negatives := fs.Int("negatives", 0, "mf implicit feedback: sampled negatives per example")
	userField := fs.Int("user-field", 0, "mf: field number (spec order) of the user column")
	itemField := fs.Int("item-field", 1, "mf: field number (spec order) of the item column")
	prior := fs.Float64("prior-variance", 1, "bayes-linear and adpredictor: prior variance of each weight")
	noise := fs.Float64("noise-variance", 1, "bayes-linear: observation noise σ²; adpredictor: β²")
	optName := fs.String("optimizer", optim.FTRL, fmt.Sprintf("optimizer: %v", optim.Names()))
	lr := fs.Float64("learning-rate", 0, "learning rate (default: the optimizer's)")
	alpha := fs.Float64("alpha", 0, "ftrl alpha (default 0.1)")
	beta := fs.Float64("beta", -1, "ftrl beta (default 1)")
	l1 := fs.Float64("l1", 0, "L1 penalty (ftrl)")
	l2 := fs.Float64("l2", 0, "L2 penalty")
	fs.IntVar(&j.run.Epochs, "epochs", 1, "passes over the training data")
	fs.IntVar(&j.batchSize, "batch-size", train.DefaultBatchSize, "examples per mini-batch (one pull and push)")
	fs.IntVar(&j.shuffle, "shuffle-buffer", 0, "shuffle rows within windows of this many rows (0: file order)")
	seed := fs.Uint64("seed", 1, "seed of shuffles, initial values and sampling")
	fs.Float64Var(&j.run.ClipNorm, "clip-norm", 0, "clip each step's gradient to this L2 norm (0: off)")
	fs.IntVar(&j.run.Patience, "patience", 0, "early stopping: epochs without validation improvement (0: off)")
	metric := fs.String("metric", "", "validation metric: auc, logloss, rmse or accuracy (default by model)")
	fs.StringVar(&j.output, "output", "", "save the model as models/<output>/<version>/ in the lake")
	fs.StringVar(&j.warm, "warm-start", "", "start from a saved model: name or name@version (latest if no version)")
	hidden := fs.String("hidden", "64,32", "hidden layer widths of the mlp and deepfm towers")
	return func() (*trainJob, error) {
		if j.data == "" {
			return nil, &usageError{"--data is required (a table folder in the lake)"}
		}
		if j.specPath == "" {
			return nil, &usageError{"--spec is required (a feature spec YAML file)"}
		}
		raw, err := os.ReadFile(j.specPath)
		if err != nil {
			return nil, &usageError{fmt.Sprintf("--spec: %v", err)}
		}
		if j.spec, err = feature.Parse(raw); err != nil {
			return nil, fmt.Errorf("--spec %s: %w", j.specPath, err)
		}
		j.seed = *seed
		j.model = train.DefaultModelConfig(train.Kind(*kind))
		if *loss != "" {
			j.model.Loss = train.Loss(*loss)
		}
		j.model.Factors, j.model.Negatives = *factors, *negatives
		j.model.UserField, j.model.ItemField = *userField, *itemField
		j.model.PriorVariance, j.model.NoiseVariance = *prior, *noise
		j.model.Hidden = nil
		for _, h := range strings.Split(*hidden, ",") {
			var w int
			if _, err := fmt.Sscanf(strings.TrimSpace(h), "%d", &w); err != nil {
				return nil, &usageError{fmt.Sprintf("--hidden %q: want comma-separated widths", *hidden)}
			}
			j.model.Hidden = append(j.model.Hidden, w)
		}
		j.opt = optim.DefaultConfig(*optName)
		if *lr > 0 {
			j.opt.LearningRate = *lr
		}
		if *alpha > 0 {
			j.opt.Alpha = *alpha
		}
		if *beta >= 0 && *optName == optim.FTRL {
			j.opt.Beta = *beta
		}
		j.opt.L1, j.opt.L2 = *l1, *l2
		j.run.Metric = train.Metric(*metric)
		j.run.LogEvery = 10 * time.Second
		if err := j.run.Validate(); err != nil {
			return nil, &usageError{err.Error()}
		}
		return j, nil
	}
}

// runTrain is the "trainer train" subcommand.
func runTrain(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	finish := trainFlags(fs)
	parallel := fs.Int("parallel", 1, "goroutine workers training at once against the in-process store, each on its share of the Parquet splits (asynchronous, so a run with more than 1 is not reproducible bit for bit)")
	if err := parseConfig(fs, args, nil); err != nil {
		return err
	}
	j, err := finish()
	if err != nil {
		return err
	}
	if *parallel < 1 {
		return &usageError{fmt.Sprintf("--parallel %d: want ≥ 1", *parallel)}
	}
	j.parallel = *parallel
	j.stderr = os.Stderr
	j.logger = newLogger(os.Stderr)
	out, err := j.execute(ctx)
	if err != nil {
		return err
	}
	res := out.result
	fmt.Fprintf(stdout, "trained %s on %d rows × %d epochs in %s (%s examples/s)\n",
		out.model.Kind(), out.rows, len(res.Epochs), out.duration.Round(time.Millisecond), rate(res.Examples, res.TrainTime))
	if v := res.Validation; v != nil {
		fmt.Fprintf(stdout, "validation (epoch %d): %s\n", res.BestEpoch+1, formatMetrics(*v))
	}
	if out.version != "" {
		fmt.Fprintf(stdout, "saved models/%s/%s\n", j.output, out.version)
	}
	return nil
}

// newLogger logs text to a terminal and JSON otherwise.
func newLogger(w io.Writer) *slog.Logger {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return slog.New(slog.NewTextHandler(w, nil))
	}
	return slog.New(slog.NewJSONHandler(w, nil))
}

func rate(n int64, d time.Duration) string {
	if d <= 0 {
		return "?"
	}
	v := float64(n) / d.Seconds()
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.0fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func formatMetrics(m train.Metrics) string {
	switch {
	case m.RMSE > 0:
		return fmt.Sprintf("rmse %.4f  mae %.4f  (%d examples)", m.RMSE, m.MAE, m.Examples)
	case m.Accuracy > 0:
		return fmt.Sprintf("accuracy %.4f  logloss %.4f  (%d examples)", m.Accuracy, m.LogLoss, m.Examples)
	}
	return fmt.Sprintf("auc %.4f  logloss %.4f  (%d examples)", m.AUC, m.LogLoss, m.Examples)
}
