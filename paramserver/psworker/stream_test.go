package psworker_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/lake/laketest"
	"github.com/lakestream/lakestream/paramserver"
	"github.com/lakestream/lakestream/paramserver/psworker"
	"github.com/lakestream/lakestream/train/optim"
)

// The stream tests run RunStream against the real in-process
// StreamCoordinator and store (paramserver.Local) with a topic held in
// memory. Record r of the topic pushes a gradient of 1 to key r, so under
// SGD with learning rate 1 the weight of key r is minus the number of times
// it was trained: a record trained twice or lost shows.

// streamShard is one in-process shard that can be killed: a killed shard
// refuses calls with Unavailable, and restarts empty with a new instance
// id, as a restarted "trainer ps" does.
type streamShard struct {
	lake lake.Store
	mu   sync.Mutex
	l    *paramserver.Local
	inst uint64
	down bool
	busy atomic.Int32 // snapshots and restores under way
}

func newLocal(t *testing.T) *paramserver.Local {
	sgd := optim.DefaultConfig(optim.SGD)
	sgd.LearningRate = 1
	l, err := paramserver.New(paramserver.Config{Tables: []paramserver.TableSpec{{Name: "w", Width: 1, Optimizer: sgd}}})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

var errDown = status.Error(codes.Unavailable, "shard down")

func (s *streamShard) store() (*paramserver.Local, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return nil, errDown
	}
	return s.l, nil
}

func (s *streamShard) Snapshot(ctx context.Context, name string) ([]string, error) {
	l, err := s.store()
	if err != nil {
		return nil, err
	}
	key := paramserver.SnapshotKey("ckpt", name, 0, 1)
	s.busy.Add(1)
	defer s.busy.Add(-1)
	return []string{key}, l.SaveSnapshot(ctx, s.lake, key)
}

func (s *streamShard) Restore(ctx context.Context, name string) error {
	l, err := s.store()
	if err != nil {
		return err
	}
	s.busy.Add(1)
	defer s.busy.Add(-1)
	return l.LoadSnapshot(ctx, s.lake, paramserver.SnapshotKey("ckpt", name, 0, 1))
}

func (s *streamShard) Fence(_ context.Context, gen int64) (int64, error) {
	l, err := s.store()
	if err != nil {
		return 0, err
	}
	return l.Fence(gen), nil
}

func (s *streamShard) Instances(context.Context) ([]uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return nil, errDown
	}
	return []uint64{s.inst}, nil
}

// kill loses the tables; restart serves again, empty.
func (s *streamShard) kill() {
	s.mu.Lock()
	s.down = true
	s.mu.Unlock()
}

func (s *streamShard) restart(t *testing.T) {
	s.mu.Lock()
	s.l, s.inst, s.down = newLocal(t), s.inst+1, false
	s.mu.Unlock()
}

// memTopic is a topic of partitions whose records are their global ids.
type memTopic [][]uint64

func newTopic(partitions, perPartition int) memTopic {
	t := make(memTopic, partitions)
	id := uint64(0)
	for p := range t {
		for range perPartition {
			t[p] = append(t[p], id)
			id++
		}
	}
	return t
}

// memTask is a StreamTask over a memTopic: each Step pushes one batch of
// one partition, in two halves, so a worker killed mid-step leaves half a
// batch on the shard, as a process killed between two shard calls does.
type memTask struct {
	topic memTopic
	shard *streamShard
	batch int
	next  map[int32]int64
	parts []int32
	turn  int
	gen   int64 // set by RunStream (SetGeneration); every push carries it
	// hold, when set, runs between a batch's two pushes and says whether
	// it paused there; after a pause, held receives the second push's
	// error (nil if accepted), and the task then waits for its end.
	hold func() bool
	held chan<- error
}

func (m *memTask) SetGeneration(gen int64) { m.gen = gen }

func (m *memTask) Seek(_ context.Context, parts []int32, offs map[int32]int64) error {
	m.parts, m.next = parts, map[int32]int64{}
	for _, p := range parts {
		m.next[p] = offs[p] // absent: 0, the start of the partition
	}
	return nil
}

