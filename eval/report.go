package eval

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"gonum.org/v1/plot"
)

// ReportSchemaVersion is the version of the JSON report layout. Fields are
// only added within a version; renaming or removing one increments it.
const ReportSchemaVersion = 1

// Report is the machine-readable evaluation report, written as JSON
// (report.json) next to its plots. The publishing gate reads it: field names
// are stable (see ReportSchemaVersion), and absent sections are omitted.
type Report struct {
	SchemaVersion int       `json:"schema_version"`
	CreatedAt     time.Time `json:"created_at"`
	// Model and Dataset say what was evaluated on what.
	Model   *ModelRef `json:"model,omitempty"`
	Dataset string    `json:"dataset,omitempty"`

	Binary  *BinaryReport `json:"binary,omitempty"`
	Grouped *GroupAUC     `json:"grouped_auc,omitempty"`

	// Challenger, Comparison and Decision are set for a champion/challenger
	// evaluation: Model and Binary then describe the champion.
	Challenger        *ModelRef     `json:"challenger,omitempty"`
	ChallengerBinary  *BinaryReport `json:"challenger_binary,omitempty"`
	ChallengerGrouped *GroupAUC     `json:"challenger_grouped_auc,omitempty"`
	Comparison        *Comparison   `json:"comparison,omitempty"`
	Decision          *Decision     `json:"decision,omitempty"`

	Multiclass *Multiclass `json:"multiclass,omitempty"`
	Regression *Regression `json:"regression,omitempty"`
	Ranking    *Ranking    `json:"ranking,omitempty"`

	Prequential []WindowReport `json:"prequential,omitempty"`
	Loss        []LossPoint    `json:"loss,omitempty"`

	// Plots lists the plot files written with the report, relative to it.
	Plots []string `json:"plots,omitempty"`
}

// ModelRef names a model version.
type ModelRef struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
}

// BinaryReport is the JSON form of BinaryMetrics.
type BinaryReport struct {
	Examples       int64   `json:"examples"`
	Weight         float64 `json:"weight"`
	PositiveWeight float64 `json:"positive_weight"`
	PositiveRate   float64 `json:"positive_rate"`
	AUC            float64 `json:"auc"`
	// AUCErrorBound is 0 when Exact, else the sketch's guaranteed bound.
	AUCErrorBound    float64 `json:"auc_error_bound"`
	Exact            bool    `json:"exact"`
	AveragePrecision float64 `json:"average_precision"`
	KS               float64 `json:"ks"`
	LiftFraction     float64 `json:"lift_fraction"`
	Lift             float64 `json:"lift"`

	Threshold float64       `json:"threshold"`
	Accuracy  float64       `json:"accuracy"`
	Precision float64       `json:"precision"`
	Recall    float64       `json:"recall"`
	F1        float64       `json:"f1"`
	Confusion ConfusionJSON `json:"confusion"`

	// LogLoss, ECE, MCE and Calibration are absent for non-probability scores.
	LogLoss     *float64          `json:"log_loss,omitempty"`
	ECE         *float64          `json:"ece,omitempty"`
	MCE         *float64          `json:"mce,omitempty"`
	Calibration []ReliabilityJSON `json:"calibration,omitempty"`

	// ROC and PR hold at most CurvePoints points of each curve.
	ROC *CurveJSON `json:"roc,omitempty"`
	PR  *CurveJSON `json:"pr,omitempty"`
}

// ConfusionJSON is the weighted confusion matrix in the report.
type ConfusionJSON struct {
	TP float64 `json:"tp"`
	FP float64 `json:"fp"`
	TN float64 `json:"tn"`
	FN float64 `json:"fn"`
}

// ReliabilityJSON is one reliability bin in the report.
type ReliabilityJSON struct {
	Lo               float64 `json:"lo"`
	Hi               float64 `json:"hi"`
	Weight           float64 `json:"weight"`
	MeanPredicted    float64 `json:"mean_predicted"`
	FractionPositive float64 `json:"fraction_positive"`
}

// CurveJSON is a curve thinned to at most CurvePoints points, endpoints kept.
type CurveJSON struct {
	X []float64 `json:"x"`
	Y []float64 `json:"y"`
}

// CurvePoints is the most points of a curve the report and the plots keep.
const CurvePoints = 500

