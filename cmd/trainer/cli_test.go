package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/lake/laketest"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/train/feature"
	"github.com/lakestream/lakestream/train/job"
)

// run calls the trainer as the binary would and returns its output, error
// and exit code.
func runCLI(args ...string) (out string, code int, err error) {
	var buf bytes.Buffer
	err = dispatch(context.Background(), args, &buf, &buf)
	if err != nil {
		code = exitCode(err)
	}
	return buf.String(), code, err
}

// TestEveryCommandAnswersHelp: every subcommand and sub-subcommand answers
// -h (and --help) with exit 0.
func TestEveryCommandAnswersHelp(t *testing.T) {
	cmds := [][]string{{"models"}, {"models", "list"}, {"models", "show"}, {"models", "promote"}, {"models", "rollback"}, {"models", "retain"},
		{"models", "promote", "ctr", "3"}, {"models", "show", "ctr@champion"},
		{"schedule", "serve"}, {"schedule", "run"}, {"schedule", "backfill"}, {"schedule", "status"}}
	for _, c := range commands {
		cmds = append(cmds, []string{c.name})
	}
	for _, c := range cmds {
		for _, h := range []string{"-h", "--help"} {
			args := append(append([]string{}, c...), h)
			out, code, err := runCLI(args...)
			if code != 0 {
				t.Errorf("trainer %s: exit %d (%v)\n%s", strings.Join(args, " "), code, err, out)
			}
		}
	}
	// The usage goes to the binary's stderr: each starts with a header.
	if !testing.Short() {
		bin := buildTrainer(t)
		for _, c := range cmds {
			out, err := exec.Command(bin, append(c, "-h")...).CombinedOutput()
			if err != nil || !strings.HasPrefix(string(out), "Usage: trainer "+c[0]) {
				t.Errorf("trainer %s -h: %v, want a usage header first:\n%.200s", strings.Join(c, " "), err, out)
			}
		}
	}
	out, code, _ := runCLI("models", "-h")
	if code != 0 || !strings.HasPrefix(out, "Usage: trainer models") || !strings.Contains(out, "models promote NAME VERSION") {
		t.Errorf("trainer models -h: exit %d\n%s", code, out)
	}
}

// TestUsageHeaders: the usage text starts with a header line and shows each
// default once (--beta once read "(default 1) (default -1)").
func TestUsageHeaders(t *testing.T) {
	var out strings.Builder
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	fs.SetOutput(&out)
	trainFlags(fs)
	if err := parseConfig(fs, []string{"-h"}, nil); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	text := out.String()
	if !strings.HasPrefix(text, "Usage: trainer train [flags]") {
		t.Errorf("train usage starts %q", text[:min(60, len(text))])
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.Count(line, "(default") > 1 {
			t.Errorf("doubled default: %q", line)
		}
	}
	if !strings.Contains(text, "--beta value") || strings.Contains(text, "(default -1)") {
		t.Errorf("--beta help:\n%s", text)
	}
}

