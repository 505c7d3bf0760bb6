package job_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/train/clicklog"
	"github.com/lakestream/lakestream/train/feature"
	"github.com/lakestream/lakestream/train/job"
)

// activityMargin is the validation AUC by which logistic regression with
// the hour of day (a derived column of the YYMMDDHH hour) and the
// device_ip's rows in the hour before (a window) must beat it without them
// on the held-out day of a click log whose label depends on both
// (clicklog.Config.Activity). Measured: see bench/RESULTS.md.
const activityMargin = 0.03

// TestWindowedFeaturesBeatWithout is the acceptance test of derived and
// windowed features: the same click log, the same model and settings, two
// specs.
func TestWindowedFeaturesBeatWithout(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "lake")
	store, err := lake.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	gc := clicklog.DefaultConfig()
	gc.Rows, gc.RowGroupRows, gc.Activity = 200_000, 8192, true
	sum, err := clicklog.Generate(context.Background(), store, "clicks", gc)
	if err != nil {
		t.Fatal(err)
	}
	auc := map[bool]float64{}
	for _, windows := range []bool{false, true} {
		yaml := clicklog.SpecYAML(18)
		if windows {
			yaml = clicklog.ActivitySpecYAML(18)
		}
		spec, err := feature.Parse([]byte(yaml))
		if err != nil {
			t.Fatal(err)
		}
		c := job.DefaultConfig()
		c.Lake, c.Data, c.Spec = dir, "clicks", spec
		c.DT = sum.Days[0].DT + ".." + sum.Days[len(sum.Days)-2].DT
		c.ValidationDT = sum.Test().DT
		c.Train.Epochs = 3
		out, err := job.Run(context.Background(), c)
		if err != nil {
			t.Fatalf("windows %v: %v", windows, err)
		}
		v := out.Result.Validation
		if v == nil || v.Examples != int64(sum.Test().Rows) {
			t.Fatalf("windows %v: validation %+v, want the %d test rows", windows, v, sum.Test().Rows)
		}
		auc[windows] = v.AUC
	}
	t.Logf("held-out day %s: AUC %.4f without, %.4f with hour of day and ip_rows_1h (margin %.4f); planted model %.4f",
		sum.Test().DT, auc[false], auc[true], auc[true]-auc[false], sum.Test().BestAUC)
	if auc[true]-auc[false] < activityMargin {
		t.Fatalf("AUC %.4f with the features, %.4f without: margin %.4f, want ≥ %.2f", auc[true], auc[false], auc[true]-auc[false], activityMargin)
	}
}
