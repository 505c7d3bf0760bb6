package evaltable

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"time"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/eval"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/train/feature"
)

// Tasks an evaluation can run.
const (
	Binary     = "binary"
	Regression = "regression"
)

// ErrInvalidConfig is wrapped by every error of Config.Validate.
var ErrInvalidConfig = errors.New("evaltable: invalid config")

// Config is one evaluation of a held-out table.
type Config struct {
	// Data is the held-out table in the lake: a folder, key or glob of
	// Parquet files. Required.
	Data string
	// Where is a row filter in dataset.ParseWhere's syntax, e.g.
	// "dt >= '2026-11-08'" (it prunes partitions and row groups).
	Where string
	// DT is a day or an inclusive range of days a..b of the dt partition
	// column (dataset.DayRange).
	DT string
	// IncludeUncommitted reads partitions that no _SUCCESS marker commits.
	IncludeUncommitted bool

	// Model is the model to evaluate (the champion when Challenger is set):
	// "name", "name@version" or "name@alias" (model.ParseRef). Exactly one
	// of Model and ScoreColumn is required.
	Model string
	// Challenger is compared with Model on the same rows.
	Challenger string
	// ScoreColumn evaluates precomputed scores read from this column.
	ScoreColumn string

	// Task is Binary or Regression; "" takes it from the model's label type
	// (Binary with ScoreColumn).
	Task string
	// Label and Weight default to the model spec's.
	Label, Weight string
	// Group names a column for the grouped (per-user) AUC.
	Group string

	// BatchSize is the number of rows per record read.
	BatchSize int
	// Binary configures the binary metrics; Binary.KeepScores must be set
	// with a Challenger (the paired bootstrap needs every score).
	Binary eval.BinaryConfig
	// Bootstrap configures the champion/challenger comparison.
	Bootstrap eval.BootstrapConfig
	// Gate, when its Floor is set or a Challenger is given, decides whether
	// the (challenger) model may be published: Report.Decision.
	Gate model.Gate

	// Now stamps the report; time.Now by default.
	Now func() time.Time
	// Logger receives a warning naming the partitions skipped for want of
	// a _SUCCESS marker; nil discards it.
	Logger *slog.Logger
}

// DefaultConfig returns exact binary metrics, the default bootstrap and
// an AUC gate with no floor and ε = 0.002 (the promotion default).
func DefaultConfig() Config {
	b := eval.DefaultBinaryConfig()
	b.KeepScores = true
	return Config{
		BatchSize: dataset.DefaultBatchSize,
		Binary:    b,
		Bootstrap: eval.DefaultBootstrapConfig(),
		Gate:      model.Gate{Metric: "auc", Epsilon: model.DefaultMaxDrop},
		Now:       time.Now,
	}
}

// Validate reports the first field that cannot work, before anything is
// read.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrInvalidConfig)
	}
	if c.Data == "" {
		return bad("no held-out table (Data)")
	}
	if (c.Model == "") == (c.ScoreColumn == "") {
		return bad("give exactly one of a model and a score column")
	}
	if c.Model != "" {
		if _, _, err := model.ParseRef(c.Model); err != nil {
			return bad("model %v", err)
		}
	}
	if c.Challenger != "" {
		if c.Model == "" {
			return bad("a challenger needs a model (the champion) to compare with")
		}
		if _, _, err := model.ParseRef(c.Challenger); err != nil {
			return bad("challenger %v", err)
		}
		if !c.Binary.KeepScores {
			return bad("a challenger needs every score for the paired bootstrap (Binary.KeepScores)")
		}
	}
	if c.Task != "" && c.Task != Binary && c.Task != Regression {
		return bad("task %q: want %s or %s", c.Task, Binary, Regression)
	}
	if c.BatchSize <= 0 {
		return bad("batch size %d: want > 0", c.BatchSize)
	}
	if _, err := dataset.ParseWhere(c.Where); err != nil {
		return bad("where: %v", err)
	}
	if _, err := dataset.DayRange("dt", c.DT); err != nil {
		return bad("dt %v", err)
	}
	if err := c.Binary.Validate(); err != nil {
		return err
	}
	if c.Group != "" && !c.Binary.KeepScores {
		return bad("the grouped AUC over %q needs every score (Binary.KeepScores)", c.Group)
	}
	if err := c.Bootstrap.Validate(); err != nil {
		return err
	}
	if c.Gate.Floor != 0 || c.Challenger != "" {
		if err := c.Gate.Validate(); err != nil {
			return fmt.Errorf("%w: %w", err, ErrInvalidConfig)
		}
	}
	return nil
}

// Slice describes the rows the configuration reads, for decisions.
func (c Config) Slice() string {
	s := c.Data
	if c.Where != "" {
		s += " where " + c.Where
	}
	if c.DT != "" {
		s += " dt=" + c.DT
	}
	return s
}

