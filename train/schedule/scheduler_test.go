package schedule

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/lake/laketest"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/train/schedule/scheduletest"
)

// fakePipeline records what the scheduler asks of it. Train returns
// increasing versions; Publish decides with refuse (nil: promote).
type fakePipeline struct {
	mu        sync.Mutex
	version   int
	trained   map[string]int // interval → Train calls
	published map[string]int // interval → Publish calls
	order     []string       // intervals in the order Train started
	active    int
	maxActive int
	failTrain map[string]int // interval → failures left
	refuse    func(interval string) bool
	hold      chan struct{} // when set, Train waits for it
	onTrain   func(r *Run)
}

func newFake() *fakePipeline {
	return &fakePipeline{trained: map[string]int{}, published: map[string]int{}, failTrain: map[string]int{}}
}

func (f *fakePipeline) Check(ctx context.Context, j *Job, p *Plan) error { return nil }

func (f *fakePipeline) Train(ctx context.Context, r *Run) (Candidate, error) {
	id := r.Plan.Interval.ID
	f.mu.Lock()
	f.trained[id]++
	f.order = append(f.order, id)
	f.active++
	f.maxActive = max(f.maxActive, f.active)
	fail := f.failTrain[id] > 0
	if fail {
		f.failTrain[id]--
	}
	f.version++
	v := f.version
	hold := f.hold
	f.mu.Unlock()
	defer func() { f.mu.Lock(); f.active--; f.mu.Unlock() }()
	if f.onTrain != nil {
		f.onTrain(r)
	}
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return Candidate{}, ctx.Err()
		}
	}
	if fail {
		return Candidate{}, errors.New("disk full")
	}
	return Candidate{Version: v, Metrics: map[string]float64{"auc": 0.7}}, nil
}

func (f *fakePipeline) Publish(ctx context.Context, r *Run, c Candidate) (Publication, error) {
	id := r.Plan.Interval.ID
	f.mu.Lock()
	f.published[id]++
	f.mu.Unlock()
	d := &model.Decision{Candidate: c.Version, Promoted: true, Reason: "ok",
		Evaluation: model.Evaluation{Candidate: 0.71, Champion: math.NaN()}}
	if f.refuse != nil && f.refuse(id) {
		d.Promoted, d.Reason = false, "worse than the champion"
	}
	return Publication{Metrics: map[string]float64{"auc": 0.71}, Decision: d, Champion: c.Version}, nil
}

func (f *fakePipeline) counts() (trained, published map[string]int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.trained), maps.Clone(f.published)
}

func testJob(t *testing.T, extra string) *Job {
	t.Helper()
	f, err := Parse([]byte(`jobs:
  - name: ctr
    schedule: "@daily"
    data: clicks
    publish: {model: ctr}
    sensor: {timeout: 2h, poke: 1m}
    retry_delay: 10m
    lease: 5m
` + extra))
	if err != nil {
		t.Fatal(err)
	}
	return f.Jobs[0]
}

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func commitDay(t *testing.T, s lake.Store, ds string) {
	t.Helper()
	ctx := context.Background()
	if err := lake.PutBytes(ctx, s, "clicks/dt="+ds+"/part-0.parquet", []byte("rows")); err != nil {
		t.Fatal(err)
	}
	if err := lake.Commit(ctx, s, "clicks/dt="+ds); err != nil {
		t.Fatal(err)
	}
}

func newScheduler(t *testing.T, store lake.Store, clock Clock, p Pipeline, owner string) *Scheduler {
	t.Helper()
	s, err := New(Config{Store: store, Pipeline: p, Clock: clock, Owner: owner})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// eventually polls cond for up to 2 minutes of real time. The schedulers
// run on a fake clock, so real time only bounds a hang: 10 s was too short
// for 20 intervals against MinIO while the machine built and ran other
// packages (the condition returns as soon as it holds).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func recordState(store lake.Store, job, iv string) State {
	r, err := ReadRecord(context.Background(), store, job, iv)
	if err != nil {
		return ""
	}
	return r.State
}

