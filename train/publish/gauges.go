package publish

import (
	"github.com/prometheus/client_golang/prometheus"
)

// gauges are a Stream's Prometheus metrics, labelled with the job.
type gauges struct {
	examples prometheus.Gauge
	metric   *prometheus.GaugeVec // {window, metric}
	versions *prometheus.CounterVec
	latest   prometheus.Gauge
}

func newGauges(reg prometheus.Registerer, job string) (*gauges, error) {
	l := prometheus.Labels{"job": job}
	g := &gauges{
		examples: prometheus.NewGauge(prometheus.GaugeOpts{Name: "lakestream_stream_examples", ConstLabels: l,
			Help: "Examples trained by the stream job, each counted once."}),
		metric: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "lakestream_prequential", ConstLabels: l,
			Help: "Prequential (test-then-train) metric of the stream job over a window: recent (the last N examples) or total."},
			[]string{"window", "metric"}),
		versions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lakestream_published_versions_total", ConstLabels: l,
			Help: "Versions the job published, by whether the gate promoted them."}, []string{"promoted"}),
		latest: prometheus.NewGauge(prometheus.GaugeOpts{Name: "lakestream_published_version", ConstLabels: l,
			Help: "The newest version the job published."}),
	}
	for _, c := range []prometheus.Collector{g.examples, g.metric, g.versions, g.latest} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return g, nil
}

func (g *gauges) set(examples int64, recent, total WindowStatus) {
	g.examples.Set(float64(examples))
	for window, ws := range map[string]WindowStatus{"recent": recent, "total": total} {
		for name, v := range map[string]*float64{"auc": ws.AUC, "logloss": ws.LogLoss, "rmse": ws.RMSE, "mae": ws.MAE} {
			if v != nil {
				g.metric.WithLabelValues(window, name).Set(*v)
			}
		}
	}
}

func (g *gauges) version(v Version) {
	p := "false"
	if v.Decision.Promoted {
		p = "true"
	}
	g.versions.WithLabelValues(p).Inc()
	g.latest.Set(float64(v.Version))
}
