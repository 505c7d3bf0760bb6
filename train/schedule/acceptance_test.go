package schedule_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/lakestream/lakestream/api/inference"
	"github.com/lakestream/lakestream/datastream/kafka/kafkatest"
	"github.com/lakestream/lakestream/internal/predictortest"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/lake/laketest"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/train"
	"github.com/lakestream/lakestream/train/clicklog"
	"github.com/lakestream/lakestream/train/feature"
	"github.com/lakestream/lakestream/train/job"
	"github.com/lakestream/lakestream/train/optim"
	"github.com/lakestream/lakestream/train/schedule"
	"github.com/lakestream/lakestream/train/schedule/scheduletest"
)

// stagedDays generates a click log of days days from 2026-11-01 into memory
// and returns each day's Parquet bytes.
func stagedDays(t *testing.T, days, rowsPerDay int) [][]byte {
	t.Helper()
	mem := laketest.NewMemory()
	c := clicklog.DefaultConfig()
	c.Rows, c.Days, c.Start = days*rowsPerDay, days, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	sum, err := clicklog.Generate(context.Background(), mem, "clicks", c)
	if err != nil {
		t.Fatal(err)
	}
	out := make([][]byte, days)
	for i, d := range sum.Days {
		if out[i], err = lake.ReadAll(context.Background(), mem, d.Key); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// shuffleLabels returns the Parquet file with its click column permuted:
// the rows are as before, the labels no longer follow them.
func shuffleLabels(t *testing.T, data []byte) []byte {
	t.Helper()
	rows, err := parquet.Read[clicklog.Row](bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 7))
	r.Shuffle(len(rows), func(i, j int) { rows[i].Click, rows[j].Click = rows[j].Click, rows[i].Click })
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[clicklog.Row](&buf)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// publishDay writes one day's partition, _SUCCESS last.
func publishDay(t *testing.T, store lake.Store, dt string, data []byte) {
	t.Helper()
	ctx := context.Background()
	if err := lake.PutBytes(ctx, store, "clicks/dt="+dt+"/part-00000.parquet", data); err != nil {
		t.Fatal(err)
	}
	if err := lake.Commit(ctx, store, "clicks/dt="+dt); err != nil {
		t.Fatal(err)
	}
}

// trainConfig builds the training job from a run's rendered flags as
// "trainer schedule" does with trainer train's flags: logistic regression
// with FTRL over the click log's spec.
func trainConfig(t *testing.T) func(map[string]string) (job.Config, error) {
	spec, err := feature.Parse([]byte(clicklog.SpecYAML(16)))
	if err != nil {
		t.Fatal(err)
	}
	return func(flags map[string]string) (job.Config, error) {
		c := job.DefaultConfig()
		c.Spec, c.DT = spec, flags["dt"]
		c.Model = train.DefaultModelConfig(train.KindLogistic)
		c.Optimizer = optim.DefaultConfig(optim.FTRL)
		return c, nil
	}
}

const acceptanceJob = `
jobs:
  - name: ctr-daily
    schedule: "@daily"
    start: 2026-11-01
    data: clicks
    window: 1
    warm_start: champion
    publish: {model: ctr, min_auc: 0.6, max_drop: 0.005}
    sensor: {timeout: 30h, poke: 10m}
    lease: 10m
`

// TestAcceptanceDayByDay: partitions appear day by day on a real MinIO lake
// (_SUCCESS last) under a fake clock; the long-running scheduler waits for
// each, trains warm-started from the champion, evaluates on the next day,
// promotes through the gate and announces on real Kafka, and a predictor
// process follows. A day whose labels are shuffled is refused by the gate
// (as is the day evaluated on it) and the champion stays.
func TestAcceptanceDayByDay(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: MinIO, Kafka and the predictor binary")
	}
	env, bucket := laketest.MinIOBucket(t)
	lakeURI := "s3://" + bucket
	store, err := lake.Open(context.Background(), lakeURI, env.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Name(t, "models")
	days := stagedDays(t, 8, 15000)
	const degraded = 4 // 2026-11-05
	days[degraded] = shuffleLabels(t, days[degraded])
	dt := func(i int) string { return fmt.Sprintf("2026-11-%02d", i+1) }

	f, err := schedule.Parse([]byte(acceptanceJob))
	if err != nil {
		t.Fatal(err)
	}
	j := f.Jobs[0]
	ann := model.DefaultAnnounceConfig(brokers...)
	ann.Topic = topic
	pipe, err := schedule.NewPipeline(schedule.PipelineConfig{Store: store, LakeURI: lakeURI, TrainConfig: trainConfig(t), Announce: &ann})
	if err != nil {
		t.Fatal(err)
	}
	clock := scheduletest.NewClock(time.Date(2026, 11, 2, 0, 0, 1, 0, time.UTC))
	sched, err := schedule.New(schedule.Config{Store: store, Pipeline: pipe, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	publishDay(t, store, dt(0), days[0])
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- sched.Serve(ctx, j) }()
	defer func() {
		cancel()
		if err := <-served; !errors.Is(err, context.Canceled) {
			t.Errorf("Serve: %v", err)
		}
	}()

	var predictor pb.GRPCInferenceServiceClient
	bin := predictortest.Build(t)
	servedVersion := func() string {
		resp, err := predictor.ModelMetadata(context.Background(), &pb.ModelMetadataRequest{Name: "ctr"})
		if err != nil {
			return err.Error()
		}
		return resp.Versions[0]
	}
	champion := 0
	for k := 1; k < len(days); k++ {
		iv := dt(k - 1)
		// The interval k-1 has closed; its run waits for day k (its
		// evaluation day).
		waitFor(t, iv+" to wait for "+dt(k), func() bool { return state(store, iv) == schedule.Waiting })
		publishDay(t, store, dt(k), days[k])
		clock.Advance(10 * time.Minute) // the sensor's next poke
		waitFor(t, iv+" to end", func() bool { return state(store, iv).Done() })
		rec, err := schedule.ReadRecord(context.Background(), store, "ctr-daily", iv)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %s version %d warm from %q, auc %.4f (champion %.4f), %s", iv, rec.State, rec.Version, rec.WarmStart,
			rec.Metrics["auc"], rec.Metrics["champion_auc"], rec.Error)
		refusedDay := k-1 == degraded || k == degraded // trained on, or judged on, the shuffled day
		switch {
		case refusedDay && rec.State != schedule.GateRefused:
			t.Errorf("%s: %s, want gate-refused (degraded data)", iv, rec.State)
		case !refusedDay && rec.State != schedule.Succeeded:
			t.Errorf("%s: %s (%s), want succeeded", iv, rec.State, rec.Error)
		}
		if champion > 0 && rec.WarmStart != fmt.Sprintf("ctr@%d", champion) {
			t.Errorf("%s warm-started from %q, want the champion ctr@%d", iv, rec.WarmStart, champion)
		}
		if rec.State == schedule.Succeeded {
			champion = rec.Version
		}
		if rec.Champion != champion {
			t.Errorf("%s: champion %d after the run, want %d", iv, rec.Champion, champion)
		}
		if predictor == nil && champion > 0 {
			// Poll once an hour: what the predictor follows comes from
			// the announcements on the topic.
			_, addr := predictortest.Start(t, bin, "--lake", lakeURI, "--model", "ctr", "--listen", "127.0.0.1:0", "--metrics-listen", "",
				"--kafka-brokers", strings.Join(brokers, ","), "--model-topic", topic, "--poll", "1h")
			conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			predictor = pb.NewGRPCInferenceServiceClient(conn)
		}
		if predictor != nil {
			want := fmt.Sprint(champion)
			waitFor(t, "the predictor to serve version "+want, func() bool { return servedVersion() == want })
		}
		clock.Set(time.Date(2026, 11, k+2, 0, 0, 1, 0, time.UTC)) // the next interval closes
	}
	recs, err := schedule.Records(context.Background(), store, "ctr-daily")
	if err != nil {
		t.Fatal(err)
	}
	var table strings.Builder
	schedule.WriteTable(&table, recs)
	t.Logf("runs:\n%s", table.String())
	alias, err := model.Alias(context.Background(), store, "ctr", model.Champion)
	if err != nil || alias.Version != champion {
		t.Errorf("champion alias %+v, %v; want version %d", alias, err, champion)
	}
}

func state(store lake.Store, iv string) schedule.State {
	r, err := schedule.ReadRecord(context.Background(), store, "ctr-daily", iv)
	if err != nil {
		return ""
	}
	return r.State
}

// waitFor polls cond for up to 60 s of real time (a run trains and scores
// on MinIO; a predictor loads a version).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 60s waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
