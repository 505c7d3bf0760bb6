package loadgen

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Call performs request i. It returns a label for the result (the predictor
// returns the served model version) and the call's error.
type Call func(ctx context.Context, i int) (label string, err error)

// Result is the record of one call.
type Result struct {
	Scheduled time.Time     // when the rate said the call should start
	Start     time.Time     // when it started
	Latency   time.Duration // from Start to return
	Label     string
	Err       error
}

// Config sets the load.
type Config struct {
	Requests int     // calls in all
	Rate     float64 // calls per second
	Workers  int     // concurrent callers; calls wait for a free worker
}

// Validate reports a config that cannot run.
func (c Config) Validate() error {
	switch {
	case c.Requests <= 0:
		return errors.New("loadgen: Requests must be positive")
	case c.Rate <= 0:
		return errors.New("loadgen: Rate must be positive")
	case c.Workers <= 0:
		return errors.New("loadgen: Workers must be positive")
	}
	return nil
}

// Run issues cfg.Requests calls at cfg.Rate and returns one Result per call,
// in call order. It stops early, with the results so far, when ctx ends.
func Run(ctx context.Context, cfg Config, call Call) ([]Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	results := make([]Result, cfg.Requests)
	jobs := make(chan int, cfg.Workers)
	var wg sync.WaitGroup
	for range cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				r := &results[i]
				r.Start = time.Now()
				r.Label, r.Err = call(ctx, i)
				r.Latency = time.Since(r.Start)
			}
		}()
	}
	begin := time.Now()
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	n := 0
	for ; n < cfg.Requests; n++ {
		at := begin.Add(time.Duration(n) * interval)
		if d := time.Until(at); d > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
		}
		if ctx.Err() != nil {
			break
		}
		results[n].Scheduled = at
		jobs <- n
	}
	close(jobs)
	wg.Wait()
	return results[:n], ctx.Err()
}

// Summary condenses results. P50…Max measure each call from its start
// (service time); P99Scheduled measures from when the rate said the call
// should start, so time spent waiting for a free worker counts too (no
// coordinated omission). The two differ when the callers cannot keep up
// with the rate.
type Summary struct {
	Requests, Failed int
	Elapsed          time.Duration
	QPS              float64
	P50, P90, P99    time.Duration
	Max              time.Duration
	P99Scheduled     time.Duration
}

func (s Summary) String() string {
	return fmt.Sprintf("%d requests (%d failed) in %v: %.0f/s, p50 %v, p90 %v, p99 %v, max %v, p99 from schedule %v",
		s.Requests, s.Failed, s.Elapsed.Round(time.Millisecond), s.QPS, s.P50, s.P90, s.P99, s.Max, s.P99Scheduled)
}

// Summarize computes the summary of rs (successful calls only for latency).
func Summarize(rs []Result) Summary {
	s := Summary{Requests: len(rs)}
	if len(rs) == 0 {
		return s
	}
	lat := make([]time.Duration, 0, len(rs))
	sched := make([]time.Duration, 0, len(rs))
	first, last := rs[0].Start, rs[0].Start
	for _, r := range rs {
		if r.Err != nil {
			s.Failed++
			continue
		}
		lat = append(lat, r.Latency)
		sched = append(sched, r.Start.Add(r.Latency).Sub(r.Scheduled))
		if r.Start.Before(first) {
			first = r.Start
		}
		if end := r.Start.Add(r.Latency); end.After(last) {
			last = end
		}
	}
	s.Elapsed = last.Sub(first)
	if s.Elapsed > 0 {
		s.QPS = float64(len(lat)) / s.Elapsed.Seconds()
	}
	slices.Sort(lat)
	slices.Sort(sched)
	s.P50, s.P90, s.P99 = Quantile(lat, 0.50), Quantile(lat, 0.90), Quantile(lat, 0.99)
	s.P99Scheduled = Quantile(sched, 0.99)
	if len(lat) > 0 {
		s.Max = lat[len(lat)-1]
	}
	return s
}

// Quantile returns the q-quantile of sorted latencies (nearest rank).
func Quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
