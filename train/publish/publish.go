package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/lakestream/lakestream/eval"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
)

// Config configures a Publisher.
type Config struct {
	// Store is the lake holding the registry. Required.
	Store lake.Store
	// Name is the model's name in the registry. Required.
	Name string
	// Job names the training job in lineage and in the status location;
	// Name by default.
	Job string
	// Gate decides promotion. Its Metric must be "auc" (binary models) or
	// "rmse" (regression, LowerIsBetter) unless HeldOut judges.
	Gate model.Gate
	// Every says when a version is due; the zero value publishes only when
	// the caller asks (the end of a bounded job).
	Every Every
	// Window is the most recent examples the gate judges a version on;
	// default 100,000. MinWindow is the fewest (older rows are added when
	// fewer arrived since the previous version); default 1,000.
	Window, MinWindow int
	// Announce, when set, tells predictors that the champion moved (the
	// model topic: model.NewAnnouncement and model.Announce). A failed
	// announcement is logged; predictors still find the version by polling.
	Announce func(ctx context.Context, rec model.AliasRecord) error
	// HeldOut, when set, judges a version on a held-out slice of the lake
	// instead of the recent prequential window: it scores candidate and the
	// current champion (0: none) and returns the evaluation model.Promote
	// decides on (evaltable.GateEvaluation).
	HeldOut func(ctx context.Context, candidate, champion int) (model.Evaluation, error)
	// Bounded marks the publisher of a bounded job ("trainer train"), which
	// publishes once, at its end: a version's lineage is not compared with
	// the job's earlier versions, since a rerun over the same data is a new
	// result, not a replay.
	Bounded bool
	// SaveOnly saves versions without judging or promoting them (a bounded
	// job not asked to promote: "trainer models promote" moves the
	// champion later). Gate, HeldOut and Announce are then unused.
	SaveOnly bool
	// Now is the clock; time.Now by default.
	Now func() time.Time
	// Logger receives one line per version; nil discards.
	Logger *slog.Logger
}

// DefaultConfig returns a configuration publishing name with an AUC gate
// (floor 0.5, ε 0.002) over a window of 100,000 recent examples.
func DefaultConfig(store lake.Store, name string) Config {
	return Config{Store: store, Name: name, Gate: model.Gate{Metric: "auc", Floor: model.DefaultMinAUC, Epsilon: model.DefaultMaxDrop},
		Window: 100_000, MinWindow: 1000}
}

// Validate reports the first field that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Store == nil:
		return errors.New("publish: no lake store")
	case c.Window < 0 || c.MinWindow < 0 || c.MinWindow > c.Window:
		return fmt.Errorf("publish: gate window %d, minimum %d: want 0 ≤ minimum ≤ window", c.Window, c.MinWindow)
	case c.Every.Records < 0 || c.Every.Interval < 0 || c.Every.EventTime < 0:
		return fmt.Errorf("publish: --publish-every %s is negative", c.Every)
	}
	if err := model.ValidateName(c.Name); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	if err := c.Gate.Validate(); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	if c.HeldOut == nil && c.Gate.Metric != "auc" && c.Gate.Metric != "rmse" {
		return fmt.Errorf("publish: the recent-window gate measures auc or rmse, not %q", c.Gate.Metric)
	}
	return nil
}

// Version is one version a Publisher saved.
type Version struct {
	Version  int            `json:"version"`
	Lineage  model.Lineage  `json:"lineage"`
	Decision model.Decision `json:"decision"`
	// Announced says the champion's move reached the model topic.
	Announced bool `json:"announced,omitempty"`
	// Error is why the version was saved but not judged (the gate could
	// not be evaluated), if it was not.
	Error string `json:"error,omitempty"`
}

// Publisher is the publish step of one job. Observe, Due and Publish are
// called from the job's training goroutine; Versions and Status may be
// called from others.
type Publisher struct {
	cfg Config
	win window

	// Where the previous version was cut.
	lastExamples int64
	lastAt       time.Time
	lastWM       int64
	last         *model.Lineage // lineage of the job's newest version in the registry

	champ    *model.Model // cached champion, by version
	champVer int

	st status
}

