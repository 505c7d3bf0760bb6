package console

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lakestream/lakestream/model"
)

// The pages: server-rendered HTML from the templates in templates/, one
// layout around each page.

// pageNames lists the page templates; each is parsed with layout.html.
var pageNames = []string{"models.html", "model.html", "version.html", "jobs.html", "stream.html", "error.html", "login.html"}

func (s *Server) parseTemplates() error {
	s.pages = map[string]*template.Template{}
	funcs := template.FuncMap{
		"metric":   formatMetric,
		"metricp":  formatMetricPtr,
		"bytes":    formatBytes,
		"ago":      func(t time.Time) string { return ago(s.cfg.Now(), t) },
		"iso":      func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"datetime": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
		"spark":    sparkline,
		"path":     url.PathEscape,
		"join":     strings.Join,
		"ints":     joinInts,
		"label":    metricLabel,
		"stream":   streamHref,
		"ms":       func(ms int64) time.Time { return time.UnixMilli(ms).UTC() },
		"plotTitle": func(name string) string {
			if t, ok := plotTitles[name]; ok {
				return t
			}
			return name
		},
	}
	for _, p := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/"+p)
		if err != nil {
			return fmt.Errorf("console: parse template %s: %w", p, err)
		}
		s.pages[p] = t
	}
	return nil
}

// page is what every template gets.
type page struct {
	Title string
	Lake  string
	// Nav is the active section ("models").
	Nav    string
	Crumbs []crumb
	Data   any
}

type crumb struct{ Name, Href string }

// render executes a page into a buffer first, so a template error becomes
// a 500 instead of half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	p.Lake = s.cfg.Lake
	var buf bytes.Buffer
	if err := s.pages[name].Execute(&buf, p); err != nil {
		s.cfg.Logger.Error("console template failed", "page", name, "path", r.URL.Path, "err", err)
		http.Error(w, "internal error rendering the page; see the console's log", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// renderError shows an error page: 404 for what does not exist, 500 (and
// a log line) for the rest.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.render(w, r, status, "error.html", page{Title: http.StatusText(status), Data: struct {
		Status int
		Text   string
		Msg    string
	}{status, http.StatusText(status), msg}})
}

func (s *Server) pageFail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errNotFound) {
		s.renderError(w, r, http.StatusNotFound, strings.TrimPrefix(err.Error(), errNotFound.Error()+": "))
		return
	}
	s.cfg.Logger.Error("console request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	s.renderError(w, r, http.StatusInternalServerError, err.Error())
}

