package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/lakestream/lakestream/eval"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/lake/laketest"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/train/feature"
	"github.com/lakestream/lakestream/train/publish"
	"github.com/lakestream/lakestream/train/schedule"
)

// The lake the console tests read: model "ctr" with five versions, whose
// champion went 1 → 2 → 4 (2 and 4 through the gate, with held-out reports),
// version 3's manifest garbled and version 5's weights truncated; and model
// "churn" with one version and no champion.

// fixtureAUC is the validation AUC recorded for each version of ctr.
var fixtureAUC = []float64{0.701, 0.722, 0.715, 0.741, 0.738}

func fixtureModel(t testing.TB, auc float64) *model.Model {
	return fixtureModelWith(t, auc, nil, "")
}

// fixtureModelWith sets the stream lineage and the warm-start parent.
func fixtureModelWith(t testing.TB, auc float64, lineage *model.Lineage, warm string) *model.Model {
	t.Helper()
	spec := &feature.Spec{Label: feature.Label{Column: "y", Type: feature.Binary}, HashBits: 8,
		Categorical: []feature.Categorical{{Column: "site"}}}
	m, err := model.New(model.Metadata{
		Kind: model.KindLogistic,
		Data: model.DataRange{Source: "clicks", From: "2026-11-01", To: "2026-11-07"},
		Rows: 70_000, Seed: 7,
		Hyperparameters: map[string]string{"epochs": "1", "warm_start": warm},
		Lineage:         lineage,
		Metrics:         map[string]float64{"validation_auc": auc, "validation_logloss": 0.41 - auc/10, "train_loss": 0.4},
	}, spec, []model.Table{
		{Name: model.TableWeights, Width: 1, Keys: []uint64{3, 5, 8}, Values: []float32{0.5, -0.25, 1}},
		{Name: model.TableBias, Width: 1, Dense: true, Keys: []uint64{0}, Values: []float32{-1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// fixtureReport is a held-out report of a model whose scores separate the
// classes with the given strength.
func fixtureReport(t testing.TB, name string, version int, strength float64) []byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, uint64(version)))
	scores, labels := make([]float64, 4000), make([]float64, 4000)
	for i := range scores {
		y := float64(rng.IntN(4) / 3) // a quarter positive
		scores[i] = 1 / (1 + math.Exp(-(strength*(2*y-1) + rng.NormFloat64() - 1)))
		labels[i] = y
	}
	cfg := eval.DefaultBinaryConfig()
	cfg.KeepScores = true
	bin, err := eval.NewBinary(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := bin.Add(scores, labels, nil); err != nil {
		t.Fatal(err)
	}
	res, err := bin.Result()
	if err != nil {
		t.Fatal(err)
	}
	rep := eval.Report{SchemaVersion: eval.ReportSchemaVersion, CreatedAt: time.Date(2026, 11, 9, 6, 0, 0, 0, time.UTC),
		Model: &eval.ModelRef{Name: name, Version: "v"}, Dataset: "clicks dt=2026-11-08", Binary: eval.NewBinaryReport(res)}
	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// fillLake writes the fixture registry into store.
func fillLake(t testing.TB, store lake.Store) {
	t.Helper()
	ctx := context.Background()
	for i, auc := range fixtureAUC {
		m := fixtureModel(t, auc)
		if i == 3 { // version 4: warm-started from 2 by a stream job
			m = fixtureModelWith(t, auc, &model.Lineage{Job: "ctr-stream", Source: "kafka://clicks",
				Offsets: map[int32]int64{0: 80_000, 1: 79_000}, Watermark: time.Date(2026, 11, 8, 16, 0, 0, 0, time.UTC).UnixMilli(), Examples: 159_000}, "ctr@2")
		}
		if _, err := m.Save(ctx, store, "ctr"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := fixtureModel(t, 0.66).Save(ctx, store, "churn"); err != nil {
		t.Fatal(err)
	}
	if _, err := model.SetAlias(ctx, store, "ctr", model.Champion, 1, nil); err != nil {
		t.Fatal(err)
	}
	gate := model.Gate{Metric: "auc", Floor: 0.7, Epsilon: 0.002}
	for i, v := range []int{2, 4} {
		put(t, store, model.ReportKey("ctr", v), fixtureReport(t, "ctr", v, 1+float64(i)/2))
		prev := []int{1, 2}[i]
		ev := model.Evaluation{Slice: "clicks dt=2026-11-08", Candidate: fixtureAUC[v-1], Champion: fixtureAUC[prev-1], ChampionVersion: prev}
		d, _, err := model.Promote(ctx, store, "ctr", v, gate, ev)
		if err != nil || !d.Promoted {
			t.Fatalf("promote ctr %d: %+v, %v", v, d, err)
		}
	}
	if _, err := model.SetAlias(ctx, store, "ctr", model.Challenger, 5, nil); err != nil {
		t.Fatal(err)
	}
	fillRuns(t, store)
	put(t, store, publish.StatusKey("ctr-stream"), fixtureStream(t))
	put(t, store, publish.StatusKey("broken"), []byte("{not json"))
	put(t, store, model.VersionPrefix("ctr", 3)+model.ManifestFile, []byte(`{"format": "lakestream-model/1", "meta": {`))
	put(t, store, model.VersionPrefix("ctr", 5)+"w.f32", []byte{1, 2})
}

// fixtureStream is the status a stream job training ctr would write: 24
// hourly windows with a rising AUC, and versions 4 (promoted) and 5
// (refused).
func fixtureStream(t testing.TB) []byte {
	t.Helper()
	f := func(x float64) *float64 { return &x }
	start := time.Date(2026, 11, 8, 0, 0, 0, 0, time.UTC)
	st := publish.Status{Job: "ctr-stream", Model: "ctr", Updated: start.Add(24 * time.Hour), State: "running",
		Source: "kafka://clicks", Offsets: map[int32]int64{0: 120_000, 1: 119_500}, Examples: 239_500,
		Watermark: start.Add(24 * time.Hour).UnixMilli(), DeadLetters: map[string]int64{"decode": 12},
		Prequential: publish.PrequentialStatus{
			Total:  publish.WindowStatus{Examples: 239_500, AUC: f(0.731), LogLoss: f(0.39)},
			Recent: publish.WindowStatus{Examples: 10_000, AUC: f(0.744), LogLoss: f(0.37)},
		}}
	for h := range 24 {
		s, e := start.Add(time.Duration(h)*time.Hour), start.Add(time.Duration(h+1)*time.Hour)
		st.Windows = append(st.Windows, publish.WindowStatus{Start: &s, End: &e, Examples: 10_000,
			AUC: f(0.70 + 0.04*float64(h)/23 + 0.004*math.Sin(float64(h))), AUCBound: f(0.002), LogLoss: f(0.4)})
	}
	for _, v := range []struct {
		version  int
		promoted bool
	}{{4, true}, {5, false}} {
		st.Versions = append(st.Versions, publish.Version{Version: v.version,
			Lineage:  model.Lineage{Job: "ctr-stream", Source: "kafka://clicks", Examples: int64(v.version) * 40_000, Watermark: start.Add(time.Duration(v.version) * 4 * time.Hour).UnixMilli()},
			Decision: model.Decision{Candidate: v.version, Promoted: v.promoted, Reason: "fixture"}})
	}
	raw, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// fixtureStates are the states of ctr-daily's runs on 2026-11-01 … 11-10.
var fixtureStates = []schedule.State{schedule.Succeeded, schedule.Succeeded, schedule.GateRefused, schedule.Succeeded,
	schedule.NoData, schedule.Failed, schedule.Succeeded, schedule.Succeeded, schedule.Waiting, schedule.Running}

// fillRuns writes run records for two scheduled jobs: ctr-daily with one
// run per day in every state, and churn-daily with three days, the middle
// one's record garbled; plus a lease object the listing must skip.
func fillRuns(t testing.TB, store lake.Store) {
	t.Helper()
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i, st := range fixtureStates {
		d := day.AddDate(0, 0, i)
		r := schedule.Record{Job: "ctr-daily", Interval: d.Format(time.DateOnly), DataIntervalStart: d, DataIntervalEnd: d.AddDate(0, 0, 1),
			State: st, Attempt: 1, MaxAttempts: 3, Model: "ctr", QueuedAt: d.AddDate(0, 0, 1), StartedAt: d.AddDate(0, 0, 1)}
		if st == schedule.Succeeded || st == schedule.GateRefused {
			r.Version, r.Metrics, r.Durations.Total = 1+i%5, map[string]float64{"auc": 0.7 + float64(i)/100}, 42
		}
		if st == schedule.Waiting {
			r.Missing = []string{"clicks/dt=" + d.Format(time.DateOnly)}
		}
		raw, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		put(t, store, schedule.RecordKey("ctr-daily", r.Interval), raw)
	}
	for i := range 3 {
		d := day.AddDate(0, 0, 7+i)
		r := schedule.Record{Job: "churn-daily", Interval: d.Format(time.DateOnly), State: schedule.Succeeded, Attempt: 1, MaxAttempts: 1, Model: "churn", Version: 1}
		raw, _ := json.Marshal(r)
		if i == 1 {
			raw = []byte("{garbled")
		}
		put(t, store, schedule.RecordKey("churn-daily", r.Interval), raw)
	}
	put(t, store, schedule.RunsPrefix("ctr-daily")+"_leases/2026-11-10/1.json", []byte(`{}`))
}

func put(t testing.TB, store lake.Store, key string, data []byte) {
	t.Helper()
	if err := lake.PutBytes(context.Background(), store, key, data); err != nil {
		t.Fatal(err)
	}
}

// fixtureLake returns an in-memory lake filled with the fixture.
func fixtureLake(t testing.TB) lake.Store {
	store := laketest.NewMemory()
	fillLake(t, store)
	return store
}
