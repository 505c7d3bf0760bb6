package eval

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// NamedCurve is a curve with the legend entry it is drawn under.
type NamedCurve struct {
	Name  string
	Curve Curve
	// Area is the value the legend shows (AUC for ROC, average precision for
	// PR), exact when the caller has it; 0 means compute it from the points,
	// which is exact only for an unthinned curve.
	Area float64
}

// NamedCalibration is a reliability diagram with its legend entry.
type NamedCalibration struct {
	Name        string
	Calibration Calibration
}

// palette holds colour-blind-safe line colours (Okabe & Ito 2008).
var palette = []color.Color{
	color.RGBA{0, 114, 178, 255},   // blue
	color.RGBA{213, 94, 0, 255},    // vermillion
	color.RGBA{0, 158, 115, 255},   // bluish green
	color.RGBA{204, 121, 167, 255}, // reddish purple
	color.RGBA{230, 159, 0, 255},   // orange
}

var reference = color.Gray{Y: 150}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(14)
	p.Title.Padding = vg.Points(8)
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Add(&plotter.Grid{
		Vertical:   draw.LineStyle{Color: color.Gray{Y: 225}, Width: vg.Points(0.5)},
		Horizontal: draw.LineStyle{Color: color.Gray{Y: 225}, Width: vg.Points(0.5)},
	})
	p.Legend.TextStyle.Font.Size = vg.Points(10)
	return p
}

func unitAxes(p *plot.Plot) {
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1.02
}

func addLine(p *plot.Plot, xys plotter.XYs, c color.Color, width float64, dashed bool, legend string) error {
	l, err := plotter.NewLine(xys)
	if err != nil {
		return err
	}
	l.Color = c
	l.Width = vg.Points(width)
	if dashed {
		l.Dashes = []vg.Length{vg.Points(5), vg.Points(4)}
	}
	p.Add(l)
	if legend != "" {
		p.Legend.Add(legend, l)
	}
	return nil
}

func curveXYs(c Curve) plotter.XYs {
	t := thin(c, 4*CurvePoints)
	xys := make(plotter.XYs, len(t.X))
	for i := range t.X {
		xys[i] = plotter.XY{X: t.X[i], Y: t.Y[i]}
	}
	return xys
}

// ROCPlot draws ROC curves with the chance diagonal; the legend shows each
// curve's area.
func ROCPlot(curves ...NamedCurve) (*plot.Plot, error) {
	p := newPlot("ROC curve", "False positive rate", "True positive rate")
	unitAxes(p)
	if err := addLine(p, plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}}, reference, 1, true, "chance (AUC 0.5)"); err != nil {
		return nil, err
	}
	for i, nc := range curves {
		auc := nc.Area
		if auc == 0 {
			auc = trapezoid(nc.Curve)
		}
		if err := addLine(p, curveXYs(nc.Curve), palette[i%len(palette)], 2, false, fmt.Sprintf("%s (AUC %.4f)", nc.Name, auc)); err != nil {
			return nil, err
		}
	}
	p.Legend.Top, p.Legend.Left = false, false
	p.Legend.XOffs, p.Legend.YOffs = -vg.Points(8), vg.Points(8)
	return p, nil
}

// trapezoid is the area under a ROC curve given as points.
func trapezoid(c Curve) float64 {
	var a float64
	for i := 1; i < len(c.X); i++ {
		a += (c.X[i] - c.X[i-1]) * (c.Y[i] + c.Y[i-1]) / 2
	}
	return a
}

// PRPlot draws precision–recall curves with the no-skill line at the
// positive rate; the legend shows each curve's average precision.
func PRPlot(positiveRate float64, curves ...NamedCurve) (*plot.Plot, error) {
	p := newPlot("Precision–recall curve", "Recall", "Precision")
	unitAxes(p)
	if err := addLine(p, plotter.XYs{{X: 0, Y: positiveRate}, {X: 1, Y: positiveRate}}, reference, 1, true,
		fmt.Sprintf("no skill (%.3f)", positiveRate)); err != nil {
		return nil, err
	}
	for i, nc := range curves {
		// Draw the step function AP integrates: from (R_{n-1}, P_n) to (R_n, P_n).
		var steps Curve
		prev := 0.0
		for j := range nc.Curve.X {
			steps.X = append(steps.X, prev, nc.Curve.X[j])
			steps.Y = append(steps.Y, nc.Curve.Y[j], nc.Curve.Y[j])
			prev = nc.Curve.X[j]
		}
		ap := nc.Area
		if ap == 0 {
			ap = apFromCurve(nc.Curve)
		}
		if err := addLine(p, curveXYs(steps), palette[i%len(palette)], 2, false,
			fmt.Sprintf("%s (AP %.4f)", nc.Name, ap)); err != nil {
			return nil, err
		}
	}
	// Bottom left: precision–recall curves start high and fall to the right.
	p.Legend.Top, p.Legend.Left = false, true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(8), vg.Points(8)
	return p, nil
}

