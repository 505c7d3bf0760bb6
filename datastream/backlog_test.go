package datastream_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lakestream/lakestream/datastream"
	"github.com/lakestream/lakestream/datastream/datastreamtest"
)

// backlogSource is a scripted source that reports the steps it has not
// served yet as its backlog, as a Kafka source reports its consumer lag.
type backlogSource struct {
	*datastreamtest.Source
	steps int
}

func (s backlogSource) Backlog() int64 { return int64(s.steps - s.Next()) }

// TestSourceBacklogInMetricsAndSummary checks that a source's backlog
// (Kafka consumer lag) is exported as a gauge while the job runs and lands
// in the job summary.
func TestSourceBacklogInMetricsAndSummary(t *testing.T) {
	var steps []datastreamtest.Step
	for i := range 5 {
		rec := clicks(click{"u", int64(i), 1})
		defer rec.Release()
		steps = append(steps, datastreamtest.Step{Batch: datastream.Batch{Record: rec}})
	}
	src := backlogSource{datastreamtest.NewSource(nil, steps...).BlockAt(2), len(steps)}
	reg := prometheus.NewRegistry()
	job := datastream.NewJob("backlog", datastream.WithMetrics(reg))
	job.Source("clicks", src).To("sink", datastreamtest.NewSink())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *datastream.Summary, 1)
	go func() { sum, _ := job.Run(ctx); done <- sum }()
	select {
	case <-src.Blocked():
	case <-time.After(10 * time.Second):
		t.Fatal("source did not reach its blocking step")
	}
	if got := metricValue(t, reg, "lakestream_datastream_source_backlog_records", "clicks"); got != 3 {
		t.Errorf("backlog gauge = %v while blocked after 2 of 5 batches, want 3", got)
	}
	cancel()
	sum := <-done
	if op := sum.Operator("clicks"); op == nil || op.Backlog != 3 {
		t.Errorf("summary backlog = %+v, want 3", op)
	}
}
