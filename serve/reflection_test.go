package serve

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestGrpcurlListsServicesThroughReflection runs grpcurl, an independent
// client that knows nothing of our protos, against the server.
func TestGrpcurlListsServicesThroughReflection(t *testing.T) {
	bin := os.Getenv("LAKESTREAM_GRPCURL")
	if testing.Short() {
		t.Skip("needs grpcurl; run without -short (make test)")
	}
	if bin == "" {
		t.Fatal("LAKESTREAM_GRPCURL is not set: run `make test` (deploy/local/up.sh tools installs grpcurl)")
	}
	l := &fakeLoader{champion: "1"}
	e, _ := NewEngine(l, []ModelRef{{Name: "ctr"}})
	e.RefreshAll(context.Background())
	_, conn := startServer(t, e, DefaultServerConfig())
	addr := conn.Target()

	out, err := exec.Command(bin, "-plaintext", addr, "list").CombinedOutput()
	if err != nil {
		t.Fatalf("grpcurl list: %v\n%s", err, out)
	}
	for _, svc := range []string{"inference.GRPCInferenceService", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"} {
		if !strings.Contains(string(out), svc) {
			t.Errorf("grpcurl list does not show %s:\n%s", svc, out)
		}
	}
	out, err = exec.Command(bin, "-plaintext", "-d", `{"name":"ctr"}`, addr, "inference.GRPCInferenceService/ModelReady").CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"ready": true`) {
		t.Fatalf("grpcurl ModelReady: %v\n%s", err, out)
	}
}
