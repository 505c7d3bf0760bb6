package feature_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/datastream"
	"github.com/lakestream/lakestream/datastream/kafka"
	"github.com/lakestream/lakestream/datastream/kafka/kafkatest"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/train/clicklog"
	"github.com/lakestream/lakestream/train/feature"
	"github.com/lakestream/lakestream/train/job"
)

// paritySpec has one window of each aggregate, keyed by two columns, on
// the click log's YYMMDDHH hour.
const paritySpec = `
label: {column: click, type: binary}
event_time: ts
derived:
  - {name: ts, expr: 'epoch_ms(hour, "YYMMDDHH")'}
windows:
  - {name: ip_rows_1h, key: device_ip, agg: count, over: 1h, resolution: 1h}
  - {name: ip_clicks_2h, key: device_ip, agg: count, column: click, over: 2h, resolution: 1h}
  - {name: site_ctr_24h, key: site_id, agg: ratio, column: click, over: 24h, resolution: 1h}
  - {name: ip_sites_3h, key: device_ip, agg: distinct, column: site_id, over: 3h, resolution: 1h}
  - {name: site_c1_mean_6h, key: site_id, agg: mean, column: C1, over: 6h, resolution: 2h}
  - {name: site_c1_sum_6h, key: site_id, agg: sum, column: C1, over: 6h, resolution: 2h}
  - {name: ip_last_c1_1h, key: device_ip, agg: last, column: C1, over: 1h, resolution: 1h}
categorical: [{column: site_id}, {column: id}]
numeric: [{column: ip_rows_1h}]
`

// windowRows is a sink that keeps each row's id, the values of the
// columns named in show, and the window values, by id.
type windowRows struct {
	mu   sync.Mutex
	cols []string
	rows map[string]string
	ids  []string
	n    int64
}

func (w *windowRows) WriteBatch(_ context.Context, b datastream.Batch) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	rec := b.Record
	id := rec.Column(rec.Schema().FieldIndices("id")[0])
	for r := range int(rec.NumRows()) {
		s := ""
		for _, c := range w.cols {
			s += fmt.Sprintf(" %s=%s", c, rec.Column(rec.Schema().FieldIndices(c)[0]).ValueStr(r))
		}
		w.rows[id.ValueStr(r)] = s
		w.ids = append(w.ids, id.ValueStr(r))
		w.n++
	}
	return nil
}

func (*windowRows) Close(context.Context) error { return nil }

