package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"

	"github.com/lakestream/lakestream/eval/evaltable"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/train/job"
)

// PipelineConfig configures NewPipeline.
type PipelineConfig struct {
	// Store is the lake; LakeURI its address (the training job opens it,
	// and announcements name versions under it).
	Store   lake.Store
	LakeURI string
	// TrainConfig turns a run's "trainer train" flags (names without
	// dashes, values rendered) into a training job; "trainer schedule"
	// passes the parser "trainer train" uses, so the flags mean the same.
	// Lake, Data, Output and WarmStart are set by the pipeline afterwards.
	TrainConfig func(flags map[string]string) (job.Config, error)
	// Announce, when set, announces every promotion on the model topic.
	Announce *model.AnnounceConfig
	// Progress receives the training progress line; nil shows none.
	Progress io.Writer
}

// NewPipeline returns the pipeline of "trainer schedule": Train runs the
// bounded training job (train/job) over the run's window, warm-started from
// the champion unless the job says none, and saves the version; Publish
// scores the candidate and the champion on the evaluation slice
// (eval/evaltable), applies the job's gate (model.Promote) and announces a
// promotion. Publish reads the decision already recorded beside a version
// before making one, so a candidate is judged, and promoted, once.
func NewPipeline(cfg PipelineConfig) (Pipeline, error) {
	if cfg.Store == nil || cfg.LakeURI == "" || cfg.TrainConfig == nil {
		return nil, errors.New("schedule: PipelineConfig needs Store, LakeURI and TrainConfig")
	}
	if cfg.Announce != nil {
		if err := cfg.Announce.Validate(); err != nil {
			return nil, err
		}
	}
	return &pipeline{cfg: cfg}, nil
}

type pipeline struct{ cfg PipelineConfig }

// trainConfig builds the run's training job.
func (p *pipeline) trainConfig(j *Job, plan *Plan) (job.Config, error) {
	c, err := p.cfg.TrainConfig(plan.Train)
	if err != nil {
		return c, fmt.Errorf("train: %w", err)
	}
	c.Lake, c.Data, c.Output = p.cfg.LakeURI, j.Data, j.Publish.Model
	c.Progress = p.cfg.Progress
	return c, nil
}

func (p *pipeline) evalConfig(j *Job, plan *Plan) evaltable.Config {
	c := evaltable.DefaultConfig()
	c.Data, c.DT, c.Where = j.Data, plan.EvalDT, plan.EvalWhere
	c.Gate = j.Gate()
	return c
}

// Check implements Pipeline: the training flags must make a valid job and
// the table must exist in the lake.
func (p *pipeline) Check(ctx context.Context, j *Job, plan *Plan) error {
	c, err := p.trainConfig(j, plan)
	if err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	ec := p.evalConfig(j, plan)
	ec.Model = j.Publish.Model
	if err := ec.Validate(); err != nil {
		return fmt.Errorf("evaluate: %w", err)
	}
	objs := p.cfg.Store.List(ctx, j.Data+"/")
	found := objs.Next()
	if err := objs.Err(); err != nil {
		return fmt.Errorf("data %s: %w", j.Data, err)
	}
	if !found {
		return fmt.Errorf("data %s: the table has no objects in the lake %s: fix data: (or the lake)", j.Data, p.cfg.LakeURI)
	}
	return nil
}

// Train implements Pipeline.
func (p *pipeline) Train(ctx context.Context, r *Run) (Candidate, error) {
	name := r.Job.Publish.Model
	c, err := p.trainConfig(r.Job, r.Plan)
	if err != nil {
		return Candidate{}, err
	}
	c.Logger = r.Logger
	if r.Job.WarmStart == "champion" {
		switch rec, err := model.Alias(ctx, p.cfg.Store, name, model.Champion); {
		case err == nil:
			c.WarmStart = name + "@" + strconv.Itoa(rec.Version)
		case !errors.Is(err, model.ErrNotFound):
			return Candidate{}, err
		}
	}
	out, err := job.Run(ctx, c)
	if err != nil {
		return Candidate{}, err
	}
	cand := Candidate{Version: out.Version, WarmStart: c.WarmStart, Metrics: map[string]float64{}}
	if v := out.Result.Validation; v != nil {
		for k, x := range map[string]float64{"validation_auc": v.AUC, "validation_logloss": v.LogLoss, "validation_rmse": v.RMSE} {
			if x != 0 && !math.IsNaN(x) { // NaN: undefined (one class), which JSON cannot hold
				cand.Metrics[k] = x
			}
		}
	}
	return cand, nil
}

