package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lakestream/lakestream/eval"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
)

// The read model: what the API returns and the pages show, gathered from
// the lake on each request.

// Version states.
const (
	StatusOK           = "ok"
	StatusCorrupt      = "corrupt"
	StatusIncompatible = "incompatible"
)

// ModelSummary is one model in the models list.
type ModelSummary struct {
	Name string `json:"name"`
	// Versions counts every version with a manifest, corrupt ones included.
	Versions int `json:"versions"`
	Latest   int `json:"latest"`
	// Corrupt counts the versions that cannot be used.
	Corrupt int `json:"corrupt"`
	// Aliases maps each alias to the version it designates.
	Aliases map[string]int `json:"aliases"`
	// Champion is the champion's version, when there is one and it is
	// readable.
	Champion *VersionSummary `json:"champion,omitempty"`
	// LatestVersion is the newest version.
	LatestVersion *VersionSummary `json:"latest_version,omitempty"`
	// History is the headline metric of every healthy version, ascending,
	// for a sparkline.
	History []MetricPoint `json:"history"`
	// Metric names the headline metric of History ("validation_auc", …;
	// empty when no version has one).
	Metric string `json:"metric,omitempty"`
}

// MetricPoint is a version's value of the model's headline metric.
type MetricPoint struct {
	Version int     `json:"version"`
	Value   float64 `json:"value"`
	// Champion is true when the champion alias designates or designated
	// the version.
	Champion bool `json:"champion"`
}

// VersionSummary is one row of a model's versions table.
type VersionSummary struct {
	Version int    `json:"version"`
	Status  string `json:"status"`
	// Error says what is wrong with a version that is not ok, naming the
	// object at fault.
	Error string `json:"error,omitempty"`
	// Aliases lists the aliases that designate this version now.
	Aliases []string   `json:"aliases"`
	Kind    string     `json:"kind,omitempty"`
	Created *time.Time `json:"created,omitempty"`
	Rows    int64      `json:"rows"`
	Data    *DataRange `json:"data,omitempty"`
	// Metrics are the figures recorded at training (validation_auc,
	// validation_logloss, validation_rmse, train_loss, …).
	Metrics map[string]float64 `json:"metrics"`
	// AUC, LogLoss and RMSE are the validation figures, when recorded.
	AUC     *float64 `json:"auc,omitempty"`
	LogLoss *float64 `json:"log_loss,omitempty"`
	RMSE    *float64 `json:"rmse,omitempty"`
	// Size is the bytes of the version's files.
	Size int64 `json:"size"`
}

// DataRange is the training data of a version.
type DataRange struct {
	Source string `json:"source,omitempty"`
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
}

// ModelDetail is a model with all its versions and aliases.
type ModelDetail struct {
	Name     string           `json:"name"`
	Aliases  []AliasInfo      `json:"aliases"`
	Versions []VersionSummary `json:"versions"`
	Metric   string           `json:"metric,omitempty"`
	History  []MetricPoint    `json:"history"`
}

// AliasInfo is an alias with its history.
type AliasInfo struct {
	Alias   string    `json:"alias"`
	Version int       `json:"version"`
	Updated time.Time `json:"updated"`
	// Previous lists the versions it designated before, most recent first.
	Previous []int `json:"previous"`
	// RolledBack lists the versions rollbacks moved it away from.
	RolledBack []int `json:"rolled_back"`
	// Decision is the gate decision that moved it here, if a gate did.
	Decision *Decision `json:"decision,omitempty"`
}

// Decision is a gate decision as the API shows it.
type Decision struct {
	Candidate int       `json:"candidate"`
	Promoted  bool      `json:"promoted"`
	Reason    string    `json:"reason"`
	Time      time.Time `json:"time"`
	Metric    string    `json:"metric,omitempty"`
	Floor     *float64  `json:"floor,omitempty"`
	MaxDrop   *float64  `json:"max_drop,omitempty"`
	Slice     string    `json:"slice,omitempty"`
	// CandidateValue and ChampionValue are null when not measured (a
	// manual promotion, or no champion yet).
	CandidateValue  *float64 `json:"candidate_value"`
	ChampionValue   *float64 `json:"champion_value"`
	ChampionVersion int      `json:"champion_version,omitempty"`
}

