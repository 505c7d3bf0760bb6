package model

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lakestream/lakestream/lake"
)

// The registry: aliases that designate versions of a model.
//
// An alias is one small object, models/<name>/_aliases/<alias>.json, replaced
// atomically (lake.Store.Put), so readers see the old or the new designation
// and never a mix. It keeps its earlier versions, most recent first, for
// rollback. Versions themselves are immutable; an alias moves.

// Alias names used by the trainer and the predictor.
const (
	Champion   = "champion"
	Challenger = "challenger"
)

// aliasHistory bounds the earlier versions an alias remembers.
const aliasHistory = 32

var aliasName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)

// AliasRecord is the stored state of an alias.
type AliasRecord struct {
	Alias   string    `json:"alias"`
	Version int       `json:"version"`
	Updated time.Time `json:"updated"`
	// Previous lists the versions the alias designated before, most recent
	// first (at most 32).
	Previous []int `json:"previous,omitempty"`
	// RolledBack lists versions rollbacks moved the alias away from, most
	// recent first (at most 32); Retain keeps them for inspection.
	RolledBack []int `json:"rolled_back,omitempty"`
	// Decision is the gate decision that moved the alias here, when a gate
	// moved it (nil after a manual set or a rollback).
	Decision *Decision `json:"decision,omitempty"`
}

// AliasKey returns the object key of an alias.
func AliasKey(name, alias string) string { return Prefix(name) + "_aliases/" + alias + ".json" }

func validateAlias(alias string) error {
	if !aliasName.MatchString(alias) {
		return fmt.Errorf("alias %q: want a lowercase letter then up to 63 of a-z, 0-9, '_' or '-'", alias)
	}
	return nil
}

// Alias returns the record of alias of model name, or an error wrapping
// ErrNotFound when the alias was never set.
func Alias(ctx context.Context, store lake.Store, name, alias string) (AliasRecord, error) {
	if err := ValidateName(name); err != nil {
		return AliasRecord{}, err
	}
	if err := validateAlias(alias); err != nil {
		return AliasRecord{}, err
	}
	key := AliasKey(name, alias)
	raw, err := lake.ReadAll(ctx, store, key)
	if errors.Is(err, lake.ErrNotExist) {
		return AliasRecord{}, fmt.Errorf("%w: model %q has no alias %q (promote a version first)", ErrNotFound, name, alias)
	}
	if err != nil {
		return AliasRecord{}, fmt.Errorf("read alias %s: %w", key, err)
	}
	var rec AliasRecord
	if err := json.Unmarshal(raw, &rec); err != nil || rec.Version < 1 {
		return AliasRecord{}, &ArtifactError{Key: key, Reason: fmt.Sprintf("not an alias record (%v)", err), Err: ErrCorrupt}
	}
	return rec, nil
}

// Aliases returns every alias of name, sorted by alias.
func Aliases(ctx context.Context, store lake.Store, name string) ([]AliasRecord, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	objs, err := lake.ListAll(ctx, store, Prefix(name)+"_aliases/")
	if err != nil {
		return nil, fmt.Errorf("list aliases of %s: %w", name, err)
	}
	var out []AliasRecord
	for _, o := range objs {
		alias, ok := strings.CutSuffix(strings.TrimPrefix(o.Key, Prefix(name)+"_aliases/"), ".json")
		if !ok || validateAlias(alias) != nil {
			continue
		}
		rec, err := Alias(ctx, store, name, alias)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

// Resolve returns the version ref designates: ref is a version number or an
// alias.
func Resolve(ctx context.Context, store lake.Store, name, ref string) (int, error) {
	if v, err := strconv.Atoi(ref); err == nil {
		if v < 1 {
			return 0, fmt.Errorf("version %d of %s: versions start at 1", v, name)
		}
		return v, nil
	}
	rec, err := Alias(ctx, store, name, ref)
	if err != nil {
		return 0, err
	}
	return rec.Version, nil
}

// ParseRef splits a model reference: "name" (the latest version),
// "name@3" (a version) or "name@champion" (an alias). It checks the name and
// the version or alias syntax, and reads nothing.
func ParseRef(ref string) (name, at string, err error) {
	name, at, hasAt := strings.Cut(ref, "@")
	if err := ValidateName(name); err != nil {
		return "", "", err
	}
	if !hasAt {
		return name, "", nil
	}
	if v, err := strconv.Atoi(at); err == nil {
		if v < 1 {
			return "", "", fmt.Errorf("%q: versions start at 1", ref)
		}
		return name, at, nil
	}
	if err := validateAlias(at); err != nil {
		return "", "", fmt.Errorf("%q: want name, name@version or name@alias: %w", ref, err)
	}
	return name, at, nil
}

// ResolveRef returns the model name and version a reference designates (see
// ParseRef); version 0 means the latest, which Load and ReadManifest
// accept. Only an alias is looked up in store.
func ResolveRef(ctx context.Context, store lake.Store, ref string) (string, int, error) {
	name, at, err := ParseRef(ref)
	if err != nil || at == "" {
		return name, 0, err
	}
	v, err := Resolve(ctx, store, name, at)
	if err != nil {
		return "", 0, fmt.Errorf("%s: %w", ref, err)
	}
	return name, v, nil
}

// LoadRef loads the version a reference designates (see ResolveRef); its
// errors start "model <ref>: ".
func LoadRef(ctx context.Context, store lake.Store, ref string) (*Model, error) {
	name, version, err := ResolveRef(ctx, store, ref)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", ref, err)
	}
	m, err := Load(ctx, store, name, version)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", ref, err)
	}
	return m, nil
}

