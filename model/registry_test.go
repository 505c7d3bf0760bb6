package model_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
)

func saveVersions(t *testing.T, store lake.Store, n int) {
	t.Helper()
	m := fmModel(t)
	for range n {
		if _, err := m.Save(context.Background(), store, "ctr"); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAliasSetResolveRollback(t *testing.T) {
	ctx := context.Background()
	for name, store := range stores(t) {
		t.Run(name, func(t *testing.T) {
			saveVersions(t, store, 4)
			if _, err := model.Resolve(ctx, store, "ctr", model.Champion); !errors.Is(err, model.ErrNotFound) {
				t.Fatalf("unset alias: %v, want ErrNotFound", err)
			}
			for _, v := range []int{1, 3, 2} {
				if _, err := model.SetAlias(ctx, store, "ctr", model.Champion, v, nil); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := model.SetAlias(ctx, store, "ctr", model.Champion, 9, nil); !errors.Is(err, model.ErrNotFound) {
				t.Fatalf("alias to a missing version: %v, want ErrNotFound", err)
			}
			rec, err := model.Alias(ctx, store, "ctr", model.Champion)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Version != 2 || !slices.Equal(rec.Previous, []int{3, 1}) {
				t.Fatalf("alias = %+v, want version 2 after [3 1]", rec)
			}
			if v, _ := model.Resolve(ctx, store, "ctr", "4"); v != 4 {
				t.Errorf("Resolve(\"4\") = %d", v)
			}
			// Repeated rollbacks walk back through the history (2 → 3 → 1),
			// never forward again to a version rolled back from.
			rec, err = model.Rollback(ctx, store, "ctr", model.Champion, 0)
			if err != nil || rec.Version != 3 {
				t.Fatalf("rollback = %+v, %v; want version 3", rec, err)
			}
			rec, err = model.Rollback(ctx, store, "ctr", model.Champion, 0)
			if err != nil || rec.Version != 1 || !slices.Equal(rec.RolledBack, []int{3, 2}) {
				t.Fatalf("second rollback = %+v, %v; want version 1, rolled back from [3 2]", rec, err)
			}
			if _, err := model.Rollback(ctx, store, "ctr", model.Champion, 0); err == nil {
				t.Fatal("a third rollback found a version to go back to")
			}
			rec, err = model.Rollback(ctx, store, "ctr", model.Champion, 2)
			if err != nil || rec.Version != 2 {
				t.Fatalf("rollback to 2 = %+v, %v", rec, err)
			}
			if _, err := model.SetAlias(ctx, store, "ctr", "Bad Alias", 1, nil); err == nil {
				t.Error("an invalid alias name was accepted")
			}
			as, err := model.Aliases(ctx, store, "ctr")
			if err != nil || len(as) != 1 || as[0].Alias != model.Champion {
				t.Errorf("Aliases = %+v, %v", as, err)
			}
			// Aliases live beside the versions without being taken for one.
			vs, err := model.Versions(ctx, store, "ctr")
			if err != nil || len(vs) != 4 {
				t.Errorf("Versions after aliasing: %d, %v", len(vs), err)
			}
		})
	}
}

func TestGateDecide(t *testing.T) {
	auc := model.Gate{Metric: "auc", Floor: 0.7, Epsilon: 0.002}
	loss := model.Gate{Metric: "logloss", LowerIsBetter: true, Floor: 0.5, Epsilon: 0.01}
	nan := math.NaN()
	tests := []struct {
		name      string
		gate      model.Gate
		candidate float64
		champion  float64
		promoted  bool
		reason    string
	}{
		{"first champion above floor", auc, 0.75, nan, true, "no champion"},
		{"below floor", auc, 0.69, nan, false, "floor"},
		{"better than champion", auc, 0.76, 0.75, true, "within"},
		{"slightly worse within epsilon", auc, 0.7485, 0.75, true, "within"},
		{"worse beyond epsilon", auc, 0.747, 0.75, false, "worse"},
		{"NaN candidate", auc, nan, 0.75, false, "NaN"},
		{"loss better", loss, 0.40, 0.42, true, "within"},
		{"loss worse beyond epsilon", loss, 0.44, 0.42, false, "worse"},
		{"loss above ceiling", loss, 0.51, nan, false, "floor"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.gate.Decide(7, model.Evaluation{Slice: "dt=2026-11-04", Candidate: tc.candidate, Champion: tc.champion, ChampionVersion: 6})
			if d.Promoted != tc.promoted || !strings.Contains(d.Reason, tc.reason) {
				t.Errorf("decision = %v %q, want promoted=%v with %q", d.Promoted, d.Reason, tc.promoted, tc.reason)
			}
		})
	}
}

func TestPromoteRecordsDecision(t *testing.T) {
	ctx := context.Background()
	store := stores(t)["memory"]
	saveVersions(t, store, 2)
	gate := model.Gate{Metric: "auc", Floor: 0.7, Epsilon: 0.001}
	d, rec, err := model.Promote(ctx, store, "ctr", 1, gate, model.Evaluation{Slice: "s", Candidate: 0.8, Champion: math.NaN()})
	if err != nil || !d.Promoted || rec.Version != 1 {
		t.Fatalf("first promotion: %+v, %+v, %v", d, rec, err)
	}
	d, _, err = model.Promote(ctx, store, "ctr", 2, gate, model.Evaluation{Slice: "s", Candidate: 0.79, Champion: 0.8, ChampionVersion: 1})
	if err != nil || d.Promoted {
		t.Fatalf("worse candidate: %+v, %v; want refused", d, err)
	}
	// A promotion judged against a champion that has since moved is refused.
	if _, _, err := model.Promote(ctx, store, "ctr", 2, gate, model.Evaluation{Slice: "s", Candidate: 0.9, Champion: 0.7, ChampionVersion: 0}); !errors.Is(err, model.ErrConflict) {
		t.Fatalf("stale evaluation: %v, want ErrConflict", err)
	}
	if v, _ := model.Resolve(ctx, store, "ctr", model.Champion); v != 1 {
		t.Errorf("champion = %d after a refused promotion, want 1", v)
	}
	raw, err := lake.ReadAll(ctx, store, model.DecisionKey("ctr", 2))
	if err != nil {
		t.Fatal(err)
	}
	var stored model.Decision
	if err := json.Unmarshal(raw, &stored); err != nil {
		t.Fatal(err)
	}
	if stored.Promoted || stored.Evaluation.Candidate != 0.79 || stored.Evaluation.Champion != 0.8 {
		t.Errorf("stored decision %+v", stored)
	}
	rec, _ = model.Alias(ctx, store, "ctr", model.Champion)
	if rec.Decision == nil || rec.Decision.Candidate != 1 || !math.IsNaN(rec.Decision.Evaluation.Champion) {
		t.Errorf("champion alias carries decision %+v", rec.Decision)
	}
}

func TestRetainSparesAliasedVersions(t *testing.T) {
	ctx := context.Background()
	store := stores(t)["local"]
	saveVersions(t, store, 6)
	model.SetAlias(ctx, store, "ctr", model.Champion, 1, nil)
	model.SetAlias(ctx, store, "ctr", model.Champion, 2, nil)
	deleted, err := model.Retain(ctx, store, "ctr", 2)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(deleted, []int{3, 4}) {
		t.Fatalf("deleted %v, want [3 4] (1 and 2 are aliased, 5 and 6 are newest)", deleted)
	}
	vs, _ := model.Versions(ctx, store, "ctr")
	var left []int
	for _, mf := range vs {
		left = append(left, mf.Meta.Version)
	}
	if !slices.Equal(left, []int{1, 2, 5, 6}) {
		t.Errorf("versions left %v", left)
	}
	if _, err := model.Load(ctx, store, "ctr", 3); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("deleted version loads: %v", err)
	}
}