// Evaluate scores the held-out rows and returns the report. It writes
// nothing; call Report.WriteDir to keep it.
func Evaluate(ctx context.Context, store lake.Store, cfg Config) (*eval.Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	rep := &eval.Report{SchemaVersion: eval.ReportSchemaVersion, CreatedAt: now().UTC(), Dataset: cfg.Data}

	var champion, challenger eval.Scorer
	var spec *feature.Spec
	task := cfg.Task
	if cfg.Model != "" {
		m, ref, err := load(ctx, store, cfg.Model)
		if err != nil {
			return nil, err
		}
		champion, spec, rep.Model = m, m.Spec(), ref
		if task == "" {
			switch spec.Label.Type {
			case feature.Real:
				task = Regression
			case feature.Binary, "":
				task = Binary
			default:
				return nil, fmt.Errorf("model %s: label type %q cannot be evaluated here (binary and regression models only)", cfg.Model, spec.Label.Type)
			}
		}
		if cfg.Challenger != "" {
			c, cref, err := load(ctx, store, cfg.Challenger)
			if err != nil {
				return nil, err
			}
			challenger, rep.Challenger = c, cref
		}
	} else {
		champion = eval.ColumnScorer(cfg.ScoreColumn)
		rep.Model = &eval.ModelRef{Name: "column " + cfg.ScoreColumn}
	}
	if task == "" {
		task = Binary
	}
	label, weight := cfg.Label, cfg.Weight
	var derive *feature.Deriver // computes a label expression
	if spec != nil {
		if label == "" {
			label = spec.Label.Column
			if spec.Label.Expr != "" {
				var err error
				if derive, err = feature.NewDeriver(spec, label); err != nil {
					return nil, fmt.Errorf("model %s: %w", cfg.Model, err)
				}
			}
		}
		if weight == "" {
			weight = spec.Weight
		}
	}
	if label == "" {
		return nil, fmt.Errorf("no label column (the model spec names none): %w", ErrInvalidConfig)
	}

	sc, err := scan(ctx, store, cfg)
	if err != nil {
		return nil, err
	}
	defer sc.Close()

	heldOut := eval.HeldOutConfig{Label: label, Weight: weight, Group: cfg.Group, Binary: cfg.Binary}
	switch {
	case task == Regression:
		h, err := eval.NewHeldOutRegression(champion, label, weight)
		if err != nil {
			return nil, err
		}
		if err := each(sc, derive, h.Add); err != nil {
			return nil, err
		}
		r, err := h.Result()
		if err != nil {
			return nil, fmt.Errorf("evaluate on %s: %w", cfg.Data, err)
		}
		rep.Regression = &r
	case challenger != nil:
		p, err := eval.NewPair(champion, challenger, heldOut, cfg.Bootstrap)
		if err != nil {
			return nil, err
		}
		if err := each(sc, derive, p.Add); err != nil {
			return nil, err
		}
		res, err := p.Result()
		if err != nil {
			return nil, fmt.Errorf("evaluate on %s: %w", cfg.Data, err)
		}
		rep.Binary, rep.Grouped = eval.NewBinaryReport(res.Champion.Binary), res.Champion.Grouped
		rep.ChallengerBinary, rep.ChallengerGrouped = eval.NewBinaryReport(res.Challenger.Binary), res.Challenger.Grouped
		rep.Comparison = &res.Comparison
		rep.Decision = aucDecision(cfg.Gate, cfg.Slice(), rep.Model, rep.Challenger, res.Comparison)
	default:
		h, err := eval.NewHeldOut(champion, heldOut)
		if err != nil {
			return nil, err
		}
		if err := each(sc, derive, h.Add); err != nil {
			return nil, err
		}
		res, err := h.Result()
		if err != nil {
			return nil, fmt.Errorf("evaluate on %s: %w", cfg.Data, err)
		}
		rep.Binary, rep.Grouped = eval.NewBinaryReport(res.Binary), res.Grouped
		if cfg.Gate.Floor > 0 {
			d := cfg.Gate.Decide(0, model.Evaluation{Slice: cfg.Slice(), Candidate: res.Binary.AUC, Champion: math.NaN()})
			rep.Decision = &eval.Decision{Publish: d.Promoted, Reason: d.Reason}
		}
	}
	return rep, nil
}

// GateEvaluation scores version of model name, and the current champion
// when there is one, on the rows cfg selects (cfg.Model and
// cfg.Challenger are ignored) and returns the figures model.Promote decides
// on. It returns an error wrapping ErrAlreadyChampion when version is the
// champion.
func GateEvaluation(ctx context.Context, store lake.Store, cfg Config, name string, version int) (model.Evaluation, error) {
	ev := model.Evaluation{Slice: cfg.Slice(), Champion: math.NaN()}
	candidate := name + "@" + strconv.Itoa(version)
	cfg.Binary.KeepScores = true
	cfg.Gate.Floor = 0 // the caller's gate decides, in model.Promote
	champ, err := model.Alias(ctx, store, name, model.Champion)
	switch {
	case err == nil && champ.Version == version:
		return ev, fmt.Errorf("%s version %d: %w", name, version, ErrAlreadyChampion)
	case err == nil:
		cfg.Model, cfg.Challenger = name+"@"+strconv.Itoa(champ.Version), candidate
		rep, err := Evaluate(ctx, store, cfg)
		if err != nil {
			return ev, err
		}
		if rep.Comparison == nil {
			return ev, fmt.Errorf("the gate compares AUCs; %s is not a binary model", candidate)
		}
		ev.Champion, ev.ChampionVersion = rep.Comparison.ChampionAUC, champ.Version
		ev.Candidate = rep.Comparison.ChallengerAUC
	case errors.Is(err, model.ErrNotFound):
		cfg.Model, cfg.Challenger = candidate, ""
		rep, err := Evaluate(ctx, store, cfg)
		if err != nil {
			return ev, err
		}
		if rep.Binary == nil {
			return ev, fmt.Errorf("the gate compares AUCs; %s is not a binary model", candidate)
		}
		ev.Candidate = rep.Binary.AUC
	default:
		return ev, err
	}
	return ev, nil
}