// LossPoint is the training and validation loss at a training step. A NaN
// field means "not measured at this step" and is written as null.
type LossPoint struct {
	Step       int64   `json:"step"`
	Train      float64 `json:"train"`
	Validation float64 `json:"validation"`
}

// MarshalJSON writes NaN losses as null.
func (p LossPoint) MarshalJSON() ([]byte, error) {
	type out struct {
		Step       int64    `json:"step"`
		Train      *float64 `json:"train"`
		Validation *float64 `json:"validation"`
	}
	o := out{Step: p.Step}
	if !math.IsNaN(p.Train) {
		o.Train = &p.Train
	}
	if !math.IsNaN(p.Validation) {
		o.Validation = &p.Validation
	}
	return json.Marshal(o)
}

// UnmarshalJSON reads null losses as NaN.
func (p *LossPoint) UnmarshalJSON(b []byte) error {
	var in struct {
		Step       int64    `json:"step"`
		Train      *float64 `json:"train"`
		Validation *float64 `json:"validation"`
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	*p = LossPoint{Step: in.Step, Train: math.NaN(), Validation: math.NaN()}
	if in.Train != nil {
		p.Train = *in.Train
	}
	if in.Validation != nil {
		p.Validation = *in.Validation
	}
	return nil
}

// WindowReport is one prequential window in the report.
type WindowReport struct {
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Examples int64     `json:"examples"`
	// AUC is null when the window holds one class only.
	AUC           *float64 `json:"auc"`
	AUCErrorBound float64  `json:"auc_error_bound"`
	LogLoss       *float64 `json:"log_loss,omitempty"`
	Accuracy      float64  `json:"accuracy"`
	Partial       bool     `json:"partial,omitempty"`
}

// NewBinaryReport converts metrics to their report form.
func NewBinaryReport(m BinaryMetrics) *BinaryReport {
	r := &BinaryReport{
		Examples:         m.Examples,
		Weight:           m.Weight,
		PositiveWeight:   m.PositiveWeight,
		PositiveRate:     ratio(m.PositiveWeight, m.Weight),
		AUC:              m.AUC,
		AUCErrorBound:    m.AUCBound,
		Exact:            m.Exact,
		AveragePrecision: m.AveragePrecision,
		KS:               m.KS,
		LiftFraction:     m.LiftFraction,
		Lift:             m.Lift,
		Threshold:        m.Confusion.Threshold,
		Accuracy:         m.Confusion.Accuracy(),
		Precision:        m.Confusion.Precision(),
		Recall:           m.Confusion.Recall(),
		F1:               m.Confusion.F1(),
		Confusion:        ConfusionJSON{m.Confusion.TP, m.Confusion.FP, m.Confusion.TN, m.Confusion.FN},
	}
	if m.Calibration != nil {
		ll, ece, mce := m.LogLoss, m.Calibration.ECE, m.Calibration.MCE
		r.LogLoss, r.ECE, r.MCE = &ll, &ece, &mce
		for _, b := range m.Calibration.Bins {
			r.Calibration = append(r.Calibration, ReliabilityJSON(b))
		}
	}
	if len(m.ROC.X) > 0 {
		r.ROC = thin(m.ROC, CurvePoints)
	}
	if len(m.PR.X) > 0 {
		r.PR = thin(m.PR, CurvePoints)
	}
	return r
}

// thin keeps at most max points of c, evenly spaced by index, with both ends.
func thin(c Curve, max int) *CurveJSON {
	n := len(c.X)
	if n <= max {
		return &CurveJSON{X: append([]float64(nil), c.X...), Y: append([]float64(nil), c.Y...)}
	}
	out := &CurveJSON{X: make([]float64, max), Y: make([]float64, max)}
	for i := range max {
		j := int(math.Round(float64(i) * float64(n-1) / float64(max-1)))
		out.X[i], out.Y[i] = c.X[j], c.Y[j]
	}
	return out
}

// NewWindowReports converts prequential results to their report form.
func NewWindowReports(ws []WindowResult) []WindowReport {
	out := make([]WindowReport, 0, len(ws))
	for _, w := range ws {
		r := WindowReport{
			Start:    time.UnixMilli(w.Start).UTC(),
			End:      time.UnixMilli(w.End).UTC(),
			Examples: w.Metrics.Examples,
			Accuracy: w.Metrics.Confusion.Accuracy(),
			Partial:  w.Partial,
		}
		if w.Err == nil {
			auc := w.Metrics.AUC
			r.AUC, r.AUCErrorBound = &auc, w.Metrics.AUCBound
		}
		if w.Metrics.Calibration != nil {
			ll := w.Metrics.LogLoss
			r.LogLoss = &ll
		}
		out = append(out, r)
	}
	return out
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	return nil
}

// WriteFile writes the report to path atomically (a temporary file renamed
// into place), so a gate never reads half a report.
func (r *Report) WriteFile(path string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".report-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := r.WriteJSON(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// ReadReport parses a JSON report.
func ReadReport(rd io.Reader) (*Report, error) {
	var r Report
	if err := json.NewDecoder(rd).Decode(&r); err != nil {
		return nil, fmt.Errorf("decode report: %w", err)
	}
	if r.SchemaVersion != ReportSchemaVersion {
		return nil, fmt.Errorf("report schema version %d, this build reads %d: %w", r.SchemaVersion, ReportSchemaVersion, ErrInvalidConfig)
	}
	return &r, nil
}

// NamedPlot is one plot of a report with its file stem ("roc", "pr",
// "calibration", "loss", "prequential").
type NamedPlot struct {
	Name string
	Plot *plot.Plot
}

// Draw builds the plots the report has data for, in the order roc, pr,
// calibration, loss, prequential: ROC and precision–recall curves and the
// reliability diagram (champion and challenger overlaid), loss by training
// step, and prequential AUC over time. Plots are drawn from the report
// itself, so any saved report can be re-plotted (WriteDir saves them; the
// console serves them).
func (r *Report) Draw() ([]NamedPlot, error) {
	var out []NamedPlot
	add := func(name string, p *plot.Plot, err error) error {
		if err != nil {
			return fmt.Errorf("plot %s: %w", name, err)
		}
		out = append(out, NamedPlot{name, p})
		return nil
	}
	name := func(m *ModelRef, fallback string) string {
		if m == nil || m.Name == "" {
			return fallback
		}
		if m.Version == "" {
			return m.Name
		}
		return m.Name + "@" + m.Version
	}
	if b := r.Binary; b != nil {
		var rocs, prs []NamedCurve
		var cals []NamedCalibration
		collect := func(label string, b *BinaryReport) {
			if b.ROC != nil {
				rocs = append(rocs, NamedCurve{label, Curve{X: b.ROC.X, Y: b.ROC.Y}, b.AUC})
			}
			if b.PR != nil {
				prs = append(prs, NamedCurve{label, Curve{X: b.PR.X, Y: b.PR.Y}, b.AveragePrecision})
			}
			if len(b.Calibration) > 0 {
				c := Calibration{}
				if b.ECE != nil {
					c.ECE = *b.ECE
				}
				for _, bin := range b.Calibration {
					c.Bins = append(c.Bins, ReliabilityBin(bin))
				}
				cals = append(cals, NamedCalibration{label, c})
			}
		}
		collect(name(r.Model, "model"), b)
		if r.ChallengerBinary != nil {
			collect(name(r.Challenger, "challenger"), r.ChallengerBinary)
		}
		if len(rocs) > 0 {
			p, err := ROCPlot(rocs...)
			if err := add("roc", p, err); err != nil {
				return nil, err
			}
		}
		if len(prs) > 0 {
			p, err := PRPlot(b.PositiveRate, prs...)
			if err := add("pr", p, err); err != nil {
				return nil, err
			}
		}
		if len(cals) > 0 {
			p, err := CalibrationPlot(cals...)
			if err := add("calibration", p, err); err != nil {
				return nil, err
			}
		}
	}
	if len(r.Loss) > 0 {
		p, err := LossPlot(r.Loss)
		if err := add("loss", p, err); err != nil {
			return nil, err
		}
	}
	if len(r.Prequential) > 0 {
		p, err := PrequentialPlot(r.Prequential)
		if err := add("prequential", p, err); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// WriteDir writes the plots Draw builds, each as PNG and SVG, and then
// report.json listing them, into dir (created if needed).
func (r *Report) WriteDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	plots, err := r.Draw()
	if err != nil {
		return err
	}
	r.Plots = r.Plots[:0]
	for _, p := range plots {
		files, err := SavePlot(p.Plot, dir, p.Name)
		r.Plots = append(r.Plots, files...)
		if err != nil {
			return err
		}
	}
	return r.WriteFile(filepath.Join(dir, "report.json"))
}
