package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestScanCommand(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "sample")
	var out bytes.Buffer
	if err := runScan(ctx, []string{"--generate-sample", dir}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"wrote a sample click log of 12000 rows",
		"  dt             date32  (partition)",
		"  tags           list<item: utf8, nullable>",
		"  country        2 values: de, fr",
		"files       6 listed, 6 footers read after partition pruning",
		"row groups  12 in opened files, 0 skipped by statistics, 12 read",
		"rows        12000 read",
		"clicks/dt=2026-11-03/country=fr/part-0.parquet  2           2000",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	args := []string{"--lake", dir, "--data", "clicks/", "--partition-types", "dt=date32",
		"--where", "dt >= '2026-11-02' AND country = 'fr' AND item_id >= 400", "--columns", "item_id,dt"}
	if err := runScan(ctx, args, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"files       6 listed, 2 footers read after partition pruning",
		"row groups  4 in opened files, 2 skipped by statistics, 2 read",
		"rows        2000 read",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	for _, bad := range [][]string{
		{"--lake", dir, "--where", "dt >"},
		{"--lake", dir, "--partition-types", "dt=decimal"},
		{"--lake", dir, "extra"},
	} {
		var ue *usageError
		if err := runScan(ctx, bad, &out); !errors.As(err, &ue) {
			t.Errorf("%v: error %v, want a usage error", bad, err)
		}
	}
}
