package console

import (
	"bytes"
	"errors"
	"net/http"
	"slices"
	"strings"

	"gonum.org/v1/plot/vg"

	"github.com/lakestream/lakestream/eval"
	"github.com/lakestream/lakestream/model"
)

// The REST API: /api/v1/..., documented in openapi.yaml.

// fail answers an API request with the error's status: 404 for what does
// not exist, 500 (logged) for everything else.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errNotFound) {
		writeError(w, http.StatusNotFound, strings.TrimPrefix(err.Error(), errNotFound.Error()+": "))
		return
	}
	s.cfg.Logger.Error("console request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, err.Error())
}

// ModelList is the body of GET /api/v1/models.
type ModelList struct {
	Lake   string         `json:"lake"`
	Models []ModelSummary `json:"models"`
}

func (s *Server) apiModels(w http.ResponseWriter, r *http.Request) {
	ms, err := summaries(r.Context(), s.cfg.Store)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ModelList{Lake: s.cfg.Lake, Models: ms})
}

func (s *Server) apiModel(w http.ResponseWriter, r *http.Request) {
	d, _, err := loadModel(r.Context(), s.cfg.Store, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) apiAliases(w http.ResponseWriter, r *http.Request) {
	d, _, err := loadModel(r.Context(), s.cfg.Store, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d.Aliases)
}

func (s *Server) apiVersion(w http.ResponseWriter, r *http.Request) {
	d, _, err := loadVersion(r.Context(), s.cfg.Store, r.PathValue("name"), r.PathValue("version"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) apiReport(w http.ResponseWriter, r *http.Request) {
	rep, err := s.report(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// report reads the request's version's report; a missing one is errNotFound.
func (s *Server) report(r *http.Request) (*eval.Report, error) {
	name := r.PathValue("name")
	version, err := resolveVersion(r.Context(), s.cfg.Store, name, r.PathValue("version"))
	if err != nil {
		return nil, err
	}
	rep, problem, err := readReport(r.Context(), s.cfg.Store, name, version)
	switch {
	case err != nil:
		return nil, err
	case problem != "":
		return nil, errors.New(problem)
	case rep == nil:
		return nil, notFound("model %q version %d has no evaluation report (%s)", name, version, model.ReportKey(name, version))
	}
	return rep, nil
}

// Plot size: smaller than eval's files (6×4.5 in) so that the labels,
// whose size is fixed in points, stay legible when the page shows three
// plots side by side.
const (
	plotWidth  = 4.8 * vg.Inch
	plotHeight = 3.6 * vg.Inch
)

// apiPlot draws one plot of the version's report: roc, pr, calibration,
// loss or prequential, as .svg or .png.
func (s *Server) apiPlot(w http.ResponseWriter, r *http.Request) {
	file := r.PathValue("plot")
	name, format, ok := strings.Cut(file, ".")
	if !ok || (format != "svg" && format != "png") {
		writeError(w, http.StatusNotFound, "plot "+file+": want NAME.svg or NAME.png (roc, pr, calibration, loss, prequential)")
		return
	}
	rep, err := s.report(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	plots, err := rep.Draw()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	i := slices.IndexFunc(plots, func(p eval.NamedPlot) bool { return p.Name == name })
	if i < 0 {
		names := make([]string, len(plots))
		for j, p := range plots {
			names[j] = p.Name
		}
		writeError(w, http.StatusNotFound, "the report has no plot "+name+" (it has: "+strings.Join(names, ", ")+")")
		return
	}
	wt, err := plots[i].Plot.WriterTo(plotWidth, plotHeight, format)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		s.fail(w, r, err)
		return
	}
	if format == "svg" {
		w.Header().Set("Content-Type", "image/svg+xml")
	} else {
		w.Header().Set("Content-Type", "image/png")
	}
	w.Header().Set("Cache-Control", "private, max-age=60")
	w.Write(buf.Bytes())
}
