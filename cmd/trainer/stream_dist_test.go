package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/lakestream/lakestream/api/inference"
	"github.com/lakestream/lakestream/internal/predictortest"

	"github.com/lakestream/lakestream/datastream/kafka/kafkatest"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/paramserver"
)

// TestStreamExactlyOnceKills runs an exactly-once distributed stream job
// (2 async shards, shard 0 coordinating with --topic and publishing
// --output at every checkpoint with --promote, 3 workers with
// --worker-index on a 4-partition topic) and SIGKILLs random workers and
// shards (shard 0 too: the coordinator) while the rows arrive, restarting
// each with its flags. The seed is logged; LAKESTREAM_EO_KILLS sets the
// number of kills (default 4: each costs a process start and a rollback)
// and LAKESTREAM_EO_ROWS the rows generated (3/4 of them are produced).
// The first checkpoint after the last restart that reaches the end of
// every partition must hold exactly as many examples as rows were
// produced; the versions' lineage must only advance; a predictor started
// at the first champion must serve at least 3 versions; and the model must
// validate within the async bound of the single process's AUC.
func TestStreamExactlyOnceKills(t *testing.T) {
	rows := 120_000 // 90k training rows; LAKESTREAM_EO_ROWS=1333334 gives 1M
	if v := os.Getenv("LAKESTREAM_EO_ROWS"); v != "" {
		var err error
		if rows, err = strconv.Atoi(v); err != nil {
			t.Fatal(err)
		}
	}
	c := newSizedCluster(t, rows, "logistic") // skips under -short
	brokers := kafkatest.Brokers(t)
	s := &streamRun{cluster: c, brokers: brokers, adm: kafkatest.Admin(t, brokers)}
	s.topic = kafkatest.Topic(t, brokers, 4, nil)
	s.dlq = kafkatest.Topic(t, brokers, 1, nil)
	s.group = kafkatest.Name(t, "g") // never committed to: offsets() reads only the ends
	kills := 4
	if v := os.Getenv("LAKESTREAM_EO_KILLS"); v != "" {
		var err error
		if kills, err = strconv.Atoi(v); err != nil {
			t.Fatal(err)
		}
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d, %d kills", seed, kills)
	rng := rand.New(rand.NewPCG(seed, 2))

	modelTopic := kafkatest.Topic(t, brokers, 1, nil)
	predictorBin := predictortest.Build(t) // before the job starts: a build takes a while
	bk := strings.Join(brokers, ",")
	addrs := []string{freePort(t), freePort(t)}
	shardMap := strings.Join(addrs, ",")
	stream := []string{"--topic", s.topic, "--kafka-brokers", bk}
	var args [][]string // shards, then workers
	for i := range addrs {
		a := append([]string{"ps", "--shard", fmt.Sprintf("%d/2", i), "--listen", addrs[i], "--shards", shardMap, "--token", "t0k",
			"--consistency", "async"}, c.jobArg...)
		if i == 0 {
			a = append(a, "--coordinate", "--workers", "3", "--lease", "3s", "--checkpoint-interval", "400ms",
				"--output", "dstream", "--publish-every-checkpoints", "1", "--promote", "--max-drop", "1", "--model-topic", modelTopic)
		}
		args = append(args, append(a, stream...))
	}
	for i := range 3 {
		a := append([]string{"worker", "--name", fmt.Sprintf("w%d", i), "--coordinator", addrs[0], "--shards", shardMap, "--token", "t0k",
			"--worker-index", strconv.Itoa(i), "--dead-letter-topic", s.dlq}, c.jobArg...)
		args = append(args, append(a, stream...))
	}
	procs := make([]*proc, len(args))
	name := func(i int) string {
		if i < 2 {
			return fmt.Sprintf("ps%d", i)
		}
		return fmt.Sprintf("w%d", i-2)
	}
	for i, a := range args {
		procs[i] = c.start(name(i), a...)
	}

	recs := s.trainingRows()
	produced := make(chan int, 1)
	go func() {
		n := 0
		// Paced, so the job trains over many checkpoints (and versions)
		// and the kills land while rows arrive.
		for _, r := range recs {
			m, err := s.send([]arrow.Record{r})
			if err != nil {
				t.Error(err)
				break
			}
			n += m
			time.Sleep(10 * time.Second / time.Duration(len(recs)))
		}
		produced <- n
	}()
	// A predictor follows the champion from its first version on (the
	// model topic's announcements, and polling), while it is asked
	// continuously: the versions it answered with are the ones it served.
	store, err := lake.NewLocal(c.lake)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if _, err := model.Alias(context.Background(), store, "dstream", model.Champion); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no champion within 2 min:\n%s", tail(procs[0].out.String(), 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, paddr := predictortest.Start(t, predictorBin, "--lake", c.lake, "--model", "dstream", "--listen", "127.0.0.1:0",
		"--metrics-listen", "", "--kafka-brokers", bk, "--model-topic", modelTopic, "--poll", "1s")
	conn, err := grpc.NewClient(paddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	mf, err := model.ReadManifest(context.Background(), store, "dstream", 0)
	if err != nil {
		t.Fatal(err)
	}
	req := inferRequest("dstream", mf.Meta.Inputs, recs[0], 0)
	stopAsking := make(chan struct{})
	servedCh := make(chan []string, 1)
	go func() {
		client := pb.NewGRPCInferenceServiceClient(conn)
		var served []string
		for {
			select {
			case <-stopAsking:
				servedCh <- served
				return
			case <-time.After(50 * time.Millisecond):
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			resp, err := client.ModelInfer(ctx, req)
			cancel()
			if err == nil && !slices.Contains(served, resp.ModelVersion) {
				served = append(served, resp.ModelVersion)
			}
		}
	}()
	exited := func() *proc {
		for _, p := range procs {
			select {
			case <-p.done:
				return p
			default:
			}
		}
		return nil
	}
	for range kills {
		time.Sleep(time.Duration(300+rng.IntN(1200)) * time.Millisecond)
		if exited() != nil {
			break
		}
		v := rng.IntN(len(procs))
		t.Logf("SIGKILL %s", name(v))
		if err := procs[v].cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Error(err)
		}
		_ = waitExit(procs[v], 10*time.Second)
		procs[v] = c.start(name(v), args[v]...)
	}
	n := <-produced // before any Fatal: the rows are released at the test's end
	defer func() {
		select {
		case <-stopAsking:
		default:
			close(stopAsking)
		}
	}()
	if p := exited(); p != nil {
		t.Fatalf("%s exited by itself: %v\n%s", p.name, p.err, tail(p.errb.String(), 3000))
	}

	// A checkpoint taken after the last restart comes after the restore
	// that restart caused: once it holds the end of every partition, the
	// shards hold exactly it.
	before, err := paramserver.LatestStreamManifest(context.Background(), store, "checkpoints/ps")
	if err != nil || before == nil {
		t.Fatalf("no checkpoint during the kills: %v", err)
	}
	var m *paramserver.StreamManifest
	deadline := time.Now().Add(3*time.Minute + time.Duration(rows/1000)*time.Second)
	for {
		end, _, err := s.offsets()
		if err == nil {
			m, err = paramserver.LatestStreamManifest(context.Background(), store, "checkpoints/ps")
		}
		if err == nil && m != nil && m.Barrier > before.Barrier && atEnd(m.Offsets, end) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint reached the end of the topic %v in time: last %+v (err %v)", end, m, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("checkpoint %s: offsets %v, %d examples of %d rows produced", m.Name, m.Offsets, m.Examples, n)
	if m.Examples != int64(n) {
		t.Errorf("the last checkpoint holds %d examples, %d rows were produced: records were trained twice or lost", m.Examples, n)
	}
	// Versions were published continuously, each with a checkpoint's
	// offsets and examples as lineage, never going backwards.
	vs, err := model.Versions(context.Background(), store, "dstream")
	if err != nil {
		t.Fatal(err)
	}
	var last int64
	for _, v := range vs {
		lin := v.Meta.Lineage
		if lin == nil || lin.Examples <= last || lin.Examples > int64(n) || len(lin.Offsets) != 4 {
			t.Errorf("version %d lineage %+v after %d examples (of %d)", v.Meta.Version, lin, last, n)
			continue
		}
		last = lin.Examples
	}
	t.Logf("%d versions published, the last at %d examples", len(vs), last)
	if len(vs) < 3 {
		t.Errorf("%d versions published, want at least 3", len(vs))
	}
	// The champion after the last version is served within the
	// predictor's poll period.
	time.Sleep(3 * time.Second)
	close(stopAsking)
	served := <-servedCh
	t.Logf("the predictor served versions %v", served)
	if len(served) < 3 {
		t.Errorf("the predictor served %d versions (%v), want at least 3", len(served), served)
	}
	// Validate the shards as they are: stop the workers, each validating.
	w0 := procs[2]
	terminate(procs[2:])
	if err := waitExit(w0, time.Minute); err != nil {
		t.Fatalf("w0: %v\n%s", err, tail(w0.errb.String(), 3000))
	}
	mm := aucLine.FindStringSubmatch(w0.out.String())
	if mm == nil {
		t.Fatalf("w0 printed no AUC:\n%s", w0.out.String())
	}
	auc, _ := strconv.ParseFloat(mm[1], 64)
	single := s.singleProcess()
	t.Logf("AUC %.5f, single process %.5f", auc, single)
	if auc < single-streamAUCTolerance {
		t.Errorf("AUC %.5f after %d kills is more than %v below the single-process %.5f", auc, kills, streamAUCTolerance, single)
	}
}

// atEnd reports whether offsets reach end on every partition of end.
func atEnd(offsets, end map[int32]int64) bool {
	for p, e := range end {
		if offsets[p] != e {
			return false
		}
	}
	return len(end) > 0
}