// VersionDetail is everything known about one version.
type VersionDetail struct {
	Name string `json:"name"`
	VersionSummary
	Arch            json.RawMessage   `json:"arch,omitempty"`
	Optimizer       json.RawMessage   `json:"optimizer,omitempty"`
	Hyperparameters map[string]string `json:"hyperparameters,omitempty"`
	Seed            uint64            `json:"seed"`
	CodeVersion     string            `json:"code_version,omitempty"`
	Lineage         Lineage           `json:"lineage"`
	// Decision is the gate's decision about this version, if one was made.
	Decision *Decision `json:"decision,omitempty"`
	// Report summarizes the held-out evaluation report, if one was written.
	Report *ReportSummary `json:"report,omitempty"`
	// ReportError says why a report that exists could not be read.
	ReportError string      `json:"report_error,omitempty"`
	Tables      []TableInfo `json:"tables"`
}

// Lineage says where a version came from.
type Lineage struct {
	Data *DataRange `json:"data,omitempty"`
	// Parent is the version this one was warm-started from (0: none
	// recorded).
	Parent int `json:"parent,omitempty"`
	// Location is the version's folder in the lake.
	Location string `json:"location"`
	// Job, Source, Offsets, Position, Watermark and Examples are where the
	// training job's input stood when it cut the version (model.Lineage;
	// set by the publish step of trainer stream and train).
	Job      string          `json:"job,omitempty"`
	Source   string          `json:"source,omitempty"`
	Offsets  map[int32]int64 `json:"offsets,omitempty"`
	Position string          `json:"position,omitempty"`
	// Watermark is the event time the version was trained up to.
	Watermark *time.Time `json:"watermark,omitempty"`
	Examples  int64      `json:"examples,omitempty"`
}

// ReportSummary is the headline of a version's evaluation report.
type ReportSummary struct {
	Created  time.Time `json:"created"`
	Dataset  string    `json:"dataset,omitempty"`
	Examples int64     `json:"examples"`
	AUC      *float64  `json:"auc,omitempty"`
	LogLoss  *float64  `json:"log_loss,omitempty"`
	RMSE     *float64  `json:"rmse,omitempty"`
	AP       *float64  `json:"average_precision,omitempty"`
	ECE      *float64  `json:"ece,omitempty"`
	// Plots are the names of the plots the report can draw ("roc", "pr",
	// "calibration", …), served at .../plots/<name>.svg and .png.
	Plots []string `json:"plots"`
}

// TableInfo is one parameter table of a version.
type TableInfo struct {
	Name  string `json:"name"`
	Dense bool   `json:"dense"`
	Rows  int    `json:"rows"`
	Width int    `json:"width"`
	Bytes int64  `json:"bytes"`
}

// errNotFound marks lookups that answer 404.
var errNotFound = errors.New("not found")

// notFound wraps errNotFound with a message for users.
func notFound(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errNotFound, fmt.Sprintf(format, args...))
}

// headlineMetrics are tried in order for a model's chart.
var headlineMetrics = []string{"validation_auc", "validation_rmse", "validation_accuracy", "validation_logloss", "train_loss"}

func statusOf(err error) string {
	switch {
	case err == nil:
		return StatusOK
	case errors.Is(err, model.ErrIncompatible):
		return StatusIncompatible
	}
	return StatusCorrupt
}

