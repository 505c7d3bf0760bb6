package schedule

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"text/template"
	"time"
)

// TemplateNames lists the names a job's templates may use, in the form
// {{name}} or {{ds_add N}}. All are taken at the data interval's start in
// the job's time zone:
//
//	ds                   the start date, 2026-11-08
//	ds_nodash            20261108
//	ds_add N             ds moved by N days: {{ds_add -6}} is 2026-11-02
//	hour                 the start hour, 00-23
//	ts                   the start, RFC 3339 (2026-11-08T00:00:00+01:00)
//	interval             the interval ID (2026-11-08, or 2026-11-08T05 hourly)
//	data_interval_start  = ts
//	data_interval_end    the end, RFC 3339
var TemplateNames = []string{"ds", "ds_nodash", "ds_add", "hour", "ts", "interval", "data_interval_start", "data_interval_end"}

// funcs returns the template functions for iv; nil iv gives functions that
// only let a template parse.
func funcs(iv *Interval) template.FuncMap {
	if iv == nil {
		iv = &Interval{}
	}
	s, e := iv.Start, iv.End
	return template.FuncMap{
		"ds":                  func() string { return s.Format(time.DateOnly) },
		"ds_nodash":           func() string { return s.Format("20060102") },
		"ds_add":              func(n int) string { return s.AddDate(0, 0, n).Format(time.DateOnly) },
		"hour":                func() string { return s.Format("15") },
		"ts":                  func() string { return s.Format(time.RFC3339) },
		"interval":            func() string { return iv.ID },
		"data_interval_start": func() string { return s.Format(time.RFC3339) },
		"data_interval_end":   func() string { return e.Format(time.RFC3339) },
	}
}

var undefinedFunc = regexp.MustCompile(`function "([^"]+)" not defined`)

// tmpl is a parsed template of a job setting.
type tmpl struct {
	where string // the setting, for errors: "train.dt"
	src   string
	t     *template.Template
}

func parseTemplate(where, src string) (*tmpl, error) {
	t, err := template.New(where).Option("missingkey=error").Funcs(funcs(nil)).Parse(src)
	if err != nil {
		if m := undefinedFunc.FindStringSubmatch(err.Error()); m != nil {
			return nil, fmt.Errorf("%s %q: unknown template variable %q (known: %s)", where, src, m[1], strings.Join(TemplateNames, ", "))
		}
		return nil, fmt.Errorf("%s %q: %w", where, src, err)
	}
	return &tmpl{where: where, src: src, t: t}, nil
}

// render executes the template for iv.
func (t *tmpl) render(iv Interval) (string, error) {
	var b bytes.Buffer
	c, err := t.t.Clone()
	if err != nil {
		return "", err
	}
	if err := c.Funcs(funcs(&iv)).Execute(&b, nil); err != nil {
		return "", fmt.Errorf("%s %q for interval %s: %w (templates use {{ds}}, {{ds_add -6}}: no dot fields)", t.where, t.src, iv.ID, err)
	}
	return b.String(), nil
}
