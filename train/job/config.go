package job

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/train"
	"github.com/lakestream/lakestream/train/feature"
	"github.com/lakestream/lakestream/train/optim"
)

// Config is a bounded training job. Errors of Validate name the command-line
// flag of "trainer train" that sets the field.
type Config struct {
	// Lake is the lake holding the data and the models: a folder,
	// file:///path or s3://bucket/prefix (--lake).
	Lake string
	// Data is the table in the lake: a folder, an object key or a glob
	// (--data).
	Data string
	// Where filters the rows (--where), e.g. "country = 'fr'".
	Where string
	// DT is the dt partition day or range "a..b" to train on (--dt).
	DT string
	// IncludeUncommitted also reads partitions that no _SUCCESS marker
	// commits (--include-uncommitted); otherwise they are skipped with a
	// warning naming them.
	IncludeUncommitted bool
	// ValidationDT is the dt day or range held out for validation and early
	// stopping (--validation-dt).
	ValidationDT string
	// ValidationHash is "column:percent": rows whose column hashes into
	// percent% of buckets are held out (--validation-hash).
	ValidationHash string
	// Spec is the feature spec. Run fits its standardization statistics on
	// the training rows when it asks for them; Outcome.Spec is the fitted one.
	Spec *feature.Spec
	// SpecPath names the spec in errors (--spec).
	SpecPath string
	// Model is the model to train. Run fills in Fields, Classes and Seed
	// from the spec and Seed.
	Model train.ModelConfig
	// Optimizer is the optimizer of every table the model does not pin.
	Optimizer optim.Config
	// Train holds epochs, early stopping, clipping and logging. Run sets its
	// ExpectedExamples and Progress.
	Train train.Config
	// BatchSize is the examples per mini-batch (--batch-size).
	BatchSize int
	// ShuffleBuffer shuffles rows within windows of this many rows; 0 keeps
	// file order (--shuffle-buffer).
	ShuffleBuffer int
	// Parallel is the number of goroutine workers training at once against
	// the in-process store (--parallel); 1 trains in one goroutine.
	Parallel int
	// Seed seeds shuffles, initial values and sampling (--seed).
	Seed uint64
	// Output is the model name to save the result under in the lake's
	// registry; "" does not save (--output).
	Output string
	// WarmStart is a saved model to start from: "name" (its latest
	// version), "name@version" or "name@alias", resolved in the registry as
	// model.ResolveRef does (--warm-start).
	WarmStart string
	// Promote, when set, judges the saved version with its gate on the
	// validation slice (Data, Where and ValidationDT), against the champion
	// when one exists, and promotes it when the gate passes (--promote).
	// It needs Output and ValidationDT, and a binary model (the gate
	// compares AUCs). Without it the version is saved and not judged.
	Promote *Promotion
	// CheckpointEvery > 0 checkpoints the training state to the lake every
	// this much processing time, under checkpoints/train-<Output>-e<epoch>/,
	// and a run of the same job resumes from the latest checkpoint
	// (--checkpoint-every). It needs Output (which names the job), one
	// train subtask, no shuffle buffer and no early stopping.
	CheckpointEvery time.Duration
	// Restore refuses to start without a checkpoint to resume from
	// (--restore); without it a job resumes when it finds one.
	Restore bool
	// Prequential, when set, scores every training row before the model
	// learns from it, in event-time order (the spec's event_time), and
	// reports AUC and log loss over all rows, the recent ones and
	// event-time windows (--prequential). It needs one epoch, one train
	// subtask, no shuffle buffer and no checkpoints.
	Prequential *Prequential
	// Progress receives a progress line while training; nil shows none.
	Progress io.Writer
	// Logger receives the job's log lines; nil discards them.
	Logger *slog.Logger
}

// Promotion is how a bounded job's version is judged and promoted.
type Promotion struct {
	// Gate decides: the AUC floor and the largest drop below the champion
	// (--min-auc, --max-drop). Its Metric must be "auc".
	Gate model.Gate
	// Announce, when set, tells predictors that the champion moved (the
	// model topic: --kafka-brokers, --model-topic).
	Announce func(ctx context.Context, rec model.AliasRecord) error
}

// DefaultConfig returns a job training logistic regression with FTRL for
// one epoch in mini-batches of train.DefaultBatchSize, in one goroutine,
// reading the lake in the folder "lake". Data and Spec must still be set.
func DefaultConfig() Config {
	return Config{
		Lake:      "lake",
		Model:     train.DefaultModelConfig(train.KindLogistic),
		Optimizer: optim.DefaultConfig(optim.FTRL),
		Train:     train.DefaultConfig(),
		BatchSize: train.DefaultBatchSize,
		Parallel:  1,
		Seed:      1,
	}
}

