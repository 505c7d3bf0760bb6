package model_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/lake/laketest"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/train/feature"
	"github.com/lakestream/lakestream/train/optim"
)

// fmModel builds the hand-made FM of the scoring test with full metadata.
func fmModel(t testing.TB) *model.Model {
	t.Helper()
	opt := optim.DefaultConfig(optim.FTRL)
	m, err := model.New(model.Metadata{
		Kind:            model.KindFM,
		Arch:            model.Arch{Factors: 2, Loss: model.LossLogistic},
		Data:            model.DataRange{Source: "clicks", From: "2026-11-01", To: "2026-11-03"},
		Rows:            1234,
		Optimizer:       &opt,
		Hyperparameters: map[string]string{"batch_size": "512"},
		Seed:            42,
		Metrics:         map[string]float64{"validation_auc": 0.75},
	}, fixtureSpec(binary), []model.Table{
		sparse(t, 3, map[string][]float32{"x": {0.5, 1, 0}, "p": {1, 0.5, 0.5}, "q": {-2, -1, 2}, "r": {0.25, 2, 1}}),
		{Name: "bias", Width: 1, Dense: true, Keys: []uint64{0}, Values: []float32{0.1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// stores returns a fresh in-memory store and a local folder store.
// (registry_test.go uses it too.)
func stores(t *testing.T) map[string]lake.Store {
	local, err := lake.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return map[string]lake.Store{"memory": laketest.NewMemory(), "local": local}
}

// storeMakers returns constructors of fresh stores: in memory, a local folder,
// and a bucket on the real MinIO (an integration test: skipped under -short,
// a failure when MinIO is not configured).
func storeMakers() map[string]func(t *testing.T) lake.Store {
	return map[string]func(t *testing.T) lake.Store{
		"memory": func(t *testing.T) lake.Store { return laketest.NewMemory() },
		"local": func(t *testing.T) lake.Store {
			s, err := lake.NewLocal(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"minio": func(t *testing.T) lake.Store { return laketest.MinIO(t) },
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	ctx := context.Background()
	created := time.Date(2026, 11, 22, 5, 0, 0, 0, time.UTC)
	for name, newStore := range storeMakers() {
		t.Run(name, func(t *testing.T) {
			store := newStore(t)
			m := fmModel(t)
			for want := 1; want <= 3; want++ {
				v, err := m.Save(ctx, store, "ctr", model.WithClock(func() time.Time { return created }))
				if err != nil {
					t.Fatal(err)
				}
				if v != want {
					t.Fatalf("Save #%d returned version %d", want, v)
				}
			}
			got, err := model.Load(ctx, store, "ctr", 0)
			if err != nil {
				t.Fatal(err)
			}
			meta := got.Meta()
			if meta.Name != "ctr" || meta.Version != 3 || meta.Kind != model.KindFM || meta.Rows != 1234 || meta.Seed != 42 ||
				meta.Metrics["validation_auc"] != 0.75 || !meta.Created.Equal(created) || meta.CodeVersion == "" ||
				meta.Optimizer == nil || meta.Optimizer.Name != optim.FTRL || meta.Data.To != "2026-11-03" ||
				meta.Hyperparameters["batch_size"] != "512" {
				t.Errorf("metadata after load: %+v", meta)
			}
			want := make([]float64, 2)
			if err := m.Score(fixtureRecord(t), want); err != nil {
				t.Fatal(err)
			}
			gotScores := make([]float64, 2)
			if err := got.Score(fixtureRecord(t), gotScores); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(want, gotScores) {
				t.Errorf("scores after load %v, before %v", gotScores, want)
			}
			v1, err := model.Load(ctx, store, "ctr", 1)
			if err != nil || v1.Meta().Version != 1 {
				t.Errorf("Load version 1: %v, %v", v1, err)
			}

			names, err := model.Names(ctx, store)
			if err != nil || !slices.Equal(names, []string{"ctr"}) {
				t.Errorf("Names = %v, %v", names, err)
			}
			vs, err := model.Versions(ctx, store, "ctr")
			if err != nil || len(vs) != 3 || vs[2].Meta.Version != 3 || vs[0].Size() == 0 {
				t.Errorf("Versions = %v, %v", vs, err)
			}
		})
	}
}

func TestVersionWithoutManifestIsInvisible(t *testing.T) {
	ctx := context.Background()
	store := laketest.NewMemory()
	if _, err := fmModel(t).Save(ctx, store, "ctr"); err != nil {
		t.Fatal(err)
	}
	// A crashed save of version 2: files but no manifest.
	if err := lake.PutBytes(ctx, store, "models/ctr/2/w.f32", []byte{1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(ctx, store, "ctr", 0)
	if err != nil {
		t.Fatal(err)
	}
	if m.Meta().Version != 1 {
		t.Errorf("latest = %d, want 1 (version 2 has no manifest)", m.Meta().Version)
	}
	if _, err := model.Load(ctx, store, "ctr", 2); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("Load version 2 = %v, want ErrNotFound", err)
	}
	// The next save must not reuse the half-written number.
	v, err := fmModel(t).Save(ctx, store, "ctr")
	if err != nil || v != 3 {
		t.Errorf("Save after a crashed version 2 = %d, %v; want 3", v, err)
	}
	if _, err := model.Load(ctx, store, "nope", 0); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("Load of a missing model = %v, want ErrNotFound", err)
	}
}

func TestConcurrentSavesGetDistinctVersions(t *testing.T) {
	ctx := context.Background()
	m := fmModel(t)
	for name, newStore := range storeMakers() {
		t.Run(name, func(t *testing.T) {
			store := newStore(t)
			const writers = 8
			versions := make([]int, writers)
			var wg sync.WaitGroup
			for i := range writers {
				wg.Go(func() {
					v, err := m.Save(ctx, store, "ctr")
					if err != nil {
						t.Error(err)
					}
					versions[i] = v
				})
			}
			wg.Wait()
			slices.Sort(versions)
			if len(slices.Compact(slices.Clone(versions))) != writers {
				t.Fatalf("versions %v: two saves shared a version", versions)
			}
			for _, v := range versions {
				if _, err := model.Load(ctx, store, "ctr", v); err != nil {
					t.Errorf("Load version %d: %v", v, err)
				}
			}
		})
	}
}

func TestLoadRejectsCorruptArtifacts(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		corrupt func(t *testing.T, s lake.Store)
		want    error
	}{
		{"flipped byte", func(t *testing.T, s lake.Store) {
			rewrite(t, s, "models/ctr/1/w.f32", func(b []byte) []byte { b[0] ^= 1; return b })
		}, model.ErrCorrupt},
		{"truncated keys", func(t *testing.T, s lake.Store) {
			rewrite(t, s, "models/ctr/1/w.keys", func(b []byte) []byte { return b[:len(b)-8] })
		}, model.ErrCorrupt},
		{"missing table", func(t *testing.T, s lake.Store) {
			if err := lake.Delete(ctx, s, "models/ctr/1/bias.f32"); err != nil {
				t.Fatal(err)
			}
		}, model.ErrCorrupt},
		{"spec edited", func(t *testing.T, s lake.Store) {
			rewrite(t, s, "models/ctr/1/spec.yaml", func(b []byte) []byte { return append(b, "\n"...) })
		}, model.ErrCorrupt},
		{"manifest not json", func(t *testing.T, s lake.Store) {
			rewrite(t, s, "models/ctr/1/manifest.json", func(b []byte) []byte { return b[:len(b)/2] })
		}, model.ErrCorrupt},
		{"future format", func(t *testing.T, s lake.Store) {
			rewrite(t, s, "models/ctr/1/manifest.json", func(b []byte) []byte {
				return []byte(strings.Replace(string(b), model.Format, "lakestream-model/9", 1))
			})
		}, model.ErrIncompatible},
		{"unknown kind", func(t *testing.T, s lake.Store) {
			rewrite(t, s, "models/ctr/1/manifest.json", func(b []byte) []byte {
				return []byte(strings.Replace(string(b), `"kind": "fm"`, `"kind": "gbdt"`, 1))
			})
		}, model.ErrIncompatible},
		{"rows 2^62 with empty files", func(t *testing.T, s lake.Store) {
			raw := craftedManifest(t, s, 1<<62, 9)
			if err := lake.PutBytes(ctx, s, "models/ctr/1/manifest.json", raw); err != nil {
				t.Fatal(err)
			}
		}, model.ErrCorrupt},
		{"width above the cap", func(t *testing.T, s lake.Store) {
			raw := craftedManifest(t, s, 0, model.MaxTableWidth+1)
			if err := lake.PutBytes(ctx, s, "models/ctr/1/manifest.json", raw); err != nil {
				t.Fatal(err)
			}
		}, model.ErrCorrupt},
		{"layout changed", func(t *testing.T, s lake.Store) {
			rewrite(t, s, "models/ctr/1/manifest.json", func(b []byte) []byte {
				return []byte(strings.Replace(string(b), `"factors": 2`, `"factors": 3`, 1))
			})
		}, model.ErrIncompatible},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := laketest.NewMemory()
			if _, err := fmModel(t).Save(ctx, store, "ctr"); err != nil {
				t.Fatal(err)
			}
			tt.corrupt(t, store)
			_, err := model.Load(ctx, store, "ctr", 1)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Load = %v, want an error wrapping %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), "models/ctr/1/") {
				t.Errorf("error %q does not name the object", err)
			}
		})
	}
}

// craftedManifest rewrites version 1 of ctr so that every table claims
// rows×width and every table file is empty, listed with the size and valid
// checksum of empty input, and returns the manifest to store (not stored).
// With wrapping size arithmetic 4·2^62·9 is 0 and such a version passed
// every check.
func craftedManifest(t testing.TB, s lake.Store, rows, width int) []byte {
	t.Helper()
	ctx := context.Background()
	mf, err := model.ReadManifest(ctx, s, "ctr", 1)
	if err != nil {
		t.Fatal(err)
	}
	empty := sha256.Sum256(nil)
	for i := range mf.Tables {
		tb := &mf.Tables[i]
		tb.Rows, tb.Width = rows, width
		files := []*model.File{&tb.Values}
		if tb.Keys != nil {
			files = append(files, tb.Keys)
		}
		for _, f := range files {
			f.Size, f.SHA256 = 0, hex.EncodeToString(empty[:])
			if err := lake.PutBytes(ctx, s, "models/ctr/1/"+f.Path, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	raw, err := json.Marshal(mf)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func rewrite(t *testing.T, s lake.Store, key string, edit func([]byte) []byte) {
	t.Helper()
	ctx := context.Background()
	b, err := lake.ReadAll(ctx, s, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := lake.PutBytes(ctx, s, key, edit(b)); err != nil {
		t.Fatal(err)
	}
}

func TestSaveRejectsBadNames(t *testing.T) {
	for _, name := range []string{"", "a/b", "..", "_x", "white space", strings.Repeat("n", 129)} {
		if _, err := fmModel(t).Save(context.Background(), laketest.NewMemory(), name); err == nil {
			t.Errorf("Save(%q) succeeded", name)
		}
	}
}

func TestManifestWriteText(t *testing.T) {
	ctx := context.Background()
	store := laketest.NewMemory()
	if _, err := fmModel(t).Save(ctx, store, "ctr"); err != nil {
		t.Fatal(err)
	}
	mf, err := model.ReadManifest(ctx, store, "ctr", 1)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := mf.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"model      ctr version 1", "kind       fm", "data       clicks [2026-11-01 .. 2026-11-03]",
		"rows       1234", "metric     validation_auc = 0.75", "param      batch_size = 512", "table      w sparse 4×3", "table      bias dense 1×1"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("WriteText output lacks %q:\n%s", want, b.String())
		}
	}
}

// A trainer builds a model from its spec and tables, saves it, and a server
// loads and scores it.
func Example() {
	ctx := context.Background()
	store := laketest.NewMemory()
	spec, err := feature.Parse([]byte("label: {column: click, type: binary}\nnumeric: [{column: x}]\n"))
	if err != nil {
		panic(err)
	}
	// One weight for x (field 0, bucket 0) and an intercept.
	m, err := model.New(model.Metadata{Kind: model.KindLogistic}, spec, []model.Table{
		{Name: model.TableWeights, Width: 1, Keys: []uint64{feature.Key(0, 0)}, Values: []float32{2}},
		{Name: model.TableBias, Width: 1, Dense: true, Values: []float32{-1}},
	})
	if err != nil {
		panic(err)
	}
	version, err := m.Save(ctx, store, "ctr")
	if err != nil {
		panic(err)
	}
	loaded, err := model.Load(ctx, store, "ctr", version)
	if err != nil {
		panic(err)
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Float64}}, nil))
	defer b.Release()
	b.Field(0).(*array.Float64Builder).AppendValues([]float64{0, 0.5}, nil)
	rec := b.NewRecord()
	defer rec.Release()
	scores := make([]float64, 2)
	if err := loaded.Score(rec, scores); err != nil {
		panic(err)
	}
	fmt.Printf("version %d: σ(−1) = %.4f, σ(0) = %.4f\n", version, scores[0], scores[1])
	// Output: version 1: σ(−1) = 0.2689, σ(0) = 0.5000
}

// TestSaveLeavesOutUndefinedMetrics: a validation of one class has no AUC
// (NaN); the version is saved without it, not refused by the JSON encoder.
func TestSaveLeavesOutUndefinedMetrics(t *testing.T) {
	ctx := context.Background()
	m := fmModel(t)
	meta := m.Meta()
	meta.Metrics = map[string]float64{"validation_auc": math.NaN(), "validation_logloss": 0.02}
	m, err := model.New(meta, fixtureSpec(binary), m.Tables())
	if err != nil {
		t.Fatal(err)
	}
	store := laketest.NewMemory()
	v, err := m.Save(ctx, store, "one-class")
	if err != nil {
		t.Fatalf("save with a NaN AUC: %v", err)
	}
	mf, err := model.ReadManifest(ctx, store, "one-class", v)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := mf.Meta.Metrics["validation_auc"]; ok || mf.Meta.Metrics["validation_logloss"] != 0.02 {
		t.Errorf("saved metrics %v, want the log loss without the undefined AUC", mf.Meta.Metrics)
	}
}
