package main

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/lakestream/lakestream/datastream/kafka/kafkatest"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/train/publish"
)

// TestTrainerStreamSurvivesBrokerOutage stops the job's Kafka broker (a
// broker of the test's own, not the suite's) for 30 s while `trainer
// stream` runs: the job waits without failing, resumes when the broker is
// back, and trains every record exactly once, the first half produced
// before the outage and the second after it.
func TestTrainerStreamSurvivesBrokerOutage(t *testing.T) {
	c := newCluster(t, "logistic") // skips under -short
	b := kafkatest.StartBroker(t)
	brokers := []string{b.Addr()}
	s := &streamRun{cluster: c, brokers: brokers, adm: kafkatest.Admin(t, brokers)}
	s.topic = kafkatest.Topic(t, brokers, 4, nil)
	s.dlq = kafkatest.Topic(t, brokers, 1, nil)
	models := kafkatest.Topic(t, brokers, 1, nil)
	rows := s.trainingRows()
	half := len(rows) / 2
	first := s.produce(rows[:half])
	var second int
	for _, r := range rows[half:] {
		second += int(r.NumRows())
	}
	n := first + second
	p := c.start("stream", "stream", "--lake", c.lake, "--data", "clicks", "--spec", c.spec,
		"--dt", c.days[0].DT+".."+c.days[len(c.days)-2].DT, "--model", "logistic", "--seed", "7",
		"--topic", s.topic, "--brokers", b.Addr(), "--dead-letter-topic", s.dlq, "--output", "ctr",
		"--publish-every", "10000", "--max-records", strconv.Itoa(n), "--log-every", "200ms", "--model-topic", models)
	ctx := context.Background()
	store, err := lake.NewLocal(c.lake)
	if err != nil {
		t.Fatal(err)
	}
	// The first half is trained (the status says so) before the outage.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st, err := publish.ReadStatus(ctx, store, "stream-ctr")
		if err == nil && st.Examples == int64(first) {
			break
		}
		select {
		case <-p.done:
			t.Fatalf("trainer stream exited before the outage: %v\n%s\n%s", p.err, p.out.String(), p.errb.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first %d records were not trained within 2m (status: %+v, %v)", first, st, err)
		}
	}
	b.Stop()
	outage := time.Now()
	select {
	case <-p.done:
		t.Fatalf("trainer stream exited during the outage: %v\n%s\n%s", p.err, p.out.String(), p.errb.String())
	case <-time.After(30 * time.Second):
	}
	b.Start()
	t.Logf("broker back after %s", time.Since(outage).Round(time.Millisecond))
	if got := s.produce(rows[half:]); got != second {
		t.Fatalf("produced %d records after the outage, want %d", got, second)
	}
	if err := waitExit(p, 3*time.Minute); err != nil {
		t.Fatalf("trainer stream: %v\n%s\n%s", err, p.out.String(), p.errb.String())
	}
	t.Logf("trainer stream:\n%s", p.out.String())
	st, err := publish.ReadStatus(ctx, store, "stream-ctr")
	if err != nil {
		t.Fatal(err)
	}
	if st.State != "stopped" || st.Examples != int64(n) || st.Prequential.Total.Examples != int64(n) {
		t.Errorf("status: state %s, %d examples, prequential %d; want stopped and %d each (every record once)",
			st.State, st.Examples, st.Prequential.Total.Examples, n)
	}
	if len(st.Versions) == 0 {
		t.Fatal("no version published")
	}
	var sum int64
	last := st.Versions[len(st.Versions)-1]
	for _, off := range last.Lineage.Offsets {
		sum += off
	}
	if last.Lineage.Examples != int64(n) || sum != int64(n) {
		t.Errorf("final version: lineage %d examples, offsets %v (sum %d); want %d of each", last.Lineage.Examples, last.Lineage.Offsets, sum, n)
	}
}