// TestKafkaBrokersFlag: every command that talks to Kafka takes
// --kafka-brokers (LAKESTREAM_KAFKA_BROKERS); --brokers still works.
func TestKafkaBrokersFlag(t *testing.T) {
	spec := filepath.Join(t.TempDir(), "spec.yaml")
	if err := os.WriteFile(spec, []byte("label: {column: click, type: binary}\ncategorical: [{column: site_id}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LAKESTREAM_KAFKA_BROKERS", "")
	lakeDir := filepath.Join(t.TempDir(), "none")
	for _, c := range [][]string{
		{"stream", "--lake", lakeDir, "--data", "clicks", "--spec", spec, "--topic", "t", "--output", "o"},
		{"produce", "--lake", lakeDir, "--data", "clicks", "--topic", "t"},
	} {
		_, code, err := runCLI(c...)
		if code != exitUsage || err == nil || !strings.Contains(err.Error(), "--kafka-brokers is required") {
			t.Errorf("trainer %s without brokers: exit %d, %v", c[0], code, err)
		}
		_, _, err = runCLI(append(c, "--brokers", "127.0.0.1:1")...)
		if err != nil && (strings.Contains(err.Error(), "not defined") || strings.Contains(err.Error(), "brokers is required")) {
			t.Errorf("trainer %s --brokers (the old spelling): %v", c[0], err)
		}
	}
}

func TestVersion(t *testing.T) {
	for _, arg := range []string{"--version", "version"} {
		out, code, err := runCLI(arg)
		if err != nil || code != 0 || !strings.HasPrefix(out, "trainer ") {
			t.Errorf("trainer %s: %q, %v", arg, out, err)
		}
	}
}

// TestTrainRefusesBadInputBeforeWork: names, dates, ranges and
// hyperparameters are refused with a usage error (exit 2) that names the
// flag, before anything is read (the lake does not even exist).
func TestTrainRefusesBadInputBeforeWork(t *testing.T) {
	spec := filepath.Join(t.TempDir(), "spec.yaml")
	if err := os.WriteFile(spec, []byte("label: {column: click, type: binary}\ncategorical: [{column: site_id}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"train", "--lake", filepath.Join(t.TempDir(), "none"), "--data", "clicks", "--spec", spec}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--output", "a/b"}, "--output"},
		{[]string{"--dt", "2014-13-45"}, "--dt"},
		{[]string{"--dt", "2014-10-22..2014-10-21"}, "reversed"},
		{[]string{"--validation-dt", "2014-02-30"}, "--validation-dt"},
		{[]string{"--optimizer", "sgd", "--learning-rate", "-1"}, "--learning-rate"},
		{[]string{"--optimizer", "sgd", "--learning-rate", "NaN"}, "--learning-rate"},
		{[]string{"--optimizer", "sgd", "--learning-rate", "0"}, "--learning-rate"},
		{[]string{"--learning-rate", "0.1"}, "--alpha"}, // ftrl's rate is --alpha
		{[]string{"--alpha", "-1"}, "--alpha"},
		{[]string{"--alpha", "0"}, "--alpha"},
		{[]string{"--optimizer", "adam", "--alpha", "0.1"}, "--learning-rate"},
		{[]string{"--beta", "-1"}, "--beta"},
		{[]string{"--beta", "Inf"}, "--beta"},
		{[]string{"--l2", "-1"}, "--l2"},
		{[]string{"--model", "mf", "--bias-l2", "-1"}, "--bias-l2"},
		{[]string{"--model", "mf", "--factor-l2", "NaN"}, "--factor-l2"},
		{[]string{"--factor-l2", "0.1"}, "--model mf"},
		{[]string{"--epochs", "0"}, "epochs"},
		{[]string{"--model", "mf", "--epochs", "0"}, "epochs"},
		{[]string{"--optimizer", "nope"}, "--optimizer"},
		{[]string{"--parallel", "100000"}, "--parallel"},
		{[]string{"--warm-start", "ctr@x/y"}, "--warm-start"},
		{[]string{"--warm-start", "ctr@3x"}, "--warm-start"},
		{[]string{"--min-auc", "0.7"}, "--promote"},
		{[]string{"--kafka-brokers", "127.0.0.1:1"}, "--promote"},
		{[]string{"--promote"}, "--output"},
		{[]string{"--promote", "--output", "m"}, "--validation-dt"},
		{[]string{"--promote", "--output", "m", "--validation-dt", "2014-10-24", "--model", "linear"}, "not a binary model"},
		{[]string{"--promote", "--output", "m", "--validation-dt", "2014-10-24", "--max-drop", "-1"}, "--max-drop"},
		{[]string{"--model", "softmax"}, "needs a multiclass label"},
	} {
		start := time.Now()
		out, code, err := runCLI(append(append([]string{}, base...), tc.args...)...)
		if code != exitUsage || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: exit %d, %v (want exit 2 naming %s)\n%s", tc.args, code, err, tc.want, out)
		}
		// No training, no listing: far below a second even on a loaded
		// machine (a refused --output once came after the whole run).
		if d := time.Since(start); d > time.Second {
			t.Errorf("%v refused after %v", tc.args, d)
		}
	}
}

