package model_test

import (
	"cmp"
	"context"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/lakestream/lakestream/lake/laketest"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/model/modeltest"
)

// bruteTopN ranks the catalogue for user the slow way: Score on one
// (user, item) row per item, the items user has not seen, sorted by score
// (stable, so ties keep catalogue order).
func bruteTopN(t *testing.T, m *model.Model, cat *model.Catalogue, user string, seen []int32, n int) ([]int32, []float64) {
	t.Helper()
	schema, _, err := m.InputSchema()
	if err != nil {
		t.Fatal(err)
	}
	rb := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer rb.Release()
	for _, it := range cat.Items {
		if err := rb.Field(0).AppendValueFromString(user); err != nil {
			t.Fatal(err)
		}
		if err := rb.Field(1).AppendValueFromString(it); err != nil {
			t.Fatal(err)
		}
	}
	rec := rb.NewRecord()
	defer rec.Release()
	scores := make([]float64, len(cat.Items))
	if err := m.Score(rec, scores); err != nil {
		t.Fatal(err)
	}
	var order []int32
	for i := range int32(len(cat.Items)) {
		if !slices.Contains(seen, i) {
			order = append(order, i)
		}
	}
	slices.SortStableFunc(order, func(a, b int32) int { return cmp.Compare(scores[b], scores[a]) })
	order = order[:min(n, len(order))]
	out := make([]float64, len(order))
	for j, i := range order {
		out[j] = scores[i]
	}
	return order, out
}

// sameBits reports whether a and b are the same float64, NaN included.
func sameBits(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }

// TestTopNEqualsScore checks TopN against Score and a sort, for every user
// of the catalogue and for users it does not hold, at several N: the same
// items in the same order with the same scores, bit for bit, and no item
// the user has.
func TestTopNEqualsScore(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  modeltest.MFConfig
	}{
		{"ratings, string ids", modeltest.MFConfig{Users: 30, Items: 200, PerUser: 15, Factors: 8, Loss: model.LossSquared, Seed: 1}},
		{"implicit, int ids", modeltest.MFConfig{Users: 30, Items: 200, PerUser: 15, Factors: 4, IntIDs: true, Loss: model.LossLogistic, Seed: 2}},
		{"cold users and items", modeltest.MFConfig{Users: 20, Items: 50, PerUser: 40, Factors: 3, Loss: model.LossSquared, Unmodelled: 5, Seed: 3}},
		// NaN scores rank last, in catalogue order, as cmp.Compare sorts them.
		{"NaN items", modeltest.MFConfig{Users: 20, Items: 50, PerUser: 5, Factors: 3, Loss: model.LossSquared, NaNItems: 6, Seed: 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, rec := modeltest.RandomMF(t, tc.cfg)
			defer rec.Release()
			cat := modeltest.Catalogue(t, rec)
			if err := m.SetCatalogue(cat); err != nil {
				t.Fatal(err)
			}
			unknown := "nobody"
			if tc.cfg.IntIDs {
				unknown = "-5"
			}
			users := append(slices.Clone(cat.Users), unknown)
			var got model.Recommendation
			for _, n := range []int{1, 10, model.MaxTopN} {
				for u, user := range users {
					if err := m.TopN(user, n, &got); err != nil {
						t.Fatal(err)
					}
					var seen []int32
					if known := u < len(cat.Users); known {
						seen = cat.SeenBy(u)
					}
					if got.KnownUser != (u < len(cat.Users)) {
						t.Errorf("user %s: KnownUser %v", user, got.KnownUser)
					}
					items, scores := bruteTopN(t, m, cat, user, seen, n)
					if !slices.Equal(got.Items, items) || !slices.EqualFunc(got.Scores, scores, sameBits) {
						t.Fatalf("user %s, n %d: TopN %v %v\nwant %v %v", user, n, got.Items, got.Scores, items, scores)
					}
				}
			}
		})
	}
}

// TestCatalogueSavedWithVersion saves an mf model with its catalogue and
// loads it back: the same catalogue, the same top N.
func TestCatalogueSavedWithVersion(t *testing.T) {
	ctx := context.Background()
	store := laketest.NewMemory()
	m, rec := modeltest.RandomMF(t, modeltest.MFConfig{Users: 10, Items: 40, PerUser: 5, Factors: 4, Loss: model.LossSquared, Seed: 4})
	defer rec.Release()
	cat := modeltest.Catalogue(t, rec)
	if err := m.SetCatalogue(cat); err != nil {
		t.Fatal(err)
	}
	v, err := m.Save(ctx, store, "rec")
	if err != nil {
		t.Fatal(err)
	}
	mf, err := model.ReadManifest(ctx, store, "rec", v)
	if err != nil {
		t.Fatal(err)
	}
	if mf.Catalogue == nil || mf.Catalogue.Path != model.CatalogueFile || mf.Catalogue.Size == 0 {
		t.Fatalf("manifest catalogue %+v", mf.Catalogue)
	}
	back, err := model.Load(ctx, store, "rec", v)
	if err != nil {
		t.Fatal(err)
	}
	bc := back.Catalogue()
	if bc == nil || !slices.Equal(bc.Items, cat.Items) || !slices.Equal(bc.Users, cat.Users) ||
		!slices.Equal(bc.Indptr, cat.Indptr) || !slices.Equal(bc.Seen, cat.Seen) {
		t.Fatalf("loaded catalogue differs")
	}
	var a, b model.Recommendation
	for _, u := range cat.Users {
		if err := m.TopN(u, 7, &a); err != nil {
			t.Fatal(err)
		}
		if err := back.TopN(u, 7, &b); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(a.Items, b.Items) || !slices.Equal(a.Scores, b.Scores) {
			t.Fatalf("user %s: saved %v, loaded %v", u, a, b)
		}
	}

	// A corrupted catalogue is refused like any corrupted file.
	key := model.VersionPrefix("rec", v) + model.CatalogueFile
	if err := store.Put(ctx, key, strings.NewReader("LSCAT1\n\x00garbage"), -1); err != nil {
		t.Fatal(err)
	}
	if _, err := model.Load(ctx, store, "rec", v); !errors.Is(err, model.ErrCorrupt) {
		t.Errorf("Load with a corrupted catalogue = %v, want ErrCorrupt", err)
	}
}

