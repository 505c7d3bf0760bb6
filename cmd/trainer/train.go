package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/train"
	"github.com/lakestream/lakestream/train/feature"
	"github.com/lakestream/lakestream/train/job"
	"github.com/lakestream/lakestream/train/optim"
)

// trainJob is the flags of a training job ("trainer train", "ps",
// "worker"); config turns them into the job.Config that package train/job
// runs.
type trainJob struct {
	lakeURI     string // the lake holding the data and the models
	data        string // table folder in the lake, e.g. "clicks"
	where       string // --where filter on the table
	dt          string // --dt partition range "a" or "a..b"
	valDT       string // --validation-dt: held-out partition range
	valHash     string // --validation-hash column:percent
	uncommitted bool   // --include-uncommitted
	spec        *feature.Spec
	specPath    string
	model       train.ModelConfig
	opt         optim.Config
	run         train.Config
	batchSize   int
	shuffle     int
	parallel    int // goroutine workers of "trainer train" (0 or 1: one)
	// set names the flags given (on the command line, in the environment
	// or the config file); the others take the model kind's defaults.
	set     map[string]bool
	seed    uint64
	output  string // model name to save under models/, "" to not save
	warm    string // --warm-start name, name@version or name@alias
	promote *job.Promotion
	// checkpointEvery and restore are "trainer train"'s --checkpoint-every
	// and --restore.
	checkpointEvery time.Duration
	restore         bool
	prequential     *job.Prequential // "trainer train --prequential"
	stderr          io.Writer
	logger          *slog.Logger
}

// config is the job.Config of j; progress goes to stderr when it is a
// terminal.
func (j *trainJob) config() job.Config {
	c := job.Config{
		Lake: j.lakeURI, Data: j.data, Where: j.where, DT: j.dt,
		ValidationDT: j.valDT, ValidationHash: j.valHash, IncludeUncommitted: j.uncommitted,
		Spec: j.spec, SpecPath: j.specPath,
		Model: j.model, Optimizer: j.opt, Train: j.run,
		BatchSize: j.batchSize, ShuffleBuffer: j.shuffle, Parallel: max(j.parallel, 1),
		Seed: j.seed, Output: j.output, WarmStart: j.warm, Promote: j.promote,
		CheckpointEvery: j.checkpointEvery, Restore: j.restore, Prequential: j.prequential,
		Logger: j.logger,
	}
	if f, ok := j.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		c.Progress = j.stderr
	}
	return c
}

// execute runs the job (job.Run); a setting it refuses is a usage error.
func (j *trainJob) execute(ctx context.Context) (*job.Outcome, error) {
	c := j.config()
	if err := c.Validate(); err != nil {
		return nil, &usageError{err.Error()}
	}
	return job.Run(ctx, c)
}

