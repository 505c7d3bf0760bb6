package datastream_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/lakestream/lakestream/datastream"
	"github.com/lakestream/lakestream/datastream/datastreamtest"
)

// randomClicks returns n batches of rows over keys users with event times
// rising by about step per row, shuffled within maxDisorder.
func randomClicks(seed uint64, batches, rows, users int, maxDisorder int64) []click {
	rng := rand.New(rand.NewPCG(seed, 1))
	var out []click
	var t int64
	for range batches * rows {
		t += rng.Int64N(200)
		out = append(out, click{
			user:   fmt.Sprintf("u%03d", rng.IntN(users)),
			ts:     max(0, t-rng.Int64N(maxDisorder+1)),
			amount: rng.Int64N(100),
		})
	}
	return out
}

func stepsOf(t *testing.T, all []click, per int) []datastreamtest.Step {
	var steps []datastreamtest.Step
	for i := 0; i < len(all); i += per {
		rec := clicks(all[i:min(i+per, len(all))]...)
		t.Cleanup(rec.Release)
		steps = append(steps, datastreamtest.Step{Batch: datastream.Batch{Record: rec}})
	}
	return steps
}

// referenceTumbling computes count and sum per user and 1-minute window
// directly, formatted like the job's results.
func referenceTumbling(rows []click, size int64) []string {
	type k struct {
		user  string
		start int64
	}
	type v struct{ n, sum int64 }
	agg := map[k]*v{}
	for _, r := range rows {
		key := k{r.user, r.ts - r.ts%size}
		if agg[key] == nil {
			agg[key] = &v{}
		}
		agg[key].n++
		agg[key].sum += r.amount
	}
	var out []string
	for key, val := range agg {
		start := time.UnixMilli(key.start).UTC().Format("2006-01-02 15:04:05Z")
		end := time.UnixMilli(key.start + size).UTC().Format("2006-01-02 15:04:05Z")
		out = append(out, fmt.Sprintf("user=%s window_start=%s window_end=%s count=%d sum=%d", key.user, start, end, val.n, val.sum))
	}
	slices.Sort(out)
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestTumblingCountParallel checks keyed tumbling count/sum against a direct
// computation for several parallelisms, with sources split in two and
// disorder below the out-of-orderness bound (so nothing is late).
func TestTumblingCountParallel(t *testing.T) {
	all := randomClicks(7, 40, 50, 37, 2000)
	want := referenceTumbling(all, 60000)
	for _, tc := range []struct {
		name                  string
		sources, window, sink int
		readAhead             int
	}{
		{"chained", 1, 1, 1, 0},
		{"window3", 1, 3, 1, 0},
		{"sources2-window2-sinks2", 2, 2, 2, 0},
		{"readahead", 2, 1, 1, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			half := len(all) / 2
			parts := [][]datastreamtest.Step{stepsOf(t, all[:half], 50), stepsOf(t, all[half:], 50)}
			if tc.sources == 1 {
				parts = [][]datastreamtest.Step{stepsOf(t, all, 50)}
			}
			sink := datastreamtest.NewSink()
			job := datastream.NewJob("tumbling", datastream.WithQueueSize(2))
			src := job.Sources("clicks", func(i int) (datastream.Source, error) {
				return datastreamtest.NewSource(nil, parts[i]...), nil
			}, datastream.Parallelism(tc.sources), datastream.ReadAhead(tc.readAhead),
				datastream.Watermarks(datastream.WatermarkStrategy{TimestampColumn: "ts", OutOfOrderness: 2 * time.Second}))
			w := datastream.Aggregate(src.KeyBy("user").Window(datastream.Tumbling(time.Minute)), "count",
				datastream.Aggregates(datastream.Count("count"), datastream.SumInt("amount", "sum")), datastream.Parallelism(tc.window))
			w.ToSinks("sink", func(int) (datastream.Sink, error) { return sink, nil }, datastream.Parallelism(tc.sink))
			sum, err := job.Run(testCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			if got := sorted(sink.Rows()); !slices.Equal(got, want) {
				t.Fatalf("got %d results, want %d\n got[:3] %q\nwant[:3] %q", len(got), len(want), got[:min(3, len(got))], want[:min(3, len(want))])
			}
			if o := sum.Operator("count"); o.RecordsIn != int64(len(all)) || o.LateRecords != 0 || o.Parallelism != tc.window {
				t.Errorf("summary %+v, want %d rows in, none late", o, len(all))
			}
			if sink.Closes() != tc.sink {
				t.Errorf("sink closed %d times, want %d", sink.Closes(), tc.sink)
			}
		})
	}
}

func TestMapFilterFlatMap(t *testing.T) {
	all := randomClicks(3, 5, 20, 5, 0)
	sink := datastreamtest.NewSink()
	job := datastream.NewJob("mff")
	s := job.Source("clicks", datastreamtest.NewSource(nil, stepsOf(t, all, 20)...))
	s = s.Filter("big", func(rec arrow.Record, keep []bool) error {
		a := rec.Column(2).(*array.Int64)
		for i := range keep {
			keep[i] = a.Value(i) >= 50
		}
		return nil
	})
	s = s.Map("project", func(rec arrow.Record) (arrow.Record, error) {
		return rec.NewSlice(0, rec.NumRows()), nil
	})
	s = s.FlatMap("split", func(rec arrow.Record, emit func(arrow.Record)) error {
		for i := int64(0); i < rec.NumRows(); i++ {
			emit(rec.NewSlice(i, i+1))
		}
		return nil
	}, datastream.Parallelism(2))
	s.To("sink", sink)
	sum, err := job.Run(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, c := range all {
		if c.amount >= 50 {
			want = append(want, fmt.Sprintf("user=%s ts=%d amount=%d", c.user, c.ts, c.amount))
		}
	}
	if got := sink.Rows(); !slices.Equal(sorted(got), sorted(want)) {
		t.Fatalf("got %d rows, want %d", len(got), len(want))
	}
	if o := sum.Operator("big"); o.RecordsIn != int64(len(all)) || o.RecordsOut != int64(len(want)) {
		t.Errorf("filter summary %+v, want in %d out %d", o, len(all), len(want))
	}
}

// countdown counts rows per key and, on an event-time timer 30s after the
// key's first row, emits the count and clears the state.
type countdown struct{}

type countdownState struct {
	N     int64
	Armed bool
}

var countdownSchema = arrow.NewSchema([]arrow.Field{
	{Name: "user", Type: arrow.BinaryTypes.String},
	{Name: "at", Type: arrow.PrimitiveTypes.Int64},
	{Name: "n", Type: arrow.PrimitiveTypes.Int64},
}, nil)

func (countdown) ProcessRow(c *datastream.KeyedContext, st *countdownState, side int, rec arrow.Record, row int) error {
	st.N++
	if !st.Armed {
		st.Armed = true
		c.RegisterTimer(datastream.EventTime, c.Timestamp()+30000)
	}
	return nil
}

func (countdown) OnTimer(c *datastream.KeyedContext, st *countdownState, d datastream.TimeDomain, t int64) error {
	out := c.Out()
	c.AppendKey(out.Field(0))
	out.Field(1).(*array.Int64Builder).Append(t)
	out.Field(2).(*array.Int64Builder).Append(st.N)
	c.ClearState()
	return nil
}

func TestProcessEventTimers(t *testing.T) {
	all := randomClicks(11, 10, 30, 4, 0)
	// Reference: rows arrive in event-time order with zero out-of-orderness,
	// so the timer set at a key's first row t0 fires before any row with
	// ts > t0+30s is processed: each emitted count is the key's rows in
	// [t0, t0+30s], and the next row opens a new count.
	want := map[string][]int64{}
	first := map[string]int64{}
	for _, c := range all {
		t0, ok := first[c.user]
		if ok && c.ts > t0+30000 {
			ok = false
		}
		if !ok {
			first[c.user] = c.ts
			want[c.user] = append(want[c.user], 0)
		}
		want[c.user][len(want[c.user])-1]++
	}
	sink := datastreamtest.NewSink()
	job := datastream.NewJob("timers")
	src := job.Source("clicks", datastreamtest.NewSource(nil, stepsOf(t, all, 30)...),
		datastream.Watermarks(datastream.WatermarkStrategy{TimestampColumn: "ts"}))
	datastream.Process(src.KeyBy("user"), "countdown", countdownSchema, datastream.KeyedProcessFunc[countdownState](countdown{}),
		datastream.Parallelism(2)).To("sink", sink)
	if _, err := job.Run(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	got := map[string][]int64{}
	for _, r := range sorted(sink.Rows()) {
		var u string
		var at, n int64
		if _, err := fmt.Sscanf(r, "user=%s at=%d n=%d", &u, &at, &n); err != nil {
			t.Fatalf("row %q: %v", r, err)
		}
		got[u] = append(got[u], n)
	}
	for u, ns := range want {
		var total, gotTotal int64
		for _, n := range ns {
			total += n
		}
		for _, n := range got[u] {
			gotTotal += n
		}
		if total != gotTotal || !slices.Equal(ns, got[u]) {
			t.Errorf("user %s: timers emitted %v, want %v", u, got[u], ns)
		}
	}
}

// joinCount counts rows per key and side; the final watermark fires a timer
// that emits both counts.
type joinCount struct{}

type joinState struct{ N [2]int64 }

var joinSchema = arrow.NewSchema([]arrow.Field{
	{Name: "user", Type: arrow.BinaryTypes.String},
	{Name: "left", Type: arrow.PrimitiveTypes.Int64},
	{Name: "right", Type: arrow.PrimitiveTypes.Int64},
}, nil)

func (joinCount) ProcessRow(c *datastream.KeyedContext, st *joinState, side int, rec arrow.Record, row int) error {
	st.N[side]++
	c.RegisterTimer(datastream.EventTime, 1<<50)
	return nil
}

func (joinCount) OnTimer(c *datastream.KeyedContext, st *joinState, d datastream.TimeDomain, t int64) error {
	out := c.Out()
	c.AppendKey(out.Field(0))
	out.Field(1).(*array.Int64Builder).Append(st.N[0])
	out.Field(2).(*array.Int64Builder).Append(st.N[1])
	return nil
}

func TestCoProcessKeyed(t *testing.T) {
	left := randomClicks(1, 4, 25, 6, 0)
	right := randomClicks(2, 3, 25, 6, 0)
	sink := datastreamtest.NewSink()
	job := datastream.NewJob("join")
	ws := datastream.Watermarks(datastream.WatermarkStrategy{TimestampColumn: "ts"})
	a := job.Source("left", datastreamtest.NewSource(nil, stepsOf(t, left, 25)...), ws)
	b := job.Source("right", datastreamtest.NewSource(nil, stepsOf(t, right, 25)...), ws)
	datastream.CoProcess(a.KeyBy("user"), b.KeyBy("user"), "join", joinSchema, datastream.KeyedProcessFunc[joinState](joinCount{}),
		datastream.Parallelism(3)).To("sink", sink)
	if _, err := job.Run(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	counts := map[string]*[2]int64{}
	for side, rows := range [][]click{left, right} {
		for _, c := range rows {
			if counts[c.user] == nil {
				counts[c.user] = &[2]int64{}
			}
			counts[c.user][side]++
		}
	}
	var want []string
	for u, n := range counts {
		want = append(want, fmt.Sprintf("user=%s left=%d right=%d", u, n[0], n[1]))
	}
	if got := sorted(sink.Rows()); !slices.Equal(got, sorted(want)) {
		t.Fatalf("got %q\nwant %q", got, sorted(want))
	}
}

// seenBroadcast records, per subtask, how many broadcast rows it saw and
// how many data rows it processed.
type seenBroadcast struct {
	mu    *sync.Mutex
	bcast map[int]int64
	data  map[int]int64
}

type modelState struct{ Rows int64 }

var scoredSchema = arrow.NewSchema([]arrow.Field{{Name: "n", Type: arrow.PrimitiveTypes.Int64}}, nil)

func (s seenBroadcast) ProcessBroadcast(c *datastream.BroadcastContext, st *modelState, rec arrow.Record) error {
	st.Rows += rec.NumRows()
	i, _ := c.Subtask()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bcast[i] += rec.NumRows()
	return nil
}

func (s seenBroadcast) ProcessBatch(c *datastream.BroadcastContext, st *modelState, rec arrow.Record) error {
	i, _ := c.Subtask()
	s.mu.Lock()
	s.data[i] += rec.NumRows()
	s.mu.Unlock()
	for range rec.NumRows() {
		c.Out().Field(0).(*array.Int64Builder).Append(st.Rows)
	}
	return nil
}

func TestBroadcastReachesEverySubtask(t *testing.T) {
	data := randomClicks(5, 8, 10, 3, 0)
	models := randomClicks(6, 3, 2, 1, 0)
	seen := seenBroadcast{mu: &sync.Mutex{}, bcast: map[int]int64{}, data: map[int]int64{}}
	sink := datastreamtest.NewSink()
	job := datastream.NewJob("broadcast")
	d := job.Source("data", datastreamtest.NewSource(nil, stepsOf(t, data, 10)...))
	m := job.Source("models", datastreamtest.NewSource(nil, stepsOf(t, models, 2)...))
	datastream.BroadcastProcess(d, m, "score", scoredSchema, datastream.BroadcastProcessFunc[modelState](seen),
		datastream.Parallelism(3)).To("sink", sink)
	if _, err := job.Run(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	var dataRows int64
	for i := range 3 {
		if seen.bcast[i] != int64(len(models)) {
			t.Errorf("subtask %d saw %d broadcast rows, want %d", i, seen.bcast[i], len(models))
		}
		dataRows += seen.data[i]
	}
	if dataRows != int64(len(data)) || len(sink.Rows()) != len(data) {
		t.Errorf("data rows processed %d, emitted %d, want %d", dataRows, len(sink.Rows()), len(data))
	}
	if len(seen.data) < 2 {
		t.Errorf("data went to %d subtasks, want it spread over 3 by round robin", len(seen.data))
	}
}

func TestGraphErrors(t *testing.T) {
	src := func() datastream.Source { return datastreamtest.NewSource(nil) }
	for _, tc := range []struct {
		name  string
		build func() *datastream.Job
	}{
		{"duplicate name", func() *datastream.Job {
			j := datastream.NewJob("j")
			s := j.Source("a", src())
			s.To("a", datastreamtest.NewSink())
			return j
		}},
		{"unconsumed", func() *datastream.Job {
			j := datastream.NewJob("j")
			j.Source("a", src())
			return j
		}},
		{"no timestamp column", func() *datastream.Job {
			j := datastream.NewJob("j")
			datastream.Aggregate(j.Source("a", src()).KeyBy("user").Window(datastream.Tumbling(time.Minute)), "w",
				datastream.Aggregates(datastream.Count("n"))).To("s", datastreamtest.NewSink())
			return j
		}},
		{"bad parallelism", func() *datastream.Job {
			j := datastream.NewJob("j")
			j.Source("a", src()).ToSinks("s", func(int) (datastream.Sink, error) { return datastreamtest.NewSink(), nil }, datastream.Parallelism(0))
			return j
		}},
		{"restore without checkpoints", func() *datastream.Job {
			j := datastream.NewJob("j", datastream.WithRestore())
			j.Source("a", src()).To("s", datastreamtest.NewSink())
			return j
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.build().Run(testCtx(t))
			if !errors.Is(err, datastream.ErrGraph) {
				t.Fatalf("Run: %v, want ErrGraph", err)
			}
		})
	}
}

// procCount counts rows per key and emits the count on a processing-time
// timer 10s (of the clock) after the key's first row.
type procCount struct{}

func (procCount) ProcessRow(c *datastream.KeyedContext, st *countdownState, side int, rec arrow.Record, row int) error {
	st.N++
	if !st.Armed {
		st.Armed = true
		c.RegisterTimer(datastream.ProcessingTime, c.Now().UnixMilli()+10000)
	}
	return nil
}

func (procCount) OnTimer(c *datastream.KeyedContext, st *countdownState, d datastream.TimeDomain, t int64) error {
	if d != datastream.ProcessingTime {
		return fmt.Errorf("timer in domain %d, want processing time", d)
	}
	out := c.Out()
	c.AppendKey(out.Field(0))
	out.Field(1).(*array.Int64Builder).Append(t)
	out.Field(2).(*array.Int64Builder).Append(st.N)
	c.ClearState()
	return nil
}

func TestProcessProcessingTimeTimers(t *testing.T) {
	clock := datastreamtest.NewFakeClock(time.UnixMilli(0))
	rec := func(users ...string) datastream.Batch {
		var rows []click
		for _, u := range users {
			rows = append(rows, click{u, 0, 1})
		}
		r := clicks(rows...)
		t.Cleanup(r.Release)
		return datastream.Batch{Record: r}
	}
	src := datastreamtest.NewSource(clock,
		datastreamtest.Step{Batch: rec("a", "b", "a")},                 // clock 0: timers at 10s for a and b
		datastreamtest.Step{Advance: 5 * time.Second, Batch: rec("a")}, // clock 5s
		datastreamtest.Step{Advance: 6 * time.Second, Batch: rec("b")}, // clock 11s: both fire first (a=3, b=1), then b opens a timer at 21s
		datastreamtest.Step{Advance: 20 * time.Second},                 // clock 31s: b fires (1)
	)
	sink := datastreamtest.NewSink()
	job := datastream.NewJob("proctimers", datastream.WithClock(clock))
	datastream.Process(job.Source("clicks", src).KeyBy("user"), "count", countdownSchema,
		datastream.KeyedProcessFunc[countdownState](procCount{})).To("sink", sink)
	if _, err := job.Run(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	want := []string{"user=a at=10000 n=3", "user=b at=10000 n=1", "user=b at=21000 n=1"}
	if got := sink.Rows(); !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestSourceWatermarks checks that without a WatermarkStrategy the
// watermarks a source puts in its batches drive the windows (per split,
// combined by minimum), as a source with its own notion of event time does.
func TestSourceWatermarks(t *testing.T) {
	batch := func(split string, wm int64, rows ...click) datastream.Batch {
		b := datastream.Batch{Split: split, Watermark: wm}
		if len(rows) > 0 {
			b.Record = clicks(rows...)
			t.Cleanup(b.Record.Release)
		}
		return b
	}
	src := datastreamtest.NewSource(nil,
		datastreamtest.Step{Batch: batch("p0", 30000, click{"a", 10000, 1})},
		datastreamtest.Step{Batch: batch("p1", 70000, click{"a", 20000, 1})}, // min(p0 30s, p1 70s): nothing fires
		datastreamtest.Step{Batch: batch("p0", 65000)},                       // heartbeat: min 65s fires [0,1m)
		datastreamtest.Step{Batch: batch("p1", 80000, click{"a", 50000, 1})}, // late: [0,1m) fired at 65s
	)
	out, late := &stepSink{src: src}, &stepSink{src: src}
	job := datastream.NewJob("source-watermarks")
	w := datastream.Aggregate(job.Source("clicks", src).KeyBy("user").
		Window(datastream.Tumbling(time.Minute), datastream.TimestampColumn("ts")), "count",
		datastream.Aggregates(datastream.Count("n")))
	w.To("out", out)
	w.Late().To("late", late)
	if _, err := job.Run(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	want := []string{"after step 3: user=a window_start=1970-01-01 00:00:00Z window_end=1970-01-01 00:01:00Z n=2"}
	if !slices.Equal(out.rows, want) {
		t.Errorf("results %q, want %q", out.rows, want)
	}
	if wantLate := []string{"after step 4: user=a ts=50000 amount=1"}; !slices.Equal(late.rows, wantLate) {
		t.Errorf("late %q, want %q", late.rows, wantLate)
	}
}
