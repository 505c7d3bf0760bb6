package eval_test

import (
	"bytes"
	"image"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/lakestream/lakestream/eval"
)

// fullReport builds a report with every section from seeded data.
func fullReport(t *testing.T) *eval.Report {
	t.Helper()
	r := rand.New(rand.NewPCG(51, 52))
	tb := randomTable(r, 4000)
	recs := tb.records(0, 4000, 500)
	defer func() {
		for _, rec := range recs {
			rec.Release()
		}
	}()
	cfg := eval.DefaultHeldOutConfig("clicked")
	cfg.Weight, cfg.Group = "w", "user"
	blur := scorerFunc(func(rec arrow.Record, dst []float64) error {
		if err := eval.ColumnScorer("p").Score(rec, dst); err != nil {
			return err
		}
		for i := range dst {
			dst[i] = math.Round(dst[i]*8) / 8
		}
		return nil
	})
	pair, err := eval.NewPair(blur, eval.ColumnScorer("p"), cfg, eval.BootstrapConfig{Resamples: 200, Level: 0.95, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	pre, err := eval.NewPrequential(eval.DefaultPrequentialConfig(eval.Sliding(60_000, 20_000), "clicked", "ts"))
	if err != nil {
		t.Fatal(err)
	}
	var windows []eval.WindowResult
	for _, rec := range recs {
		if err := pair.Add(rec); err != nil {
			t.Fatal(err)
		}
		scores := make([]float64, rec.NumRows())
		if err := eval.ColumnScorer("p").Score(rec, scores); err != nil {
			t.Fatal(err)
		}
		if err := pre.ObserveRecord(rec, scores); err != nil {
			t.Fatal(err)
		}
		last := rec.Column(4).(*array.Timestamp).Value(int(rec.NumRows()) - 1)
		windows = append(windows, pre.Advance(int64(last))...)
	}
	windows = append(windows, pre.Flush()...)
	res, err := pair.Result()
	if err != nil {
		t.Fatal(err)
	}
	decision := eval.Decision{Publish: res.Comparison.ChallengerAUC >= 0.6, Reason: "challenger AUC against the floor 0.6"}
	var loss []eval.LossPoint
	for step := int64(0); step <= 2000; step += 50 {
		l := eval.LossPoint{Step: step, Train: 0.45 + 0.25*math.Exp(-float64(step)/400) + 0.01*r.NormFloat64(), Validation: math.NaN()}
		if step%250 == 0 {
			l.Validation = 0.47 + 0.23*math.Exp(-float64(step)/450)
		}
		loss = append(loss, l)
	}
	return &eval.Report{
		SchemaVersion:     eval.ReportSchemaVersion,
		CreatedAt:         time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC),
		Model:             &eval.ModelRef{Name: "ctr", Version: "v1"},
		Dataset:           "testdata",
		Binary:            eval.NewBinaryReport(res.Champion.Binary),
		Grouped:           res.Champion.Grouped,
		Challenger:        &eval.ModelRef{Name: "ctr", Version: "v2"},
		ChallengerBinary:  eval.NewBinaryReport(res.Challenger.Binary),
		ChallengerGrouped: res.Challenger.Grouped,
		Comparison:        &res.Comparison,
		Decision:          &decision,
		Prequential:       eval.NewWindowReports(windows),
		Loss:              loss,
	}
}

func TestReportWritesPlotsAndJSON(t *testing.T) {
	dir := t.TempDir()
	if d := os.Getenv("EVAL_REPORT_DIR"); d != "" {
		dir = d // to look at the plots: EVAL_REPORT_DIR=/tmp/r go test -run Report
	}
	rep := fullReport(t)
	if err := rep.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	wantPlots := []string{"roc", "pr", "calibration", "loss", "prequential"}
	for _, name := range wantPlots {
		for _, ext := range []string{".png", ".svg"} {
			if !slices.Contains(rep.Plots, name+ext) {
				t.Errorf("report does not list %s%s: %v", name, ext, rep.Plots)
			}
		}
		t.Run(name, func(t *testing.T) {
			f, err := os.Open(filepath.Join(dir, name+".png"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			img, err := png.Decode(f)
			if err != nil {
				t.Fatal(err)
			}
			b := img.Bounds()
			if b.Dx() != 576 || b.Dy() != 432 {
				t.Errorf("%s.png is %dx%d, want 576x432", name, b.Dx(), b.Dy())
			}
			// Not blank: count pixels that differ from the background (the
			// top-left pixel); axes, text and curves give several percent.
			inked, colored := inkedPixels(img)
			share := float64(inked) / float64(b.Dx()*b.Dy())
			t.Logf("%s.png: %.1f%% inked, %d coloured pixels", name, 100*share, colored)
			if share < 0.02 {
				t.Errorf("%s.png looks blank: %.2f%% of pixels differ from the background", name, 100*share)
			}
			// The data are drawn in colour; axes and text are grey.
			if colored < 200 {
				t.Errorf("%s.png has only %d coloured pixels: no data drawn?", name, colored)
			}
			svg, err := os.ReadFile(filepath.Join(dir, name+".svg"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(svg, []byte("<svg")) || len(svg) < 2000 {
				t.Errorf("%s.svg is not a drawn SVG (%d bytes)", name, len(svg))
			}
		})
	}

	f, err := os.Open(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	back, err := eval.ReadReport(f)
	if err != nil {
		t.Fatal(err)
	}
	if back.Binary.AUC != rep.Binary.AUC || back.Comparison.Diff != rep.Comparison.Diff || len(back.Prequential) != len(rep.Prequential) {
		t.Errorf("report does not round-trip: %+v", back.Binary)
	}
	if !math.IsNaN(back.Loss[1].Validation) || back.Loss[0].Validation != rep.Loss[0].Validation {
		t.Errorf("loss points do not round-trip: %+v %+v", back.Loss[0], back.Loss[1])
	}
	if back.Decision == nil || !back.Decision.Publish {
		t.Errorf("decision %+v: the sharper challenger should pass", back.Decision)
	}
}

func inkedPixels(img image.Image) (inked, colored int) {
	b := img.Bounds()
	bg := img.At(b.Min.X, b.Min.Y)
	br, bgg, bb, _ := bg.RGBA()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r != br || g != bgg || bl != bb {
				inked++
			}
			if max(r, g, bl)-min(r, g, bl) > 0x2000 {
				colored++
			}
		}
	}
	return inked, colored
}