func TestTopNRefusals(t *testing.T) {
	m, rec := modeltest.RandomMF(t, modeltest.MFConfig{Users: 3, Items: 5, PerUser: 2, Factors: 2, Loss: model.LossSquared})
	defer rec.Release()
	var r model.Recommendation
	if err := m.TopN("u0", 3, &r); !errors.Is(err, model.ErrNoCatalogue) {
		t.Errorf("TopN without a catalogue = %v, want ErrNoCatalogue", err)
	} else if !strings.Contains(err.Error(), "trainer ps --output") || !strings.Contains(err.Error(), "trainer stream") {
		t.Errorf("TopN without a catalogue = %q: want the jobs that save one (trainer ps --output among them) and the one that does not", err)
	}
	if err := m.SetCatalogue(modeltest.Catalogue(t, rec)); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, -1, model.MaxTopN + 1, 1 << 40} {
		if err := m.TopN("u0", n, &r); err == nil || !strings.Contains(err.Error(), "want 1 to 1000") {
			t.Errorf("TopN n=%d = %v, want a refusal", n, err)
		}
	}
	// A user who has every item gets none.
	all := model.NewCatalogueBuilder()
	for i := range 5 {
		if err := all.Add("u0", "i"+string(rune('0'+i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.SetCatalogue(all.Catalogue()); err != nil {
		t.Fatal(err)
	}
	if err := m.TopN("u0", 3, &r); err != nil || len(r.Items) != 0 || !r.KnownUser {
		t.Errorf("TopN for a user who has every item = %+v, %v; want none", r, err)
	}

	lin, err := model.New(model.Metadata{Kind: model.KindLinear}, m.Spec(),
		[]model.Table{{Name: model.TableWeights, Width: 1}, {Name: model.TableBias, Width: 1, Dense: true, Values: []float32{0}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := lin.SetCatalogue(all.Catalogue()); err == nil {
		t.Error("a linear model took a catalogue")
	}
}

func TestCatalogueBuilderBounds(t *testing.T) {
	b := model.NewCatalogueBuilder()
	long := strings.Repeat("x", model.MaxCatalogueValue+1)
	if err := b.Add(long, "i"); !errors.Is(err, model.ErrCatalogueTooLarge) {
		t.Errorf("Add of a %d-byte user = %v, want ErrCatalogueTooLarge", len(long), err)
	}
	if err := b.Add("u", long); !errors.Is(err, model.ErrCatalogueTooLarge) {
		t.Errorf("Add of a %d-byte item = %v, want ErrCatalogueTooLarge", len(long), err)
	}
	// Duplicates are kept once, in order.
	for _, p := range [][2]string{{"u", "b"}, {"u", "a"}, {"u", "b"}, {"v", "a"}} {
		if err := b.Add(p[0], p[1]); err != nil {
			t.Fatal(err)
		}
	}
	c := b.Catalogue()
	if !slices.Equal(c.Items, []string{"b", "a"}) || !slices.Equal(c.Users, []string{"u", "v"}) ||
		!slices.Equal(c.SeenBy(0), []int32{0, 1}) || !slices.Equal(c.SeenBy(1), []int32{1}) {
		t.Errorf("catalogue %+v", c)
	}
}

// TestTopNTiesKeepCatalogueOrder: items the model never trained all score
// μ + b_u, so the top N is the catalogue order, less the user's items.
func TestTopNTiesKeepCatalogueOrder(t *testing.T) {
	m, rec := modeltest.RandomMF(t, modeltest.MFConfig{Users: 3, Items: 5, PerUser: 2, Factors: 2, Loss: model.LossSquared})
	defer rec.Release()
	b := model.NewCatalogueBuilder()
	for i := range 300 {
		if err := b.Add("u1", "x"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			if err := b.Add("u2", "x"+strconv.Itoa(i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := m.SetCatalogue(b.Catalogue()); err != nil {
		t.Fatal(err)
	}
	var r model.Recommendation
	for _, n := range []int{1, 7, 150, 1000} {
		if err := m.TopN("u2", n, &r); err != nil {
			t.Fatal(err)
		}
		var want []int32
		for i := int32(0); i < 300 && len(want) < n; i++ {
			if i%3 != 0 {
				want = append(want, i)
			}
		}
		if !slices.Equal(r.Items, want) {
			t.Fatalf("n %d: %v, want catalogue order %v", n, r.Items, want)
		}
	}
}
