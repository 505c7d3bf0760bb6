package pyref

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
)

// Python returns the interpreter path, failing t with instructions when none
// is configured.
func Python(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the Python reference environment; run without -short (make test)")
	}
	py := os.Getenv("LAKESTREAM_PYTHON")
	if py == "" {
		t.Fatal("LAKESTREAM_PYTHON is not set: run `make test`, or `deploy/local/python.sh` and export the interpreter it prints")
	}
	if _, err := os.Stat(py); err != nil {
		t.Fatalf("LAKESTREAM_PYTHON=%s: %v (run deploy/local/python.sh)", py, err)
	}
	return py
}

// Run executes a Python script file with args and returns its standard
// output. A non-zero exit fails t with the script's standard error.
func Run(t testing.TB, script string, args ...string) []byte {
	t.Helper()
	py := Python(t)
	cmd := exec.Command(py, append([]string{script}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("python %s %v: %v\n%s", script, args, err, stderr.String())
	}
	return stdout.Bytes()
}