func (m *memTask) Step(ctx context.Context, wait time.Duration) (int64, error) {
	for range m.parts {
		p := m.parts[m.turn%len(m.parts)]
		m.turn++
		recs := m.topic[p][m.next[p]:]
		if len(recs) == 0 {
			continue
		}
		recs = recs[:min(len(recs), m.batch)]
		l, err := m.shard.store()
		if err != nil {
			return 0, err
		}
		half := len(recs) / 2
		for i, part := range [][]uint64{recs[:half], recs[half:]} {
			paused := i == 1 && m.hold != nil && m.hold()
			if i == 1 && ctx.Err() != nil {
				return 0, ctx.Err() // killed between the two calls
			}
			if m.shard.busy.Load() > 0 {
				panic("a push during a snapshot or restore")
			}
			err := l.PushAt(ctx, m.gen, "w", part, ones(len(part)))
			if paused {
				m.held <- err
				<-ctx.Done()
				return 0, ctx.Err()
			}
			if err != nil {
				return 0, err
			}
		}
		m.next[p] += int64(len(recs))
		return int64(len(recs)), nil
	}
	time.Sleep(wait / 10) // nothing to read
	return 0, nil
}

func (m *memTask) Offsets() map[int32]int64 {
	out := make(map[int32]int64, len(m.next))
	for p, o := range m.next {
		out[p] = o
	}
	return out
}

func ones(n int) []float32 {
	g := make([]float32, n)
	for i := range g {
		g[i] = 1
	}
	return g
}

// switchable forwards reports to the current coordinator, and answers
// Unavailable while there is none (a coordinator process restarting).
type switchable struct {
	mu sync.Mutex
	co *paramserver.StreamCoordinator
}

func (s *switchable) Report(ctx context.Context, r paramserver.StreamReport) (paramserver.StreamOrder, error) {
	s.mu.Lock()
	co := s.co
	s.mu.Unlock()
	if co == nil {
		return paramserver.StreamOrder{}, status.Error(codes.Unavailable, "coordinator down")
	}
	return co.Report(ctx, r)
}

type streamJob struct {
	t       *testing.T
	topic   memTopic
	shard   *streamShard
	lake    lake.Store
	workers int
	sw      switchable
	remote  psworker.StreamCoordinator // when set, the workers' coordinator instead of sw
	lease   time.Duration              // 0: a minute
	coStop  context.CancelFunc
	coDone  chan error
	wStop   []context.CancelFunc
	wDone   []chan error
}