// New checks cfg and returns a Publisher. It reads the registry for the
// newest version the job published (its lineage bounds what the job may
// publish next).
func New(ctx context.Context, cfg Config) (*Publisher, error) {
	if cfg.Job == "" {
		cfg.Job = cfg.Name
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Publisher{cfg: cfg, win: window{max: cfg.Window}, lastAt: cfg.Now(), lastWM: math.MinInt64}
	p.st.init(cfg)
	mfs, err := model.Versions(ctx, cfg.Store, cfg.Name)
	if err != nil && !errors.Is(err, model.ErrNotFound) {
		return nil, fmt.Errorf("publish: read the versions of %s: %w", cfg.Name, err)
	}
	for _, mf := range slices.Backward(mfs) {
		if l := mf.Meta.Lineage; l != nil && l.Job == cfg.Job {
			p.last = l
			break
		}
	}
	return p, nil
}

// Observe keeps rows the job scored test-then-train for the gate: rec (it
// is retained, not copied: the caller must not change it) with each row's
// score from the model before it learned the row, its label and its weight
// (nil: 1). Rows beyond the gate window are released as new ones arrive.
func (p *Publisher) Observe(rec arrow.Record, scores, labels, weights []float64) {
	p.win.add(rec, scores, labels, weights)
}

// Resume tells a restored job where its restored state stands: examples
// trained and the watermark. The next version is due relative to them.
func (p *Publisher) Resume(examples, watermark int64) {
	p.lastExamples, p.lastWM = examples, watermark
}

// Due reports whether the next version is due after examples were trained
// in all, with the watermark at watermark. It is false while nothing was
// trained since the previous version.
func (p *Publisher) Due(examples, watermark int64) bool {
	if examples <= p.lastExamples {
		return false
	}
	e := p.cfg.Every
	switch {
	case e.Records > 0:
		return examples-p.lastExamples >= e.Records
	case e.Interval > 0:
		return p.cfg.Now().Sub(p.lastAt) >= e.Interval
	case e.EventTime > 0:
		if p.lastWM == math.MinInt64 {
			p.lastWM = watermark // the first watermark starts the clock
			return false
		}
		return watermark-p.lastWM >= e.EventTime.Milliseconds()
	}
	return false
}

// Publish saves m as the next version of the model, judges it and
// promotes it when the gate passes (unless SaveOnly). m's metadata must
// hold its lineage, with Job the Publisher's Job. It returns the version
// and whether it was published: a version whose lineage is not past the
// job's newest published one (a job restored from an older checkpoint) is
// not saved, unless the job is Bounded.
// Errors saving the version fail; errors judging it are recorded in
// Version.Error and the job goes on.
func (p *Publisher) Publish(ctx context.Context, m *model.Model) (Version, bool, error) {
	meta := m.Meta()
	if meta.Lineage == nil {
		return Version{}, false, errors.New("publish: the model has no lineage")
	}
	lin := *meta.Lineage
	if lin.Job != p.cfg.Job {
		return Version{}, false, fmt.Errorf("publish: the model's lineage names job %q, the publisher's is %q", lin.Job, p.cfg.Job)
	}
	if p.last != nil && !p.cfg.Bounded && !ahead(lin, *p.last) {
		p.cfg.Logger.Info("not publishing: the input has not passed the last published version", "model", p.cfg.Name,
			"examples", lin.Examples, "published_examples", p.last.Examples)
		p.cut(lin)
		return Version{}, false, nil
	}
	v := Version{Lineage: lin}
	var err error
	if v.Version, err = m.Save(ctx, p.cfg.Store, p.cfg.Name); err != nil {
		return v, false, fmt.Errorf("publish %s: %w", p.cfg.Name, err)
	}
	p.last = &lin
	if !p.cfg.SaveOnly {
		if err := p.judge(ctx, m, &v); err != nil {
			v.Error = err.Error()
			p.cfg.Logger.Warn("version saved but not judged", "model", p.cfg.Name, "version", v.Version, "err", err)
		}
	}
	p.cut(lin)
	p.st.addVersion(v)
	if p.cfg.SaveOnly {
		p.cfg.Logger.Info("published (saved, not judged)", "model", p.cfg.Name, "version", v.Version,
			"examples", lin.Examples, "position", lin.Position)
	} else {
		p.cfg.Logger.Info("published", "model", p.cfg.Name, "version", v.Version, "promoted", v.Decision.Promoted,
			"reason", v.Decision.Reason, "examples", lin.Examples, "offsets", formatOffsets(lin.Offsets), "watermark", lin.Watermark)
	}
	return v, true, nil
}

// cut marks where the previous version was cut.
func (p *Publisher) cut(lin model.Lineage) {
	p.lastExamples, p.lastAt = lin.Examples, p.cfg.Now()
	if lin.Watermark != 0 {
		p.lastWM = lin.Watermark
	}
	p.win.mark()
}

// judge evaluates v against the champion and records the decision.
func (p *Publisher) judge(ctx context.Context, m *model.Model, v *Version) error {
	champ := 0
	switch rec, err := model.Alias(ctx, p.cfg.Store, p.cfg.Name, model.Champion); {
	case err == nil:
		champ = rec.Version
	case !errors.Is(err, model.ErrNotFound):
		return err
	}
	var ev model.Evaluation
	var err error
	if p.cfg.HeldOut != nil {
		ev, err = p.cfg.HeldOut(ctx, v.Version, champ)
	} else {
		ev, err = p.recentEvaluation(ctx, champ)
	}
	if err != nil {
		return err
	}
	d, rec, err := model.Promote(ctx, p.cfg.Store, p.cfg.Name, v.Version, p.cfg.Gate, ev)
	v.Decision = d
	if err != nil {
		return err
	}
	if d.Promoted && p.cfg.Announce != nil {
		if err := p.cfg.Announce(ctx, rec); err != nil {
			p.cfg.Logger.Warn("announcement failed; predictors will find the version at their next poll", "model", p.cfg.Name, "version", v.Version, "err", err)
		} else {
			v.Announced = true
		}
	}
	return nil
}

// recentEvaluation scores the champion on the gate window's rows and
// compares with the candidate's prequential scores of the same rows.
func (p *Publisher) recentEvaluation(ctx context.Context, champ int) (model.Evaluation, error) {
	n := p.win.judged(p.cfg.MinWindow)
	if n == 0 {
		return model.Evaluation{}, errors.New("no example observed: nothing to judge the version on")
	}
	scores, labels, weights := p.win.last(n)
	ev := model.Evaluation{Champion: math.NaN(), ChampionVersion: champ,
		Slice: fmt.Sprintf("prequential window: the last %d examples before the version's lineage", n)}
	var err error
	if ev.Candidate, err = p.metric(scores, labels, weights); err != nil {
		return ev, fmt.Errorf("candidate on the %d window examples: %w", n, err)
	}
	if champ == 0 {
		return ev, nil
	}
	if p.champ == nil || p.champVer != champ {
		cm, err := model.Load(ctx, p.cfg.Store, p.cfg.Name, champ)
		if err != nil {
			return ev, fmt.Errorf("load champion: %w", err)
		}
		p.champ, p.champVer = cm, champ
	}
	cs, err := p.win.score(p.champ, n)
	if err != nil {
		return ev, fmt.Errorf("champion version %d on the window's rows: %w", champ, err)
	}
	if ev.Champion, err = p.metric(cs, labels, weights); err != nil {
		return ev, fmt.Errorf("champion version %d on the %d window examples: %w", champ, n, err)
	}
	return ev, nil
}

func (p *Publisher) metric(scores, labels, weights []float64) (float64, error) {
	if p.cfg.Gate.Metric == "rmse" {
		r, err := eval.RegressionMetrics(scores, labels, weights)
		return r.RMSE, err
	}
	auc, err := eval.ROCAUC(scores, labels, weights)
	if eval.IsUndefined(err) {
		return math.NaN(), nil // one class in the window: the gate refuses, saying the AUC is NaN
	}
	return auc, err
}

// Behind reports whether examples were trained since the previous version.
func (p *Publisher) Behind(examples int64) bool { return examples > p.lastExamples }

// Job returns the job name lineage must carry.
func (p *Publisher) Job() string { return p.cfg.Job }

// Versions returns the versions this Publisher saved, oldest first.
func (p *Publisher) Versions() []Version { return p.st.versions() }

// Close releases the rows kept for the gate.
func (p *Publisher) Close() { p.win.release() }

// ahead reports whether a is past b: with Kafka offsets, no partition
// behind and one ahead; otherwise more examples.
func ahead(a, b model.Lineage) bool {
	if len(a.Offsets) > 0 || len(b.Offsets) > 0 {
		moved := false
		for part, off := range b.Offsets {
			if a.Offsets[part] < off {
				return false
			}
			moved = moved || a.Offsets[part] > off
		}
		for part := range a.Offsets {
			if _, ok := b.Offsets[part]; !ok {
				moved = true
			}
		}
		return moved
	}
	return a.Examples > b.Examples
}

func formatOffsets(m map[int32]int64) string {
	if len(m) == 0 {
		return ""
	}
	var s []byte
	for i, part := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			s = append(s, ' ')
		}
		s = append(s, 'p')
		s = strconv.AppendInt(s, int64(part), 10)
		s = append(s, ':')
		s = strconv.AppendInt(s, m[part], 10)
	}
	return string(s)
}