func (w *windowRows) count() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// TestWindowParityLakeAndKafka computes the windows of a click log twice
// with the same operator: from its Parquet table in the lake (a bounded
// backfill) and from a real Kafka topic holding the same rows as JSON (an
// unbounded run), and requires identical values row by row.
func TestWindowParityLakeAndKafka(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "lake")
	store, err := lake.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	gc := clicklog.DefaultConfig()
	gc.Rows, gc.Days, gc.RowGroupRows, gc.Activity = 30_000, 2, 4096, true
	if _, err := clicklog.Generate(ctx, store, "clicks", gc); err != nil {
		t.Fatal(err)
	}
	spec, err := feature.Parse([]byte(paritySpec))
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"click", "hour", "device_ip", "site_id", "C1"} // the events, then the windows
	for _, w := range spec.Windows {
		names = append(names, w.Name)
	}

	// Backfill from the lake.
	c := job.DefaultConfig()
	c.Lake, c.Data, c.Spec = dir, "clicks", spec
	plan, err := job.Plan(ctx, store, &c, nil, "parity")
	if err != nil {
		t.Fatal(err)
	}
	lakeRows := &windowRows{cols: names, rows: map[string]string{}}
	bj := datastream.NewJob("parity-lake")
	scanned := bj.Source("lake", dataset.NewSource(plan.Scan(ctx, plan.Splits(), dataset.ScanOptions{BatchSize: 1000})))
	out, err := feature.AddWindows(scanned, "windows", spec)
	if err != nil {
		t.Fatal(err)
	}
	out.To("values", lakeRows)
	if _, err := bj.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if lakeRows.n != int64(gc.Rows) {
		t.Fatalf("lake: %d rows, want %d", lakeRows.n, gc.Rows)
	}

	// The same events, in the same order, as JSON on a one-partition topic.
	type msg struct {
		ID       string `json:"id"`
		Click    int32  `json:"click"`
		Hour     int64  `json:"hour"`
		DeviceIP string `json:"device_ip"`
		SiteID   string `json:"site_id"`
		C1       int64  `json:"C1"`
	}
	topic := kafkatest.Topic(t, brokers, 1, nil)
	dlq := kafkatest.Topic(t, brokers, 1, nil)
	recs := make([]*kgo.Record, 0, len(lakeRows.ids))
	for _, id := range lakeRows.ids {
		var m msg
		m.ID = id
		if _, err := fmt.Sscanf(lakeRows.rows[id], " click=%d hour=%d device_ip=%s site_id=%s C1=%d", &m.Click, &m.Hour, &m.DeviceIP, &m.SiteID, &m.C1); err != nil {
			t.Fatalf("row %s %q: %v", id, lakeRows.rows[id], err)
		}
		b, _ := json.Marshal(m)
		recs = append(recs, &kgo.Record{Key: []byte(m.DeviceIP), Value: b})
	}
	kafkatest.Produce(t, brokers, topic, recs...)

	scfg := kafka.DefaultSourceConfig()
	scfg.Brokers, scfg.Topic, scfg.DeadLetterTopic = brokers, topic, dlq
	scfg.Assignment, scfg.Start = kafka.AssignAll, kafka.StartEarliest
	scfg.MaxBatchRows = 777 // other cuts than the lake's
	scfg.Schema = arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.BinaryTypes.String}, {Name: "click", Type: arrow.PrimitiveTypes.Int32},
		{Name: "hour", Type: arrow.PrimitiveTypes.Int64}, {Name: "device_ip", Type: arrow.BinaryTypes.String},
		{Name: "site_id", Type: arrow.BinaryTypes.String}, {Name: "C1", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	src, err := kafka.NewSource(scfg)
	if err != nil {
		t.Fatal(err)
	}
	kafkaRows := &windowRows{cols: names, rows: map[string]string{}}
	sj := datastream.NewJob("parity-kafka")
	if out, err = feature.AddWindows(sj.Source("kafka", src), "windows", spec); err != nil {
		t.Fatal(err)
	}
	out.To("values", kafkaRows)
	if _, err := datastream.RunUntil(ctx, sj, datastream.Until{MaxRecords: int64(gc.Rows), Records: kafkaRows.count}); err != nil {
		t.Fatal(err)
	}
	if kafkaRows.n != int64(gc.Rows) {
		t.Fatalf("kafka: %d rows, want %d", kafkaRows.n, gc.Rows)
	}
	diff, nonzero := 0, 0
	for id, want := range lakeRows.rows {
		if got := kafkaRows.rows[id]; got != want {
			if diff++; diff <= 5 {
				t.Errorf("row %s: kafka%s, lake%s", id, got, want)
			}
		}
		if !strings.HasSuffix(want, " ip_rows_1h=0 ip_clicks_2h=0 site_ctr_24h=(null) ip_sites_3h=0 site_c1_mean_6h=(null) site_c1_sum_6h=0 ip_last_c1_1h=(null)") {
			nonzero++
		}
	}
	if diff > 0 {
		t.Fatalf("%d of %d rows differ", diff, len(lakeRows.rows))
	}
	// The comparison means something only if the windows hold values.
	if nonzero < gc.Rows/2 {
		t.Fatalf("only %d of %d rows have a nonempty window", nonzero, gc.Rows)
	}
	t.Logf("%d rows, identical window values from the lake and from Kafka (%d with a nonempty window)", len(lakeRows.rows), nonzero)
}