// trainFlags registers the flags shared by train-like commands on fs and
// returns a function that finishes the job once fs is parsed.
func trainFlags(fs *flag.FlagSet) func() (*trainJob, error) {
	j := &trainJob{}
	fs.StringVar(&j.lakeURI, "lake", "lake", "the lake: a folder, file:///path or s3://bucket/prefix")
	fs.StringVar(&j.data, "data", "", "table in the lake: a folder (clicks), an object key or a glob (clicks/dt=2026-11-0[1-7]/*.parquet); Hive-partitioned Parquet")
	fs.StringVar(&j.where, "where", "", "row filter, e.g. \"dt >= '2026-11-01' AND country = 'fr'\" (prunes partitions and row groups)")
	fs.StringVar(&j.dt, "dt", "", "dt partition day or range a..b to train on (a scheduler's data interval)")
	fs.BoolVar(&j.uncommitted, "include-uncommitted", false, "also read partitions without a _SUCCESS marker (skipped with a warning otherwise)")
	fs.StringVar(&j.valDT, "validation-dt", "", "dt day or range a..b held out for validation and early stopping")
	fs.StringVar(&j.valHash, "validation-hash", "", "column:percent: hold out rows whose column hashes into percent% of buckets")
	fs.StringVar(&j.specPath, "spec", "", "feature spec YAML: a local file, or an object in a lake (s3://bucket/specs/ctr.yaml, file:///path)")
	kind := fs.String("model", string(train.KindLogistic), fmt.Sprintf("model kind: %v", train.Kinds))
	loss := fs.String("loss", "", "fm/ffm/mf target: logistic or squared (default: logistic, squared for mf)")
	factors := fs.Int("factors", 8, "latent factors k of fm, ffm and mf")
	biasL2 := fs.Float64("bias-l2", train.MFBiasL2, "mf: L2 penalty on the user and item biases, at each rating, ≥ 0")
	factorL2 := fs.Float64("factor-l2", train.MFFactorL2, "mf: L2 penalty on the user and item factors, at each rating, ≥ 0")
	negatives := fs.Int("negatives", 0, "mf implicit feedback: sampled negatives per example")
	userField := fs.Int("user-field", 0, "mf: field number (spec order) of the user column")
	itemField := fs.Int("item-field", 1, "mf: field number (spec order) of the item column")
	prior := fs.Float64("prior-variance", 1, "bayes-linear and adpredictor: prior variance of each weight (adpredictor's default: 0.1)")
	noise := fs.Float64("noise-variance", 1, "bayes-linear: observation noise σ²; adpredictor: β²")
	optName := fs.String("optimizer", "", fmt.Sprintf("optimizer: %v (default: adam for mf, ftrl otherwise)", optim.Names()))
	var lr, alpha, beta optionalFloat
	fs.Var(&lr, "learning-rate", "learning rate of sgd, momentum, adagrad, rmsprop and adam, > 0 (default: the optimizer's; 0.01 for mf with adam)")
	fs.Var(&alpha, "alpha", "ftrl's learning rate α, > 0 (default 0.1)")
	fs.Var(&beta, "beta", "ftrl's β, ≥ 0 (default 1)")
	l1 := fs.Float64("l1", 0, "L1 penalty, ≥ 0 (ftrl only)")
	l2 := fs.Float64("l2", 0, "L2 penalty, ≥ 0")
	fs.IntVar(&j.run.Epochs, "epochs", 0, "passes over the training data (default 1; trainer train's default for mf: 30, stopped early on the validation split when there is one)")
	fs.IntVar(&j.batchSize, "batch-size", train.DefaultBatchSize, "examples per mini-batch (one pull and push)")
	fs.IntVar(&j.shuffle, "shuffle-buffer", 0, "shuffle rows within windows of this many rows, anew each epoch (0: file order; trainer train's default for mf: 262144)")
	seed := fs.Uint64("seed", 1, "seed of shuffles, initial values and sampling")
	fs.Float64Var(&j.run.ClipNorm, "clip-norm", 0, "clip each step's gradient to this L2 norm (0: off)")
	fs.IntVar(&j.run.Patience, "patience", 0, "early stopping: epochs without validation improvement, then keep the best epoch (0: off; trainer train's default with a validation split: 3 for mf, 1 for linear, bayes-linear and adpredictor)")
	metric := fs.String("metric", "", "validation metric: auc, logloss, rmse or accuracy (default by model)")
	fs.StringVar(&j.output, "output", "", "save the model as models/<output>/<version>/ in the lake")
	fs.StringVar(&j.warm, "warm-start", "", "start from a saved model: name (its latest version), name@version or name@alias (e.g. ctr@champion)")
	hidden := fs.String("hidden", "64,32", "hidden layer widths of the mlp and deepfm towers")
	return func() (*trainJob, error) {
		if j.data == "" {
			return nil, &usageError{"--data is required (a table folder in the lake)"}
		}
		if j.specPath == "" {
			return nil, &usageError{"--spec is required (a feature spec YAML file)"}
		}
		raw, err := readSpec(j.specPath)
		if err != nil {
			return nil, &usageError{fmt.Sprintf("--spec: %v", err)}
		}
		if j.spec, err = feature.Parse(raw); err != nil {
			return nil, fmt.Errorf("--spec %s: %w", j.specPath, err)
		}
		j.seed = *seed
		j.set = map[string]bool{}
		fs.Visit(func(f *flag.Flag) { j.set[f.Name] = true })
		j.model = train.DefaultModelConfig(train.Kind(*kind))
		defaults := train.KindDefaults(j.model.Kind)
		switch {
		case math.IsNaN(*biasL2) || math.IsInf(*biasL2, 0) || *biasL2 < 0:
			return nil, &usageError{fmt.Sprintf("--bias-l2 %v: want a finite number ≥ 0", *biasL2)}
		case math.IsNaN(*factorL2) || math.IsInf(*factorL2, 0) || *factorL2 < 0:
			return nil, &usageError{fmt.Sprintf("--factor-l2 %v: want a finite number ≥ 0", *factorL2)}
		}
		if j.model.Kind == train.KindMF {
			j.model.BiasL2, j.model.FactorL2 = *biasL2, *factorL2
		} else if j.set["bias-l2"] || j.set["factor-l2"] {
			return nil, &usageError{"--bias-l2 and --factor-l2 apply to --model mf only (use --l2)"}
		}
		if !j.set["epochs"] {
			// One pass unless "trainer train" gives the kind's epochs
			// (applyTrainDefaults): streams train in one pass.
			j.run.Epochs = 1
		}
		if *optName == "" {
			*optName = defaults.Optimizer.Name
		}
		if *loss != "" {
			j.model.Loss = train.Loss(*loss)
		}
		j.model.Factors, j.model.Negatives = *factors, *negatives
		j.model.UserField, j.model.ItemField = *userField, *itemField
		if j.set["prior-variance"] || j.model.Kind != train.KindAdPredictor {
			j.model.PriorVariance = *prior
		}
		j.model.NoiseVariance = *noise
		j.model.Hidden = nil
		for _, h := range strings.Split(*hidden, ",") {
			var w int
			if _, err := fmt.Sscanf(strings.TrimSpace(h), "%d", &w); err != nil {
				return nil, &usageError{fmt.Sprintf("--hidden %q: want comma-separated widths", *hidden)}
			}
			j.model.Hidden = append(j.model.Hidden, w)
		}
		if err := checkOptimizerFlags(*optName, lr, alpha, beta, *l1, *l2); err != nil {
			return nil, err
		}
		j.opt = optim.DefaultConfig(*optName)
		if *optName == defaults.Optimizer.Name {
			j.opt = defaults.Optimizer
		}
		if lr.set {
			j.opt.LearningRate = lr.v
		}
		if alpha.set {
			j.opt.Alpha = alpha.v
		}
		if beta.set {
			j.opt.Beta = beta.v
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

// readSpec reads a spec file: a local path, or an object in a lake
// (s3://bucket/prefix/spec.yaml, file:///path).
func readSpec(uri string) ([]byte, error) {
	if !strings.Contains(uri, "://") {
		return os.ReadFile(uri)
	}
	dir, key := path.Split(uri)
	if key == "" {
		return nil, fmt.Errorf("%s: want a file, not a folder", uri)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store, err := lake.Open(ctx, dir)
	if err != nil {
		return nil, err
	}
	return lake.ReadAll(ctx, store, key)
}

// optionalFloat is a float flag without a default value: set says whether
// it was given, so "not given" never hides behind a sentinel value.
type optionalFloat struct {
	v   float64
	set bool
}

func (f *optionalFloat) String() string {
	if f == nil || !f.set {
		return ""
	}
	return strconv.FormatFloat(f.v, 'g', -1, 64)
}

func (f *optionalFloat) Set(s string) error {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return errors.New("want a number")
	}
	f.v, f.set = v, true
	return nil
}

// checkOptimizerFlags refuses optimizer flags that the optimizer would not
// use or that cannot work, naming the flag to use instead.
func checkOptimizerFlags(name string, lr, alpha, beta optionalFloat, l1, l2 float64) error {
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	bad := func(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }
	if !slices.Contains(optim.Names(), name) {
		return bad("--optimizer %q: want one of %v", name, optim.Names())
	}
	ftrl := name == optim.FTRL
	switch {
	case lr.set && ftrl:
		return bad("--learning-rate does not apply to --optimizer ftrl: its learning rate is --alpha")
	case lr.set && (!finite(lr.v) || lr.v <= 0):
		return bad("--learning-rate %v: want a finite number > 0", lr.v)
	case alpha.set && !ftrl:
		return bad("--alpha is ftrl's learning rate: use --learning-rate with --optimizer %s", name)
	case alpha.set && (!finite(alpha.v) || alpha.v <= 0):
		return bad("--alpha %v: want a finite number > 0", alpha.v)
	case beta.set && !ftrl:
		return bad("--beta applies to --optimizer ftrl only")
	case beta.set && (!finite(beta.v) || beta.v < 0):
		return bad("--beta %v: want a finite number ≥ 0", beta.v)
	case l1 != 0 && !ftrl:
		return bad("--l1 applies to --optimizer ftrl only (use --l2, or --optimizer ftrl)")
	case !finite(l1) || l1 < 0:
		return bad("--l1 %v: want a finite number ≥ 0", l1)
	case !finite(l2) || l2 < 0:
		return bad("--l2 %v: want a finite number ≥ 0", l2)
	}
	return nil
}

// maxParallel bounds --parallel: workers beyond the cores only interleave,
// and each holds a model's scratch.
const maxParallel = 256

// runTrain is the "trainer train" subcommand.
func runTrain(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	finish := trainFlags(fs)
	parallel := fs.Int("parallel", 1, "goroutine workers training at once against the in-process store, each on its share of the Parquet splits (asynchronous, so a run with more than 1 is not reproducible bit for bit)")
	every := fs.Duration("checkpoint-every", 0, "checkpoint the training state (tables with optimizer state, epoch, Parquet position) to the lake this often, e.g. 30s; a later run with the same --output resumes from the latest checkpoint (needs --output, --parallel 1, --shuffle-buffer 0, no --patience)")
	restore := fs.Bool("restore", false, "refuse to start unless a checkpoint of this --output exists to resume from (with --checkpoint-every)")
	var pf promoteFlags
	pf.register(fs)
	var pq prequentialFlags
	pq.register(fs)
	if err := parseConfig(fs, args, nil); err != nil {
		return err
	}
	if err := pf.check(args, "trainer train"); err != nil {
		return err
	}
	preq, err := pq.config(args)
	if err != nil {
		return err
	}
	j, err := finish()
	if err != nil {
		return err
	}
	if *parallel < 1 || *parallel > maxParallel {
		return &usageError{fmt.Sprintf("--parallel %d: want 1..%d (goroutine workers share this machine's cores; more do not train faster)", *parallel, maxParallel)}
	}
	j.parallel = *parallel
	j.checkpointEvery, j.restore = *every, *restore
	j.prequential = preq
	j.applyTrainDefaults()
	j.stderr = os.Stderr
	j.logger = newLogger(os.Stderr)
	j.promote = pf.promotion(j)
	out, err := j.execute(ctx)
	if err != nil {
		return err
	}
	res := out.Result
	fmt.Fprintf(stdout, "trained %s on %d rows × %d epochs in %s (%s examples/s)\n",
		out.Model.Kind(), out.Rows, len(res.Epochs), out.Duration.Round(time.Millisecond), rate(res.Examples, res.TrainTime))
	if v := res.Validation; v != nil {
		fmt.Fprintf(stdout, "validation (epoch %d): %s\n", res.BestEpoch+1, formatMetrics(*v))
	}
	if out.Prequential != nil {
		printPrequential(stdout, out.Prequential)
	}
	if out.Version != 0 {
		fmt.Fprintf(stdout, "saved models/%s/%d\n", j.output, out.Version)
	}
	return pf.report(stdout, j.output, out.Published)
}

// applyTrainDefaults gives "trainer train" the model kind's epochs, shuffle
// window and, when the job has a validation split, its early-stopping
// patience, unless the flags set them (other commands keep one epoch in
// file order). Checkpointing needs file order and no early
// stopping, so with --checkpoint-every the job keeps both off; a
// prequential run needs file (event-time) order and one epoch, so with
// --prequential it keeps file order and trains one epoch unless --epochs
// says otherwise (which the job then refuses). Windows in the spec are
// computed over the rows in event-time order, so a spec with windows keeps
// file order too.
func (j *trainJob) applyTrainDefaults() {
	d := train.KindDefaults(j.model.Kind)
	if j.prequential != nil {
		return
	}
	if !j.set["epochs"] {
		j.run.Epochs = d.Epochs
	}
	if j.checkpointEvery > 0 {
		return
	}
	if !j.set["shuffle-buffer"] && (j.spec == nil || len(j.spec.Windows) == 0) {
		j.shuffle = d.ShuffleBuffer
	}
	if !j.set["patience"] && (j.valDT != "" || j.valHash != "") {
		j.run.Patience = d.Patience
	}
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