func summarize(st model.VersionStatus, aliases []model.AliasRecord) VersionSummary {
	vs := VersionSummary{Version: st.Version, Status: statusOf(st.Err), Aliases: []string{}, Metrics: map[string]float64{}}
	for _, a := range aliases {
		if a.Version == st.Version {
			vs.Aliases = append(vs.Aliases, a.Alias)
		}
	}
	if st.Err != nil {
		vs.Error = st.Err.Error()
	}
	if st.Manifest == nil {
		return vs
	}
	m := st.Manifest.Meta
	vs.Kind, vs.Rows, vs.Size = string(m.Kind), m.Rows, st.Manifest.Size()
	if !m.Created.IsZero() {
		c := m.Created
		vs.Created = &c
	}
	if m.Data != (model.DataRange{}) {
		vs.Data = &DataRange{m.Data.Source, m.Data.From, m.Data.To}
	}
	for k, v := range m.Metrics {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			vs.Metrics[k] = v
		}
	}
	vs.AUC, vs.LogLoss, vs.RMSE = metric(vs.Metrics, "validation_auc"), metric(vs.Metrics, "validation_logloss"), metric(vs.Metrics, "validation_rmse")
	return vs
}

func metric(m map[string]float64, k string) *float64 {
	if v, ok := m[k]; ok {
		return &v
	}
	return nil
}

// championVersions returns the versions the champion alias designates or
// designated.
func championVersions(aliases []model.AliasRecord) map[int]bool {
	out := map[int]bool{}
	for _, a := range aliases {
		if a.Alias != model.Champion {
			continue
		}
		out[a.Version] = true
		for _, v := range a.Previous {
			out[v] = true
		}
		for _, v := range a.RolledBack {
			out[v] = true
		}
	}
	return out
}

// history picks the headline metric and returns it for every healthy
// version that has it.
func history(versions []VersionSummary, aliases []model.AliasRecord) (string, []MetricPoint) {
	champs := championVersions(aliases)
	for _, name := range headlineMetrics {
		var pts []MetricPoint
		for _, v := range versions {
			if x, ok := v.Metrics[name]; ok && v.Status == StatusOK {
				pts = append(pts, MetricPoint{Version: v.Version, Value: x, Champion: champs[v.Version]})
			}
		}
		if len(pts) > 0 {
			return name, pts
		}
	}
	return "", []MetricPoint{}
}

// loadModel reads a model's versions and aliases. An unknown model is
// errNotFound.
func loadModel(ctx context.Context, store lake.Store, name string) (*ModelDetail, []model.AliasRecord, error) {
	if err := model.ValidateName(name); err != nil {
		return nil, nil, notFound("%v", err)
	}
	sts, err := model.ListVersions(ctx, store, name)
	if err != nil {
		return nil, nil, err
	}
	if len(sts) == 0 {
		return nil, nil, notFound("no model %q in the lake (no %s<version>/%s)", name, model.Prefix(name), model.ManifestFile)
	}
	aliases, err := model.Aliases(ctx, store, name)
	if err != nil && !errors.Is(err, model.ErrCorrupt) {
		return nil, nil, err
	}
	d := &ModelDetail{Name: name, Aliases: []AliasInfo{}, Versions: make([]VersionSummary, 0, len(sts))}
	for _, a := range aliases {
		d.Aliases = append(d.Aliases, aliasInfo(a))
	}
	for _, st := range sts {
		d.Versions = append(d.Versions, summarize(st, aliases))
	}
	d.Metric, d.History = history(d.Versions, aliases)
	return d, aliases, nil
}

func aliasInfo(a model.AliasRecord) AliasInfo {
	ai := AliasInfo{Alias: a.Alias, Version: a.Version, Updated: a.Updated,
		Previous: append([]int{}, a.Previous...), RolledBack: append([]int{}, a.RolledBack...)}
	if a.Decision != nil {
		ai.Decision = decisionInfo(*a.Decision)
	}
	return ai
}

func decisionInfo(d model.Decision) *Decision {
	out := &Decision{Candidate: d.Candidate, Promoted: d.Promoted, Reason: d.Reason, Time: d.Time,
		Metric: d.Gate.Metric, Slice: d.Evaluation.Slice, ChampionVersion: d.Evaluation.ChampionVersion,
		CandidateValue: finite(d.Evaluation.Candidate), ChampionValue: finite(d.Evaluation.Champion)}
	if d.Gate.Metric != "" {
		out.Floor, out.MaxDrop = finite(d.Gate.Floor), finite(d.Gate.Epsilon)
	}
	return out
}