// testCLIOnLake runs the CLI items that need a lake with data and models
// (the quickstart's).
func testCLIOnLake(t *testing.T, dir string) {
	ctx := context.Background()
	spec := filepath.Join(t.TempDir(), "spec.yaml")
	if err := os.WriteFile(spec, []byte("label: {column: click, type: binary}\ncategorical: [{column: site_id}, {column: app_id}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A YAML date stays the day it names.
	cfg := filepath.Join(t.TempDir(), "train.yaml")
	if err := os.WriteFile(cfg, []byte("lake: "+dir+"\ndata: clicks\nspec: "+spec+"\ndt: 2014-10-21\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCLI("train", "--config", cfg)
	if err != nil || !strings.Contains(out, "on 10000 rows") {
		t.Errorf("train --config with dt: 2014-10-21: %v\n%s", err, out)
	}

	store, err := lake.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := model.SetAlias(ctx, store, "quickstart-lr", model.Champion, 1, nil); err != nil {
		t.Fatal(err)
	}
	// Aliases are accepted wherever a model is named.
	out, _, err = runCLI("models", "show", "quickstart-lr@champion", "--lake", dir)
	if err != nil || !strings.Contains(out, "quickstart-lr version 1") {
		t.Errorf("models show quickstart-lr@champion: %v\n%s", err, out)
	}
	out, _, err = runCLI("eval", "--lake", dir, "--data", "clicks", "--dt", "2014-10-24", "--model", "quickstart-lr@champion", "--out", t.TempDir())
	if err != nil || !strings.Contains(out, "quickstart-lr@1") {
		t.Errorf("eval --model quickstart-lr@champion: %v\n%s", err, out)
	}
	// A gate refusal exits 3, not 1.
	_, code, err := runCLI("eval", "--lake", dir, "--data", "clicks", "--dt", "2014-10-24", "--model", "quickstart-lr", "--min-auc", "0.99", "--fail-on-reject", "--out", t.TempDir())
	if code != exitGateRefused {
		t.Errorf("eval --fail-on-reject under an unreachable floor: exit %d (%v), want %d", code, err, exitGateRefused)
	}

	testUncommittedAndRoot(t, dir, spec)

	// --promote ends the run through the gate: the first version of a
	// name becomes its champion; one under an unreachable floor is saved,
	// refused (exit 3) and leaves the champion where it was.
	t.Setenv("LAKESTREAM_KAFKA_BROKERS", "") // announce nothing on the shared topic
	promote := []string{"train", "--lake", dir, "--data", "clicks", "--spec", spec, "--dt", "2014-10-21",
		"--validation-dt", "2014-10-24", "--output", "cli-promoted", "--promote"}
	out, code, err = runCLI(promote...)
	if err != nil || !strings.Contains(out, "saved models/cli-promoted/1") || !strings.Contains(out, "cli-promoted champion → version 1") {
		t.Errorf("train --promote, no champion yet: exit %d, %v\n%s", code, err, out)
	}
	out, code, err = runCLI(append(promote, "--min-auc", "0.99")...)
	if code != exitGateRefused || !strings.Contains(out, "saved models/cli-promoted/2") || !strings.Contains(out, "version 2 NOT promoted") {
		t.Errorf("train --promote --min-auc 0.99: exit %d (%v), want %d\n%s", code, err, exitGateRefused, out)
	}
	if rec, err := model.Alias(ctx, store, "cli-promoted", model.Champion); err != nil || rec.Version != 1 {
		t.Errorf("champion after the refusal: %+v, %v; want version 1", rec, err)
	}
	var d model.Decision
	if raw, err := lake.ReadAll(ctx, store, model.DecisionKey("cli-promoted", 2)); err != nil || json.Unmarshal(raw, &d) != nil || d.Promoted || d.Evaluation.ChampionVersion != 1 {
		t.Errorf("decision of the refused version: %+v, %v; want refused against version 1", d, err)
	}

	// --spec is read from a lake too: file:// here, s3:// on MinIO.
	out, _, err = runCLI("train", "--lake", dir, "--data", "clicks", "--spec", "file://"+spec, "--dt", "2014-10-22")
	if err != nil || !strings.Contains(out, "on 10000 rows") {
		t.Errorf("train --spec file://: %v\n%s", err, out)
	}
	t.Run("spec on s3", func(t *testing.T) {
		env, bucket := laketest.MinIOBucket(t)
		raw, err := os.ReadFile(spec)
		if err != nil {
			t.Fatal(err)
		}
		s3, err := lake.Open(ctx, "s3://"+bucket, env.Options()...)
		if err != nil {
			t.Fatal(err)
		}
		if err := lake.PutBytes(ctx, s3, "specs/clicks.yaml", raw); err != nil {
			t.Fatal(err)
		}
		out, _, err := runCLI("train", "--lake", dir, "--data", "clicks", "--spec", "s3://"+bucket+"/specs/clicks.yaml", "--dt", "2014-10-22")
		if err != nil || !strings.Contains(out, "on 10000 rows") {
			t.Errorf("train --spec s3://: %v\n%s", err, out)
		}
	})

	// One corrupt manifest does not hide the healthy versions.
	if err := lake.PutBytes(ctx, store, model.VersionPrefix("quickstart-lr", 7)+model.ManifestFile, []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = os.RemoveAll(filepath.Join(dir, "models", "quickstart-lr", "7")) }()
	out, _, err = runCLI("models", "list", "--lake", dir)
	if err != nil || !strings.Contains(out, "quickstart-fm") || !strings.Contains(out, "quickstart-lr version 7: CORRUPT") || !strings.Contains(out, "(+1 corrupt)") {
		t.Errorf("models list with a corrupt version: %v\n%s", err, out)
	}
}

// testUncommittedAndRoot: a partition without _SUCCESS is skipped with a
// warning naming it; when nothing else is left the error says why and
// which flag reads it; --include-uncommitted reads it on every reader; a
// table at the lake's root is --data ".".
func testUncommittedAndRoot(t *testing.T, dir, spec string) {
	ctx := context.Background()
	raw, err := os.ReadFile(filepath.Join(dir, "clicks", "dt=2014-10-21", "part-00000.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	late := filepath.Join(dir, "clicks", "dt=2014-10-30")
	if err := os.MkdirAll(late, 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(late)
	if err := os.WriteFile(filepath.Join(late, "part-00000.parquet"), raw, 0o644); err != nil {
		t.Fatal(err)
	}

	// The warning, through the job's logger.
	parsed, err := feature.Parse([]byte("label: {column: click, type: binary}\ncategorical: [{column: site_id}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	c := job.DefaultConfig()
	c.Data, c.Spec, c.Logger = "clicks", parsed, slog.New(slog.NewTextHandler(&logs, nil))
	store, err := lake.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	f, err := job.DTFilter("2014-10-21..2014-10-30")
	if err != nil {
		t.Fatal(err)
	}
	if p, err := job.Plan(ctx, store, &c, f, "training"); err != nil || p.Rows() != 40000 || !strings.Contains(logs.String(), "dt=2014-10-30") {
		t.Errorf("plan over a range with an uncommitted day: %v\nlog: %s", err, logs.String())
	}

	for _, tc := range []struct{ name, cmd string }{{"train", "train"}, {"eval", "eval"}, {"promote", "models"}} {
		args := map[string][]string{
			"train":   {"train", "--lake", dir, "--data", "clicks", "--spec", spec, "--dt", "2014-10-30"},
			"eval":    {"eval", "--lake", dir, "--data", "clicks", "--dt", "2014-10-30", "--model", "quickstart-lr", "--out", t.TempDir()},
			"promote": {"models", "promote", "quickstart-fm", "1", "--lake", dir, "--data", "clicks", "--dt", "2014-10-30", "--min-auc", "0.5", "--max-drop", "1"},
		}[tc.name]
		out, _, err := runCLI(args...)
		if err == nil || !strings.Contains(err.Error(), "--include-uncommitted") || !strings.Contains(err.Error(), "dt=2014-10-30") {
			t.Errorf("%s on an uncommitted day: %v\n%s", tc.name, err, out)
		}
		out, _, err = runCLI(append(args, "--include-uncommitted")...)
		if err != nil {
			t.Errorf("%s --include-uncommitted: %v\n%s", tc.name, err, out)
		}
	}
	// produce refuses before it connects to Kafka (none at 127.0.0.1:1).
	out, _, err := runCLI("produce", "--lake", dir, "--data", "clicks", "--dt", "2014-10-30", "--topic", "t", "--kafka-brokers", "127.0.0.1:1")
	if err == nil || !strings.Contains(err.Error(), "--include-uncommitted") || !strings.Contains(err.Error(), "dt=2014-10-30") {
		t.Errorf("produce on an uncommitted day: %v\n%s", err, out)
	}
	out, _, err = runCLI("scan", "--lake", dir, "--data", "clicks")
	if err != nil || !strings.Contains(out, "1 skipped (no _SUCCESS marker in partition clicks/dt=2014-10-30/; --include-uncommitted") {
		t.Errorf("scan with an uncommitted partition: %v\n%s", err, out)
	}
	if out, _, err = runCLI("scan", "--lake", dir, "--data", "clicks", "--include-uncommitted"); err != nil || !strings.Contains(out, "dt=2014-10-30") {
		t.Errorf("scan --include-uncommitted: %v\n%s", err, out)
	}
	// A table at the lake's root.
	out, _, err = runCLI("train", "--lake", filepath.Join(dir, "clicks"), "--data", ".", "--spec", spec, "--dt", "2014-10-22")
	if err != nil || !strings.Contains(out, "on 10000 rows") {
		t.Errorf("train --data . : %v\n%s", err, out)
	}
}