// Publish implements Pipeline.
func (p *pipeline) Publish(ctx context.Context, r *Run, c Candidate) (Publication, error) {
	store, name := p.cfg.Store, r.Job.Publish.Model
	champion := func() (model.AliasRecord, error) {
		rec, err := model.Alias(ctx, store, name, model.Champion)
		if errors.Is(err, model.ErrNotFound) {
			return model.AliasRecord{}, nil
		}
		return rec, err
	}
	ec := p.evalConfig(r.Job, r.Plan)
	if r.Job.Publish.Policy == PolicyRegister {
		ec.Model = name + "@" + strconv.Itoa(c.Version)
		rep, err := evaltable.Evaluate(ctx, store, ec)
		if err != nil {
			return Publication{}, fmt.Errorf("evaluate %s on %s: %w", ec.Model, ec.Slice(), err)
		}
		pub := Publication{Metrics: map[string]float64{}}
		if rep.Binary != nil {
			pub.Metrics["auc"] = rep.Binary.AUC
			if rep.Binary.LogLoss != nil {
				pub.Metrics["logloss"] = *rep.Binary.LogLoss
			}
		}
		rec, err := champion()
		pub.Champion = rec.Version
		return pub, err
	}

	// A decision recorded by an earlier attempt is final.
	if d, ok, err := readDecision(ctx, store, name, c.Version); err != nil {
		return Publication{}, err
	} else if ok {
		rec, err := champion()
		if err != nil {
			return Publication{}, err
		}
		if d.Promoted && rec.Version != c.Version && !slices.Contains(rec.Previous, c.Version) && rec.Version == d.Evaluation.ChampionVersion {
			// The attempt died between the decision and the move.
			if rec, err = model.SetAlias(ctx, store, name, model.Champion, c.Version, &d); err != nil {
				return Publication{}, err
			}
			p.announce(ctx, r, name, rec)
		}
		r.Logger.Info("gate decision already recorded", "model", name, "version", c.Version, "promoted", d.Promoted)
		return publication(d, rec.Version), nil
	}
	ev, err := evaltable.GateEvaluation(ctx, store, ec, name, c.Version)
	if errors.Is(err, evaltable.ErrAlreadyChampion) {
		return Publication{Champion: c.Version}, nil // moved by hand meanwhile
	}
	if err != nil {
		return Publication{}, fmt.Errorf("evaluate on %s: %w", ec.Slice(), err)
	}
	d, rec, err := model.Promote(ctx, store, name, c.Version, r.Job.Gate(), ev)
	if err != nil {
		return Publication{}, err
	}
	if d.Promoted {
		p.announce(ctx, r, name, rec)
	} else if rec, err = champion(); err != nil {
		return Publication{}, err
	}
	r.Logger.Info("gate", "model", name, "version", c.Version, "promoted", d.Promoted, "reason", d.Reason)
	return publication(d, rec.Version), nil
}

func publication(d model.Decision, champion int) Publication {
	pub := Publication{Decision: &d, Champion: champion, Metrics: map[string]float64{}}
	if !math.IsNaN(d.Evaluation.Candidate) {
		pub.Metrics["auc"] = d.Evaluation.Candidate
	}
	if !math.IsNaN(d.Evaluation.Champion) {
		pub.Metrics["champion_auc"] = d.Evaluation.Champion
	}
	return pub
}

// announce tells predictors; a failure is logged, not fatal: the alias has
// moved and predictors find it at their next poll.
func (p *pipeline) announce(ctx context.Context, r *Run, name string, rec model.AliasRecord) {
	if p.cfg.Announce == nil {
		return
	}
	a, err := model.NewAnnouncement(ctx, p.cfg.Store, p.cfg.LakeURI, name, rec)
	if err == nil {
		err = model.Announce(ctx, *p.cfg.Announce, a)
	}
	if err != nil {
		r.Logger.Warn("announcement failed; predictors will see the version at their next poll", "model", name, "version", rec.Version, "error", err)
		return
	}
	r.Logger.Info("announced", "model", name, "version", rec.Version, "topic", p.cfg.Announce.Topic)
}

func readDecision(ctx context.Context, store lake.Store, name string, version int) (model.Decision, bool, error) {
	raw, err := lake.ReadAll(ctx, store, model.DecisionKey(name, version))
	if errors.Is(err, lake.ErrNotExist) {
		return model.Decision{}, false, nil
	}
	if err != nil {
		return model.Decision{}, false, err
	}
	var d model.Decision
	if err := json.Unmarshal(raw, &d); err != nil {
		return model.Decision{}, false, fmt.Errorf("%s: %w", model.DecisionKey(name, version), err)
	}
	return d, true, nil
}