// Validate reports the first setting that cannot work, naming its flag.
func (c *Config) Validate() error {
	switch {
	case c.Data == "":
		return errors.New("--data is required (a table folder in the lake)")
	case c.Spec == nil:
		return errors.New("--spec is required (a feature spec YAML file)")
	case c.BatchSize <= 0:
		return fmt.Errorf("--batch-size %d: want ≥ 1", c.BatchSize)
	case c.ShuffleBuffer < 0:
		return fmt.Errorf("--shuffle-buffer %d: want ≥ 0", c.ShuffleBuffer)
	case c.Parallel < 1:
		return fmt.Errorf("--parallel %d: want ≥ 1", c.Parallel)
	case c.ValidationDT != "" && c.ValidationHash != "":
		return errors.New("give --validation-dt or --validation-hash, not both")
	case c.WarmStart != "" && c.Parallel > 1:
		return errors.New("--warm-start with --parallel > 1 is not supported yet: use --parallel 1")
	case c.CheckpointEvery < 0:
		return fmt.Errorf("--checkpoint-every %v: want > 0", c.CheckpointEvery)
	case c.Restore && c.CheckpointEvery == 0:
		return errors.New("--restore needs --checkpoint-every (the interval the resumed job keeps checkpointing at)")
	case c.CheckpointEvery > 0 && c.Output == "":
		return errors.New("--checkpoint-every needs --output: the model name names the job whose checkpoints it resumes")
	case c.CheckpointEvery > 0 && c.Parallel > 1:
		return errors.New("--checkpoint-every needs --parallel 1: parallel train subtasks interleave their updates, so no barrier state is exact")
	case c.CheckpointEvery > 0 && c.ShuffleBuffer > 0:
		return errors.New("--checkpoint-every needs --shuffle-buffer 0: a shuffled scan has no position to resume from")
	case c.CheckpointEvery > 0 && c.Train.Patience > 0:
		return errors.New("--checkpoint-every with --patience is not supported yet: the best epoch's tables are not in the checkpoint")
	case c.Spec != nil && len(c.Spec.Windows) > 0 && c.Parallel > 1:
		return fmt.Errorf("--parallel %d: the spec's windows (%s) need --parallel 1: one operator computes them over the rows in event-time order", c.Parallel, c.Spec.Windows[0].Name)
	case c.Spec != nil && len(c.Spec.Windows) > 0 && c.ShuffleBuffer > 0:
		return fmt.Errorf("--shuffle-buffer %d: the spec's windows (%s) need --shuffle-buffer 0: they are computed over the rows in event-time order", c.ShuffleBuffer, c.Spec.Windows[0].Name)
	case c.Promote != nil && c.Output == "":
		return errors.New("--promote needs --output: the model name whose champion it moves")
	case c.Promote != nil && c.ValidationDT == "":
		return errors.New("--promote needs --validation-dt: the held-out days the gate scores the version and the champion on (a --validation-hash split cannot be read back by the gate)")
	}
	if c.Promote != nil {
		if c.Promote.Gate.Metric != "auc" {
			return fmt.Errorf("--promote: the gate compares AUCs, not %q", c.Promote.Gate.Metric)
		}
		if err := c.Promote.Gate.Validate(); err != nil {
			return fmt.Errorf("--min-auc/--max-drop: %w", err)
		}
	}
	if _, err := dataset.ParseWhere(c.Where); err != nil {
		return fmt.Errorf("--where: %w", err)
	}
	if _, err := DTFilter(c.DT); err != nil {
		return err
	}
	if _, err := DTFilter(c.ValidationDT); err != nil {
		return errors.New(strings.Replace(err.Error(), "--dt", "--validation-dt", 1))
	}
	if c.ValidationHash != "" {
		if _, err := parseHashSplit(c.ValidationHash); err != nil {
			return err
		}
	}
	if c.WarmStart != "" {
		if _, _, err := model.ParseRef(c.WarmStart); err != nil {
			return fmt.Errorf("--warm-start: %w", err)
		}
	}
	if c.Output != "" {
		if err := model.ValidateName(c.Output); err != nil {
			return fmt.Errorf("--output: %w", err)
		}
	}
	mc := c.modelConfig()
	// softmax's classes come from the spec's label: a binary one is refused
	// for what it is (CheckSpec), not as "classes = 1" (Validate).
	if err := train.CheckSpec(mc, c.Spec); err != nil && mc.Kind == train.KindSoftmax {
		return fmt.Errorf("--model %s with --spec: %w", mc.Kind, err)
	}
	if err := mc.Validate(); err != nil {
		return err
	}
	if err := train.CheckSpec(mc, c.Spec); err != nil {
		return fmt.Errorf("--model %s with --spec: %w", mc.Kind, err)
	}
	if c.Train.Metric != "" {
		if m, err := train.NewModel(mc); err == nil {
			if err := train.CheckMetric(m, c.Train.Metric); err != nil {
				return fmt.Errorf("--metric: %w", err)
			}
		}
	}
	if c.Promote != nil {
		if m, err := train.NewModel(mc); err == nil && train.DefaultMetric(m) != train.MetricAUC {
			return fmt.Errorf("--promote: the gate compares AUCs and --model %s is not a binary model; promote it with trainer models promote --no-gate", mc.Kind)
		}
	}
	if err := c.checkPrequential(); err != nil {
		return err
	}
	if err := c.Optimizer.Validate(); err != nil {
		return fmt.Errorf("optimizer: %w", err)
	}
	return c.Train.Validate()
}

// parseHashSplit parses --validation-hash column:percent.
func parseHashSplit(s string) (train.HashSplit, error) {
	col, pct, ok := strings.Cut(s, ":")
	var p int
	if _, err := fmt.Sscanf(pct, "%d", &p); !ok || err != nil || p <= 0 || p >= 100 {
		return train.HashSplit{}, fmt.Errorf("--validation-hash %q: want column:percent with percent in 1..99", s)
	}
	return train.HashSplit{Column: col, Percent: p}, nil
}

// DTFilter turns "a" or "a..b" into predicates on the dt partition column;
// "" is no filter. Days must be real (YYYY-MM-DD) and a range not reversed
// (dataset.DayRange). Its errors name --dt.
func DTFilter(r string) (dataset.Filter, error) {
	f, err := dataset.DayRange("dt", r)
	if err != nil {
		return nil, fmt.Errorf("--dt %w", err)
	}
	return f, nil
}
