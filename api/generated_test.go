// Package api_test checks that the Go code generated from the .proto files
// under api/ is current.
package api_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/lakestream/lakestream/internal/pyref"
)

// protocVersion matches the header lines naming the protoc that generated a
// file ("// \tprotoc        v3.21.12", "// - protoc             v28.1"):
// any protoc gives the same code, so they are left out of the comparison.
var protocVersion = regexp.MustCompile(`(?m)^//\s+(- )?protoc\s+v?[0-9][^\n]*\n`)

// TestGeneratedCodeIsCurrent regenerates the Go code of every .proto into a
// temporary folder and compares it with the checked-in files, so that a
// .proto edited without `make generate` fails here instead of at a client.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	py := pyref.Python(t) // grpcio-tools' protoc when none is installed
	out := t.TempDir()
	cmd := exec.Command("./generate.sh", out)
	cmd.Env = append(os.Environ(), "LAKESTREAM_PYTHON="+py)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("api/generate.sh: %v\n%s", err, b)
	}
	files := []string{
		"paramserver/paramserver.pb.go", "paramserver/paramserver_grpc.pb.go",
		"inference/grpc_predict_v2.pb.go", "inference/grpc_predict_v2_grpc.pb.go",
	}
	for _, f := range files {
		want, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Fatalf("generate.sh wrote no %s: %v", f, err)
		}
		got, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(protocVersion.ReplaceAll(got, nil), protocVersion.ReplaceAll(want, nil)) {
			t.Errorf("api/%s is not what its .proto generates: run `make generate` and commit the result", f)
		}
	}
}