// SetAlias points alias of name at version, which must be a complete
// version, and returns the new record. The alias's current version goes to
// the front of its history.
func SetAlias(ctx context.Context, store lake.Store, name, alias string, version int, decision *Decision) (AliasRecord, error) {
	if err := validateAlias(alias); err != nil {
		return AliasRecord{}, err
	}
	if _, err := ReadManifest(ctx, store, name, version); err != nil {
		return AliasRecord{}, fmt.Errorf("set %s of %s to version %d: %w", alias, name, version, err)
	}
	rec := AliasRecord{Alias: alias, Version: version, Updated: time.Now().UTC(), Decision: decision}
	if old, err := Alias(ctx, store, name, alias); err == nil {
		rec.Previous, rec.RolledBack = old.Previous, old.RolledBack
		if old.Version != version {
			rec.Previous = append([]int{old.Version}, old.Previous...)
		}
		if len(rec.Previous) > aliasHistory {
			rec.Previous = rec.Previous[:aliasHistory]
		}
	} else if !errors.Is(err, ErrNotFound) {
		return AliasRecord{}, err
	}
	if err := putAlias(ctx, store, name, rec); err != nil {
		return AliasRecord{}, err
	}
	return rec, nil
}

// Rollback moves alias back to version to, or, when to is 0, to the version
// it designated before. Repeated rollbacks walk back through the history:
// the version rolled back from goes to RolledBack, not to Previous, so the
// next rollback does not return to it.
func Rollback(ctx context.Context, store lake.Store, name, alias string, to int) (AliasRecord, error) {
	cur, err := Alias(ctx, store, name, alias)
	if err != nil {
		return AliasRecord{}, err
	}
	if to == 0 {
		if len(cur.Previous) == 0 {
			return AliasRecord{}, fmt.Errorf("rollback %s of %s: it has designated no other version", alias, name)
		}
		to = cur.Previous[0]
	}
	if to == cur.Version {
		return cur, nil
	}
	if _, err := ReadManifest(ctx, store, name, to); err != nil {
		return AliasRecord{}, fmt.Errorf("rollback %s of %s to version %d: %w", alias, name, to, err)
	}
	rec := AliasRecord{Alias: alias, Version: to, Updated: time.Now().UTC()}
	for _, v := range cur.Previous {
		if v != to {
			rec.Previous = append(rec.Previous, v)
		}
	}
	rec.RolledBack = append([]int{cur.Version}, cur.RolledBack...)
	rec.RolledBack = rec.RolledBack[:min(len(rec.RolledBack), aliasHistory)]
	if err := putAlias(ctx, store, name, rec); err != nil {
		return AliasRecord{}, err
	}
	return rec, nil
}

func putAlias(ctx context.Context, store lake.Store, name string, rec AliasRecord) error {
	raw, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	if err := lake.PutBytes(ctx, store, AliasKey(name, rec.Alias), raw); err != nil {
		return fmt.Errorf("write alias %s: %w", AliasKey(name, rec.Alias), err)
	}
	return nil
}

// Gate decides whether a candidate version may become champion: its metric
// must reach Floor and must not fall below the champion's, measured on the
// same held-out slice, by more than Epsilon.
type Gate struct {
	// Metric names the figure compared ("auc", "logloss", "rmse", ...).
	Metric string `json:"metric"`
	// LowerIsBetter is true for losses and errors.
	LowerIsBetter bool `json:"lower_is_better,omitempty"`
	// Floor is the absolute bound the candidate must reach (a minimum, or a
	// maximum when LowerIsBetter).
	Floor float64 `json:"floor"`
	// Epsilon is how much worse than the champion the candidate may be.
	Epsilon float64 `json:"epsilon"`
}

// The promotion gate's defaults wherever one is configured (trainer models
// promote, eval, stream, the console, scheduled jobs): the candidate's AUC
// must reach DefaultMinAUC (better than chance) and be at most
// DefaultMaxDrop below the champion's on the same slice.
const (
	DefaultMinAUC  = 0.5
	DefaultMaxDrop = 0.002
)

