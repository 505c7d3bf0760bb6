package main

import (
	"bytes"
	"context"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/lakestream/lakestream/eval"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model/modeltest"
)

// heldOutRow is one row of the held-out table the eval tests write.
type heldOutRow struct {
	X1    float64 `parquet:"x1"`
	X2    float64 `parquet:"x2"`
	Click bool    `parquet:"click"`
	User  string  `parquet:"user"`
	P     float64 `parquet:"p"` // a precomputed score
}

// writeHeldOut writes n rows whose label depends on x1 and x2, in two
// Parquet files under heldout/ in a fresh local lake, and returns the lake.
func writeHeldOut(t *testing.T, n int) (string, []heldOutRow) {
	t.Helper()
	dir := t.TempDir()
	store, err := lake.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(61, 62))
	rows := make([]heldOutRow, n)
	for i := range rows {
		x1, x2 := r.NormFloat64(), r.NormFloat64()
		z := x1 + x2
		rows[i] = heldOutRow{
			X1: x1, X2: x2,
			Click: r.Float64() < 1/(1+math.Exp(-2*z)),
			User:  "u" + string(rune('a'+r.IntN(20))),
			P:     1 / (1 + math.Exp(-(x1 + 0.5*x2))),
		}
	}
	for part, chunk := range [][]heldOutRow{rows[:n/2], rows[n/2:]} {
		putParquet(t, store, filepath.ToSlash(filepath.Join("heldout", "part-"+string(rune('0'+part))+".parquet")), chunk)
	}
	return dir, rows
}

// putParquet writes rows as one Parquet file at key in store.
func putParquet[T any](t *testing.T, store lake.Store, key string, rows []T) {
	t.Helper()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[T](&buf)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := lake.PutBytes(context.Background(), store, key, buf.Bytes()); err != nil {
		t.Fatal(err)
	}
}

