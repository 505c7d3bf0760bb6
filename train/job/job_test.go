package job_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/train"
	"github.com/lakestream/lakestream/train/clicklog"
	"github.com/lakestream/lakestream/train/feature"
	"github.com/lakestream/lakestream/train/job"
)

// clickLake writes a small click log (3 train days, 1 test day) to a local
// lake and returns a job config over it.
func clickLake(t testing.TB, rows int) (job.Config, clicklog.Summary) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "lake")
	store, err := lake.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	gc := clicklog.DefaultConfig()
	gc.Rows, gc.RowGroupRows = rows, 4096
	sum, err := clicklog.Generate(context.Background(), store, "clicks", gc)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := feature.Parse([]byte(clicklog.SpecYAML(18)))
	if err != nil {
		t.Fatal(err)
	}
	c := job.DefaultConfig()
	c.Lake, c.Data, c.Spec = dir, "clicks", spec
	c.DT = sum.Days[0].DT + ".." + sum.Days[len(sum.Days)-2].DT
	c.ValidationDT = sum.Test().DT
	return c, sum
}

func TestConfigValidate(t *testing.T) {
	spec, err := feature.Parse([]byte(clicklog.SpecYAML(10)))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(*job.Config)
		want string // in the error; "" for valid
	}{
		{"default with data and spec", func(*job.Config) {}, ""},
		{"no data", func(c *job.Config) { c.Data = "" }, "--data"},
		{"no spec", func(c *job.Config) { c.Spec = nil }, "--spec"},
		{"bad dt", func(c *job.Config) { c.DT = "..2026-11-01" }, "--dt"},
		{"bad validation dt", func(c *job.Config) { c.ValidationDT = "2026-11-01.." }, "--validation-dt"},
		{"both validations", func(c *job.Config) { c.ValidationDT, c.ValidationHash = "2026-11-01", "id:10" }, "not both"},
		{"bad validation hash", func(c *job.Config) { c.ValidationHash = "id:100" }, "--validation-hash"},
		{"bad where", func(c *job.Config) { c.Where = "dt >" }, "--where"},
		{"parallel 0", func(c *job.Config) { c.Parallel = 0 }, "--parallel"},
		{"warm start in parallel", func(c *job.Config) { c.WarmStart, c.Parallel = "m", 2 }, "--warm-start"},
		{"bad warm start", func(c *job.Config) { c.WarmStart = "m@x/y" }, "--warm-start"},
		{"bad output", func(c *job.Config) { c.Output = ".hidden" }, "--output"},
		{"batch size 0", func(c *job.Config) { c.BatchSize = 0 }, "--batch-size"},
		{"checkpoints", func(c *job.Config) { c.CheckpointEvery, c.Output = time.Second, "m" }, ""},
		{"checkpoints without output", func(c *job.Config) { c.CheckpointEvery = time.Second }, "--output"},
		{"checkpoints in parallel", func(c *job.Config) { c.CheckpointEvery, c.Output, c.Parallel = time.Second, "m", 2 }, "--parallel 1"},
		{"checkpoints with shuffle", func(c *job.Config) { c.CheckpointEvery, c.Output, c.ShuffleBuffer = time.Second, "m", 100 }, "--shuffle-buffer 0"},
		{"checkpoints with patience", func(c *job.Config) { c.CheckpointEvery, c.Output, c.Train.Patience = time.Second, "m", 1 }, "--patience"},
		{"restore without checkpoints", func(c *job.Config) { c.Restore = true }, "--restore needs --checkpoint-every"},
		{"bayes-linear on clicks", func(c *job.Config) { c.Model = train.DefaultModelConfig(train.KindBayesLinear) }, "adpredictor"},
		{"adpredictor on clicks", func(c *job.Config) { c.Model = train.DefaultModelConfig(train.KindAdPredictor) }, ""},
		{"adpredictor logloss", func(c *job.Config) {
			c.Model, c.Train.Metric = train.DefaultModelConfig(train.KindAdPredictor), train.MetricLogLoss
		}, ""},
		{"rmse of a click model", func(c *job.Config) { c.Train.Metric = train.MetricRMSE }, "--metric"},
		{"softmax on clicks", func(c *job.Config) { c.Model = train.DefaultModelConfig(train.KindSoftmax) }, "needs a multiclass label"},
		{"promote", func(c *job.Config) {
			c.Output, c.ValidationDT, c.Promote = "m", "2026-11-04", &job.Promotion{Gate: model.Gate{Metric: "auc"}}
		}, ""},
		{"promote without output", func(c *job.Config) {
			c.ValidationDT, c.Promote = "2026-11-04", &job.Promotion{Gate: model.Gate{Metric: "auc"}}
		}, "--output"},
		{"promote on a hash split", func(c *job.Config) {
			c.Output, c.ValidationHash, c.Promote = "m", "id:10", &job.Promotion{Gate: model.Gate{Metric: "auc"}}
		}, "--validation-dt"},
		{"promote on rmse", func(c *job.Config) {
			c.Output, c.ValidationDT, c.Promote = "m", "2026-11-04", &job.Promotion{Gate: model.Gate{Metric: "rmse"}}
		}, "AUC"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := job.DefaultConfig()
			c.Data, c.Spec = "clicks", spec
			tc.edit(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate: %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate: %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

func TestRunSavesTheBestEpoch(t *testing.T) {
	c, sum := clickLake(t, 20000)
	c.Train.Epochs = 2
	c.Output = "lr"
	out, err := job.Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	trainRows := 0
	for _, d := range sum.Days[:len(sum.Days)-1] {
		trainRows += d.Rows
	}
	if out.Rows != int64(trainRows) || out.Version != 1 {
		t.Fatalf("rows %d version %d, want %d and 1", out.Rows, out.Version, trainRows)
	}
	v := out.Result.Validation
	if v == nil || v.AUC < 0.6 || v.Examples != int64(sum.Test().Rows) {
		t.Fatalf("validation %+v, want AUC > 0.6 over the %d test rows", v, sum.Test().Rows)
	}
	store, err := lake.NewLocal(c.Lake)
	if err != nil {
		t.Fatal(err)
	}
	mf, err := model.ReadManifest(context.Background(), store, "lr", 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := mf.Meta.Metrics["validation_auc"]; got != v.AUC {
		t.Errorf("saved validation_auc %v, want the run's %v", got, v.AUC)
	}
}

func TestTableSpecs(t *testing.T) {
	mc := train.DefaultModelConfig(train.KindFM)
	mc.Fields = 3
	m, err := train.NewModel(mc)
	if err != nil {
		t.Fatal(err)
	}
	c := job.DefaultConfig()
	cold := job.TableSpecs(m, c.Optimizer, 7, false)
	warm := job.TableSpecs(m, c.Optimizer, 7, true)
	if len(cold) != len(m.Tables()) || len(warm) != len(cold) {
		t.Fatalf("%d and %d specs for %d tables", len(cold), len(warm), len(m.Tables()))
	}
	random := 0
	for i, s := range cold {
		if s.Init.Std > 0 {
			random++
			if s.Init.Seed != 7 {
				t.Errorf("table %s: init seed %d, want 7", s.Name, s.Init.Seed)
			}
		}
		if warm[i].Init.Std != 0 {
			t.Errorf("table %s starts random under a warm start", s.Name)
		}
	}
	if random == 0 {
		t.Error("no FM table starts random")
	}
}

func TestRestoreNeedsACheckpoint(t *testing.T) {
	c, _ := clickLake(t, 2000)
	c.CheckpointEvery, c.Output, c.Restore = time.Second, "m", true
	_, err := job.Run(context.Background(), c)
	if err == nil || !strings.Contains(err.Error(), "--restore: no checkpoint") {
		t.Fatalf("Run: %v, want the missing checkpoint named", err)
	}
}

// TestRunPublishes: a bounded job leaves through the publish step. Without
// Promote the version is saved with its lineage and not judged (the
// champion does not move); with it, the gate judges it on the validation
// days, against the champion once there is one, and the decision is kept
// beside a refused version. A rerun over the same data is a new version.
func TestRunPublishes(t *testing.T) {
	ctx := context.Background()
	c, sum := clickLake(t, 8000)
	c.Output = "ctr"
	store, err := lake.NewLocal(c.Lake)
	if err != nil {
		t.Fatal(err)
	}

	out, err := job.Run(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	mf, err := model.ReadManifest(ctx, store, "ctr", out.Version)
	if err != nil {
		t.Fatal(err)
	}
	lin := mf.Meta.Lineage
	if lin == nil || lin.Job != "train-ctr" || lin.Examples != out.Rows || !strings.Contains(lin.Position, "end of epoch 1 of 1") ||
		!strings.HasSuffix(lin.Source, "/clicks") {
		t.Fatalf("lineage %+v, want job train-ctr, %d examples, the end of epoch 1", lin, out.Rows)
	}
	if _, err := model.Alias(ctx, store, "ctr", model.Champion); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("champion after a run without Promote: %v, want none", err)
	}

	var announced []int
	c.Promote = &job.Promotion{Gate: model.Gate{Metric: "auc", Floor: 0.6, Epsilon: 0.002},
		Announce: func(_ context.Context, rec model.AliasRecord) error {
			announced = append(announced, rec.Version)
			return nil
		}}
	out, err = job.Run(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	v := out.Published
	if out.Version != 2 || v == nil || !v.Decision.Promoted || !v.Announced || v.Decision.Evaluation.ChampionVersion != 0 ||
		!strings.Contains(v.Decision.Evaluation.Slice, sum.Test().DT) {
		t.Fatalf("version %d published %+v: want version 2 promoted over no champion on %s, announced", out.Version, v, sum.Test().DT)
	}
	if v.Decision.Evaluation.Candidate != out.Result.Validation.AUC {
		t.Errorf("gate AUC %v, the job's validation AUC %v: want the same rows scored the same", v.Decision.Evaluation.Candidate, out.Result.Validation.AUC)
	}

	c.Promote.Gate.Floor = 0.999
	out, err = job.Run(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	v = out.Published
	if out.Version != 3 || v.Decision.Promoted || v.Decision.Evaluation.ChampionVersion != 2 || v.Error != "" {
		t.Fatalf("version %d published %+v: want version 3 refused against champion 2", out.Version, v)
	}
	if rec, err := model.Alias(ctx, store, "ctr", model.Champion); err != nil || rec.Version != 2 {
		t.Fatalf("champion %+v, %v: want version 2 still", rec, err)
	}
	if len(announced) != 1 || announced[0] != 2 {
		t.Errorf("announced %v, want [2]", announced)
	}
}