// Validate reports a gate that cannot decide.
func (g Gate) Validate() error {
	switch {
	case g.Metric == "":
		return errors.New("gate: name the metric")
	case math.IsNaN(g.Floor) || math.IsNaN(g.Epsilon) || g.Epsilon < 0:
		return fmt.Errorf("gate: floor %v and epsilon %v must be numbers, epsilon ≥ 0", g.Floor, g.Epsilon)
	}
	return nil
}

// Evaluation holds both models' figures on one held-out slice.
type Evaluation struct {
	// Slice describes the held-out data both were scored on (a lake path and
	// partition filter), so the decision can be audited.
	Slice     string  `json:"slice"`
	Candidate float64 `json:"candidate"`
	// Champion is NaN when there is no champion yet.
	Champion float64 `json:"champion"`
	// ChampionVersion is 0 when there is no champion yet.
	ChampionVersion int `json:"champion_version,omitempty"`
}

// Decision is a gate's verdict with the figures it was made on.
type Decision struct {
	Candidate  int        `json:"candidate"`
	Gate       Gate       `json:"gate"`
	Evaluation Evaluation `json:"evaluation"`
	Promoted   bool       `json:"promoted"`
	Reason     string     `json:"reason"`
	Time       time.Time  `json:"time"`
}

// MarshalJSON writes a missing figure (NaN: no champion, or a manual
// promotion that was not evaluated) as null; JSON has no NaN.
func (e Evaluation) MarshalJSON() ([]byte, error) {
	type plain Evaluation
	return json.Marshal(struct {
		plain
		Candidate *float64 `json:"candidate"`
		Champion  *float64 `json:"champion"`
	}{plain(e), nanToNil(e.Candidate), nanToNil(e.Champion)})
}