// CalibrationPlot draws reliability diagrams: per bin, the mean predicted
// probability against the observed positive rate, with the diagonal of
// perfect calibration; a point's size shows its bin's share of the weight.
func CalibrationPlot(cals ...NamedCalibration) (*plot.Plot, error) {
	p := newPlot("Calibration (reliability diagram)", "Mean predicted probability", "Observed positive rate")
	unitAxes(p)
	if err := addLine(p, plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}}, reference, 1, true, "perfectly calibrated"); err != nil {
		return nil, err
	}
	for i, nc := range cals {
		c := nc.Calibration
		col := palette[i%len(palette)]
		var xys plotter.XYs
		var sizes []float64
		var total float64
		for _, b := range c.Bins {
			total += b.Weight
		}
		for _, b := range c.Bins {
			if b.Weight > 0 {
				xys = append(xys, plotter.XY{X: b.MeanPredicted, Y: b.FractionPositive})
				sizes = append(sizes, b.Weight/total)
			}
		}
		if len(xys) == 0 {
			continue
		}
		if err := addLine(p, xys, col, 1.5, false, fmt.Sprintf("%s (ECE %.4f)", nc.Name, c.ECE)); err != nil {
			return nil, err
		}
		s, err := plotter.NewScatter(xys)
		if err != nil {
			return nil, err
		}
		s.GlyphStyleFunc = func(i int) draw.GlyphStyle {
			return draw.GlyphStyle{Color: col, Shape: draw.CircleGlyph{}, Radius: vg.Points(2 + 6*math.Sqrt(sizes[i]))}
		}
		p.Add(s)
	}
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(8), -vg.Points(8)
	return p, nil
}

// LossPlot draws training and validation loss by step; NaN values (not
// measured at that step) are skipped.
func LossPlot(points []LossPoint) (*plot.Plot, error) {
	p := newPlot("Loss by training step", "Step", "Loss")
	var train, val plotter.XYs
	for _, pt := range points {
		if !math.IsNaN(pt.Train) {
			train = append(train, plotter.XY{X: float64(pt.Step), Y: pt.Train})
		}
		if !math.IsNaN(pt.Validation) {
			val = append(val, plotter.XY{X: float64(pt.Step), Y: pt.Validation})
		}
	}
	if len(train) > 0 {
		if err := addLine(p, train, palette[0], 1.5, false, "training"); err != nil {
			return nil, err
		}
	}
	if len(val) > 0 {
		if err := addLine(p, val, palette[1], 2, false, "validation"); err != nil {
			return nil, err
		}
		s, err := plotter.NewScatter(val)
		if err != nil {
			return nil, err
		}
		s.GlyphStyle = draw.GlyphStyle{Color: palette[1], Shape: draw.CircleGlyph{}, Radius: vg.Points(2.5)}
		p.Add(s)
	}
	p.Legend.Top = true
	return p, nil
}

// PrequentialPlot draws the prequential AUC per window against the window's
// end time, with the sketch's error bound as a band; windows where AUC is
// undefined are gaps.
func PrequentialPlot(windows []WindowReport) (*plot.Plot, error) {
	p := newPlot("Prequential AUC (test-then-train)", "Window end (UTC)", "AUC")
	p.X.Tick.Marker = plot.TimeTicks{Format: "01-02\n15:04:05"}
	var mid, lo, hi plotter.XYs
	for _, w := range windows {
		if w.AUC == nil {
			continue
		}
		x := float64(w.End.UnixMilli()) / 1000
		mid = append(mid, plotter.XY{X: x, Y: *w.AUC})
		lo = append(lo, plotter.XY{X: x, Y: *w.AUC - w.AUCErrorBound})
		hi = append(hi, plotter.XY{X: x, Y: *w.AUC + w.AUCErrorBound})
	}
	if len(mid) == 0 {
		return p, nil
	}
	band := append(append(plotter.XYs{}, lo...), reversed(hi)...)
	poly, err := plotter.NewPolygon(band)
	if err != nil {
		return nil, err
	}
	poly.Color = color.NRGBA{0, 114, 178, 60}
	poly.LineStyle.Width = 0
	p.Add(poly)
	if err := addLine(p, mid, palette[0], 2, false, "AUC per window"); err != nil {
		return nil, err
	}
	s, err := plotter.NewScatter(mid)
	if err != nil {
		return nil, err
	}
	s.GlyphStyle = draw.GlyphStyle{Color: palette[0], Shape: draw.CircleGlyph{}, Radius: vg.Points(2)}
	p.Add(s)
	p.Legend.Add("error bound", poly)
	p.Legend.Top = false
	return p, nil
}

func reversed(xys plotter.XYs) plotter.XYs {
	out := make(plotter.XYs, len(xys))
	for i, v := range xys {
		out[len(xys)-1-i] = v
	}
	return out
}

// PlotWidth and PlotHeight are the size plots are saved at: 6 × 4.5 inches,
// which is 576 × 432 pixels in PNG (at vg's default 96 dpi).
const (
	PlotWidth  = 6 * vg.Inch
	PlotHeight = 4.5 * vg.Inch
)

// SavePlot writes p as dir/name.png and dir/name.svg and returns the file
// names written (relative to dir).
func SavePlot(p *plot.Plot, dir, name string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var files []string
	for _, ext := range []string{".png", ".svg"} {
		f := name + ext
		if err := p.Save(PlotWidth, PlotHeight, filepath.Join(dir, f)); err != nil {
			return files, fmt.Errorf("save plot %s: %w", f, err)
		}
		files = append(files, f)
	}
	return files, nil
}