func finite(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

// summaries reads every model of the lake for the models list.
func summaries(ctx context.Context, store lake.Store) ([]ModelSummary, error) {
	names, err := model.Names(ctx, store)
	if err != nil {
		return nil, err
	}
	out := make([]ModelSummary, 0, len(names))
	for _, n := range names {
		d, aliases, err := loadModel(ctx, store, n)
		if errors.Is(err, errNotFound) {
			continue // deleted between the listing and the read
		}
		if err != nil {
			return nil, err
		}
		ms := ModelSummary{Name: n, Versions: len(d.Versions), Aliases: map[string]int{}, Metric: d.Metric, History: d.History}
		for _, a := range aliases {
			ms.Aliases[a.Alias] = a.Version
		}
		for i := range d.Versions {
			v := &d.Versions[i]
			ms.Latest = max(ms.Latest, v.Version)
			if v.Status != StatusOK {
				ms.Corrupt++
			}
			if c, ok := ms.Aliases[model.Champion]; ok && c == v.Version {
				ms.Champion = v
			}
		}
		ms.LatestVersion = &d.Versions[len(d.Versions)-1]
		out = append(out, ms)
	}
	return out, nil
}

// resolveVersion turns a version number or an alias into a version of a
// model that exists; unknown ones are errNotFound.
func resolveVersion(ctx context.Context, store lake.Store, name, ref string) (int, error) {
	if err := model.ValidateName(name); err != nil {
		return 0, notFound("%v", err)
	}
	v, err := strconv.Atoi(ref)
	if err != nil {
		rec, err := model.Alias(ctx, store, name, ref)
		switch {
		case errors.Is(err, model.ErrNotFound):
			return 0, notFound("model %q has no alias %q", name, ref)
		case err != nil && !errors.Is(err, model.ErrCorrupt):
			// A malformed alias name cannot exist.
			return 0, notFound("model %q has no alias %q (want a version number or an alias)", name, ref)
		case err != nil:
			return 0, err
		}
		return rec.Version, nil
	}
	if v < 1 {
		return 0, notFound("model %q has no version %d (versions start at 1)", name, v)
	}
	return v, nil
}

// loadVersion reads everything about one version. An unknown model or
// version is errNotFound; a corrupt one is returned with its status and
// error, not as an error.
func loadVersion(ctx context.Context, store lake.Store, name, ref string) (*VersionDetail, *eval.Report, error) {
	version, err := resolveVersion(ctx, store, name, ref)
	if err != nil {
		return nil, nil, err
	}
	sts, err := model.ListVersions(ctx, store, name)
	if err != nil {
		return nil, nil, err
	}
	i := slices.IndexFunc(sts, func(st model.VersionStatus) bool { return st.Version == version })
	if i < 0 {
		if len(sts) == 0 {
			return nil, nil, notFound("no model %q in the lake", name)
		}
		return nil, nil, notFound("model %q has no version %d (it has %d to %d)", name, version, sts[0].Version, sts[len(sts)-1].Version)
	}
	aliases, err := model.Aliases(ctx, store, name)
	if err != nil && !errors.Is(err, model.ErrCorrupt) {
		return nil, nil, err
	}
	st := sts[i]
	d := &VersionDetail{Name: name, VersionSummary: summarize(st, aliases), Tables: []TableInfo{},
		Lineage: Lineage{Location: model.VersionPrefix(name, version)}}
	if mf := st.Manifest; mf != nil {
		m := mf.Meta
		d.Arch, _ = json.Marshal(m.Arch)
		if m.Optimizer != nil {
			d.Optimizer, _ = json.Marshal(m.Optimizer)
		}
		d.Hyperparameters, d.Seed, d.CodeVersion = m.Hyperparameters, m.Seed, m.CodeVersion
		d.Lineage.Data = d.Data
		d.Lineage.Parent = parentOf(m.Hyperparameters)
		if l := m.Lineage; l != nil {
			d.Lineage.Job, d.Lineage.Source, d.Lineage.Offsets = l.Job, l.Source, l.Offsets
			d.Lineage.Position, d.Lineage.Examples = l.Position, l.Examples
			if l.Watermark != 0 {
				wm := time.UnixMilli(l.Watermark).UTC()
				d.Lineage.Watermark = &wm
			}
		}
		for _, t := range mf.Tables {
			b := t.Values.Size
			if t.Keys != nil {
				b += t.Keys.Size
			}
			d.Tables = append(d.Tables, TableInfo{Name: t.Name, Dense: t.Dense, Rows: t.Rows, Width: t.Width, Bytes: b})
		}
	}
	if d.Decision, err = readDecision(ctx, store, name, version); err != nil {
		return nil, nil, err
	}
	rep, problem, err := readReport(ctx, store, name, version)
	if err != nil {
		return nil, nil, err
	}
	d.ReportError = problem
	if rep != nil {
		d.Report = reportSummary(rep)
	}
	return d, rep, nil
}

// parentOf finds the warm-start parent a training run recorded in its
// hyperparameters ("warm_start" or "init" as NAME@VERSION or VERSION).
func parentOf(h map[string]string) int {
	for _, k := range []string{"warm_start", "warm-start", "init", "parent"} {
		s := h[k]
		if i := strings.LastIndexByte(s, '@'); i >= 0 {
			s = s[i+1:]
		}
		if v, err := strconv.Atoi(s); err == nil && v > 0 {
			return v
		}
	}
	return 0
}

func readDecision(ctx context.Context, store lake.Store, name string, version int) (*Decision, error) {
	raw, err := lake.ReadAll(ctx, store, model.DecisionKey(name, version))
	if errors.Is(err, lake.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", model.DecisionKey(name, version), err)
	}
	var d model.Decision
	if err := json.Unmarshal(raw, &d); err != nil {
		return &Decision{Candidate: version, Reason: fmt.Sprintf("unreadable decision record %s: %v", model.DecisionKey(name, version), err)}, nil
	}
	return decisionInfo(d), nil
}

// maxReportBytes bounds the report the console reads (a report keeps at
// most 500 points per curve; a few hundred KiB is already large).
const maxReportBytes = 16 << 20

// readReport reads the version's held-out report: nil when there is none,
// or nil and the problem when it cannot be used (the pages say so).
func readReport(ctx context.Context, store lake.Store, name string, version int) (*eval.Report, string, error) {
	key := model.ReportKey(name, version)
	rd, err := store.Open(ctx, key)
	if errors.Is(err, lake.ErrNotExist) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("open %s: %w", key, err)
	}
	defer rd.Close()
	if rd.Size() > maxReportBytes {
		return nil, fmt.Sprintf("%s is %d bytes, more than the console reads (%d)", key, rd.Size(), maxReportBytes), nil
	}
	rep, err := eval.ReadReport(io.NewSectionReader(rd, 0, rd.Size()))
	if err != nil {
		return nil, fmt.Sprintf("%s: %v", key, err), nil
	}
	return rep, "", nil
}

func reportSummary(r *eval.Report) *ReportSummary {
	s := &ReportSummary{Created: r.CreatedAt, Dataset: r.Dataset, Plots: []string{}}
	if b := r.Binary; b != nil {
		s.Examples = b.Examples
		s.AUC, s.AP = finite(b.AUC), finite(b.AveragePrecision)
		if b.LogLoss != nil {
			s.LogLoss = finite(*b.LogLoss)
		}
		if b.ECE != nil {
			s.ECE = finite(*b.ECE)
		}
	}
	if g := r.Regression; g != nil {
		s.RMSE = finite(g.RMSE)
	}
	plots, err := r.Draw()
	if err == nil {
		for _, p := range plots {
			s.Plots = append(s.Plots, p.Name)
		}
	}
	return s
}
