package datastream

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Summary reports what a job run did. Run returns it whether the job ended,
// stopped or failed.
type Summary struct {
	Job          string
	Duration     time.Duration // wall time of Run
	Operators    []OperatorSummary
	Checkpoints  CheckpointSummary
	RestoredFrom int64 // checkpoint id the run restored, 0 if it started fresh
}

// OperatorSummary holds one operator's counters, summed over its subtasks.
// Records are rows.
type OperatorSummary struct {
	Name         string
	Parallelism  int
	RecordsIn    int64
	RecordsOut   int64
	LateRecords  int64         // rows later than the allowed lateness (windows)
	Backpressure time.Duration // time this operator's subtasks spent blocked sending downstream
	Watermark    int64         // minimum over subtasks
	// Backlog is, for sources that report it (Backlogger), the records
	// waiting to be read when the summary was taken, summed over subtasks:
	// the Kafka consumer lag.
	Backlog int64
}

// CheckpointSummary describes the checkpoints of a run.
type CheckpointSummary struct {
	Completed    int
	Failed       int
	LastID       int64
	LastDuration time.Duration
	LastSize     int64 // bytes of state files and manifest
	CommitErrors int   // failed CheckpointCommitter calls
	// Stall is the total time task goroutines spent taking snapshots,
	// writing state files and waiting for transactional sinks to commit:
	// the time the pipeline did no other work because of checkpoints.
	Stall     time.Duration
	LastError error // why the last failed checkpoint failed
}

// Operator returns the summary of the named operator, or nil.
func (s *Summary) Operator(name string) *OperatorSummary {
	for i := range s.Operators {
		if s.Operators[i].Name == name {
			return &s.Operators[i]
		}
	}
	return nil
}

func (x *execution) operatorSummary(n *node) OperatorSummary {
	o := OperatorSummary{Name: n.name, Parallelism: n.parallelism, Watermark: MaxWatermark}
	for _, st := range x.stats[n] {
		o.RecordsIn += st.in.Load()
		o.RecordsOut += st.out.Load()
		o.LateRecords += st.late.Load()
		o.Backpressure += time.Duration(st.backpressure.Load())
		o.Watermark = min(o.Watermark, st.watermark.Load())
	}
	for _, t := range x.tasks {
		if b, ok := t.backlog.Load().(Backlogger); ok && len(t.ops) > 0 && t.ops[0].node == n {
			o.Backlog += b.Backlog()
		}
	}
	return o
}

func (x *execution) summary() *Summary {
	s := &Summary{Job: x.job.name, Duration: time.Since(x.start)}
	if x.restored != nil {
		s.RestoredFrom = x.restored.ID
	}
	for _, n := range x.job.nodes {
		s.Operators = append(s.Operators, x.operatorSummary(n))
	}
	if c := x.coord; c != nil {
		c.mu.Lock()
		s.Checkpoints = CheckpointSummary{
			Completed: c.okCount, Failed: c.failCount, LastID: c.lastID,
			LastDuration: c.lastDur, LastSize: c.lastSize, CommitErrors: c.commitErr, LastError: c.lastErr,
			Stall: time.Duration(c.stall.Load()),
		}
		c.mu.Unlock()
	}
	return s
}

// Prometheus metrics. The collector reads the runtime's atomic counters at
// scrape time, so the hot path pays one atomic add per batch and nothing
// per row. The job name is a constant label, so several jobs can share a
// registry.
type collector struct {
	x                                         *execution
	in, out, late, backpressure, lag, backlog *prometheus.Desc
	ckptDur, ckptSize, ckpts                  *prometheus.Desc
}

func newCollector(x *execution) *collector {
	job := prometheus.Labels{"job": x.job.name}
	op := []string{"operator"}
	return &collector{
		x: x,
		in: prometheus.NewDesc("lakestream_datastream_records_in_total",
			"Rows received by an operator.", op, job),
		out: prometheus.NewDesc("lakestream_datastream_records_out_total",
			"Rows emitted by an operator.", op, job),
		late: prometheus.NewDesc("lakestream_datastream_late_records_total",
			"Rows that arrived after a window's allowed lateness.", op, job),
		backpressure: prometheus.NewDesc("lakestream_datastream_backpressure_seconds_total",
			"Time an operator's subtasks spent blocked on full downstream queues.", op, job),
		lag: prometheus.NewDesc("lakestream_datastream_watermark_lag_seconds",
			"Processing time minus the operator's event-time watermark (minimum over subtasks).", op, job),
		backlog: prometheus.NewDesc("lakestream_datastream_source_backlog_records",
			"Records a source knows are waiting to be read (Kafka consumer lag), summed over its subtasks.", op, job),
		ckptDur: prometheus.NewDesc("lakestream_datastream_checkpoint_duration_seconds",
			"Duration of the last completed checkpoint, trigger to manifest.", nil, job),
		ckptSize: prometheus.NewDesc("lakestream_datastream_checkpoint_size_bytes",
			"Size of the last completed checkpoint.", nil, job),
		ckpts: prometheus.NewDesc("lakestream_datastream_checkpoints_total",
			"Checkpoints by result.", []string{"result"}, job),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.in, c.out, c.late, c.backpressure, c.lag, c.backlog, c.ckptDur, c.ckptSize, c.ckpts} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	x := c.x
	now := x.now()
	for _, n := range x.job.nodes {
		o := x.operatorSummary(n)
		ch <- prometheus.MustNewConstMetric(c.in, prometheus.CounterValue, float64(o.RecordsIn), n.name)
		ch <- prometheus.MustNewConstMetric(c.out, prometheus.CounterValue, float64(o.RecordsOut), n.name)
		ch <- prometheus.MustNewConstMetric(c.late, prometheus.CounterValue, float64(o.LateRecords), n.name)
		ch <- prometheus.MustNewConstMetric(c.backpressure, prometheus.CounterValue, o.Backpressure.Seconds(), n.name)
		if n.kind == kindSource {
			ch <- prometheus.MustNewConstMetric(c.backlog, prometheus.GaugeValue, float64(o.Backlog), n.name)
		}
		if o.Watermark != NoWatermark && o.Watermark != MaxWatermark {
			ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(now-o.Watermark)/1000, n.name)
		}
	}
	if co := x.coord; co != nil {
		co.mu.Lock()
		defer co.mu.Unlock()
		ch <- prometheus.MustNewConstMetric(c.ckptDur, prometheus.GaugeValue, co.lastDur.Seconds())
		ch <- prometheus.MustNewConstMetric(c.ckptSize, prometheus.GaugeValue, float64(co.lastSize))
		ch <- prometheus.MustNewConstMetric(c.ckpts, prometheus.CounterValue, float64(co.okCount), "completed")
		ch <- prometheus.MustNewConstMetric(c.ckpts, prometheus.CounterValue, float64(co.failCount), "failed")
	}
}

// registerMetrics registers the job's collector for the duration of Run.
func (x *execution) registerMetrics() (func(), error) {
	r := x.cfg.registerer
	if r == nil {
		return func() {}, nil
	}
	c := newCollector(x)
	if err := r.Register(c); err != nil {
		return nil, err
	}
	return func() { r.Unregister(c) }, nil
}
