package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lakestream/lakestream/datastream/kafka/kafkatest"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/paramserver"
)

// TestStreamExactlyOnceKills runs an exactly-once distributed stream job
// (2 async shards, shard 0 coordinating with --topic, 3 workers with
// --worker-index on a 4-partition topic) and SIGKILLs random workers and
// shards (shard 0 too: the coordinator) while the rows arrive, restarting
// each with its flags. The seed is logged; LAKESTREAM_EO_KILLS sets the
// number of kills (default 4: each costs a process start and a rollback).
// The job's last checkpoint must hold every partition's end offset and
// exactly as many examples as rows were produced, and the model must
// validate within the async bound of the single process's AUC.
func TestStreamExactlyOnceKills(t *testing.T) {
	c := newCluster(t, "logistic") // skips under -short
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

	bk := strings.Join(brokers, ",")
	addrs := []string{freePort(t), freePort(t)}
	shardMap := strings.Join(addrs, ",")
	stream := []string{"--topic", s.topic, "--kafka-brokers", bk}
	var args [][]string // shards, then workers
	for i := range addrs {
		a := append([]string{"ps", "--shard", fmt.Sprintf("%d/2", i), "--listen", addrs[i], "--shards", shardMap, "--token", "t0k",
			"--consistency", "async"}, c.jobArg...)
		if i == 0 {
			a = append(a, "--coordinate", "--workers", "3", "--lease", "3s", "--checkpoint-interval", "400ms")
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
		for i := 0; i < len(recs); i += 4 {
			m, err := s.send(recs[i:min(i+4, len(recs))])
			if err != nil {
				t.Error(err)
				break
			}
			n += m
			time.Sleep(100 * time.Millisecond)
		}
		produced <- n
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
	if p := exited(); p != nil {
		t.Fatalf("%s exited by itself: %v\n%s", p.name, p.err, tail(p.errb.String(), 3000))
	}

	store, err := lake.NewLocal(c.lake)
	if err != nil {
		t.Fatal(err)
	}
	// A checkpoint taken after the last restart comes after the restore
	// that restart caused: once it holds the end of every partition, the
	// shards hold exactly it.
	before, err := paramserver.LatestStreamManifest(context.Background(), store, "checkpoints/ps")
	if err != nil || before == nil {
		t.Fatalf("no checkpoint during the kills: %v", err)
	}
	var m *paramserver.StreamManifest
	deadline := time.Now().Add(3 * time.Minute)
	for {
		end, _, err := s.offsets()
		if err == nil {
			m, err = paramserver.LatestStreamManifest(context.Background(), store, "checkpoints/ps")
		}
		if err == nil && m != nil && m.Barrier > before.Barrier && atEnd(m.Offsets, end) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint reached the end of the topic %v within 3 min: last %+v (err %v)", end, m, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("checkpoint %s: offsets %v, %d examples of %d rows produced", m.Name, m.Offsets, m.Examples, n)
	if m.Examples != int64(n) {
		t.Errorf("the last checkpoint holds %d examples, %d rows were produced: records were trained twice or lost", m.Examples, n)
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
