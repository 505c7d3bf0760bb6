package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/paramserver"
)

// TestDistributedSavesCatalogue: the mf version a distributed bounded job
// (2 shards, 1 worker, real processes) saves with --output carries the
// catalogue of its training rows, the one "trainer train" saves over the
// same rows (same items, users and seen pairs, in the same order; the
// other day of the table is left out as --dt says), so a predictor answers
// top-N requests for it; and model.TopN on the loaded version equals
// "trainer predict --top-n" of that version over the same rows, item for
// item and score for score.
func TestDistributedSavesCatalogue(t *testing.T) {
	if testing.Short() {
		t.Skip("distributed acceptance test: real processes (run without -short)")
	}
	t.Setenv("LAKESTREAM_KAFKA_BROKERS", "") // no announcement on the shared topic
	ctx := context.Background()
	dir := t.TempDir()
	c := &cluster{t: t, workers: "1", bin: filepath.Join(dir, "trainer"), lake: filepath.Join(dir, "lake"), spec: filepath.Join(dir, "spec.yaml")}
	t.Cleanup(c.stopAll)
	if out, err := exec.Command("go", "build", "-o", c.bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	store, err := lake.NewLocal(c.lake)
	if err != nil {
		t.Fatal(err)
	}
	// 60 users × 40 items, 10 random ratings per user a day, in 3 files a
	// day (several splits).
	rng := rand.New(rand.NewPCG(3, 4))
	for _, day := range []string{"2026-11-01", "2026-11-02"} {
		for part := range 3 {
			var rows []ratingRow
			for u := part * 20; u < (part+1)*20; u++ {
				for _, i := range rng.Perm(40)[:10] {
					rows = append(rows, ratingRow{fmt.Sprintf("u%d", u), fmt.Sprintf("i%d", i), float64(1 + rng.IntN(5))})
				}
			}
			putParquet(t, store, fmt.Sprintf("ratings/dt=%s/part-%d.parquet", day, part), rows)
		}
		if err := lake.Commit(ctx, store, "ratings/dt="+day); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(c.spec, []byte("version: 1\nlabel: {column: rating, type: real}\ncategorical:\n  - column: user\n  - column: item\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.jobArg = []string{"--lake", c.lake, "--data", "ratings", "--spec", c.spec, "--dt", "2026-11-01",
		"--model", "mf", "--loss", "squared", "--factors", "4", "--epochs", "2", "--seed", "7", "--batch-size", "64"}

	addrs := c.startShards(2, paramserver.Sync, "--output", "recps")
	w := c.startWorker(0, addrs)
	select {
	case <-w.done:
		if w.err != nil {
			t.Fatalf("worker: %v\n%s", w.err, tail(w.errb.String(), 3000))
		}
	case <-time.After(3 * time.Minute):
		t.Fatalf("the worker did not finish in 3 minutes\n%s", tail(w.errb.String(), 3000))
	}
	// The coordinator saves after the worker's last split; the manifest is
	// written last.
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if _, err = model.ReadManifest(ctx, store, "recps", 1); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no models/recps/1 two minutes after the worker ended: %v\nps0 stderr:\n%s", err, tail(c.procs[0].errb.String(), 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	dist, err := model.LoadRef(ctx, store, "recps@1")
	if err != nil {
		t.Fatal(err)
	}
	got := dist.Catalogue()
	if got == nil {
		t.Fatal("the version trainer ps --output saved has no catalogue")
	}

	if out, err := exec.Command(c.bin, append([]string{"train", "--output", "rectrain"}, c.jobArg...)...).CombinedOutput(); err != nil {
		t.Fatalf("trainer train: %v\n%s", err, out)
	}
	single, err := model.LoadRef(ctx, store, "rectrain@1")
	if err != nil {
		t.Fatal(err)
	}
	want := single.Catalogue()
	if want == nil || len(want.Users) != 60 || len(want.Seen) == 0 {
		t.Fatalf("trainer train's catalogue %+v: want the 60 users of 2026-11-01", want)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("trainer ps --output catalogue: %d items, %d users, %d seen; trainer train's: %d items, %d users, %d seen; want equal",
			len(got.Items), len(got.Users), len(got.Seen), len(want.Items), len(want.Users), len(want.Seen))
	}

	const n = 5
	if out, err := exec.Command(c.bin, "predict", "--lake", c.lake, "--data", "ratings", "--dt", "2026-11-01",
		"--model", "recps@1", "--top-n", fmt.Sprint(n), "--output", "recs").CombinedOutput(); err != nil {
		t.Fatalf("trainer predict --top-n: %v\n%s", err, out)
	}
	var rec model.Recommendation
	rows := 0
	readTable(t, store, "recs", func(r arrow.Record) {
		u, i, s, rank := r.Column(0).(*array.String), r.Column(1).(*array.String), r.Column(2).(*array.Float64), r.Column(3).(*array.Int32)
		for j := range int(r.NumRows()) {
			if err := dist.TopN(u.Value(j), n, &rec); err != nil {
				t.Fatal(err)
			}
			k := int(rank.Value(j)) - 1
			if !rec.KnownUser || k >= len(rec.Items) || got.Items[rec.Items[k]] != i.Value(j) || rec.Scores[k] != s.Value(j) {
				t.Fatalf("%s's rank %d: trainer predict --top-n %s %v, TopN of the loaded version %+v", u.Value(j), k+1, i.Value(j), s.Value(j), rec)
			}
			rows++
		}
	})
	if rows != 60*n {
		t.Errorf("trainer predict --top-n wrote %d rows, want %d", rows, 60*n)
	}
}
