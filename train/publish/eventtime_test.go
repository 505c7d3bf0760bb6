package publish_test

import (
	"context"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/lakestream/lakestream/datastream"
	"github.com/lakestream/lakestream/eval"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/paramserver"
	"github.com/lakestream/lakestream/train"
	"github.com/lakestream/lakestream/train/feature"
	"github.com/lakestream/lakestream/train/job"
	"github.com/lakestream/lakestream/train/optim"
	"github.com/lakestream/lakestream/train/publish"
)

// TestStreamWindowsOfDerivedEventTime: a stream whose spec derives its
// event time (epoch_ms of Avazu's YYMMDDHH hour) evaluates one event-time
// window per hour, with each window's rows, as the status document shows.
func TestStreamWindowsOfDerivedEventTime(t *testing.T) {
	ctx := context.Background()
	spec, err := feature.Parse([]byte("label: {column: y, type: binary}\nhash_bits: 10\ncategorical: [{column: c}]\n" +
		"event_time: event_ms\nderived: [{name: event_ms, expr: 'epoch_ms(hour, \"YYMMDDHH\")'}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	store, err := lake.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	mc := train.DefaultModelConfig(train.KindLogistic)
	mc.Fields, mc.Seed = spec.NumFields(), 1
	m, err := train.NewModel(mc)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := paramserver.NewLocal(job.TableSpecs(m, optim.DefaultConfig(optim.FTRL), 1, false)...)
	if err != nil {
		t.Fatal(err)
	}
	st := train.NewStepper(m, ps, 0)
	fz, err := feature.NewFeaturizer(spec)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := eval.NewPrequential(eval.DefaultPrequentialConfig(eval.Tumbling(time.Hour.Milliseconds()), "y", "event_ms"))
	if err != nil {
		t.Fatal(err)
	}
	pcfg := publish.DefaultConfig(store, "ctr")
	pcfg.Job, pcfg.Every = "stream-ctr", publish.Every{Records: 1 << 30}
	pub, err := publish.New(ctx, pcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	s, err := publish.NewStream(publish.StreamConfig{Sink: train.NewSink(st, fz, 8), Stepper: st, Model: mc, Spec: spec,
		Eval: ev, Publisher: pub, Source: "kafka://clicks", EventTime: "event_ms", Meta: model.Metadata{Seed: 1}})
	if err != nil {
		t.Fatal(err)
	}
	schema := arrow.NewSchema([]arrow.Field{{Name: "c", Type: arrow.BinaryTypes.String},
		{Name: "y", Type: arrow.PrimitiveTypes.Int64}, {Name: "hour", Type: arrow.PrimitiveTypes.Int64}}, nil)
	hours := []int64{14102100, 14102101, 14102102}
	for i, h := range hours {
		b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
		for r := range 10 + i {
			b.Field(0).(*array.StringBuilder).Append([]string{"a", "b", "c"}[r%3])
			b.Field(1).(*array.Int64Builder).Append(int64(r % 2))
			b.Field(2).(*array.Int64Builder).Append(h)
		}
		rec := b.NewRecord()
		b.Release()
		end := time.Date(2014, 10, 21, i+1, 0, 0, 0, time.UTC).UnixMilli()
		err := s.WriteBatch(ctx, datastream.Batch{Record: rec, Watermark: end})
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Finish(ctx, "stopped"); err != nil {
		t.Fatal(err)
	}
	doc, err := publish.ReadStatus(ctx, store, "stream-ctr")
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Windows) != len(hours) {
		t.Fatalf("%d windows, want %d: %+v", len(doc.Windows), len(hours), doc.Windows)
	}
	for i, w := range doc.Windows {
		start := time.Date(2014, 10, 21, i, 0, 0, 0, time.UTC)
		if !w.Start.Equal(start) || w.Examples != int64(10+i) || w.Partial {
			t.Errorf("window %d: start %v, %d examples, partial %v; want %v, %d, complete", i, w.Start, w.Examples, w.Partial, start, 10+i)
		}
	}
}
