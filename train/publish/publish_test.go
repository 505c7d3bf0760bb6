package publish_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/lake/laketest"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/train/feature"
	"github.com/lakestream/lakestream/train/publish"
)

// slope returns a logistic model scoring sigmoid(w·x) with lineage lin.
func slope(t *testing.T, w float32, lin model.Lineage) *model.Model {
	t.Helper()
	spec, err := feature.Parse([]byte("label: {column: y, type: binary}\nnumeric: [{column: x}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(model.Metadata{Kind: model.KindLogistic, Lineage: &lin}, spec, []model.Table{
		{Name: model.TableWeights, Width: 1, Keys: []uint64{feature.Key(0, 0)}, Values: []float32{w}},
		{Name: model.TableBias, Width: 1, Dense: true, Values: []float32{0}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// rows returns a record of n rows x ∈ [-1, 1) with labels y = [x > 0], or
// the opposite when flipped, and the scores sigmoid(2x) the candidate gave
// them.
func rows(n int, flipped bool) (arrow.Record, []float64, []float64) {
	schema := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Float64}, {Name: "y", Type: arrow.PrimitiveTypes.Int64}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	scores, labels := make([]float64, n), make([]float64, n)
	for i := range n {
		x := -1 + 2*float64(i)/float64(n)
		y := 0.0
		if (x > 0) != flipped {
			y = 1
		}
		b.Field(0).(*array.Float64Builder).Append(x)
		b.Field(1).(*array.Int64Builder).Append(int64(y))
		scores[i], labels[i] = 1/(1+math.Exp(-2*x)), y
	}
	return b.NewRecord(), scores, labels
}

func TestPublishGateAndLineage(t *testing.T) {
	ctx := context.Background()
	store := laketest.NewMemory()
	var announced []int
	cfg := publish.DefaultConfig(store, "ctr")
	cfg.Job = "stream-ctr"
	cfg.Every = publish.Every{Records: 500}
	cfg.Gate.Floor = 0.6
	cfg.MinWindow = 100
	cfg.Announce = func(_ context.Context, rec model.AliasRecord) error {
		announced = append(announced, rec.Version)
		return nil
	}
	p, err := publish.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	// Version 1: good scores, no champion → promoted and announced.
	rec, s, y := rows(600, false)
	p.Observe(rec, s, y, nil)
	rec.Release()
	if p.Due(499, 0) || !p.Due(600, 0) {
		t.Fatal("Due: want a version after 500 records, not before")
	}
	v1, ok, err := p.Publish(ctx, slope(t, 2, model.Lineage{Job: "stream-ctr", Source: "kafka://clicks", Offsets: map[int32]int64{0: 300, 1: 300}, Examples: 600}))
	if err != nil || !ok {
		t.Fatalf("publish v1: %v %v", ok, err)
	}
	if !v1.Decision.Promoted || v1.Version != 1 || len(announced) != 1 {
		t.Fatalf("v1: %+v, announced %v", v1, announced)
	}

	// Version 2: the labels flip; the candidate's prequential scores are
	// now wrong and the gate refuses, saying why.
	rec, s, y = rows(600, true)
	p.Observe(rec, s, y, nil)
	rec.Release()
	if p.Due(1099, 0) || !p.Due(1100, 0) {
		t.Fatal("Due: the count restarts at the previous version")
	}
	v2, ok, err := p.Publish(ctx, slope(t, 2, model.Lineage{Job: "stream-ctr", Source: "kafka://clicks", Offsets: map[int32]int64{0: 600, 1: 600}, Examples: 1200}))
	if err != nil || !ok {
		t.Fatalf("publish v2: %v %v", ok, err)
	}
	if v2.Decision.Promoted || !strings.Contains(v2.Decision.Reason, "does not reach the floor") || len(announced) != 1 {
		t.Fatalf("v2 should be refused by the floor: %+v", v2.Decision)
	}
	// Judged on the 600 rows since v1: AUC 0 for both.
	if v2.Decision.Evaluation.Candidate != 0 || v2.Decision.Evaluation.Champion != 0 || v2.Decision.Evaluation.ChampionVersion != 1 ||
		!strings.Contains(v2.Decision.Evaluation.Slice, "last 600 examples") {
		t.Errorf("v2 evaluation %+v", v2.Decision.Evaluation)
	}
	champ, err := model.Alias(ctx, store, "ctr", model.Champion)
	if err != nil || champ.Version != 1 {
		t.Fatalf("champion %+v %v, want version 1", champ, err)
	}
	mf, err := model.ReadManifest(ctx, store, "ctr", 2)
	if err != nil || mf.Meta.Lineage == nil || mf.Meta.Lineage.Offsets[1] != 600 {
		t.Fatalf("v2 lineage in the registry: %+v %v", mf, err)
	}
	raw, err := lake.ReadAll(ctx, store, model.DecisionKey("ctr", 2))
	if err != nil || !strings.Contains(string(raw), "does not reach the floor") {
		t.Fatalf("decision record of v2: %s %v", raw, err)
	}

	// A job restored from a checkpoint older than v2 publishes nothing
	// until its input has passed v2's offsets.
	q, err := publish.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	rec, s, y = rows(600, false)
	q.Observe(rec, s, y, nil)
	rec.Release()
	if _, ok, err := q.Publish(ctx, slope(t, 2, model.Lineage{Job: "stream-ctr", Offsets: map[int32]int64{0: 700, 1: 400}, Examples: 1100})); ok || err != nil {
		t.Fatalf("restored job published behind the last version's lineage: %v %v", ok, err)
	}
	v3, ok, err := q.Publish(ctx, slope(t, 2, model.Lineage{Job: "stream-ctr", Offsets: map[int32]int64{0: 700, 1: 700}, Examples: 1400}))
	if err != nil || !ok || v3.Version != 3 {
		t.Fatalf("v3: %+v %v %v", v3, ok, err)
	}

	// The status document lists the versions with their decisions.
	if err := q.WriteStatus(ctx, publish.Progress{State: "stopped", Examples: 1400}); err != nil {
		t.Fatal(err)
	}
	st, err := publish.ReadStatus(ctx, store, "stream-ctr")
	if err != nil || st.State != "stopped" || st.Examples != 1400 || len(st.Versions) != 1 || st.Versions[0].Version != 3 {
		t.Fatalf("status %+v %v", st, err)
	}
}

func TestParseEvery(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want publish.Every
		err  bool
	}{
		{"", publish.Every{}, false},
		{"0", publish.Every{}, false},
		{"500000", publish.Every{Records: 500000}, false},
		{"1s", publish.Every{Interval: time.Second}, false},
		{"event:1h", publish.Every{EventTime: time.Hour}, false},
		{"event:-1h", publish.Every{}, true},
		{"-5", publish.Every{}, true},
		{"soon", publish.Every{}, true},
	} {
		got, err := publish.ParseEvery(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseEvery(%q) = %+v, %v", tc.in, got, err)
		}
		if err == nil && got.Records > 0 && got.String() != tc.in {
			t.Errorf("%q round trips as %q", tc.in, got.String())
		}
	}
}

func TestPublishWithoutLineage(t *testing.T) {
	p, err := publish.New(context.Background(), publish.DefaultConfig(laketest.NewMemory(), "ctr"))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := model.New(model.Metadata{Kind: model.KindLogistic}, slope(t, 1, model.Lineage{}).Spec(), slope(t, 1, model.Lineage{}).Tables())
	if _, _, err := p.Publish(context.Background(), m); err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("publishing a model without lineage: %v", err)
	}
}
