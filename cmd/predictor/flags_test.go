package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lakestream/lakestream/internal/predictortest"
)

// TestPredictorHelpVersionAndSecrets runs the binary: --help and --version
// exit 0, the token given through the environment (old or new name) never
// appears in the help, and a usage error exits 2.
func TestPredictorHelpVersionAndSecrets(t *testing.T) {
	bin := predictortest.Build(t)
	run := func(env []string, args ...string) (string, int) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(out), ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	for _, env := range [][]string{{"LAKESTREAM_PREDICTOR_TOKEN=s3cr3t-old"}, {"LAKESTREAM_TOKEN=s3cr3t-new"}} {
		for _, h := range []string{"--help", "-h"} {
			out, code := run(env, h)
			if code != 0 || !strings.HasPrefix(out, "Usage: predictor") || strings.Contains(out, "s3cr3t") {
				t.Errorf("%v predictor %s: exit %d\n%s", env, h, code, out)
			}
		}
	}
	if out, code := run(nil, "--version"); code != 0 || !strings.HasPrefix(out, "predictor ") {
		t.Errorf("predictor --version: exit %d, %q", code, out)
	}
	if out, code := run([]string{"LAKESTREAM_LAKE="}, "--model", "ctr"); code != 2 || !strings.Contains(out, "--lake is required") {
		t.Errorf("predictor without --lake: exit %d\n%s", code, out)
	}
}

// TestPredictorConfigConvention: --config and LAKESTREAM_<FLAG> work as in
// the trainer, and the old variable names still do for one release.
func TestPredictorConfigConvention(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "predictor.yaml")
	if err := os.WriteFile(cfg, []byte("lake: /srv/lake\nmodel: [ctr, rank@challenger]\nlisten: 127.0.0.1:9001\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LAKESTREAM_LAKE", "")
	os.Unsetenv("LAKESTREAM_LAKE")
	t.Setenv("LAKESTREAM_TOKEN", "")
	os.Unsetenv("LAKESTREAM_TOKEN")
	t.Setenv("LAKESTREAM_PREDICTOR_TOKEN", "old-name")
	t.Setenv("LAKESTREAM_METRICS_LISTEN", "127.0.0.1:9002")
	c, err := parseFlags([]string{"--config", cfg})
	if err != nil {
		t.Fatal(err)
	}
	if c.lake != "/srv/lake" || len(c.models) != 2 || c.models[1].Ref != "challenger" || c.listen != "127.0.0.1:9001" ||
		c.metrics != "127.0.0.1:9002" || c.token != "old-name" {
		t.Errorf("config: %+v", c)
	}
	// The flag wins over the environment, which wins over the file.
	t.Setenv("LAKESTREAM_LISTEN", "127.0.0.1:9003")
	if c, err = parseFlags([]string{"--config", cfg}); err != nil || c.listen != "127.0.0.1:9003" {
		t.Errorf("env over file: %v %q", err, c.listen)
	}
	if c, err = parseFlags([]string{"--config", cfg, "--listen", "127.0.0.1:9004"}); err != nil || c.listen != "127.0.0.1:9004" {
		t.Errorf("flag over env: %v %q", err, c.listen)
	}
}

// TestDeadLetterTopicFlag: the dead-letter topic is --dead-letter-topic
// (LAKESTREAM_DEAD_LETTER_TOPIC), as in trainer stream and trainer worker;
// the old spelling --stream-dead-letter-topic (flag, variable and config
// key) still works for one release and is not listed.
func TestDeadLetterTopicFlag(t *testing.T) {
	for _, k := range []string{"LAKESTREAM_DEAD_LETTER_TOPIC", "LAKESTREAM_STREAM_DEAD_LETTER_TOPIC", "LAKESTREAM_LAKE", "LAKESTREAM_MODEL"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	base := []string{"--lake", "/srv/lake", "--model", "ctr", "--kafka-brokers", "127.0.0.1:1",
		"--stream-data-topic", "requests", "--stream-predictions-topic", "predictions"}
	cfg := filepath.Join(t.TempDir(), "predictor.yaml")
	if err := os.WriteFile(cfg, []byte("stream-dead-letter-topic: from-old-key\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  string
		args []string
		want string
	}{
		{"flag", "", []string{"--dead-letter-topic", "dlq"}, "dlq"},
		{"old flag", "", []string{"--stream-dead-letter-topic", "old"}, "old"},
		{"variable", "LAKESTREAM_DEAD_LETTER_TOPIC=env", nil, "env"},
		{"old variable", "LAKESTREAM_STREAM_DEAD_LETTER_TOPIC=old-env", nil, "old-env"},
		{"old config key", "", []string{"--config", cfg}, "from-old-key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if k, v, ok := strings.Cut(tc.env, "="); ok {
				t.Setenv(k, v)
			}
			c, err := parseFlags(append(append([]string{}, base...), tc.args...))
			if err != nil || c.streamDLQ != tc.want {
				t.Errorf("dead-letter topic %q, %v; want %q", c.streamDLQ, err, tc.want)
			}
		})
	}
	_, err := parseFlags(base)
	if err == nil || !strings.Contains(err.Error(), "--dead-letter-topic") {
		t.Errorf("stream scoring without a dead-letter topic: %v, want an error naming --dead-letter-topic", err)
	}
	bin := predictortest.Build(t)
	out, _ := exec.Command(bin, "-h").CombinedOutput()
	if !strings.Contains(string(out), "--dead-letter-topic") || strings.Contains(string(out), "stream-dead-letter-topic") {
		t.Errorf("predictor -h lists the dead-letter flag wrongly:\n%s", out)
	}
}
