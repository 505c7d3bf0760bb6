package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lakestream/lakestream/datastream/kafka/kafkatest"
	"github.com/lakestream/lakestream/model"
)

// TestStreamScoringIntegration runs the stream-scoring job on the real
// broker: rows on a data topic are scored with the champion, a promotion
// announced on the model topic switches the job to the new version, and every
// row appears on the predictions topic with the score of the version it
// names.
func TestStreamScoringIntegration(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	store, m1, _ := registryFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Version 2: the same model with another bias, so scores differ.
	tables := m1.Tables()
	for i := range tables {
		if tables[i].Name == model.TableBias {
			tables[i].Values = []float32{-1.75}
		}
	}
	m2, err := model.New(m1.Meta(), m1.Spec(), tables)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := m2.Save(ctx, store, "ctr"); err != nil || v != 2 {
		t.Fatalf("save version 2: %d, %v", v, err)
	}

	dataTopic := kafkatest.Topic(t, brokers, 2, nil)
	modelTopic := kafkatest.Topic(t, brokers, 1, nil)
	outTopic := kafkatest.Topic(t, brokers, 1, nil)
	dlq := kafkatest.Topic(t, brokers, 1, nil)
	inputs, _, err := m1.InputSchema()
	if err != nil {
		t.Fatal(err)
	}
	cfg := StreamConfig{
		Brokers: brokers, DataTopic: dataTopic, ModelTopic: modelTopic, PredictionsTopic: outTopic,
		DeadLetterTopic: dlq, Group: kafkatest.Name(t, "scoring"), Model: ModelRef{Name: "ctr"},
		Keep: []arrow.Field{{Name: "id", Type: arrow.BinaryTypes.String}},
	}
	job, err := NewStreamJob(cfg, NewRegistryLoader(store), inputs, 1)
	if err != nil {
		t.Fatal(err)
	}
	jobCtx, stopJob := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { _, err := job.Run(jobCtx); done <- err }()
	defer func() { stopJob(); <-done }()

	type row struct {
		ID    string  `json:"id"`
		C1    int64   `json:"c1"`
		Site  string  `json:"site"`
		Price float64 `json:"price"`
	}
	rowsByID := map[string]row{}
	produce := func(from, n int) {
		var recs []*kgo.Record
		for i := from; i < from+n; i++ {
			r := row{ID: "r" + strconv.Itoa(i), C1: int64(1000 + i%9), Site: []string{"a", "b", "zz", "q"}[i%4], Price: float64(i%7) - 2}
			rowsByID[r.ID] = r
			b, _ := json.Marshal(r)
			recs = append(recs, &kgo.Record{Topic: dataTopic, Key: []byte(r.ID), Value: b})
		}
		kafkatest.Produce(t, brokers, dataTopic, recs...)
	}
	// expected scores row by row, per version, in process.
	score := func(m *model.Model, r row) float64 {
		b := array.NewRecordBuilder(memory.DefaultAllocator, inputs)
		defer b.Release()
		for i, f := range inputs.Fields() {
			switch f.Name {
			case "c1":
				b.Field(i).(*array.Int64Builder).Append(r.C1)
			case "site":
				b.Field(i).(*array.StringBuilder).Append(r.Site)
			case "price":
				b.Field(i).(*array.Float64Builder).Append(r.Price)
			}
		}
		rec := b.NewRecord()
		defer rec.Release()
		dst := make([]float64, 1)
		if err := m.Score(rec, dst); err != nil {
			t.Fatal(err)
		}
		return dst[0]
	}

	type prediction struct {
		ID      string  `json:"id"`
		Version string  `json:"model_version"`
		Score   float64 `json:"score"`
		Error   string  `json:"error"`
	}
	seen := map[string]prediction{}
	reader, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(outTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	readUntil := func(cond func() bool) {
		t.Helper()
		for !cond() {
			pctx, pcancel := context.WithTimeout(ctx, time.Second)
			fs := reader.PollFetches(pctx)
			pcancel()
			if ctx.Err() != nil {
				t.Fatalf("predictions topic: gave up waiting (%d predictions read)", len(seen))
			}
			fs.EachRecord(func(r *kgo.Record) {
				var p prediction
				if err := json.Unmarshal(r.Value, &p); err != nil {
					t.Fatalf("prediction %s: %v", r.Value, err)
				}
				if prev, dup := seen[p.ID]; dup && prev != p {
					t.Errorf("row %s predicted twice differently: %+v, %+v", p.ID, prev, p)
				}
				seen[p.ID] = p
			})
		}
	}

	produce(0, 100)
	// Rows without a price: the spec's policy for bad numbers is "error", so
	// they cannot be scored; they come out with the reason, and the job
	// goes on.
	for i := range 3 {
		b, _ := json.Marshal(map[string]any{"id": "bad" + strconv.Itoa(i), "c1": 1005, "site": "a"})
		kafkatest.Produce(t, brokers, dataTopic, &kgo.Record{Topic: dataTopic, Value: b})
	}
	readUntil(func() bool { return len(seen) >= 103 })
	for i := range 3 {
		p, ok := seen["bad"+strconv.Itoa(i)]
		if !ok || p.Error == "" || !strings.Contains(p.Error, "price") {
			t.Errorf("unscorable row bad%d: %+v, want its reason naming price", i, p)
		}
		delete(seen, "bad"+strconv.Itoa(i))
	}
	for id, p := range seen {
		if p.Error != "" {
			t.Errorf("row %s has error %q", id, p.Error)
		}
	}

	if _, err := model.SetAlias(ctx, store, "ctr", model.Champion, 2, nil); err != nil {
		t.Fatal(err)
	}
	ann, _ := json.Marshal(model.Announcement{Name: "ctr", Alias: model.Champion, Version: 2, Time: time.Now()})
	kafkatest.Produce(t, brokers, modelTopic, &kgo.Record{Topic: modelTopic, Value: ann})
	// The two topics are not ordered with each other: keep sending rows
	// until some are scored with the new version.
	next := 100
	sawV2 := func() bool {
		for _, p := range seen {
			if p.Version == "2" {
				return true
			}
		}
		return false
	}
	for !sawV2() {
		produce(next, 20)
		next += 20
		n := next
		readUntil(func() bool { return len(seen) >= n })
	}
	produce(next, 50)
	next += 50
	n := next
	readUntil(func() bool { return len(seen) >= n })

	byVersion := map[string]*model.Model{"1": m1, "2": m2}
	for id, r := range rowsByID {
		p, ok := seen[id]
		if !ok {
			t.Errorf("row %s has no prediction", id)
			continue
		}
		m, ok := byVersion[p.Version]
		if !ok {
			t.Errorf("row %s scored by unknown version %q", id, p.Version)
			continue
		}
		if want := score(m, r); fmt.Sprintf("%.12g", p.Score) != fmt.Sprintf("%.12g", want) {
			t.Errorf("row %s: version %s scored %v, in process %v", id, p.Version, p.Score, want)
		}
	}
	// The last rows came after the switch was seen: all on version 2.
	for i := next - 50; i < next; i++ {
		if p := seen["r"+strconv.Itoa(i)]; p.Version != "2" {
			t.Errorf("row r%d, produced after the switch, scored by version %s", i, p.Version)
		}
	}
}