// ErrNoRows is returned by Evaluate when no row of the table matches.
var ErrNoRows = errors.New("no rows to evaluate")

// ErrAlreadyChampion is returned by GateEvaluation when the candidate is
// the champion already: there is nothing to decide.
var ErrAlreadyChampion = errors.New("already the champion")

// aucDecision applies the gate to a champion/challenger comparison and adds
// the bootstrap interval to its reason.
func aucDecision(g model.Gate, slice string, champion, challenger *eval.ModelRef, c eval.Comparison) *eval.Decision {
	cand, _ := strconv.Atoi(challenger.Version)
	champ, _ := strconv.Atoi(champion.Version)
	d := g.Decide(cand, model.Evaluation{Slice: slice, Candidate: c.ChallengerAUC, Champion: c.ChampionAUC, ChampionVersion: champ})
	return &eval.Decision{Publish: d.Promoted, Reason: fmt.Sprintf("%s (difference %+.4f, %g%% CI [%.4f, %.4f])",
		d.Reason, c.Diff, 100*c.Level, c.CILow, c.CIHigh)}
}

// load loads the model ref designates; it must give one score per row.
func load(ctx context.Context, store lake.Store, ref string) (*model.Model, *eval.ModelRef, error) {
	m, err := model.LoadRef(ctx, store, ref)
	if err != nil {
		return nil, nil, err
	}
	if m.Outputs() != 1 {
		return nil, nil, fmt.Errorf("model %s: %s models give %d scores per row; binary and regression models only", ref, m.Kind(), m.Outputs())
	}
	meta := m.Meta()
	return m, &eval.ModelRef{Name: meta.Name, Version: strconv.Itoa(meta.Version)}, nil
}

// scan opens the held-out rows.
func scan(ctx context.Context, store lake.Store, cfg Config) (*dataset.Scanner, error) {
	return scanColumns(ctx, store, cfg, nil)
}

// scanColumns opens the held-out rows, projected on columns (all when nil).
func scanColumns(ctx context.Context, store lake.Store, cfg Config, columns []string) (*dataset.Scanner, error) {
	filter, err := dataset.ParseWhere(cfg.Where)
	if err != nil {
		return nil, err
	}
	dt, err := dataset.DayRange("dt", cfg.DT)
	if err != nil {
		return nil, err
	}
	filter = append(filter, dt...)
	var opts []dataset.Option
	if cfg.IncludeUncommitted {
		opts = append(opts, dataset.WithoutSuccessMarkers())
	}
	ds, err := dataset.Open(ctx, store, cfg.Data, opts...)
	if err != nil {
		return nil, fmt.Errorf("held-out table %s: %w", cfg.Data, err)
	}
	skipped := ds.SkippedPartitions()
	if len(skipped) > 0 && cfg.Logger != nil {
		cfg.Logger.Warn("skipping partitions without a _SUCCESS marker",
			"data", cfg.Data, "partitions", dataset.PartitionList(skipped))
	}
	p, err := ds.Plan(ctx, dataset.Query{Columns: columns, Where: filter})
	if err != nil {
		return nil, fmt.Errorf("held-out table %s: %w", cfg.Data, err)
	}
	if p.Rows() == 0 {
		why := ""
		if len(skipped) > 0 {
			why = fmt.Sprintf("; %s skipped for want of a _SUCCESS marker", dataset.PartitionList(skipped))
		}
		return nil, fmt.Errorf("held-out table %s: %w: no committed rows match %s%s", cfg.Data, ErrNoRows, filter, why)
	}
	return p.Scan(ctx, p.Splits(), dataset.ScanOptions{BatchSize: cfg.BatchSize}), nil
}

// each calls add with every scanned record, with derive's columns appended
// when derive is not nil.
func each(sc *dataset.Scanner, derive *feature.Deriver, add func(rec arrow.Record) error) error {
	for sc.Next() {
		rec := sc.At()
		if derive != nil {
			var err error
			if rec, err = derive.Derive(rec); err != nil {
				return fmt.Errorf("label of the model spec: %w", err)
			}
		}
		err := add(rec)
		if derive != nil {
			rec.Release()
		}
		if err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read held-out data: %w", err)
	}
	return nil
}
