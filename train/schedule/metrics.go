package schedule

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lakestream/lakestream/model"
)

// Metrics are the scheduler's Prometheus metrics. A nil *Metrics records
// nothing.
type Metrics struct {
	runs        *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	lastSuccess *prometheus.GaugeVec
	decisions   *prometheus.CounterVec
}

// NewMetrics registers the scheduler's metrics with reg:
//
//	lakestream_schedule_runs_total{job,state}                attempts ended, by state
//	lakestream_schedule_run_duration_seconds{job,state}      attempt durations
//	lakestream_schedule_last_success_timestamp_seconds{job}  end of the last succeeded run
//	lakestream_schedule_gate_decisions_total{job,outcome}    promoted | refused
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lakestream_schedule_runs_total",
			Help: "Run attempts that ended, by job and state (succeeded, gate-refused, no-data, failed).",
		}, []string{"job", "state"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lakestream_schedule_run_duration_seconds",
			Help:    "Duration of run attempts from start to end (waiting for data included), by job and state.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 16),
		}, []string{"job", "state"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lakestream_schedule_last_success_timestamp_seconds",
			Help: "Unix time at which the job's last succeeded run ended.",
		}, []string{"job"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lakestream_schedule_gate_decisions_total",
			Help: "Gate decisions of scheduled runs, by job and outcome (promoted, refused).",
		}, []string{"job", "outcome"}),
	}
	reg.MustRegister(m.runs, m.duration, m.lastSuccess, m.decisions)
	return m
}

func (m *Metrics) ended(job string, r *Record) {
	if m == nil {
		return
	}
	st := string(r.State)
	m.runs.WithLabelValues(job, st).Inc()
	m.duration.WithLabelValues(job, st).Observe(r.Durations.Total)
	if r.State == Succeeded && r.EndedAt != nil {
		m.lastSuccess.WithLabelValues(job).Set(float64(r.EndedAt.UnixNano()) / 1e9)
	}
}

func (m *Metrics) gate(job string, d *model.Decision) {
	if m == nil || d == nil {
		return
	}
	outcome := "refused"
	if d.Promoted {
		outcome = "promoted"
	}
	m.decisions.WithLabelValues(job, outcome).Inc()
}