// UnmarshalJSON reads a null figure as NaN.
func (e *Evaluation) UnmarshalJSON(b []byte) error {
	type plain Evaluation
	var v struct {
		plain
		Candidate *float64 `json:"candidate"`
		Champion  *float64 `json:"champion"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*e = Evaluation(v.plain)
	e.Candidate, e.Champion = nilToNaN(v.Candidate), nilToNaN(v.Champion)
	return nil
}

func nanToNil(x float64) *float64 {
	if math.IsNaN(x) {
		return nil
	}
	return &x
}

func nilToNaN(x *float64) float64 {
	if x == nil {
		return math.NaN()
	}
	return *x
}

// Decide applies the gate to an evaluation of candidate; it changes nothing.
func (g Gate) Decide(candidate int, ev Evaluation) Decision {
	d := Decision{Candidate: candidate, Gate: g, Evaluation: ev, Time: time.Now().UTC()}
	better := func(a, b float64) bool { // a at least as good as b
		if g.LowerIsBetter {
			return a <= b
		}
		return a >= b
	}
	switch {
	case math.IsNaN(ev.Candidate) || math.IsInf(ev.Candidate, 0):
		d.Reason = fmt.Sprintf("candidate %s is %v", g.Metric, ev.Candidate)
	case !better(ev.Candidate, g.Floor):
		d.Reason = fmt.Sprintf("candidate %s %.6g does not reach the floor %.6g", g.Metric, ev.Candidate, g.Floor)
	case math.IsNaN(ev.Champion):
		d.Promoted = true
		d.Reason = fmt.Sprintf("candidate %s %.6g reaches the floor %.6g; there is no champion", g.Metric, ev.Candidate, g.Floor)
	default:
		bound := ev.Champion - g.Epsilon
		if g.LowerIsBetter {
			bound = ev.Champion + g.Epsilon
		}
		if better(ev.Candidate, bound) {
			d.Promoted = true
			d.Reason = fmt.Sprintf("candidate %s %.6g vs champion v%d %.6g on %s: within ε=%g", g.Metric, ev.Candidate, ev.ChampionVersion, ev.Champion, ev.Slice, g.Epsilon)
		} else {
			d.Reason = fmt.Sprintf("candidate %s %.6g is worse than champion v%d %.6g on %s by more than ε=%g", g.Metric, ev.Candidate, ev.ChampionVersion, ev.Champion, ev.Slice, g.Epsilon)
		}
	}
	return d
}

// DecisionKey is where the gate decision about a version is recorded, next
// to its manifest (the manifest itself is immutable).
func DecisionKey(name string, version int) string {
	return VersionPrefix(name, version) + "decision.json"
}

// ErrConflict is returned by Promote when the champion moved while the
// candidate was being evaluated: the decision compared against a champion
// that is no longer current, so it must be made again.
var ErrConflict = errors.New("model: the champion changed during the evaluation")

// Promote applies the gate to candidate and, when it passes, moves the
// champion alias to it and returns the new alias record. The decision is
// written beside the candidate's manifest whether or not it passed (and
// into the alias record when it did). The figures in ev must come from scoring both
// versions on the same slice, and ev.ChampionVersion must name the champion
// they were compared with (0: there was none); if the champion has moved
// since, Promote returns an error wrapping ErrConflict and moves nothing.
// The check and the move are two requests: a promotion racing in between
// can still be overwritten (see the registry notes in DESIGN.md).
func Promote(ctx context.Context, store lake.Store, name string, candidate int, g Gate, ev Evaluation) (Decision, AliasRecord, error) {
	if err := g.Validate(); err != nil {
		return Decision{}, AliasRecord{}, err
	}
	if _, err := ReadManifest(ctx, store, name, candidate); err != nil {
		return Decision{}, AliasRecord{}, err
	}
	d := g.Decide(candidate, ev)
	if d.Promoted {
		cur, err := Alias(ctx, store, name, Champion)
		switch {
		case errors.Is(err, ErrNotFound):
			cur.Version = 0
		case err != nil:
			return d, AliasRecord{}, err
		}
		if cur.Version != ev.ChampionVersion {
			return d, AliasRecord{}, fmt.Errorf("%w: %s was evaluated against version %d, the champion is now %d; evaluate again", ErrConflict, name, ev.ChampionVersion, cur.Version)
		}
	}
	raw, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return Decision{}, AliasRecord{}, err
	}
	if err := lake.PutBytes(ctx, store, DecisionKey(name, candidate), raw); err != nil {
		return Decision{}, AliasRecord{}, fmt.Errorf("record gate decision for %s version %d: %w", name, candidate, err)
	}
	if !d.Promoted {
		return d, AliasRecord{}, nil
	}
	rec, err := SetAlias(ctx, store, name, Champion, candidate, &d)
	return d, rec, err
}

// PromoteWithoutGate moves the champion alias of name to version without
// evaluating it, for an operator who has decided by other means. The
// decision is recorded as a manual promotion (no figures, reason given or
// "manual promotion") beside the version's manifest and in the alias
// record, so an audit tells it from a gated one.
func PromoteWithoutGate(ctx context.Context, store lake.Store, name string, version int, reason string) (Decision, AliasRecord, error) {
	if reason == "" {
		reason = "manual promotion: not evaluated"
	}
	d := Decision{Candidate: version, Promoted: true, Reason: reason, Time: time.Now().UTC(),
		Evaluation: Evaluation{Champion: math.NaN(), Candidate: math.NaN()}}
	if _, err := ReadManifest(ctx, store, name, version); err != nil {
		return Decision{}, AliasRecord{}, err
	}
	raw, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return Decision{}, AliasRecord{}, err
	}
	if err := lake.PutBytes(ctx, store, DecisionKey(name, version), raw); err != nil {
		return Decision{}, AliasRecord{}, fmt.Errorf("record the manual promotion of %s version %d: %w", name, version, err)
	}
	rec, err := SetAlias(ctx, store, name, Champion, version, &d)
	return d, rec, err
}

// Retain deletes the oldest complete versions of name beyond the newest
// keep, sparing every version an alias designates or remembers. It returns
// the versions deleted. The store must implement lake.Deleter.
func Retain(ctx context.Context, store lake.Store, name string, keep int) ([]int, error) {
	del, ok := store.(lake.Deleter)
	if !ok {
		return nil, errors.New("retain: this store cannot delete objects")
	}
	if keep < 1 {
		return nil, fmt.Errorf("retain: keep %d, want at least 1", keep)
	}
	vs, err := versions(ctx, store, name)
	if err != nil {
		return nil, err
	}
	aliases, err := Aliases(ctx, store, name)
	if err != nil {
		return nil, err
	}
	spared := map[int]bool{}
	for _, a := range aliases {
		spared[a.Version] = true
		for _, v := range append(a.Previous, a.RolledBack...) {
			spared[v] = true
		}
	}
	var deleted []int
	for _, v := range vs[:max(0, len(vs)-keep)] {
		if spared[v] {
			continue
		}
		// The manifest goes first so the version disappears at once and a
		// crash mid-way leaves an invisible directory, not a corrupt model.
		objs, err := lake.ListAll(ctx, store, VersionPrefix(name, v))
		if err != nil {
			return deleted, err
		}
		slices.SortFunc(objs, func(a, b lake.ObjectInfo) int {
			return boolInt(!strings.HasSuffix(a.Key, "/"+ManifestFile)) - boolInt(!strings.HasSuffix(b.Key, "/"+ManifestFile))
		})
		for _, o := range objs {
			if err := del.Delete(ctx, o.Key); err != nil {
				return deleted, fmt.Errorf("retain: delete %s: %w", o.Key, err)
			}
		}
		deleted = append(deleted, v)
	}
	return deleted, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
