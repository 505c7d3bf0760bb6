package evaltable

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/model/modeltest"
	"github.com/lakestream/lakestream/train/feature"
)

type row struct {
	X1    float64 `parquet:"x1"`
	X2    float64 `parquet:"x2"`
	Click bool    `parquet:"click"`
}

// newLake writes n rows whose label depends on x1 + x2 into
// heldout/dt=2026-11-08/ (committed) and heldout/dt=2026-11-09/ (no
// _SUCCESS marker), and saves three logistic versions of "ctr": v1 sees
// x1, v2 is worse (a negative weight on x2), v3 is the true model.
func newLake(t *testing.T, n int) lake.Store {
	t.Helper()
	ctx := context.Background()
	store, err := lake.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 8))
	for _, dt := range []string{"2026-11-08", "2026-11-09"} {
		rows := make([]row, n)
		for i := range rows {
			x1, x2 := r.NormFloat64(), r.NormFloat64()
			rows[i] = row{X1: x1, X2: x2, Click: r.Float64() < 1/(1+math.Exp(-2*(x1+x2)))}
		}
		var buf bytes.Buffer
		w := parquet.NewGenericWriter[row](&buf)
		if _, err := w.Write(rows); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := lake.PutBytes(ctx, store, "heldout/dt="+dt+"/part-0.parquet", buf.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	if err := lake.PutBytes(ctx, store, "heldout/dt=2026-11-08/"+lake.SuccessMarker, nil); err != nil {
		t.Fatal(err)
	}
	for _, w := range [][2]float32{{1, 0}, {1, -0.3}, {1, 1}} {
		modeltest.SaveLogistic(t, store, "ctr", w[0], w[1])
	}
	return store
}

func TestConfigValidate(t *testing.T) {
	ok := DefaultConfig()
	ok.Data, ok.Model = "heldout", "ctr@champion"
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string // "" for valid
	}{
		{"valid", func(*Config) {}, ""},
		{"no data", func(c *Config) { c.Data = "" }, "held-out table"},
		{"model and column", func(c *Config) { c.ScoreColumn = "p" }, "exactly one"},
		{"bad ref", func(c *Config) { c.Model = "ctr@0" }, "versions start at 1"},
		{"challenger without model", func(c *Config) { c.Model, c.ScoreColumn, c.Challenger = "", "p", "ctr@2" }, "needs a model"},
		{"challenger with sketch", func(c *Config) { c.Challenger, c.Binary.KeepScores = "ctr@2", false }, "every score"},
		{"task", func(c *Config) { c.Task = "ranking" }, "task"},
		{"batch", func(c *Config) { c.BatchSize = 0 }, "batch size"},
		{"where", func(c *Config) { c.Where = "dt >" }, "where"},
		{"bad day", func(c *Config) { c.DT = "2014-13-45" }, "not a day"},
		{"reversed", func(c *Config) { c.DT = "2014-10-22..2014-10-21" }, "reversed"},
		{"level", func(c *Config) { c.Bootstrap.Level = 2 }, "level"},
		{"gate", func(c *Config) { c.Gate.Floor, c.Gate.Epsilon = 0.5, -1 }, "epsilon"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.change(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestEvaluateAndGateEvaluation(t *testing.T) {
	ctx := context.Background()
	store := newLake(t, 2000)
	cfg := DefaultConfig()
	cfg.Data = "heldout"

	// The committed day only, unless uncommitted partitions are asked for.
	cfg.Model = "ctr@3"
	rep, err := Evaluate(ctx, store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Binary == nil || rep.Binary.Examples != 2000 || rep.Binary.AUC < 0.8 {
		t.Fatalf("committed rows: %+v", rep.Binary)
	}
	cfg.IncludeUncommitted = true
	if rep, err = Evaluate(ctx, store, cfg); err != nil || rep.Binary.Examples != 4000 {
		t.Fatalf("with uncommitted partitions: %v, %+v", err, rep)
	}
	cfg.IncludeUncommitted = false

	// No champion yet: the candidate's AUC alone.
	ev, err := GateEvaluation(ctx, store, cfg, "ctr", 1)
	if err != nil || !math.IsNaN(ev.Champion) || ev.ChampionVersion != 0 || ev.Candidate < 0.6 {
		t.Fatalf("no champion: %+v, %v", ev, err)
	}
	if _, _, err := model.Promote(ctx, store, "ctr", 1, model.Gate{Metric: "auc", Floor: 0.5}, ev); err != nil {
		t.Fatal(err)
	}
	if _, err := GateEvaluation(ctx, store, cfg, "ctr", 1); !errors.Is(err, ErrAlreadyChampion) {
		t.Fatalf("the champion as candidate: %v, want ErrAlreadyChampion", err)
	}
	// Against the champion, on the same rows; aliases resolve.
	ev, err = GateEvaluation(ctx, store, cfg, "ctr", 2)
	if err != nil || ev.ChampionVersion != 1 || !(ev.Candidate < ev.Champion) {
		t.Fatalf("worse candidate: %+v, %v", ev, err)
	}
	cfg.Model, cfg.Challenger = "ctr@champion", "ctr@3"
	rep, err = Evaluate(ctx, store, cfg)
	if err != nil || rep.Model.Version != "1" || rep.Comparison == nil || rep.Comparison.Diff <= 0 || rep.Decision == nil || !rep.Decision.Publish {
		t.Fatalf("champion vs challenger: %v, %+v", err, rep)
	}
}

// TestEvaluateLabelExpression evaluates a model whose label is an
// expression of the table's columns: the label is computed from the spec,
// not looked up as a column.
func TestEvaluateLabelExpression(t *testing.T) {
	ctx := context.Background()
	store := newLake(t, 2000)
	spec, err := feature.Parse([]byte("label: {expr: \"not click\"}\nnumeric: [{column: x1}, {column: x2}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	// The true model of "not click" has weights −1, −1 on x1, x2 (keys of
	// numeric fields 0 and 1, bucket 0).
	m, err := model.New(model.Metadata{Kind: model.KindLogistic}, spec, []model.Table{
		{Name: model.TableWeights, Width: 1, Keys: []uint64{feature.Key(0, 0), feature.Key(1, 0)}, Values: []float32{-1, -1}},
		{Name: model.TableBias, Width: 1, Dense: true, Values: []float32{0}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Save(ctx, store, "late"); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Data, cfg.Model = "heldout", "late@1"
	rep, err := Evaluate(ctx, store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Scored against the raw click column the AUC would be about 0.1.
	if rep.Binary == nil || rep.Binary.Examples != 2000 || rep.Binary.AUC < 0.8 {
		t.Fatalf("label expression: %+v", rep.Binary)
	}
}
