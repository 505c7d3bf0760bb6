package publish_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

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

// streamUnderTest is a Stream with its parts, as trainer stream wires them
// (paramserver.Local, FTRL), publishing into its own lake.
type streamUnderTest struct {
	*publish.Stream
	st    *train.Stepper
	ev    *eval.Prequential
	store lake.Store
}

func newStreamUnderTest(t *testing.T, spec *feature.Spec, fingerprint string) *streamUnderTest {
	t.Helper()
	ctx := context.Background()
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
	opt := optim.DefaultConfig(optim.FTRL)
	ps, err := paramserver.NewLocal(job.TableSpecs(m, opt, 1, false)...)
	if err != nil {
		t.Fatal(err)
	}
	st := train.NewStepper(m, ps, 0)
	fz, err := feature.NewFeaturizer(spec)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := eval.NewPrequential(eval.DefaultPrequentialConfig(eval.Windows{}, "y", ""))
	if err != nil {
		t.Fatal(err)
	}
	pcfg := publish.DefaultConfig(store, "ctr")
	pcfg.Job, pcfg.Every, pcfg.Window, pcfg.MinWindow = "stream-ctr", publish.Every{Records: 700}, 900, 100
	pcfg.Gate.Floor = 0.5
	pub, err := publish.New(ctx, pcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)
	s, err := publish.NewStream(publish.StreamConfig{Fingerprint: []byte(fingerprint), Sink: train.NewSink(st, fz, 32), Stepper: st,
		Model: mc, Spec: spec, Eval: ev, Publisher: pub, Source: "kafka://clicks", Meta: model.Metadata{Seed: 1}})
	if err != nil {
		t.Fatal(err)
	}
	return &streamUnderTest{Stream: s, st: st, ev: ev, store: store}
}