func TestRunIntervalWaitsForData(t *testing.T) {
	store := laketest.NewMemory()
	clock := scheduletest.NewClock(day("2026-11-10").Add(30 * time.Minute))
	fake := newFake()
	s := newScheduler(t, store, clock, fake, "a")
	j := testJob(t, "")
	iv, err := j.IntervalByID("2026-11-09")
	if err != nil {
		t.Fatal(err)
	}
	commitDay(t, store, "2026-11-09")
	// The evaluation day 2026-11-10 is not there yet: the run waits for it.
	done := make(chan *Record, 1)
	go func() {
		r, err := s.RunInterval(t.Context(), j, iv, false)
		if err != nil {
			t.Error(err)
		}
		done <- r
	}()
	eventually(t, "waiting", func() bool { return recordState(store, "ctr", "2026-11-09") == Waiting })
	r, _ := ReadRecord(t.Context(), store, "ctr", "2026-11-09")
	if !slices.Equal(r.Missing, []string{"clicks/dt=2026-11-10"}) {
		t.Errorf("missing %v", r.Missing)
	}
	// A partition without _SUCCESS does not count.
	lake.PutBytes(t.Context(), store, "clicks/dt=2026-11-10/part-0.parquet", []byte("x"))
	clock.Advance(time.Minute)
	time.Sleep(20 * time.Millisecond)
	if st := recordState(store, "ctr", "2026-11-09"); st != Waiting {
		t.Fatalf("state %s before _SUCCESS, want waiting", st)
	}
	commitDay(t, store, "2026-11-10")
	eventually(t, "the sensor's next poke", func() bool { clock.Advance(time.Minute); return len(done) == 1 })
	r = <-done
	if r.State != Succeeded || r.Version != 1 || r.Attempt != 1 || r.Decision == nil || !r.Decision.Promoted || r.Metrics["auc"] != 0.71 {
		t.Errorf("record %+v", r)
	}
	if r.Durations.Wait < 120 || r.EndedAt == nil {
		t.Errorf("wait %vs, ended %v", r.Durations.Wait, r.EndedAt)
	}
	// Succeeded: not run again unless forced.
	if _, err := s.RunInterval(t.Context(), j, iv, false); !errors.Is(err, ErrDone) {
		t.Errorf("second run: %v, want ErrDone", err)
	}
	r2, err := s.RunInterval(t.Context(), j, iv, true)
	if err != nil || r2.State != Succeeded || !r2.Forced || r2.Attempt != 2 || r2.Version != 2 {
		t.Errorf("forced run: %+v, %v", r2, err)
	}
	if tr, _ := fake.counts(); tr["2026-11-09"] != 2 {
		t.Errorf("trained %v", tr)
	}
}

func TestNoDataAndGateRefused(t *testing.T) {
	store := laketest.NewMemory()
	clock := scheduletest.NewClock(day("2026-11-12"))
	fake := newFake()
	fake.refuse = func(iv string) bool { return iv == "2026-11-10" }
	s := newScheduler(t, store, clock, fake, "a")
	j := testJob(t, "")
	commitDay(t, store, "2026-11-10")
	commitDay(t, store, "2026-11-11")
	// 2026-11-08 closed long ago (end + 2h timeout passed): no data at once.
	iv, _ := j.IntervalByID("2026-11-08")
	r, err := s.RunInterval(t.Context(), j, iv, false)
	if err != nil || r.State != NoData || !slices.Equal(r.Missing, []string{"clicks/dt=2026-11-08", "clicks/dt=2026-11-09"}) ||
		!strings.Contains(r.Error, "clicks/dt=2026-11-08") {
		t.Fatalf("no-data run: %+v, %v", r, err)
	}
	iv, _ = j.IntervalByID("2026-11-10")
	r, err = s.RunInterval(t.Context(), j, iv, false)
	if err != nil || r.State != GateRefused || r.Error != "worse than the champion" || r.Version != 1 {
		t.Fatalf("refused run: %+v, %v", r, err)
	}
	if tr, _ := fake.counts(); len(tr) != 1 {
		t.Errorf("trained %v: a no-data run must not train", tr)
	}
}

func TestBackfillOrderLimitAndRetries(t *testing.T) {
	testBackfill(t, laketest.NewMemory())
}

func TestIntegrationBackfillMinIO(t *testing.T) {
	testBackfill(t, laketest.MinIO(t))
}