func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="lakestream console"`)
	next := r.URL.RequestURI()
	if r.Method == http.MethodPost {
		next = r.PostFormValue("next")
	}
	s.render(w, r, http.StatusUnauthorized, "login.html", page{Title: "Sign in", Data: struct{ Msg, Next string }{msg, next}})
}

type modelsData struct {
	Models []ModelSummary
}

func (s *Server) pageModels(w http.ResponseWriter, r *http.Request) {
	ms, err := summaries(r.Context(), s.cfg.Store)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "models.html", page{Title: "Models", Nav: "models", Data: modelsData{ms}})
}

type jobsData struct {
	Grid    gridData
	Streams []StreamSummary
}

func (s *Server) pageJobs(w http.ResponseWriter, r *http.Request) {
	ss, err := streamSummaries(r.Context(), s.cfg.Store)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	sched, err := scheduledRuns(r.Context(), s.cfg.Store, "", defaultRuns)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "jobs.html", page{Title: "Jobs", Nav: "jobs", Data: jobsData{Grid: buildGrid(sched), Streams: ss}})
}

type modelData struct {
	*ModelDetail
	Champion *VersionSummary
	Chart    template.HTML
	// Writes shows the promote and rollback forms; Candidate is the version
	// the promote form suggests (the newest healthy one that is not the
	// champion), RollbackTo where a rollback would take the champion.
	Writes     bool
	Candidate  int
	RollbackTo int
	// Msg is the outcome of the action that redirected here.
	Msg string
	// Newest first, for the table.
	Rows []VersionSummary
}

func (s *Server) pageModel(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	d, _, err := loadModel(r.Context(), s.cfg.Store, name)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	md := modelData{ModelDetail: d, Rows: slices.Clone(d.Versions), Writes: s.cfg.Writes != nil, Msg: r.URL.Query().Get("msg")}
	slices.Reverse(md.Rows)
	champ := 0
	for _, a := range d.Aliases {
		if a.Alias == model.Champion {
			champ = a.Version
			if len(a.Previous) > 0 {
				md.RollbackTo = a.Previous[0]
			}
			for i := range d.Versions {
				if d.Versions[i].Version == a.Version {
					md.Champion = &d.Versions[i]
				}
			}
		}
	}
	for _, v := range md.Rows {
		if v.Status == StatusOK && v.Version != champ {
			md.Candidate = v.Version
			break
		}
	}
	if len(d.History) > 0 {
		c := chart{YName: metricLabel(d.Metric), Marked: "champion",
			XLabel: func(x float64) string { return "v" + strconv.Itoa(int(x)) }}
		for _, p := range d.History {
			label := fmt.Sprintf("version %d: %s %s", p.Version, metricLabel(d.Metric), formatMetric(p.Value))
			if p.Champion {
				label += " (champion)"
			}
			c.Points = append(c.Points, chartPoint{X: float64(p.Version), Y: p.Value, Label: label, Mark: p.Champion,
				Href: "/models/" + url.PathEscape(name) + "/versions/" + strconv.Itoa(p.Version)})
		}
		md.Chart = c.svg()
	}
	s.render(w, r, http.StatusOK, "model.html", page{Title: name, Nav: "models",
		Crumbs: []crumb{{"Models", "/"}, {name, ""}}, Data: md})
}

func (s *Server) pageVersion(w http.ResponseWriter, r *http.Request) {
	name, ref := r.PathValue("name"), r.PathValue("version")
	d, _, err := loadVersion(r.Context(), s.cfg.Store, name, ref)
	if err != nil {
		s.pageFail(w, r, err)
		return
	}
	if strconv.Itoa(d.Version) != ref {
		// An alias: show the version it designates under its own address.
		http.Redirect(w, r, "/models/"+url.PathEscape(name)+"/versions/"+strconv.Itoa(d.Version), http.StatusFound)
		return
	}
	s.render(w, r, http.StatusOK, "version.html", page{Title: fmt.Sprintf("%s v%d", name, d.Version), Nav: "models",
		Crumbs: []crumb{{"Models", "/"}, {name, "/models/" + url.PathEscape(name)}, {"v" + strconv.Itoa(d.Version), ""}}, Data: d})
}

// plotTitles captions the report's plots.
var plotTitles = map[string]string{"roc": "ROC curve", "pr": "Precision–recall curve", "calibration": "Calibration",
	"loss": "Loss by step", "prequential": "Prequential AUC"}

// formatMetric prints a metric with four decimals, or its magnitude.
func formatMetric(x float64) string {
	switch {
	case math.IsNaN(x):
		return "–"
	case x != 0 && (math.Abs(x) >= 1e5 || math.Abs(x) < 1e-3):
		return strconv.FormatFloat(x, 'g', 4, 64)
	}
	return strconv.FormatFloat(x, 'f', 4, 64)
}

func formatMetricPtr(x *float64) string {
	if x == nil {
		return "–"
	}
	return formatMetric(*x)
}

func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// ago prints t relative to now ("3 hours ago"); the page's script refreshes
// it in the browser.
func ago(now, t time.Time) string {
	d := now.Sub(t)
	if d < 0 {
		return "just now"
	}
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute") + " ago"
	case d < 48*time.Hour:
		return plural(int(d/time.Hour), "hour") + " ago"
	}
	return plural(int(d/(24*time.Hour)), "day") + " ago"
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}

func joinInts(vs []int) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = "v" + strconv.Itoa(v)
	}
	return strings.Join(parts, ", ")
}

// metricLabel turns a metric key into words: validation_auc → "validation AUC".
func metricLabel(k string) string {
	words := strings.Split(k, "_")
	for i, w := range words {
		switch w {
		case "auc", "rmse", "mae", "ece", "mce", "ks":
			words[i] = strings.ToUpper(w)
		case "logloss":
			words[i] = "log loss"
		}
	}
	return strings.Join(words, " ")
}
