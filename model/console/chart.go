package console

import (
	"fmt"
	"html/template"
	"math"
	"slices"
	"strings"
)

// Charts drawn as inline SVG, so the pages need no script library and no
// network: a line chart with axes for a model's metric over versions and a
// stream's prequential AUC over time, and a sparkline for the models list.

// chartPoint is one point of a chart.
type chartPoint struct {
	X, Y float64
	// Label is the point's tooltip.
	Label string
	// Mark draws the point emphasized (a champion version).
	Mark bool
	// Href links the point (a version page), when set.
	Href string
}

// chart describes a line chart.
type chart struct {
	Points []chartPoint
	// XLabel formats an x tick.
	XLabel func(x float64) string
	// XTicks are the x values labelled; nil labels every point's x (for
	// up to 12 points) or evenly chosen ones.
	XTicks []float64
	YName  string
	// Band, when set, gives each point's ± half-width (an error bound).
	Band []float64
	// Marked names the emphasized points in the legend ("champion").
	Marked string
}

const (
	chartW, chartH = 960.0, 260.0
	padL, padR     = 56.0, 16.0
	padT, padB     = 16.0, 34.0
)

// svg renders the chart as an inline SVG element.
func (c chart) svg() template.HTML {
	if len(c.Points) == 0 {
		return ""
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	xlo, xhi := math.Inf(1), math.Inf(-1)
	for i, p := range c.Points {
		b := 0.0
		if i < len(c.Band) {
			b = c.Band[i]
		}
		lo, hi = min(lo, p.Y-b), max(hi, p.Y+b)
		xlo, xhi = min(xlo, p.X), max(xhi, p.X)
	}
	ticks := niceTicks(lo, hi, 5)
	ylo, yhi := ticks[0], ticks[len(ticks)-1]
	if xhi == xlo {
		xlo, xhi = xlo-1, xhi+1
	}
	px := func(x float64) float64 { return padL + (x-xlo)/(xhi-xlo)*(chartW-padL-padR) }
	py := func(y float64) float64 { return padT + (yhi-y)/(yhi-ylo)*(chartH-padT-padB) }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %g %g" role="img" aria-label="%s">`, chartW, chartH, template.HTMLEscapeString(c.YName))
	for _, t := range ticks {
		y := py(t)
		fmt.Fprintf(&b, `<line class="grid" x1="%g" x2="%g" y1="%.1f" y2="%.1f"/>`, padL, chartW-padR, y, y)
		fmt.Fprintf(&b, `<text class="tick" x="%g" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`, padL-8, y, formatTick(t, ticks))
	}
	xt := c.XTicks
	if xt == nil {
		if len(c.Points) <= 12 {
			for _, p := range c.Points {
				xt = append(xt, p.X)
			}
		} else {
			for i := range 6 {
				xt = append(xt, c.Points[i*(len(c.Points)-1)/5].X)
			}
		}
	}
	for i, x := range xt {
		anchor := "middle"
		switch {
		case len(xt) > 1 && i == 0 && px(x) < padL+40:
			anchor = "start"
		case len(xt) > 1 && i == len(xt)-1 && px(x) > chartW-padR-40:
			anchor = "end"
		}
		fmt.Fprintf(&b, `<text class="tick" x="%.1f" y="%g" text-anchor="%s">%s</text>`, px(x), chartH-padB+20, anchor, template.HTMLEscapeString(c.XLabel(x)))
	}
	if len(c.Band) == len(c.Points) {
		var top, bot []string
		for i, p := range c.Points {
			top = append(top, fmt.Sprintf("%.1f,%.1f", px(p.X), py(p.Y+c.Band[i])))
			bot = append([]string{fmt.Sprintf("%.1f,%.1f", px(p.X), py(p.Y-c.Band[i]))}, bot...)
		}
		fmt.Fprintf(&b, `<polygon class="band" points="%s %s"/>`, strings.Join(top, " "), strings.Join(bot, " "))
	}
	var line []string
	for _, p := range c.Points {
		line = append(line, fmt.Sprintf("%.1f,%.1f", px(p.X), py(p.Y)))
	}
	lineClass := "line"
	if !slices.ContainsFunc(c.Points, func(p chartPoint) bool { return p.Mark }) {
		lineClass = "line plain" // nothing emphasized: the line is the figure
	}
	fmt.Fprintf(&b, `<polyline class="%s" points="%s"/>`, lineClass, strings.Join(line, " "))
	// Champion steps: the marked points joined, so the champion's path
	// over versions reads at a glance.
	var marked []string
	for _, p := range c.Points {
		if p.Mark {
			marked = append(marked, fmt.Sprintf("%.1f,%.1f", px(p.X), py(p.Y)))
		}
	}
	if len(marked) > 1 {
		fmt.Fprintf(&b, `<polyline class="line marked" points="%s"/>`, strings.Join(marked, " "))
	}
	if len(c.Points) <= 200 {
		for _, p := range c.Points {
			cls, r := "dot", 3.5
			if p.Mark {
				cls, r = "dot marked", 5.5
			}
			if p.Href != "" {
				fmt.Fprintf(&b, `<a href="%s">`, template.HTMLEscapeString(p.Href))
			}
			fmt.Fprintf(&b, `<circle class="%s" cx="%.1f" cy="%.1f" r="%g"><title>%s</title></circle>`, cls, px(p.X), py(p.Y), r, template.HTMLEscapeString(p.Label))
			if p.Href != "" {
				b.WriteString(`</a>`)
			}
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// sparkline renders values as a small line without axes; the last point is
// dotted.
func sparkline(pts []MetricPoint) template.HTML {
	if len(pts) == 0 {
		return ""
	}
	const w, h, pad = 160.0, 36.0, 4.0
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, p := range pts {
		lo, hi = min(lo, p.Value), max(hi, p.Value)
	}
	if hi == lo {
		lo, hi = lo-1, hi+1
	}
	x := func(i int) float64 {
		if len(pts) == 1 {
			return w / 2
		}
		return pad + float64(i)/float64(len(pts)-1)*(w-2*pad)
	}
	y := func(v float64) float64 { return pad + (hi-v)/(hi-lo)*(h-2*pad) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="spark" viewBox="0 0 %g %g" aria-hidden="true"><polyline points="`, w, h)
	for i, p := range pts {
		fmt.Fprintf(&b, "%.1f,%.1f ", x(i), y(p.Value))
	}
	b.WriteString(`"/>`)
	for i, p := range pts {
		if p.Champion {
			fmt.Fprintf(&b, `<circle class="marked" cx="%.1f" cy="%.1f" r="2.5"/>`, x(i), y(p.Value))
		}
	}
	last := pts[len(pts)-1]
	fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="2.5"/></svg>`, x(len(pts)-1), y(last.Value))
	return template.HTML(b.String())
}

// niceTicks returns about n round tick values covering [lo, hi].
func niceTicks(lo, hi float64, n int) []float64 {
	if hi-lo < 1e-12 {
		d := math.Max(math.Abs(lo)*0.01, 1e-3)
		lo, hi = lo-d, hi+d
	}
	raw := (hi - lo) / float64(n-1)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	start := math.Floor(lo/step) * step
	var ticks []float64
	for t := start; t <= hi+step*1e-9 || len(ticks) < 2; t += step {
		ticks = append(ticks, math.Round(t/step)*step)
		if len(ticks) > 20 {
			break
		}
	}
	return ticks
}

// formatTick prints a tick with as many decimals as the step needs.
func formatTick(t float64, ticks []float64) string {
	step := math.Abs(ticks[1] - ticks[0])
	dec := max(0, int(math.Ceil(-math.Log10(step)+1e-9)))
	if step*math.Pow(10, float64(dec)) != math.Round(step*math.Pow(10, float64(dec))) {
		dec++
	}
	return fmt.Sprintf("%.*f", min(dec, 6), t)
}