func TestEvalCommandWritesReportAndPlots(t *testing.T) {
	lakeDir, rows := writeHeldOut(t, 3000)
	store, err := lake.NewLocal(lakeDir)
	if err != nil {
		t.Fatal(err)
	}
	modeltest.SaveLogistic(t, store, "ctr", 1, 0)   // v1: champion, sees x1 only
	modeltest.SaveLogistic(t, store, "ctr", 1, 1.2) // v2: challenger, sees both

	for _, tc := range []struct {
		name  string
		args  []string
		plots []string
		check func(t *testing.T, rep *eval.Report)
	}{
		{
			name:  "model",
			args:  []string{"--model", "ctr@1", "--group", "user"},
			plots: []string{"roc", "pr", "calibration"},
			check: func(t *testing.T, rep *eval.Report) {
				// Reference: the exact AUC of σ(x1) is the AUC of x1.
				var s, y []float64
				for _, r := range rows {
					s = append(s, r.X1)
					y = append(y, b2f(r.Click))
				}
				want, _ := eval.ROCAUC(s, y, nil)
				if math.Abs(rep.Binary.AUC-want) > 1e-12 || !rep.Binary.Exact {
					t.Errorf("AUC %v (exact %v), want %v", rep.Binary.AUC, rep.Binary.Exact, want)
				}
				if rep.Binary.Examples != int64(len(rows)) || rep.Grouped == nil || rep.Grouped.Groups != 20 {
					t.Errorf("examples %d, grouped %+v", rep.Binary.Examples, rep.Grouped)
				}
				if rep.Model == nil || rep.Model.Name != "ctr" || rep.Model.Version != "1" {
					t.Errorf("model ref %+v", rep.Model)
				}
			},
		},
		{
			name:  "champion vs challenger",
			args:  []string{"--model", "ctr@1", "--challenger", "ctr", "--bootstrap", "200", "--min-auc", "0.7"},
			plots: []string{"roc", "pr", "calibration"},
			check: func(t *testing.T, rep *eval.Report) {
				c := rep.Comparison
				if c == nil || c.Diff <= 0 || c.CILow <= 0 || rep.Challenger.Version != "2" {
					t.Fatalf("comparison %+v challenger %+v: v2 should beat v1", c, rep.Challenger)
				}
				if rep.Decision == nil || !rep.Decision.Publish {
					t.Errorf("decision %+v", rep.Decision)
				}
			},
		},
		{
			name:  "score column, sketch",
			args:  []string{"--score-column", "p", "--label", "click", "--sketch"},
			plots: []string{"roc", "pr", "calibration"},
			check: func(t *testing.T, rep *eval.Report) {
				var s, y []float64
				for _, r := range rows {
					s = append(s, r.P)
					y = append(y, b2f(r.Click))
				}
				want, _ := eval.ROCAUC(s, y, nil)
				b := rep.Binary
				if b.Exact || math.Abs(b.AUC-want) > b.AUCErrorBound+1e-12 {
					t.Errorf("sketch AUC %v ± %v, exact %v", b.AUC, b.AUCErrorBound, want)
				}
			},
		},
		{
			name: "regression",
			args: []string{"--score-column", "p", "--label", "x1", "--task", "regression"},
			check: func(t *testing.T, rep *eval.Report) {
				var p, x []float64
				for _, r := range rows {
					p, x = append(p, r.P), append(x, r.X1)
				}
				want, _ := eval.RegressionMetrics(p, x, nil)
				if rep.Regression == nil || math.Abs(rep.Regression.RMSE-want.RMSE) > 1e-12 || math.Abs(rep.Regression.R2-want.R2) > 1e-12 {
					t.Errorf("regression %+v, want %+v", rep.Regression, want)
				}
				if rep.Binary != nil {
					t.Error("a regression report has a binary section")
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "report")
			args := append([]string{"eval", "--lake", lakeDir, "--data", "heldout/", "--out", out}, tc.args...)
			var stdout, stderr bytes.Buffer
			if err := dispatch(context.Background(), args, &stdout, &stderr); err != nil {
				t.Fatalf("trainer %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
			}
			t.Logf("stdout:\n%s", stdout.String())
			if !strings.Contains(stdout.String(), "report.json") {
				t.Errorf("stdout does not say where the report is:\n%s", stdout.String())
			}
			f, err := os.Open(filepath.Join(out, "report.json"))
			if err != nil {
				t.Fatal(err)
			}
			rep, err := eval.ReadReport(f)
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, rep)
			for _, name := range tc.plots {
				checkPNG(t, filepath.Join(out, name+".png"))
				if _, err := os.Stat(filepath.Join(out, name+".svg")); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// checkPNG opens a plot and checks its size and that it is not blank.
func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b := img.Bounds()
	if b.Dx() != 576 || b.Dy() != 432 {
		t.Errorf("%s is %dx%d, want 576x432", path, b.Dx(), b.Dy())
	}
	bg := img.At(0, 0)
	inked := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if img.At(x, y) != bg {
				inked++
			}
		}
	}
	// Axes, labels and a curve cover several percent of a 576×432 plot.
	if share := float64(inked) / float64(b.Dx()*b.Dy()); share < 0.02 {
		t.Errorf("%s looks blank: %.2f%% of pixels differ from the background", path, 100*share)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func TestEvalCommandUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"eval", "--model", "ctr"}, "--data is required"},
		{[]string{"eval", "--data", "x/"}, "exactly one of --model"},
		{[]string{"eval", "--data", "x/", "--score-column", "p", "--challenger", "ctr"}, "--challenger needs --model"},
		{[]string{"eval", "--data", "x/", "--model", "ctr", "--task", "ranking"}, "--task"},
		{[]string{"eval", "--data", "x/", "--model", "ctr", "--level", "2"}, "confidence level"},
	} {
		err := dispatch(context.Background(), tc.args, &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) || exitCode(err) != 2 {
			t.Errorf("%v: err = %v, want a usage error (exit 2) mentioning %q", tc.args, err, tc.want)
		}
	}
}
