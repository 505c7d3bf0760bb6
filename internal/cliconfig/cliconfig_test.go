package cliconfig

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func newSet(out *strings.Builder) (*flag.FlagSet, *string, *string, *string) {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(out)
	brokers := fs.String("kafka-brokers", "", "Kafka brokers")
	Alias(fs, "brokers", "kafka-brokers")
	token := fs.String("token", "", "bearer token")
	Secret(fs, "token")
	dt := fs.String("dt", "", "day")
	SetUsage(fs, "Usage: trainer worker [flags]", "")
	return fs, brokers, token, dt
}

// TestAliasSecretAndUsage: an alias sets its flag and is not listed; a
// secret never shows in the usage or in errors; the header comes first.
func TestAliasSecretAndUsage(t *testing.T) {
	var out strings.Builder
	fs, brokers, _, _ := newSet(&out)
	if err := Parse(fs, []string{"--brokers", "b:9092"}, func(string) (string, bool) { return "", false }); err != nil || *brokers != "b:9092" {
		t.Fatalf("alias: %v, %q", err, *brokers)
	}
	out.Reset()
	fs, _, _, _ = newSet(&out)
	env := map[string]string{"LAKESTREAM_TOKEN": "s3cr3t"}
	err := Parse(fs, []string{"-h"}, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	u := out.String()
	if !strings.HasPrefix(u, "Usage: trainer worker [flags]\n") || !strings.Contains(u, "--kafka-brokers") ||
		strings.Contains(u, "--brokers") || strings.Contains(u, "s3cr3t") {
		t.Errorf("usage:\n%s", u)
	}
}

// TestEnvAndFile: flag > LAKESTREAM_<FLAG> > --config file; YAML dates stay
// text; the env does not fill a flag its alias set.
func TestEnvAndFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(file, []byte("dt: 2014-10-21\nkafka-brokers: [a:1, b:2]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	fs, brokers, token, dt := newSet(&out)
	env := map[string]string{"LAKESTREAM_TOKEN": "t"}
	if err := Parse(fs, []string{"--config", file}, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if *dt != "2014-10-21" || *brokers != "a:1,b:2" || *token != "t" {
		t.Errorf("dt %q brokers %q token %q", *dt, *brokers, *token)
	}
	fs, brokers, _, _ = newSet(&out)
	env = map[string]string{"LAKESTREAM_KAFKA_BROKERS": "env:1"}
	if err := Parse(fs, []string{"--brokers", "flag:1"}, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil || *brokers != "flag:1" {
		t.Errorf("alias on the command line over the environment: %v %q", err, *brokers)
	}
	// An alias's key in the file configures its flag (it was accepted and
	// ignored); the flag's own key wins over it.
	for _, text := range []string{"brokers: old:1\n", "brokers: old:1\nkafka-brokers: new:1\n", "kafka-brokers: new:1\nbrokers: old:1\n"} {
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		fs, brokers, _, _ = newSet(&out)
		want := "new:1"
		if !strings.Contains(text, "kafka-brokers") {
			want = "old:1"
		}
		if err := Parse(fs, []string{"--config", file}, func(string) (string, bool) { return "", false }); err != nil || *brokers != want {
			t.Errorf("file %q: %v, brokers %q, want %q", text, err, *brokers, want)
		}
	}
	// A bad secret value is reported without the value.
	fs = flag.NewFlagSet("x", flag.ContinueOnError)
	fs.Int("token", 0, "")
	Secret(fs, "token")
	err := Parse(fs, nil, func(k string) (string, bool) { return "hunter2", k == "LAKESTREAM_TOKEN" })
	var ue *UsageError
	if !errors.As(err, &ue) || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "LAKESTREAM_TOKEN") {
		t.Errorf("bad secret: %v", err)
	}
}
