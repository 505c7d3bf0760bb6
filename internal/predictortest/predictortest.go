package predictortest

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Build compiles cmd/predictor into a temporary folder of t and returns the
// binary's path. Under -short the test is skipped: building and running a
// binary is not a unit test.
func Build(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the predictor binary; run without -short")
	}
	bin := filepath.Join(t.TempDir(), "predictor")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/lakestream/lakestream/cmd/predictor").CombinedOutput(); err != nil {
		t.Fatalf("go build predictor: %v\n%s", err, out)
	}
	return bin
}

// Start runs bin with args and returns the process and the gRPC address it
// logged ("predictor serving … grpc=ADDR"); pass --listen 127.0.0.1:0 for
// a free port. LAKESTREAM_KAFKA_BROKERS is cleared, so the predictor follows
// the shared model topic only when args name --kafka-brokers. The process is
// killed when the test ends; its log is drained meanwhile.
func Start(t testing.TB, bin string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "LAKESTREAM_KAFKA_BROKERS=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := bufio.NewScanner(stderr)
	for lines.Scan() {
		line := lines.Text()
		if i := strings.Index(line, "grpc="); i >= 0 && strings.Contains(line, "predictor serving") {
			go func() {
				for lines.Scan() {
				}
			}()
			return cmd, strings.Trim(strings.Fields(line[i+len("grpc="):])[0], `"`)
		}
	}
	t.Fatal("the predictor did not log its address")
	return nil, ""
}