func (j *streamJob) cfg() paramserver.StreamCoordinatorConfig {
	return paramserver.StreamCoordinatorConfig{Workers: j.workers, Partitions: len(j.topic), Topic: "clicks",
		CheckpointEvery: 5 * time.Millisecond, LeaseTTL: cmp.Or(j.lease, time.Minute), Shards: j.shard, Lake: j.lake, Prefix: "ckpt",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func (j *streamJob) startCoordinator() *paramserver.StreamCoordinator {
	co, err := paramserver.NewStreamCoordinator(j.cfg())
	if err != nil {
		j.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	j.coStop, j.coDone = cancel, make(chan error, 1)
	go func() { j.coDone <- co.Run(ctx, time.Millisecond) }()
	j.sw.mu.Lock()
	j.sw.co = co
	j.sw.mu.Unlock()
	return co
}

func (j *streamJob) stopCoordinator() {
	j.sw.mu.Lock()
	j.sw.co = nil
	j.sw.mu.Unlock()
	j.coStop()
	<-j.coDone
}

func (j *streamJob) startWorker(i int) {
	j.startTask(i, &memTask{topic: j.topic, shard: j.shard, batch: 7})
}

func (j *streamJob) startTask(i int, task *memTask) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	j.wStop[i], j.wDone[i] = cancel, done
	var co psworker.StreamCoordinator = &j.sw
	if j.remote != nil {
		co = j.remote
	}
	go func() {
		err := psworker.RunStream(ctx, psworker.StreamConfig{Index: i, Coordinator: co, Task: task, Generations: task, Poll: time.Millisecond,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if !errors.Is(err, context.Canceled) {
			j.t.Errorf("worker %d: %v", i, err)
		}
		done <- err
	}()
}

// killWorker stops worker i wherever it is, without a word to the
// coordinator; an error other than the cancellation fails the test.
func (j *streamJob) killWorker(i int) {
	j.wStop[i]()
	if err := <-j.wDone[i]; !errors.Is(err, context.Canceled) {
		j.t.Fatalf("worker %d: %v", i, err)
	}
}

func newStreamJob(t *testing.T, workers, partitions, perPartition int) *streamJob {
	lk := laketest.NewMemory()
	j := &streamJob{t: t, topic: newTopic(partitions, perPartition), lake: lk, workers: workers,
		shard: &streamShard{lake: lk}, wStop: make([]context.CancelFunc, workers), wDone: make([]chan error, workers)}
	j.shard.restart(t)
	return j
}

// finish waits until a checkpoint holds every record and checks that the
// shard trained each exactly once.
func (j *streamJob) finish(co *paramserver.StreamCoordinator) paramserver.StreamStatus {
	t := j.t
	total := 0
	for _, p := range j.topic {
		total += len(p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// A checkpoint taken from now on saw every failure before it: the
	// shard holds its state once no record is left to train.
	base := co.Status().Checkpoints
	err := co.WaitFor(ctx, func(st paramserver.StreamStatus) bool {
		if st.Phase != "running" || st.Checkpoints <= base {
			return false
		}
		for p, recs := range j.topic {
			if st.Offsets[int32(p)] != int64(len(recs)) {
				return false
			}
		}
		return true
	})
	st := co.Status()
	if err != nil {
		t.Fatalf("the job did not checkpoint every record: %+v", st)
	}
	for i := range j.workers {
		j.killWorker(i)
	}
	j.stopCoordinator()
	if st.Examples != int64(total) {
		t.Errorf("checkpoint examples %d, want the record count %d", st.Examples, total)
	}
	l, err := j.shard.store()
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]uint64, total)
	for i := range keys {
		keys[i] = uint64(i)
	}
	got := make([]float32, total)
	if err := l.Pull(context.Background(), "w", keys, got); err != nil {
		t.Fatal(err)
	}
	bad := 0
	for k, v := range got {
		if v != -1 {
			if bad++; bad <= 5 {
				t.Errorf("record %d trained %v times, want once", k, -v)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d records not trained exactly once", bad, total)
	}
	return st
}

func TestStreamBarriersExactlyOnce(t *testing.T) {
	j := newStreamJob(t, 3, 4, 400)
	co := j.startCoordinator()
	for i := range j.workers {
		j.startWorker(i)
	}
	st := j.finish(co)
	if st.Checkpoints < 2 || st.Recoveries != 0 {
		t.Errorf("checkpoints %d, recoveries %d: want at least the first and one barrier, and no recovery", st.Checkpoints, st.Recoveries)
	}
	// Offsets live in the manifest: the last one names every partition's end.
	m, err := paramserver.LatestStreamManifest(context.Background(), j.lake, "ckpt")
	if err != nil || m == nil {
		t.Fatalf("latest manifest: %v %v", m, err)
	}
	for p, recs := range j.topic {
		if m.Offsets[int32(p)] != int64(len(recs)) {
			t.Errorf("manifest %s: partition %d at %d, want %d", m.Name, p, m.Offsets[int32(p)], len(recs))
		}
	}
}

// TestStreamRecoveryExactlyOnce kills workers, the shard and the
// coordinator at random moments (seeded; the seed is logged) while the job
// trains: every record is trained exactly once in the end.
func TestStreamRecoveryExactlyOnce(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	j := newStreamJob(t, 3, 4, 5000)
	co := j.startCoordinator()
	for i := range j.workers {
		j.startWorker(i)
	}
	for range 12 {
		time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
		switch what := rng.IntN(3); what {
		case 0:
			i := rng.IntN(j.workers)
			j.killWorker(i)
			j.startWorker(i)
		case 1:
			j.shard.kill()
			time.Sleep(time.Duration(rng.IntN(10)) * time.Millisecond)
			j.shard.restart(t)
		case 2:
			j.stopCoordinator()
			co = j.startCoordinator()
		}
	}
	st := j.finish(co)
	if st.Examples == 0 {
		t.Fatal("nothing trained")
	}
	t.Logf("final: %+v", st)
}

// TestStreamCoordinatorRefusesOtherJob: a checkpoint folder of another
// topic is refused by name, not resumed.
func TestStreamCoordinatorRefusesOtherJob(t *testing.T) {
	j := newStreamJob(t, 1, 2, 10)
	co := j.startCoordinator()
	j.startWorker(0)
	j.finish(co)
	cfg := j.cfg()
	cfg.Topic = "views"
	other, err := paramserver.NewStreamCoordinator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := other.Run(ctx, time.Millisecond); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a coordinator of another topic ran on the folder: %v", err)
	} else {
		t.Log(err)
	}
}

// TestStreamOverGRPC runs the protocol through the StreamCoordinator
// service and its client, with a worker killed and restarted once.
func TestStreamOverGRPC(t *testing.T) {
	j := newStreamJob(t, 2, 4, 300)
	co, err := paramserver.NewStreamCoordinator(j.cfg())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := paramserver.NewServer(paramserver.ServerConfig{Store: newLocal(t), StreamCoordinator: co,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = srv.Serve(ctx, lis) }()
	cl, err := paramserver.DialStreamCoordinator(lis.Addr().String(), paramserver.ClientConfig{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	j.remote = cl
	j.coStop, j.coDone = cancel, make(chan error, 1)
	go func() { j.coDone <- co.Run(ctx, time.Millisecond) }()
	j.sw.co = co
	for i := range j.workers {
		j.startWorker(i)
	}
	if err := co.WaitFor(ctx, func(st paramserver.StreamStatus) bool { return st.Checkpoints >= 2 }); err != nil {
		t.Fatal(err)
	}
	j.killWorker(1)
	j.startWorker(1)
	st := j.finish(co)
	if st.Recoveries < 1 {
		t.Errorf("a restarted worker did not roll the job back: %+v", st)
	}
}

// TestStreamLeaseExpiry: a worker that goes silent (killed, not yet
// restarted) loses its lease; the job stops until a process takes its
// index again, then rolls back and trains every record exactly once. A
// live worker whose lease expires under load joins again under a new id,
// which only adds a rollback.
func TestStreamLeaseExpiry(t *testing.T) {
	j := newStreamJob(t, 2, 4, 2000)
	j.lease = 100 * time.Millisecond
	co := j.startCoordinator()
	for i := range j.workers {
		j.startWorker(i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := co.WaitFor(ctx, func(st paramserver.StreamStatus) bool { return st.Checkpoints >= 2 }); err != nil {
		t.Fatal(err)
	}
	j.killWorker(0)
	if err := co.WaitFor(ctx, func(st paramserver.StreamStatus) bool { return st.Workers == 1 && st.Phase == "recovering" }); err != nil {
		t.Fatalf("the silent worker was not dropped: %+v", co.Status())
	}
	j.startWorker(0)
	st := j.finish(co)
	if st.Recoveries < 1 {
		t.Errorf("no rollback after a lease expired: %+v", st)
	}
}

// TestStreamZombieFenced: worker 0 pauses in the middle of a batch (half of
// it pushed) for longer than its lease, as a process in a long GC pause or
// behind a partition does. The coordinator retires it, a replacement takes
// index 0, every shard restores the last checkpoint in a new generation,
// and only then does the paused process push the rest of its batch: the
// shard refuses it with ErrFenced (the replacement trains those records
// again), so every record is still trained exactly once.
func TestStreamZombieFenced(t *testing.T) {
	j := newStreamJob(t, 2, 4, 2000)
	j.lease = 100 * time.Millisecond
	co := j.startCoordinator()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	paused, resume, held := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	var once sync.Once
	zombie := &memTask{topic: j.topic, shard: j.shard, batch: 7, held: held}
	zombie.hold = func() (did bool) {
		if co.Status().Checkpoints < 1 {
			return false
		}
		once.Do(func() {
			close(paused)
			<-resume
			did = true
		})
		return did
	}
	j.startTask(0, zombie)
	j.startWorker(1)
	select {
	case <-paused:
	case <-ctx.Done():
		t.Fatalf("worker 0 never paused mid-batch: %+v", co.Status())
	}
	zombieStop, zombieDone := j.wStop[0], j.wDone[0]
	if err := co.WaitFor(ctx, func(st paramserver.StreamStatus) bool { return st.Workers == 1 && st.Phase == "recovering" }); err != nil {
		t.Fatalf("the paused worker's lease did not expire: %+v", co.Status())
	}
	j.startWorker(0)
	if err := co.WaitFor(ctx, func(st paramserver.StreamStatus) bool { return st.Recoveries >= 1 && st.Phase == "running" }); err != nil {
		t.Fatalf("no restore after the replacement joined: %+v", co.Status())
	}
	close(resume)
	if err := <-held; !errors.Is(err, paramserver.ErrFenced) {
		t.Errorf("the retired worker's push after the restore: %v, want ErrFenced", err)
	}
	zombieStop()
	if err := <-zombieDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("retired worker: %v", err)
	}
	j.finish(co)
}

// fencedTask trains nothing: its first Step fails as a push a shard fenced
// off does, its others wait.
type fencedTask struct{ steps int }

func (f *fencedTask) Seek(context.Context, []int32, map[int32]int64) error { return nil }
func (f *fencedTask) Offsets() map[int32]int64                             { return map[int32]int64{} }
func (f *fencedTask) Step(ctx context.Context, wait time.Duration) (int64, error) {
	if f.steps++; f.steps == 1 {
		return 0, fmt.Errorf("train sink: record 0: %w", paramserver.ErrFenced)
	}
	time.Sleep(wait / 10)
	return 0, nil
}

// reportLog answers run in generation 3, and records the reports.
type reportLog struct {
	mu      sync.Mutex
	reports []paramserver.StreamReport
}

func (r *reportLog) Report(_ context.Context, rep paramserver.StreamReport) (paramserver.StreamOrder, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reports = append(r.reports, rep)
	return paramserver.StreamOrder{Command: paramserver.StreamRun, Generation: 3, Partitions: []int32{0}, Seek: len(r.reports) == 1}, nil
}

// TestStreamFencedPushStops: a push refused as of an old generation stops
// the worker, which reports stopped without claiming a lost shard (which
// would roll the job back again) and goes on when told to run; the
// generation it runs in reaches the pushes (StreamConfig.Generations).
func TestStreamFencedPushStops(t *testing.T) {
	co, task := &reportLog{}, &fencedTask{}
	gens := &memTask{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- psworker.RunStream(ctx, psworker.StreamConfig{Coordinator: co, Task: task, Generations: gens, Poll: time.Millisecond,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	}()
	for {
		co.mu.Lock()
		n := len(co.reports)
		co.mu.Unlock()
		if n >= 4 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the worker ended on a fenced push: %v", err)
		case <-time.After(time.Millisecond):
		}
	}
	cancel()
	<-done
	// Reports: the first (stopped, before any run), then the one after the
	// refused push.
	r := co.reports[1]
	if !r.Stopped || r.ShardLost || r.Generation != 3 {
		t.Errorf("report after a fenced push: %+v, want stopped in generation 3 without a lost shard", r)
	}
	if gens.gen != 3 {
		t.Errorf("pushes carry generation %d, want the coordinator's 3", gens.gen)
	}
}
