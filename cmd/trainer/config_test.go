package main

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestParseConfigPrecedence: flag > environment > config file > default.
func TestParseConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "trainer.yaml")
	if err := os.WriteFile(file, []byte("epochs: 3\nlearning-rate: 0.5\nmodel: fm\nhidden: [8, 4]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want map[string]string
	}{
		{"defaults", nil, nil, map[string]string{"epochs": "1", "learning-rate": "0", "model": "logistic", "hidden": "64,32"}},
		{"file", []string{"--config", file}, nil, map[string]string{"epochs": "3", "learning-rate": "0.5", "model": "fm", "hidden": "8,4"}},
		{"env over file", []string{"--config", file}, map[string]string{"LAKESTREAM_EPOCHS": "5"}, map[string]string{"epochs": "5", "learning-rate": "0.5"}},
		{"flag over env", []string{"--config", file, "--epochs", "7"}, map[string]string{"LAKESTREAM_EPOCHS": "5"}, map[string]string{"epochs": "7", "model": "fm"}},
		{"config from env", nil, map[string]string{"LAKESTREAM_CONFIG": file, "LAKESTREAM_LEARNING_RATE": "0.25"}, map[string]string{"epochs": "3", "learning-rate": "0.25"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("train", flag.ContinueOnError)
			fs.Int("epochs", 1, "")
			fs.Float64("learning-rate", 0, "")
			fs.String("model", "logistic", "")
			fs.String("hidden", "64,32", "")
			getenv := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			if err := parseConfig(fs, tc.args, getenv); err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.want {
				if got := fs.Lookup(k).Value.String(); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	dir := t.TempDir()
	typo := filepath.Join(dir, "typo.yaml")
	_ = os.WriteFile(typo, []byte("epoch: 3\n"), 0o644)
	bad := filepath.Join(dir, "bad.yaml")
	_ = os.WriteFile(bad, []byte("epochs: many\n"), 0o644)
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown key", []string{"--config", typo}, nil, "unknown keys [epoch]"},
		{"bad file value", []string{"--config", bad}, nil, "epochs"},
		{"bad env value", nil, map[string]string{"LAKESTREAM_EPOCHS": "x"}, "LAKESTREAM_EPOCHS"},
		{"missing file", []string{"--config", filepath.Join(dir, "none.yaml")}, nil, "none.yaml"},
		{"positional", []string{"extra"}, nil, "unexpected argument"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("train", flag.ContinueOnError)
			fs.SetOutput(new(strings.Builder))
			fs.Int("epochs", 1, "")
			getenv := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			err := parseConfig(fs, tc.args, getenv)
			var ue *usageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want a usage error mentioning %q", err, tc.want)
			}
		})
	}
}
