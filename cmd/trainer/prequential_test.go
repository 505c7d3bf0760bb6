package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lakestream/lakestream/train/clicklog"
)

// TestTrainPrequential runs "trainer train --prequential" on a small click
// log with the quickstart's spec: the report lists the figures over every
// row, the recent rows and each day; settings that cannot keep
// test-then-train exit 2 naming what to change.
func TestTrainPrequential(t *testing.T) {
	_, lakeDir, specPath, sum := clickLake(t, 4000, 1024)
	if err := os.WriteFile(specPath, []byte(clicklog.EventTimeSpecYAML(18)), 0o644); err != nil {
		t.Fatal(err)
	}
	noTime := filepath.Join(t.TempDir(), "spec.yaml")
	if err := os.WriteFile(noTime, []byte(clicklog.SpecYAML(18)), 0o644); err != nil {
		t.Fatal(err)
	}
	dts := sum.Days[0].DT + ".." + sum.Days[2].DT
	base := []string{"train", "--lake", lakeDir, "--data", "clicks", "--dt", dts}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--spec", noTime, "--prequential"}, "event_time"},
		{[]string{"--spec", specPath, "--window", "1h"}, "--window applies with --prequential"},
		{[]string{"--spec", specPath, "--recent", "10"}, "--recent applies with --prequential"},
		{[]string{"--spec", specPath, "--prequential", "--epochs", "2"}, "--epochs 1"},
		{[]string{"--spec", specPath, "--prequential", "--parallel", "2"}, "--parallel 1"},
		{[]string{"--spec", specPath, "--prequential", "--shuffle-buffer", "100"}, "--shuffle-buffer"},
	} {
		out, code, err := runCLI(append(append([]string{}, base...), tc.args...)...)
		if code != exitUsage || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: exit %d, %v (want exit 2 naming %s)\n%s", tc.args, code, err, tc.want, out)
		}
	}
	out, code, err := runCLI(append(base, "--spec", specPath, "--prequential", "--recent", "500")...)
	if err != nil {
		t.Fatalf("exit %d: %v\n%s", code, err, out)
	}
	for _, want := range []string{
		"prequential (test-then-train, event time event_ms): all auc ",
		"prequential, last 500 examples: auc ",
		"window " + sum.Days[0].DT + " 00:00:00 .. " + sum.Days[1].DT + " 00:00:00: auc ",
		"window " + sum.Days[2].DT + " 00:00:00 .. " + sum.Days[3].DT + " 00:00:00: auc ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