func testBackfill(t *testing.T, store lake.Store) {
	clock := scheduletest.NewClock(day("2026-11-20"))
	fake := newFake()
	fake.failTrain["2026-11-04"] = 2 // fails twice, succeeds at the third attempt
	fake.hold = make(chan struct{})
	logs := &logRecorder{}
	s, err := New(Config{Store: store, Pipeline: fake, Clock: clock, Owner: "a", Logger: slog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	j := testJob(t, "    max_active_runs: 2\n")
	for d := 1; d <= 8; d++ {
		commitDay(t, store, fmt.Sprintf("2026-11-%02d", d))
	}
	done := make(chan []*Record, 1)
	go func() {
		recs, err := s.Backfill(t.Context(), j, "2026-11-01", "2026-11-07", false)
		if err != nil {
			t.Error(err)
		}
		done <- recs
	}()
	// Let runs through one at a time; retries need the clock to pass their
	// backoff.
	// Release a run only when two are in Train (or nothing else can start:
	// the others wait for a retry), so the limit is reached if allowed.
	for len(done) == 0 {
		fake.mu.Lock()
		active := fake.active
		fake.mu.Unlock()
		if active < 2 {
			// Give a second run time to reach Train (on MinIO a lease and
			// two record writes take a few milliseconds).
			same := true
			for range 30 {
				time.Sleep(10 * time.Millisecond)
				fake.mu.Lock()
				same = fake.active == active
				fake.mu.Unlock()
				if !same {
					break
				}
			}
			if !same {
				continue
			}
			if active == 0 {
				// Everyone sleeps: the retry backoff. Move the clock to
				// the earliest wake-up that is not a lease renewal.
				if next, ok := clock.Next(); ok {
					clock.Set(next)
				}
				continue
			}
		}
		select {
		case fake.hold <- struct{}{}:
		case <-time.After(10 * time.Millisecond):
		}
	}
	recs := <-done
	if len(recs) != 7 {
		t.Fatalf("%d records", len(recs))
	}
	for _, r := range recs {
		if r.State != Succeeded {
			t.Errorf("%s: %s (%s)", r.Interval, r.State, r.Error)
		}
	}
	r4 := recs[3]
	if r4.Attempt != 3 || len(r4.Attempts) != 3 || r4.Attempts[0].State != Failed || r4.Attempts[0].Error != "disk full" {
		t.Errorf("2026-11-04: %+v", r4)
	}
	// Backoff: 10m before the second attempt, 20m before the third.
	if d := r4.Attempts[1].StartedAt.Sub(*r4.Attempts[0].EndedAt); d < 10*time.Minute {
		t.Errorf("first retry after %v, want ≥ 10m", d)
	}
	if d := r4.Attempts[2].StartedAt.Sub(*r4.Attempts[1].EndedAt); d < 20*time.Minute {
		t.Errorf("second retry after %v, want ≥ 20m", d)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if fake.maxActive != 2 {
		t.Errorf("at most %d runs at once, want 2 (max_active_runs)", fake.maxActive)
	}
	// Runs start (are queued) in interval order.
	var firsts []string
	for _, l := range logs.lines() {
		if l["state"] == string(Queued) && !slices.Contains(firsts, l["interval"]) {
			firsts = append(firsts, l["interval"])
		}
	}
	if !slices.IsSorted(firsts) || len(firsts) != 7 {
		t.Errorf("runs queued in the order %v", firsts)
	}
}

// Two schedulers on one lake, racing for 20 intervals: each interval is
// trained and published exactly once.
func TestTwoSchedulersRace(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testTwoSchedulersRace(t, laketest.NewMemory()) })
	t.Run("local", func(t *testing.T) {
		s, err := lake.NewLocal(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		testTwoSchedulersRace(t, s)
	})
}

// TestIntegrationTwoSchedulersRaceMinIO races them on the real MinIO, whose
// If-None-Match: * creates are the leases.
func TestIntegrationTwoSchedulersRaceMinIO(t *testing.T) {
	testTwoSchedulersRace(t, laketest.MinIO(t))
}

func testTwoSchedulersRace(t *testing.T, store lake.Store) {
	clock := scheduletest.NewClock(day("2026-11-22").Add(time.Hour))
	fake := newFake()
	j := testJob(t, "    start: 2026-11-01\n    max_active_runs: 3\n")
	for d := 1; d <= 21; d++ {
		commitDay(t, store, fmt.Sprintf("2026-11-%02d", d))
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for _, owner := range []string{"a", "b"} {
		s := newScheduler(t, store, clock, fake, owner)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Serve(ctx, j); !errors.Is(err, context.Canceled) {
				t.Error(err)
			}
		}()
	}
	eventually(t, "20 intervals to succeed", func() bool {
		recs, _ := Records(context.Background(), store, "ctr")
		n := 0
		for _, r := range recs {
			if r.State == Succeeded {
				n++
			}
		}
		return n == 20
	})
	cancel()
	wg.Wait()
	trained, published := fake.counts()
	if len(trained) != 20 {
		t.Errorf("%d intervals trained, want 20", len(trained))
	}
	owners := map[string]int{}
	for d := 1; d <= 20; d++ {
		id := fmt.Sprintf("2026-11-%02d", d)
		if trained[id] != 1 || published[id] != 1 {
			t.Errorf("%s trained %d times, published %d times, want once", id, trained[id], published[id])
		}
		r, _ := ReadRecord(t.Context(), store, "ctr", id)
		owners[r.Owner]++
	}
	t.Logf("runs per scheduler: %v", owners)
}

// A scheduler killed after training (its record says running, with the
// candidate's version, and its lease is no longer renewed): another one
// takes the interval over once the lease expires and publishes the same
// candidate without training again.
func TestTakeOverAfterLeaseExpiry(t *testing.T) {
	store := laketest.NewMemory()
	clock := scheduletest.NewClock(day("2026-11-10").Add(time.Hour))
	j := testJob(t, "")
	commitDay(t, store, "2026-11-09")
	commitDay(t, store, "2026-11-10")
	iv, _ := j.IntervalByID("2026-11-09")

	dead := newFake()
	killed := make(chan struct{})
	dead.hold = make(chan struct{})
	deadStore := &killableStore{Store: store}
	sDead := newScheduler(t, deadStore, clock, &publishBlocker{fakePipeline: dead, killed: killed}, "dead")
	go sDead.RunInterval(t.Context(), j, iv, false)
	dead.hold <- struct{}{}
	<-killed // in Publish, after the record has the version
	// "kill -9": from now on the dead scheduler reaches nothing: no renewal,
	// no record write.
	deadStore.dead.Store(true)
	r, _ := ReadRecord(t.Context(), store, "ctr", "2026-11-09")
	if r.State != Running || r.Version != 1 {
		t.Fatalf("record before the takeover: %+v", r)
	}
	live := newFake()
	s := newScheduler(t, store, clock, live, "live")
	if _, err := s.RunInterval(t.Context(), j, iv, false); err == nil {
		t.Fatal("took over a live lease")
	} else if be := (*BusyError)(nil); !errors.As(err, &be) || be.Owner != "dead" {
		t.Fatalf("err %v, want a BusyError naming dead", err)
	}
	clock.Advance(5*time.Minute + time.Second)
	r, err := s.RunInterval(t.Context(), j, iv, false)
	if err != nil || r.State != Succeeded || r.Version != 1 || r.Attempt != 2 || r.Owner != "live" {
		t.Fatalf("takeover: %+v, %v", r, err)
	}
	tr, pub := live.counts()
	if len(tr) != 0 || pub["2026-11-09"] != 1 {
		t.Errorf("the new scheduler trained %v and published %v: want no training, one publication", tr, pub)
	}
}

// publishBlocker signals killed when Publish starts and then blocks until
// its context ends.
type publishBlocker struct {
	*fakePipeline
	killed chan struct{}
}

func (p *publishBlocker) Publish(ctx context.Context, r *Run, c Candidate) (Publication, error) {
	close(p.killed)
	<-ctx.Done()
	return Publication{}, ctx.Err()
}

// killableStore fails every call once dead is set, as a killed process
// would stop reaching the lake.
type killableStore struct {
	lake.Store
	dead atomic.Bool
}

var errKilled = errors.New("killed")

func (k *killableStore) Stat(ctx context.Context, key string) (lake.ObjectInfo, error) {
	if k.dead.Load() {
		return lake.ObjectInfo{}, errKilled
	}
	return k.Store.Stat(ctx, key)
}

func (k *killableStore) Open(ctx context.Context, key string) (lake.Reader, error) {
	if k.dead.Load() {
		return nil, errKilled
	}
	return k.Store.Open(ctx, key)
}

func (k *killableStore) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if k.dead.Load() {
		return errKilled
	}
	return k.Store.Put(ctx, key, r, size)
}

func (k *killableStore) Create(ctx context.Context, key string, r io.Reader, size int64) error {
	if k.dead.Load() {
		return errKilled
	}
	return k.Store.(lake.Creator).Create(ctx, key, r, size)
}

func (k *killableStore) List(ctx context.Context, prefix string) lake.Objects {
	if k.dead.Load() {
		return lake.SliceObjects(nil, errKilled)
	}
	return k.Store.List(ctx, prefix)
}

func TestLeaseLostStopsWrites(t *testing.T) {
	store := laketest.NewMemory()
	clock := scheduletest.NewClock(day("2026-11-10").Add(time.Hour))
	j := testJob(t, "")
	l, err := acquire(t.Context(), store, clock, 30*time.Second, "ctr", "2026-11-09", "a")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.check(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := acquire(t.Context(), store, clock, 30*time.Second, "ctr", "2026-11-09", "b"); err == nil {
		t.Fatal("b took a live lease")
	}
	clock.Advance(31 * time.Second)
	l2, err := acquire(t.Context(), store, clock, 30*time.Second, "ctr", "2026-11-09", "b")
	if err != nil || l2.body.Number != 2 {
		t.Fatalf("takeover: %+v, %v", l2, err)
	}
	if err := l.check(t.Context()); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("check after takeover: %v, want ErrLeaseLost", err)
	}
	if err := l.renew(t.Context()); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("renew after takeover: %v, want ErrLeaseLost", err)
	}
	_ = j
}

