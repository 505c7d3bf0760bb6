package serve

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// restFixture serves the registry fixture's model over REST and returns
// the server and in-process scores of rows (c1, site, price).
func restFixture(t *testing.T, cfg ServerConfig, c1 []int64, site []string, price []float64) (*Service, *httptest.Server, []float64) {
	t.Helper()
	e, m := registryEngine(t)
	svc := NewService(e, cfg)
	srv := httptest.NewServer(svc.HTTPHandler())
	t.Cleanup(srv.Close)
	return svc, srv, scoreInProcess(t, m, c1, site, price)
}

// TestCurlInfersOverREST calls the REST protocol with curl, JSON tensors in
// nested form, and compares the scores with in-process scoring.
func TestCurlInfersOverREST(t *testing.T) {
	if testing.Short() {
		t.Skip("runs curl; run without -short")
	}
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl is needed for this test (apt-get install curl)")
	}
	c1, site, price := []int64{1005, 1002, 7}, []string{"a", "b", "héllo"}, []float64{1.5, 0, -3.25}
	_, srv, want := restFixture(t, DefaultServerConfig(), c1, site, price)
	body := `{"id": "curl-1", "inputs": [
		{"name": "c1", "datatype": "INT64", "shape": [3, 1], "data": [[1005], [1002], [7]]},
		{"name": "site", "datatype": "BYTES", "shape": [3], "data": ["a", "b", "héllo"]},
		{"name": "price", "datatype": "FP64", "shape": [3], "data": [1.5, 0, -3.25]}],
		"outputs": [{"name": "score"}]}`
	out, err := exec.Command(curl, "-sS", "--fail-with-body", "-H", "Content-Type: application/json",
		"-d", body, srv.URL+"/v2/models/ctr/infer").CombinedOutput()
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	var resp struct {
		ModelVersion string `json:"model_version"`
		ID           string `json:"id"`
		Outputs      []struct {
			Name  string
			Shape []int64
			Data  []float64
		}
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if resp.ModelVersion != "1" || resp.ID != "curl-1" || len(resp.Outputs) != 1 || resp.Outputs[0].Name != "score" {
		t.Fatalf("response %s", out)
	}
	for i, w := range want {
		if resp.Outputs[0].Data[i] != w {
			t.Errorf("row %d: curl got %v, in-process %v", i, resp.Outputs[0].Data[i], w)
		}
	}
	for _, path := range []string{"/v2/health/ready", "/v2", "/v2/models/ctr", "/v2/models/ctr/ready"} {
		if out, err := exec.Command(curl, "-sS", "--fail-with-body", srv.URL+path).CombinedOutput(); err != nil {
			t.Errorf("curl %s: %v\n%s", path, err, out)
		}
	}
}

// TestRESTBinaryDataAndErrors covers the binary tensor data extension both
// ways, the token checked before the body, and errors as JSON with the
// HTTP status of the gRPC code.
func TestRESTBinaryDataAndErrors(t *testing.T) {
	c1, site, price := []int64{1005, 7}, []string{"a", "zz"}, []float64{1.5, 10}
	cfg := DefaultServerConfig()
	cfg.Token = "s3cret"
	cfg.MaxBatch = 2
	_, srv, want := restFixture(t, cfg, c1, site, price)

	var bin []byte
	for _, v := range c1 {
		bin = binary.LittleEndian.AppendUint64(bin, uint64(v))
	}
	siteStart := len(bin)
	for _, s := range site {
		bin = binary.LittleEndian.AppendUint32(bin, uint32(len(s)))
		bin = append(bin, s...)
	}
	priceStart := len(bin)
	for _, v := range price {
		bin = binary.LittleEndian.AppendUint64(bin, math.Float64bits(v))
	}
	header := `{"inputs": [
		{"name": "c1", "datatype": "INT64", "shape": [2], "parameters": {"binary_data_size": ` + strconv.Itoa(siteStart) + `}},
		{"name": "site", "datatype": "BYTES", "shape": [2], "parameters": {"binary_data_size": ` + strconv.Itoa(priceStart-siteStart) + `}},
		{"name": "price", "datatype": "FP64", "shape": [2], "parameters": {"binary_data_size": ` + strconv.Itoa(len(bin)-priceStart) + `}}],
		"parameters": {"binary_data_output": true}}`
	post := func(token, hdrLen string, body []byte) *http.Response {
		req, _ := http.NewRequest("POST", srv.URL+"/v2/models/ctr/infer", bytes.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if hdrLen != "" {
			req.Header.Set("Inference-Header-Content-Length", hdrLen)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	resp := post("s3cret", strconv.Itoa(len(header)), append([]byte(header), bin...))
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("binary infer: %d %s", resp.StatusCode, body.String())
	}
	n, _ := strconv.Atoi(resp.Header.Get("Inference-Header-Content-Length"))
	raw := body.Bytes()[n:]
	if len(raw) != 8*len(want) {
		t.Fatalf("binary output of %d bytes: %q", len(raw), body.String())
	}
	for i, w := range want {
		if got := math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:])); got != w {
			t.Errorf("row %d: binary %v, in-process %v", i, got, w)
		}
	}

	tests := []struct {
		name, token, body string
		code              int
		contains          string
	}{
		{"no token", "", `{}`, 401, "token"},
		{"unknown model", "s3cret", `{}`, 404, "unknown model"},
		{"too many rows", "s3cret", `{"inputs": [{"name": "price", "datatype": "FP64", "shape": [3], "data": [1, 2, 3]}]}`, 400, "batch limit of 2"},
		{"too many tensors", "s3cret", `{"inputs": [` + strings.Repeat(`{"name": "price", "datatype": "FP64", "shape": [1], "data": [1]},`, 4) + `{}]}`, 400, "more than 3 input tensors"},
		{"unknown output", "s3cret", `{"inputs": [{"name": "price", "datatype": "FP64", "shape": [1], "data": [1]}], "outputs": [{"name": "p"}]}`, 400, `"p"`},
		{"not JSON", "s3cret", `[`, 400, "JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := "/v2/models/ctr/infer"
			if tc.name == "unknown model" {
				path = "/v2/models/nope/infer"
			}
			req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(tc.body))
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e struct{ Error string }
			json.NewDecoder(resp.Body).Decode(&e)
			if resp.StatusCode != tc.code || !strings.Contains(e.Error, tc.contains) {
				t.Fatalf("%d %q, want %d containing %q", resp.StatusCode, e.Error, tc.code, tc.contains)
			}
		})
	}
	// Probes need no token.
	if resp, err := http.Get(srv.URL + "/v2/health/live"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("live: %v %v", resp, err)
	}
}
