package main

import (
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"

	"github.com/lakestream/lakestream/train"
)

// quickstartLake runs the quickstart on a small lake once per test binary
// and returns its folder and output.
func quickstartLake(t *testing.T) (string, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "lake")
	var out strings.Builder
	if err := runQuickstart(context.Background(), []string{"--lake", dir, "--rows", "40000"}, &out); err != nil {
		t.Fatalf("quickstart: %v\n%s", err, out.String())
	}
	return dir, out.String()
}

func TestQuickstartSmall(t *testing.T) {
	dir, out := quickstartLake(t)
	t.Log("\n" + out)
	for _, want := range []string{"best possible test AUC", "logistic regression (FTRL)", "factorization machine k=8", "models/quickstart-lr/1", "models/quickstart-fm/1"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// Each model row: label, test AUC, log loss, AUC of the saved model …
	// The saved artifact scored through package model must agree with the
	// trainer's own evaluation (same parameters, same featurization).
	row := regexp.MustCompile(`(?m)^(logistic regression|factorization machine)\S*(?: \S+)*?\s{2,}([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)`)
	rows := row.FindAllStringSubmatch(out, -1)
	if len(rows) != 2 {
		t.Fatalf("found %d model rows in the summary, want 2", len(rows))
	}
	for _, r := range rows {
		trainAUC, _ := strconv.ParseFloat(r[2], 64)
		savedAUC, _ := strconv.ParseFloat(r[4], 64)
		if trainAUC < 0.6 || trainAUC != savedAUC {
			t.Errorf("%s: test AUC %v, saved model's %v; want equal and > 0.6", r[1], trainAUC, savedAUC)
		}
	}
	store, err := lake.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"quickstart-lr", "quickstart-fm"} {
		mf, err := model.ReadManifest(context.Background(), store, name, 1)
		if err != nil {
			t.Errorf("model %s not saved: %v", name, err)
			continue
		}
		// The input types travel with the model, so a predictor hashes the
		// integer columns (C1, banner_pos, …) as integers.
		types := map[string]string{}
		for _, c := range mf.Meta.Inputs {
			types[c.Name] = c.Type
		}
		if len(mf.Meta.Inputs) != 21 || types["C1"] != "int64" || types["site_id"] != "string" {
			t.Errorf("model %s records inputs %v, want the 21 feature columns with their types", name, mf.Meta.Inputs)
		}
	}

	// models list and show read them back.
	var list strings.Builder
	if err := runModels(context.Background(), []string{"list", "--lake", dir}, &list); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(list.String(), "quickstart-fm") || !strings.Contains(list.String(), "validation_auc=") {
		t.Errorf("models list:\n%s", list.String())
	}
	var show strings.Builder
	if err := runModels(context.Background(), []string{"show", "quickstart-lr@1", "--lake", dir}, &show); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kind             logistic", "2014-10-21..2014-10-23", `"name":"ftrl"`} {
		if !strings.Contains(show.String(), want) {
			t.Errorf("models show lacks %q:\n%s", want, show.String())
		}
	}
	if err := runModels(context.Background(), []string{"show", "nope", "--lake", dir}, &show); err == nil {
		t.Error("models show of a missing model succeeded")
	}

	t.Run("train", func(t *testing.T) { testTrainCommand(t, dir) })
	t.Run("cli", func(t *testing.T) { testCLIOnLake(t, dir) })
}

