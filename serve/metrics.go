package serve

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the predictor's Prometheus metrics. A nil *Metrics records
// nothing, so tests and embedders may leave it out.
type Metrics struct {
	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	examples     *prometheus.CounterVec
	swaps        *prometheus.CounterVec
	loadFailures *prometheus.CounterVec
	loadSeconds  *prometheus.HistogramVec
	servedInfo   *prometheus.GaugeVec
}

// NewMetrics registers the predictor's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lakestream_predictor_requests_total",
			Help: "ModelInfer requests by model, served version and gRPC code.",
		}, []string{"model", "version", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lakestream_predictor_request_seconds",
			Help:    "ModelInfer latency inside the server, by model.",
			Buckets: prometheus.ExponentialBuckets(25e-6, 2, 16),
		}, []string{"model"}),
		examples: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lakestream_predictor_examples_total",
			Help: "Examples scored, by model and version.",
		}, []string{"model", "version"}),
		swaps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lakestream_predictor_swaps_total",
			Help: "Versions swapped in, by model.",
		}, []string{"model"}),
		loadFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lakestream_predictor_load_failures_total",
			Help: "Versions rejected at load (corrupt, incompatible or not finite), by model.",
		}, []string{"model"}),
		loadSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lakestream_predictor_load_seconds",
			Help:    "Time to load, verify and warm a version, by model.",
			Buckets: prometheus.ExponentialBuckets(1e-3, 2, 14),
		}, []string{"model"}),
		servedInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lakestream_predictor_served_version_info",
			Help: "1 for the version each model serves now.",
		}, []string{"model", "version"}),
	}
	reg.MustRegister(m.requests, m.latency, m.examples, m.swaps, m.loadFailures, m.loadSeconds, m.servedInfo)
	return m
}

func (m *Metrics) request(model, version, code string, d time.Duration, examples int) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(model, version, code).Inc()
	m.latency.WithLabelValues(model).Observe(d.Seconds())
	if examples > 0 {
		m.examples.WithLabelValues(model, version).Add(float64(examples))
	}
}

func (m *Metrics) swapped(model, version string, load time.Duration) {
	if m == nil {
		return
	}
	m.swaps.WithLabelValues(model).Inc()
	m.loadSeconds.WithLabelValues(model).Observe(load.Seconds())
	m.servedInfo.DeletePartialMatch(prometheus.Labels{"model": model})
	m.servedInfo.WithLabelValues(model, version).Set(1)
}

func (m *Metrics) loadFailed(model string) {
	if m == nil {
		return
	}
	m.loadFailures.WithLabelValues(model).Inc()
}