// logRecorder is a slog.Handler keeping every line's attributes as strings.
type logRecorder struct {
	mu   sync.Mutex
	recs []map[string]string
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logRecorder) WithGroup(string) slog.Handler            { return h }

func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	m := map[string]string{"msg": r.Message}
	r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
	h.mu.Lock()
	h.recs = append(h.recs, m)
	h.mu.Unlock()
	return nil
}

func (h *logRecorder) lines() []map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.recs)
}

func TestMetrics(t *testing.T) {
	store := laketest.NewMemory()
	clock := scheduletest.NewClock(day("2026-11-12"))
	fake := newFake()
	fake.refuse = func(iv string) bool { return iv == "2026-11-10" }
	reg := prometheus.NewRegistry()
	s, err := New(Config{Store: store, Pipeline: fake, Clock: clock, Owner: "a", Metrics: NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	j := testJob(t, "")
	for _, d := range []string{"2026-11-09", "2026-11-10", "2026-11-11"} {
		commitDay(t, store, d)
	}
	for _, id := range []string{"2026-11-09", "2026-11-10", "2026-11-05"} {
		iv, _ := j.IntervalByID(id)
		if _, err := s.RunInterval(t.Context(), j, iv, false); err != nil {
			t.Fatal(err)
		}
	}
	rr := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rr, httptest.NewRequest("GET", "/metrics", nil))
	text := rr.Body.String()
	for _, want := range []string{
		`lakestream_schedule_gate_decisions_total{job="ctr",outcome="promoted"} 1`,
		`lakestream_schedule_gate_decisions_total{job="ctr",outcome="refused"} 1`,
		`lakestream_schedule_last_success_timestamp_seconds{job="ctr"} 1.7944416e+09`, // 2026-11-12T00:00:00Z, the fake clock,
		`lakestream_schedule_runs_total{job="ctr",state="gate-refused"} 1`,
		`lakestream_schedule_runs_total{job="ctr",state="no-data"} 1`,
		`lakestream_schedule_runs_total{job="ctr",state="succeeded"} 1`,
		`lakestream_schedule_run_duration_seconds_count{job="ctr",state="succeeded"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if t.Failed() {
		t.Log(text)
	}
}