// testTrainCommand exercises "trainer train" on the quickstart lake: a
// regular run with warm start, and the bad inputs of the issue.
func testTrainCommand(t *testing.T, dir string) {
	spec := filepath.Join(t.TempDir(), "spec.yaml")
	if err := os.WriteFile(spec, []byte("label: {column: click, type: binary}\ncategorical: [{column: site_id}, {column: app_id}, {column: device_model}, {column: C14}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	_ = os.WriteFile(missing, []byte("label: {column: click, type: binary}\ncategorical: [{column: site_id}, {column: country}]\n"), 0o644)
	realLabel := filepath.Join(t.TempDir(), "real.yaml")
	_ = os.WriteFile(realLabel, []byte("label: {column: hour, type: binary}\ncategorical: [{column: site_id}]\n"), 0o644)
	base := []string{"--lake", dir, "--data", "clicks", "--spec", spec}
	run := func(args ...string) (string, error) {
		var out strings.Builder
		err := runTrain(context.Background(), append(append([]string{}, base...), args...), &out)
		return out.String(), err
	}
	out, err := run("--dt", "2014-10-21..2014-10-22", "--validation-dt", "2014-10-23", "--output", "site-lr", "--epochs", "2", "--patience", "1")
	if err != nil {
		t.Fatalf("train: %v", err)
	}
	if !strings.Contains(out, "saved models/site-lr/1") || !strings.Contains(out, "validation") {
		t.Errorf("train output:\n%s", out)
	}
	out, err = run("--dt", "2014-10-23", "--validation-dt", "2014-10-24", "--output", "site-lr", "--warm-start", "site-lr")
	if err != nil || !strings.Contains(out, "saved models/site-lr/2") {
		t.Fatalf("warm-started train: %v\n%s", err, out)
	}
	// --warm-start resolves an alias in the registry, as eval --model does.
	store, err := lake.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := model.SetAlias(context.Background(), store, "site-lr", model.Champion, 1, nil); err != nil {
		t.Fatal(err)
	}
	out, err = run("--dt", "2014-10-23", "--output", "site-lr", "--warm-start", "site-lr@champion")
	if err != nil || !strings.Contains(out, "saved models/site-lr/3") {
		t.Fatalf("train --warm-start site-lr@champion: %v\n%s", err, out)
	}
	if mf, err := model.ReadManifest(context.Background(), store, "site-lr", 3); err != nil || mf.Meta.Hyperparameters["warm_start"] != "site-lr@1" {
		t.Errorf("site-lr@3 warm-started from %q (%v), want site-lr@1, the champion", mf.Meta.Hyperparameters["warm_start"], err)
	}
	testSingleClassWarning(t, dir)
	if _, err := run("--dt", "2014-10-23", "--warm-start", "site-lr@nope"); err == nil || !strings.Contains(err.Error(), "--warm-start") || !strings.Contains(err.Error(), "nope") {
		t.Errorf("train --warm-start site-lr@nope: %v, want an error naming --warm-start and the alias", err)
	}
	var globOut strings.Builder
	globArgs := []string{"--lake", dir, "--data", "clicks/dt=2014-10-2[12]/*.parquet", "--spec", spec}
	if err := runTrain(context.Background(), globArgs, &globOut); err != nil || !strings.Contains(globOut.String(), "on 20000 rows") {
		t.Errorf("train on a glob of two days: %v\n%s", err, globOut.String())
	}
	// Two goroutine workers train every row of the same days once and
	// reach the one-worker quality (asynchronous, so not bit for bit).
	aucOf := func(out string) float64 {
		m := regexp.MustCompile(`auc ([0-9.]+)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no validation AUC in:\n%s", out)
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		return v
	}
	days := []string{"--dt", "2014-10-21..2014-10-23", "--validation-dt", "2014-10-24"}
	one, err := run(days...)
	if err != nil {
		t.Fatal(err)
	}
	two, err := run(append(days, "--parallel", "2")...)
	if err != nil {
		t.Fatalf("train --parallel 2: %v", err)
	}
	if a1, a2 := aucOf(one), aucOf(two); math.Abs(a1-a2) > 0.005 || !strings.Contains(two, "on 30000 rows") {
		t.Errorf("--parallel 2: AUC %.5f, one worker %.5f; output:\n%s", a2, a1, two)
	}
	if _, err := run(append(days, "--parallel", "2", "--warm-start", "site-lr@1")...); err == nil || !strings.Contains(err.Error(), "--parallel") {
		t.Errorf("--parallel 2 with --warm-start: %v, want a usage error", err)
	}
	_, err = run("--model", "fm", "--warm-start", "site-lr@1")
	if err == nil || !strings.Contains(err.Error(), "warm start") {
		t.Errorf("warm start of an fm from an lr: %v, want a warm start error", err)
	}

	bad := []struct {
		name  string
		args  []string
		want  string
		usage bool
		is    error
	}{
		{"spec names a missing column", []string{"--spec", missing}, "country", false, nil},
		{"label outside its type", []string{"--spec", realLabel}, "label", false, nil},
		{"empty partition range", []string{"--dt", "2030-01-01..2030-01-31"}, "no rows", false, train.ErrNoData},
		{"bad dt", []string{"--dt", "2014-10-21.."}, "--dt", true, nil},
		{"bad where", []string{"--where", "dt >>> 3"}, "--where", true, nil},
		{"unknown model", []string{"--model", "gbdt"}, "gbdt", true, nil},
		{"two validations", []string{"--validation-dt", "2014-10-24", "--validation-hash", "site_id:10"}, "not both", true, nil},
		{"bad hash split", []string{"--validation-hash", "site_id:150"}, "percent", true, nil},
		{"missing data flag", []string{"--data", ""}, "--data", true, nil},
		{"no workers", []string{"--parallel", "0"}, "--parallel", true, nil},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := run(tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
			var ue *usageError
			if errors.As(err, &ue) != tc.usage {
				t.Errorf("usage error: %v, want %v (%v)", !tc.usage, tc.usage, err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v does not wrap %v", err, tc.is)
			}
		})
	}
}

// testSingleClassWarning runs the binary on a label that holds one class
// (no click is above 5): the run warns that the validation AUC is
// undefined, before it says the model was saved, and logs no JSON error.
func testSingleClassWarning(t *testing.T, dir string) {
	if testing.Short() {
		t.Skip("builds the trainer binary")
	}
	spec := filepath.Join(t.TempDir(), "one-class.yaml")
	if err := os.WriteFile(spec, []byte("label: {expr: \"click > 5\"}\ncategorical: [{column: site_id}, {column: app_id}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(buildTrainer(t), "train", "--lake", dir, "--data", "clicks", "--spec", spec,
		"--dt", "2014-10-21..2014-10-23", "--validation-dt", "2014-10-24", "--output", "one-class").CombinedOutput()
	text := string(out)
	warn, saved := strings.Index(text, "validation AUC undefined"), strings.Index(text, "saved models/one-class/1")
	if err != nil || warn < 0 || saved < 0 || warn > saved || !strings.Contains(text, "label column") || strings.Contains(text, "!ERROR") {
		t.Errorf("train on a single-class label: %v; want the AUC warning before the save\n%s", err, text)
	}
}
