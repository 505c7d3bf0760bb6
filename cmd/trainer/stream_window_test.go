package main

import (
	"context"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lakestream/lakestream/datastream/kafka/kafkatest"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/train/clicklog"
)

// TestStreamSameAsTrainWindows is TestStreamSameAsTrain with a spec that
// has a derived hour of day and a window (device_ip rows in the hour
// before): "trainer train" computes the window from the lake, "trainer
// stream" from the topic, in the same training graph; the two models are
// equal to float rounding only if every row got the same window value.
func TestStreamSameAsTrainWindows(t *testing.T) {
	c := newSizedCluster(t, 40_000, "logistic") // skips under -short
	if err := os.WriteFile(c.spec, []byte(clicklog.ActivitySpecYAML(18)), 0o644); err != nil {
		t.Fatal(err)
	}
	brokers := kafkatest.Brokers(t)
	s := &streamRun{cluster: c, brokers: brokers, adm: kafkatest.Admin(t, brokers)}
	s.topic = kafkatest.Topic(t, brokers, 1, nil)
	s.dlq = kafkatest.Topic(t, brokers, 1, nil)
	n := s.produce(s.trainingRows())
	dt := c.days[0].DT + ".." + c.days[len(c.days)-2].DT
	common := []string{"--lake", c.lake, "--data", "clicks", "--spec", c.spec, "--dt", dt, "--model", "logistic",
		"--seed", "7", "--batch-size", "1"}
	tr := c.start("train", append(append([]string{"train"}, common...), "--output", "batch")...)
	if err := waitExit(tr, 3*time.Minute); err != nil {
		t.Fatalf("trainer train: %v\n%s\n%s", err, tr.out.String(), tr.errb.String())
	}
	st := c.start("stream", append(append([]string{"stream"}, common...), "--output", "streamed", "--topic", s.topic,
		"--brokers", strings.Join(brokers, ","), "--dead-letter-topic", s.dlq, "--publish-every", "0",
		"--max-records", strconv.Itoa(n), "--model-topic", kafkatest.Name(t, "models"))...)
	if err := waitExit(st, 3*time.Minute); err != nil {
		t.Fatalf("trainer stream: %v\n%s\n%s", err, st.out.String(), st.errb.String())
	}
	store, err := lake.NewLocal(c.lake)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := model.Load(context.Background(), store, "batch", 0)
	if err != nil {
		t.Fatal(err)
	}
	streamed, err := model.Load(context.Background(), store, "streamed", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := streamed.Meta().WindowInputs; len(got) == 0 {
		t.Errorf("streamed model records no window inputs")
	}
	for _, bt := range batch.Tables() {
		stt := streamed.Table(bt.Name)
		if stt == nil || stt.Rows() != bt.Rows() {
			t.Fatalf("table %s: streamed %v, from the lake %d rows", bt.Name, stt, bt.Rows())
		}
		want := map[uint64][]float32{}
		for i := range bt.Rows() {
			key := uint64(i)
			if !bt.Dense {
				key = bt.Keys[i]
			}
			want[key] = bt.Values[i*bt.Width : (i+1)*bt.Width]
		}
		var worst float64
		for i := range stt.Rows() {
			key := uint64(i)
			if !stt.Dense {
				key = stt.Keys[i]
			}
			w, ok := want[key]
			if !ok {
				t.Fatalf("table %s: key %d only in the streamed model", bt.Name, key)
			}
			for j, v := range stt.Values[i*stt.Width : (i+1)*stt.Width] {
				worst = max(worst, math.Abs(float64(v-w[j])))
			}
		}
		// The same float32 steps in the same order (see
		// TestStreamSameAsTrain): a window value that differed would move
		// the window field's weight.
		if worst > 1e-6 {
			t.Errorf("table %s: largest difference %g between the streamed and the lake model", bt.Name, worst)
		}
		t.Logf("table %s: %d rows, largest difference %g", bt.Name, bt.Rows(), worst)
	}
}
