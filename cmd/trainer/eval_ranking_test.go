package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/lakestream/lakestream/eval/evaltable"
	"github.com/lakestream/lakestream/lake"
)

type ratingRow struct {
	User   string  `parquet:"user"`
	Item   string  `parquet:"item"`
	Rating float64 `parquet:"rating"`
}

// TestMFRankingAndTopN trains mf on one day of planted ratings and checks
// that "trainer eval --k" prints the ranking metrics
// evaltable.EvaluateRanking computes for the version on the next day (the
// by-hand values are in evaltable's TestRankingByHand), and that "trainer
// predict --top-n" writes each user's best unseen items (by hand in
// predict's TestTopNUnseen).
func TestMFRankingAndTopN(t *testing.T) {
	t.Setenv("LAKESTREAM_KAFKA_BROKERS", "")
	ctx := context.Background()
	dir := t.TempDir()
	lakeDir := filepath.Join(dir, "lake")
	store, err := lake.NewLocal(lakeDir)
	if err != nil {
		t.Fatal(err)
	}
	// 40 users × 30 items with two planted tastes; each user rates 12
	// random items a day.
	rng := rand.New(rand.NewPCG(1, 2))
	for _, day := range []string{"2026-11-01", "2026-11-02"} {
		var rows []ratingRow
		for u := range 40 {
			for _, i := range rng.Perm(30)[:12] {
				r := 3.0
				if (u%2 == 0) == (i < 15) {
					r = 5
				}
				rows = append(rows, ratingRow{fmt.Sprintf("u%d", u), fmt.Sprintf("i%d", i), r - float64(rng.IntN(2))})
			}
		}
		putParquet(t, store, "ratings/dt="+day+"/part-0.parquet", rows)
		if err := lake.Commit(ctx, store, "ratings/dt="+day); err != nil {
			t.Fatal(err)
		}
	}
	spec := filepath.Join(dir, "spec.yaml")
	if err := os.WriteFile(spec, []byte("version: 1\nlabel: {column: rating, type: real}\ncategorical:\n  - column: user\n  - column: item\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		var stdout, stderr bytes.Buffer
		err := dispatch(ctx, args, &stdout, &stderr)
		return stdout.String(), err
	}
	if out, err := run("train", "--lake", lakeDir, "--data", "ratings", "--dt", "2026-11-01", "--spec", spec,
		"--model", "mf", "--loss", "squared", "--factors", "4", "--epochs", "5", "--output", "rec"); err != nil {
		t.Fatalf("trainer train: %v\n%s", err, out)
	}
	out, err := run("eval", "--lake", lakeDir, "--data", "ratings", "--dt", "2026-11-02", "--model", "rec",
		"--k", "5", "--relevant-min", "4", "--exclude-dt", "2026-11-01", "--out", filepath.Join(dir, "report"))
	if err != nil {
		t.Fatalf("trainer eval --k: %v\n%s", err, out)
	}
	cfg := evaltable.DefaultRankingConfig()
	cfg.Data, cfg.DT, cfg.Model, cfg.K, cfg.RelevantMin, cfg.ExcludeDT = "ratings", "2026-11-02", "rec@1", 5, 4, "2026-11-01"
	rep, err := evaltable.EvaluateRanking(ctx, store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	k := rep.Ranking
	want := fmt.Sprintf("rec@1 ranking, %d users: precision@5 %.4f, recall@5 %.4f, MAP@5 %.4f, NDCG@5 %.4f, MRR %.4f, hit rate %.4f",
		k.Queries, k.PrecisionAtK, k.RecallAtK, k.MAPAtK, k.NDCGAtK, k.MRRAtK, k.HitRateAtK)
	if !strings.Contains(out, want) || !strings.Contains(out, "RMSE") {
		t.Errorf("trainer eval printed:\n%s\nwant the RMSE line and %q", out, want)
	}
	if k.Queries != 40 {
		t.Errorf("%d users ranked, want 40 (every user has a rating ≥ 4 each day)", k.Queries)
	}
	t.Logf("%s", out)
	report, err := os.ReadFile(filepath.Join(dir, "report", "report.json"))
	if err != nil || !strings.Contains(string(report), `"ndcg_at_k"`) {
		t.Errorf("report.json has no ranking section (%v)", err)
	}

	out, err = run("predict", "--lake", lakeDir, "--data", "ratings", "--dt", "2026-11-01", "--model", "rec", "--top-n", "3", "--output", "recs")
	if err != nil || !strings.Contains(out, "wrote the top 3 of 30 items for 40 users (120 rows) with rec@1 to recs") {
		t.Fatalf("trainer predict --top-n: %v\n%s", err, out)
	}
	seen := map[string]bool{}
	readTable(t, store, "ratings/dt=2026-11-01", func(rec arrow.Record) {
		u, i := rec.Column(0).(*array.String), rec.Column(1).(*array.String)
		for r := range int(rec.NumRows()) {
			seen[u.Value(r)+"/"+i.Value(r)] = true
		}
	})
	rows := 0
	readTable(t, store, "recs", func(rec arrow.Record) {
		u, i, rank := rec.Column(0).(*array.String), rec.Column(1).(*array.String), rec.Column(3).(*array.Int32)
		for r := range int(rec.NumRows()) {
			if seen[u.Value(r)+"/"+i.Value(r)] {
				t.Errorf("top-n recommends %s to %s, who rated it", i.Value(r), u.Value(r))
			}
			if want := int32(rows%3 + 1); rank.Value(r) != want {
				t.Errorf("row %d: rank %d, want %d", rows, rank.Value(r), want)
			}
			rows++
		}
	})
	if rows != 120 {
		t.Errorf("top-n wrote %d rows, want 120", rows)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"predict", "--top-n", "0"}, "--top-n 0"},
		{[]string{"predict", "--top-n", "3", "--keep", "user"}, "--keep"},
		{[]string{"predict", "--top-n", "3", "--row-group-rows", "10"}, "--row-group-rows"},
		{[]string{"predict", "--top-n", "3"}, "recs exists"},
	} {
		args := append(tc.args, "--lake", lakeDir, "--data", "ratings", "--model", "rec", "--output", "recs")
		if _, err := run(args...); err == nil || !strings.Contains(err.Error(), tc.want) || exitCode(err) != exitUsage {
			t.Errorf("trainer %v = %v, want a usage error containing %q", args, err, tc.want)
		}
	}

	if out, err := run("train", "--lake", lakeDir, "--data", "ratings", "--dt", "2026-11-01", "--spec", spec,
		"--model", "linear", "--output", "lin"); err != nil {
		t.Fatalf("trainer train --model linear: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--model", "lin", "--k", "5"}, "--k: model lin is linear"},
		{[]string{"--model", "rec", "--k", "0"}, "--k 0"},
		{[]string{"--model", "rec", "--relevant-min", "4"}, "give --k too"},
		{[]string{"--score-column", "rating", "--k", "5"}, "--k ranks the items of one saved model"},
		{[]string{"--model", "rec", "--challenger", "rec@1", "--k", "5"}, "without --challenger"},
		{[]string{"--model", "rec", "--k", "5", "--exclude-dt", "2026-11"}, "--exclude-dt"},
		{[]string{"--model", "rec", "--k", "5", "--relevant-min", "-1"}, "--relevant-min -1"},
	} {
		args := append([]string{"eval", "--lake", lakeDir, "--data", "ratings", "--out", filepath.Join(dir, "r2")}, tc.args...)
		if _, err := run(args...); err == nil || !strings.Contains(err.Error(), tc.want) || exitCode(err) != exitUsage {
			t.Errorf("trainer %v = %v, want a usage error containing %q", args, err, tc.want)
		}
	}
}