// barrier runs checkpoint id the way the runtime does after record i:
// prepare, snapshot, the source's position (offset i) once durable, and
// the sink's commit. It returns the description and the state.
func (s *streamUnderTest) barrier(t *testing.T, id int64, i int) ([]byte, []byte) {
	t.Helper()
	ctx := context.Background()
	desc, err := s.PrepareCheckpoint(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	state, err := s.SnapshotState(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	state = bytes.Clone(state)
	s.Committed(id, map[int32]int64{0: int64(i)})
	if err := s.CommitCheckpoint(ctx, id, desc); err != nil {
		t.Fatal(err)
	}
	return desc, state
}

// TestStreamStateRoundTrip: a Stream restored from a checkpoint (into new
// objects, as a restarted process does) and fed the records after it ends
// bit for bit where the uninterrupted Stream ends: the tables with their
// optimizer state, the example counter, the prequential accumulators, and
// the versions published (same lineage, same gate figures: the gate window
// and cadence were restored), including the version cut at the checkpoint
// itself, which the killed process had not published.
func TestStreamStateRoundTrip(t *testing.T) {
	ctx := context.Background()
	spec, err := feature.Parse([]byte("version: 1\nlabel: {column: y, type: binary}\nhash_bits: 10\ncategorical:\n  - {column: c}\n"))
	if err != nil {
		t.Fatal(err)
	}
	schema := arrow.NewSchema([]arrow.Field{{Name: "c", Type: arrow.BinaryTypes.String}, {Name: "y", Type: arrow.PrimitiveTypes.Int64}}, nil)
	rng := rand.New(rand.NewPCG(3, 4))
	var recs []arrow.Record
	for range 30 {
		b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
		for range 100 {
			v := rng.IntN(40)
			y := int64(0)
			if rng.Float64() < float64(v)/40 {
				y = 1
			}
			b.Field(0).(*array.StringBuilder).Append(fmt.Sprint("v", v))
			b.Field(1).(*array.Int64Builder).Append(y)
		}
		recs = append(recs, b.NewRecord())
		b.Release()
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	write := func(s *streamUnderTest, from, to int) {
		t.Helper()
		for _, r := range recs[from:to] {
			if err := s.WriteBatch(ctx, datastream.Batch{Record: r, Watermark: datastream.NoWatermark}); err != nil {
				t.Fatal(err)
			}
		}
	}

	a := newStreamUnderTest(t, spec, "settings")
	write(a, 0, 8)
	a.barrier(t, 1, 8) // 800 examples: a version is due
	write(a, 8, 15)
	desc, state := a.barrier(t, 2, 15) // 1500: due again
	if string(desc) == "" {
		t.Fatal("no version cut at checkpoint 2")
	}

	// The process dies after checkpoint 2 is durable, before its version
	// is published; a new one restores it.
	b := newStreamUnderTest(t, spec, "settings")
	b.Seeked(map[int32]int64{0: 15})
	if err := b.RestoreState(ctx, 2, state); err != nil {
		t.Fatal(err)
	}
	if err := b.RecoverCheckpoint(ctx, 2, desc); err != nil {
		t.Fatal(err)
	}
	// b has not published version 1 in its own lake: copy a's first version
	// there, as the killed process left it.
	v1, err := model.Load(ctx, a.store, "ctr", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v1.Save(ctx, b.store, "ctr"); err != nil {
		t.Fatal(err)
	}
	raw, err := lake.ReadAll(ctx, a.store, model.DecisionKey("ctr", 1))
	if err != nil {
		t.Fatal(err)
	}
	var d1 model.Decision
	if err := json.Unmarshal(raw, &d1); err != nil {
		t.Fatal(err)
	}
	if _, _, err := model.Promote(ctx, b.store, "ctr", 1, d1.Gate, d1.Evaluation); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*streamUnderTest{a, b} {
		write(s, 15, 22)
		s.barrier(t, 3, 22)
		write(s, 22, 30)
		s.barrier(t, 4, 30)
		if err := s.Finish(ctx, "stopped"); err != nil {
			t.Fatal(err)
		}
	}

	if a.Examples() != 3000 || b.Examples() != 3000 {
		t.Errorf("examples: uninterrupted %d, restored %d; want 3000", a.Examples(), b.Examples())
	}
	if sa, sb := a.ev.Summary(), b.ev.Summary(); !reflect.DeepEqual(sa, sb) || sa.Total.Examples != 3000 {
		t.Errorf("prequential summary: uninterrupted %+v, restored %+v", sa.Total, sb.Total)
	}
	ta, err := a.st.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := b.st.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := job.TablesDiff(ta, tb); d != 0 {
		t.Errorf("restored tables differ from the uninterrupted ones by %g, want bit-identical", d)
	}
	if a.st.Steps() != b.st.Steps() {
		t.Errorf("steps: uninterrupted %d, restored %d", a.st.Steps(), b.st.Steps())
	}
	va, err := model.Versions(ctx, a.store, "ctr")
	if err != nil {
		t.Fatal(err)
	}
	vb, err := model.Versions(ctx, b.store, "ctr")
	if err != nil {
		t.Fatal(err)
	}
	if len(va) != len(vb) || len(va) < 4 {
		t.Fatalf("%d versions uninterrupted, %d restored; want the same, ≥ 4", len(va), len(vb))
	}
	for i := range va {
		ma, mb := va[i].Meta, vb[i].Meta
		if !reflect.DeepEqual(ma.Lineage, mb.Lineage) || !reflect.DeepEqual(ma.Metrics, mb.Metrics) {
			t.Errorf("version %d: uninterrupted lineage %+v metrics %v; restored %+v %v", ma.Version, ma.Lineage, ma.Metrics, mb.Lineage, mb.Metrics)
		}
		da, errA := lake.ReadAll(ctx, a.store, model.DecisionKey("ctr", ma.Version))
		db, errB := lake.ReadAll(ctx, b.store, model.DecisionKey("ctr", mb.Version))
		if errA != nil || errB != nil || !reflect.DeepEqual(withoutTime(t, da), withoutTime(t, db)) {
			t.Errorf("version %d decision: uninterrupted %s (%v), restored %s (%v)", ma.Version, da, errA, db, errB)
		}
	}

	// A checkpoint of a job with other settings is refused.
	c := newStreamUnderTest(t, spec, "other settings")
	if err := c.RestoreState(ctx, 2, state); err == nil {
		t.Error("a checkpoint with another fingerprint was restored")
	}
}

// withoutTime decodes a decision record without its time.
func withoutTime(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "time")
	return m
}
