package serve

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lakestream/lakestream/internal/pyref"
)

// TestPythonClientCallsEveryRPC has a client generated from the same proto in
// another language (Python grpcio) call every RPC, and checks its scores
// against in-process scoring of the same rows.
func TestPythonClientCallsEveryRPC(t *testing.T) {
	pyref.Python(t)
	c1 := []int64{1005, 1002, 7, 99}
	site := []string{"a", "b", "zz", "héllo"}
	price := []float64{1.5, 0, 10, -3.25}
	e, m := registryEngine(t)
	addr := serveGRPC(t, NewService(e, DefaultServerConfig()))
	out := pyref.Run(t, "testdata/oip_client.py", "../api/inference", addr, "ctr", columnsFile(t, c1, site, price))
	var got struct {
		Live             bool      `json:"live"`
		Ready            bool      `json:"ready"`
		ModelReady       bool      `json:"model_ready"`
		ServerName       string    `json:"server_name"`
		Version          string    `json:"version"`
		Versions         []string  `json:"versions"`
		Scores           []float64 `json:"scores"`
		RawScores        []float64 `json:"raw_scores"`
		UnknownModelCode string    `json:"unknown_model_code"`
		Inputs           []struct{ Name, Datatype string }
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("client output %s: %v", out, err)
	}
	if !got.Live || !got.Ready || !got.ModelReady || got.ServerName != "lakestream-predictor" {
		t.Errorf("health RPCs: %s", out)
	}
	if got.Version != "1" || len(got.Versions) != 1 || got.Versions[0] != "1" || len(got.Inputs) != 3 {
		t.Errorf("metadata/version: %s", out)
	}
	if got.UnknownModelCode != "NOT_FOUND" {
		t.Errorf("unknown model gave %s, want NOT_FOUND", got.UnknownModelCode)
	}
	want := scoreInProcess(t, m, c1, site, price)
	for i := range want {
		if got.Scores[i] != want[i] || got.RawScores[i] != want[i] {
			t.Errorf("row %d: python typed %v raw %v, in-process %v", i, got.Scores[i], got.RawScores[i], want[i])
		}
	}
}

// columnsFile writes the rows (c1, site, price) as the JSON the Python
// clients in testdata read, and returns its path.
func columnsFile(t *testing.T, c1 []int64, site []string, price []float64) string {
	t.Helper()
	req := map[string]any{"columns": []map[string]any{
		{"name": "c1", "datatype": "INT64", "values": c1},
		{"name": "site", "datatype": "BYTES", "values": site},
		{"name": "price", "datatype": "FP64", "values": price},
	}}
	path := filepath.Join(t.TempDir(), "req.json")
	b, _ := json.Marshal(req)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRealClientsScoreLikeInProcess runs the clients users have, unchanged:
// tritonclient over gRPC and HTTP (binary and JSON tensors) reading scores
// with as_numpy, and the KServe SDK's v2 gRPC and REST clients. Each must
// read exactly the scores of in-process scoring.
func TestRealClientsScoreLikeInProcess(t *testing.T) {
	pyref.Python(t)
	c1 := []int64{1005, 1002, 7, 99}
	site := []string{"a", "b", "zz", "héllo"}
	price := []float64{1.5, 0, 10, -3.25}
	svc, srv, want := restFixture(t, DefaultServerConfig(), c1, site, price)
	addr := serveGRPC(t, svc)
	reqFile := columnsFile(t, c1, site, price)
	got := map[string][]float64{}
	for _, family := range []string{"triton", "kserve"} {
		out := pyref.Run(t, "testdata/real_clients.py", family, addr, strings.TrimPrefix(srv.URL, "http://"), "ctr", reqFile)
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%s client output %s: %v", family, out, err)
		}
	}
	for _, client := range []string{"triton_grpc", "triton_http_binary", "triton_http_json", "kserve_grpc", "kserve_rest"} {
		scores, ok := got[client]
		if !ok || len(scores) != len(want) {
			t.Errorf("%s read %v, want %d scores", client, scores, len(want))
			continue
		}
		for i := range want {
			if scores[i] != want[i] {
				t.Errorf("%s row %d: %v, in-process %v", client, i, scores[i], want[i])
			}
		}
	}
}
