package serve

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	pb "github.com/lakestream/lakestream/api/inference"
	"github.com/lakestream/lakestream/internal/pyref"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/lake/laketest"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/model/modeltest"
)

// saveRec saves a random mf model with its catalogue as the next version of
// "rec" and makes it the champion. It returns the model.
func saveRec(t testing.TB, store lake.Store, cfg modeltest.MFConfig) *model.Model {
	t.Helper()
	ctx := context.Background()
	m, rec := modeltest.RandomMF(t, cfg)
	defer rec.Release()
	if err := m.SetCatalogue(modeltest.Catalogue(t, rec)); err != nil {
		t.Fatal(err)
	}
	v, err := m.Save(ctx, store, "rec")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := model.SetAlias(ctx, store, "rec", model.Champion, v, nil); err != nil {
		t.Fatal(err)
	}
	return m
}

// topNRequest asks rec:topn for user's top n (n 0: not sent).
func topNRequest(user string, n int64) *pb.ModelInferRequest {
	req := &pb.ModelInferRequest{ModelName: "rec" + TopNSuffix, Inputs: []*pb.ModelInferRequest_InferInputTensor{
		{Name: "user", Datatype: "BYTES", Shape: []int64{1}, Contents: &pb.InferTensorContents{BytesContents: [][]byte{[]byte(user)}}},
	}}
	if n != 0 {
		req.Inputs = append(req.Inputs, &pb.ModelInferRequest_InferInputTensor{Name: "n", Datatype: "INT64", Shape: []int64{1}, Contents: &pb.InferTensorContents{Int64Contents: []int64{n}}})
	}
	return req
}

// topNOutputs reads item_ids (BYTES as strings, INT64 in decimal) and scores
// from a response.
func topNOutputs(t testing.TB, resp *pb.ModelInferResponse) ([]string, []float64) {
	t.Helper()
	scores, err := OutputFP64(resp, "scores")
	if err != nil {
		t.Fatal(err)
	}
	var items []string
	for i, o := range resp.Outputs {
		if o.Name != "item_ids" {
			continue
		}
		raw := resp.RawOutputContents[i]
		switch o.Datatype {
		case "BYTES":
			for len(raw) > 0 {
				l := binary.LittleEndian.Uint32(raw)
				items = append(items, string(raw[4:4+l]))
				raw = raw[4+l:]
			}
		case "INT64":
			for ; len(raw) > 0; raw = raw[8:] {
				items = append(items, strconv.FormatInt(int64(binary.LittleEndian.Uint64(raw)), 10))
			}
		default:
			t.Fatalf("item_ids is %s", o.Datatype)
		}
		if o.Shape[0] != int64(len(items)) {
			t.Fatalf("item_ids shape %v for %d items", o.Shape, len(items))
		}
	}
	return items, scores
}

// wantTopN is the model's own top n for user, as ids.
func wantTopN(t testing.TB, m *model.Model, user string, n int) ([]string, []float64, bool) {
	t.Helper()
	var r model.Recommendation
	if err := m.TopN(user, n, &r); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(r.Items))
	for j, i := range r.Items {
		ids[j] = m.Catalogue().Items[i]
	}
	return ids, r.Scores, r.KnownUser
}

func knownUser(resp *pb.ModelInferResponse) (bool, bool) {
	p, ok := resp.Parameters["lakestream.known_user"]
	if !ok {
		return false, false
	}
	b, ok := p.ParameterChoice.(*pb.InferParameter_BoolParam)
	return ok && b.BoolParam, ok
}

// TestTopNOverGRPC asks the top-N variant of an mf model for known and
// unknown users over gRPC, typed and raw, and checks the answers against
// the model's TopN; then promotes a new version and sees the answers move
// with it.
func TestTopNOverGRPC(t *testing.T) {
	ctx := context.Background()
	store := laketest.NewMemory()
	m := saveRec(t, store, modeltest.MFConfig{Users: 50, Items: 1500, PerUser: 30, Factors: 8, Loss: model.LossSquared, Seed: 5})
	e, err := NewEngine(NewRegistryLoader(store), []ModelRef{{Name: "rec"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.RefreshAll(ctx); err != nil {
		t.Fatal(err)
	}
	_, conn := startServer(t, e, DefaultServerConfig())
	c := pb.NewGRPCInferenceServiceClient(conn)

	check := func(t *testing.T, m *model.Model, req *pb.ModelInferRequest, user string, n int, version string) {
		t.Helper()
		resp, err := c.ModelInfer(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		items, scores := topNOutputs(t, resp)
		wi, ws, wk := wantTopN(t, m, user, n)
		if !slices.Equal(items, wi) || !slices.Equal(scores, ws) {
			t.Fatalf("user %q n %d:\ngot  %v %v\nwant %v %v", user, n, items, scores, wi, ws)
		}
		if k, ok := knownUser(resp); !ok || k != wk {
			t.Errorf("user %q: known_user %v (sent %v), want %v", user, k, ok, wk)
		}
		if resp.ModelVersion != version || resp.ModelName != "rec:topn" {
			t.Errorf("response names %s version %s, want rec:topn %s", resp.ModelName, resp.ModelVersion, version)
		}
	}
	t.Run("typed", func(t *testing.T) {
		for _, u := range []string{"u1", "u7", "u49"} {
			check(t, m, topNRequest(u, 100), u, 100, "1")
		}
		check(t, m, topNRequest("u3", 0), "u3", 10, "1") // the default n
		check(t, m, topNRequest("u3", 1000), "u3", 1000, "1")
	})
	t.Run("unknown user gets the model's cold-start ranking", func(t *testing.T) {
		check(t, m, topNRequest("nobody", 20), "nobody", 20, "1")
	})
	t.Run("raw", func(t *testing.T) {
		user := []byte("u8")
		req := &pb.ModelInferRequest{ModelName: "rec:topn", Inputs: []*pb.ModelInferRequest_InferInputTensor{
			{Name: "user", Datatype: "BYTES", Shape: []int64{1}}, {Name: "n", Datatype: "INT32", Shape: []int64{1, 1}}},
			RawInputContents: [][]byte{binary.LittleEndian.AppendUint32(nil, uint32(len(user))), binary.LittleEndian.AppendUint32(nil, 50)}}
		req.RawInputContents[0] = append(req.RawInputContents[0], user...)
		check(t, m, req, "u8", 50, "1")
	})
	t.Run("only scores", func(t *testing.T) {
		req := topNRequest("u2", 5)
		req.Outputs = []*pb.ModelInferRequest_InferRequestedOutputTensor{{Name: "scores"}}
		resp, err := c.ModelInfer(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Outputs) != 1 || resp.Outputs[0].Name != "scores" || resp.Outputs[0].Shape[0] != 5 {
			t.Errorf("outputs %v", resp.Outputs)
		}
	})
	t.Run("metadata", func(t *testing.T) {
		md, err := c.ModelMetadata(ctx, &pb.ModelMetadataRequest{Name: "rec:topn"})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, x := range append(md.Inputs, md.Outputs...) {
			got = append(got, x.Name+" "+x.Datatype+" "+strconv.Itoa(int(x.Shape[0])))
		}
		if want := "user BYTES 1, n INT32 1, item_ids BYTES -1, scores FP64 -1"; strings.Join(got, ", ") != want {
			t.Errorf("metadata %s, want %s", strings.Join(got, ", "), want)
		}
		rd, err := c.ModelReady(ctx, &pb.ModelReadyRequest{Name: "rec:topn"})
		if err != nil || !rd.Ready {
			t.Errorf("ModelReady rec:topn = %v, %v", rd, err)
		}
	})
	t.Run("hostile and wrong requests", func(t *testing.T) {
		long := topNRequest(strings.Repeat("u", 1<<20), 10) // 1 MiB of user id
		wrongType := topNRequest("u1", 10)
		wrongType.Inputs[0] = &pb.ModelInferRequest_InferInputTensor{Name: "user", Datatype: "INT64", Shape: []int64{1}, Contents: &pb.InferTensorContents{Int64Contents: []int64{1}}}
		two := topNRequest("u1", 10)
		two.Inputs[0].Shape = []int64{2}
		two.Inputs[0].Contents.BytesContents = append(two.Inputs[0].Contents.BytesContents, []byte("u2"))
		extra := topNRequest("u1", 10)
		extra.Inputs = append(extra.Inputs, &pb.ModelInferRequest_InferInputTensor{Name: "item", Datatype: "BYTES", Shape: []int64{1}, Contents: &pb.InferTensorContents{BytesContents: [][]byte{[]byte("i1")}}})
		noUser := topNRequest("u1", 10)
		noUser.Inputs = noUser.Inputs[1:]
		badOut := topNRequest("u1", 10)
		badOut.Outputs = []*pb.ModelInferRequest_InferRequestedOutputTensor{{Name: "score"}}
		rawMismatch := &pb.ModelInferRequest{ModelName: "rec:topn", Inputs: []*pb.ModelInferRequest_InferInputTensor{{Name: "user", Datatype: "BYTES", Shape: []int64{1}}},
			RawInputContents: [][]byte{{255, 255, 255, 255, 'u'}}}
		for name, req := range map[string]*pb.ModelInferRequest{
			"n 0": topNRequest("u1", -0), "n -1": topNRequest("u1", -1), "n 1001": topNRequest("u1", 1001), "n 2^40": topNRequest("u1", 1<<40),
			"long user": long, "user INT64": wrongType, "two users": two, "unknown input": extra, "no user": noUser,
			"unknown output": badOut, "raw length lies": rawMismatch,
		} {
			if name == "n 0" {
				req.Inputs = append(req.Inputs, &pb.ModelInferRequest_InferInputTensor{Name: "n", Datatype: "INT64", Shape: []int64{1}, Contents: &pb.InferTensorContents{Int64Contents: []int64{0}}})
			}
			if _, err := c.ModelInfer(ctx, req, grpc.MaxCallSendMsgSize(4<<20)); status.Code(err) != codes.InvalidArgument {
				t.Errorf("%s: %v, want InvalidArgument", name, err)
			}
		}
	})
	t.Run("hot swap", func(t *testing.T) {
		m2 := saveRec(t, store, modeltest.MFConfig{Users: 50, Items: 1200, PerUser: 10, Factors: 4, Loss: model.LossLogistic, Seed: 6})
		if err := e.Refresh(ctx, "rec"); err != nil {
			t.Fatal(err)
		}
		check(t, m2, topNRequest("u1", 30), "u1", 30, "2")
	})
}

// TestTopNIntIDs serves an mf model over int64 users and items: the user
// goes as INT64 (or INT32), the items come back as INT64.
func TestTopNIntIDs(t *testing.T) {
	ctx := context.Background()
	store := laketest.NewMemory()
	m := saveRec(t, store, modeltest.MFConfig{Users: 20, Items: 400, PerUser: 10, Factors: 4, IntIDs: true, Loss: model.LossLogistic, Seed: 8})
	e, _ := NewEngine(NewRegistryLoader(store), []ModelRef{{Name: "rec"}})
	if err := e.RefreshAll(ctx); err != nil {
		t.Fatal(err)
	}
	_, conn := startServer(t, e, DefaultServerConfig())
	c := pb.NewGRPCInferenceServiceClient(conn)
	for _, dt := range []string{"INT64", "INT32"} {
		in := &pb.ModelInferRequest_InferInputTensor{Name: "user", Datatype: dt, Shape: []int64{1}, Contents: &pb.InferTensorContents{Int64Contents: []int64{12}}}
		if dt == "INT32" {
			in.Contents = &pb.InferTensorContents{IntContents: []int32{12}}
		}
		resp, err := c.ModelInfer(ctx, &pb.ModelInferRequest{ModelName: "rec:topn", Inputs: []*pb.ModelInferRequest_InferInputTensor{in}})
		if err != nil {
			t.Fatal(err)
		}
		items, scores := topNOutputs(t, resp)
		wi, ws, _ := wantTopN(t, m, "12", 10)
		if resp.Outputs[0].Datatype != "INT64" || !slices.Equal(items, wi) || !slices.Equal(scores, ws) {
			t.Errorf("%s: %s %v %v, want INT64 %v %v", dt, resp.Outputs[0].Datatype, items, scores, wi, ws)
		}
	}
	if _, err := c.ModelInfer(ctx, topNRequest("12", 10)); status.Code(err) != codes.InvalidArgument {
		t.Errorf("a BYTES user for an int64 column: %v, want InvalidArgument", err)
	}
}

// TestTopNNotRecommender: the top-N variant of a model that is not mf with
// a catalogue is FailedPrecondition, with the reason; of a model not served,
// NotFound.
func TestTopNNotRecommender(t *testing.T) {
	e, _ := registryEngine(t)
	_, conn := startServer(t, e, DefaultServerConfig())
	c := pb.NewGRPCInferenceServiceClient(conn)
	req := topNRequest("u1", 10)
	req.ModelName = "ctr:topn"
	_, err := c.ModelInfer(context.Background(), req)
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "catalogue") || !strings.Contains(err.Error(), "trainer ps --output") {
		t.Errorf("ctr:topn = %v, want FailedPrecondition naming the catalogue and the jobs that save one", err)
	}
	req.ModelName = "other:topn"
	if _, err := c.ModelInfer(context.Background(), req); status.Code(err) != codes.NotFound {
		t.Errorf("other:topn = %v, want NotFound", err)
	}
	if rd, err := c.ModelReady(context.Background(), &pb.ModelReadyRequest{Name: "ctr:topn"}); err != nil || rd.Ready {
		t.Errorf("ModelReady ctr:topn = %v, %v; want not ready", rd, err)
	}
}

// TestTopNRealClients asks the top-N variant with tritonclient, unchanged,
// over gRPC and HTTP (binary and JSON outputs), and with grpcurl, which
// knows nothing of our protos, for a known and an unknown user; each must
// read exactly the model's own top N.
func TestTopNRealClients(t *testing.T) {
	pyref.Python(t)
	grpcurl := os.Getenv("LAKESTREAM_GRPCURL")
	if grpcurl == "" {
		t.Fatal("LAKESTREAM_GRPCURL is not set: run `make test` (deploy/local/up.sh tools installs grpcurl)")
	}
	ctx := context.Background()
	store := laketest.NewMemory()
	m := saveRec(t, store, modeltest.MFConfig{Users: 30, Items: 2000, PerUser: 25, Factors: 8, Loss: model.LossSquared, Seed: 11})
	e, _ := NewEngine(NewRegistryLoader(store), []ModelRef{{Name: "rec"}})
	if err := e.RefreshAll(ctx); err != nil {
		t.Fatal(err)
	}
	svc := NewService(e, DefaultServerConfig())
	addr := serveGRPC(t, svc)
	srv := httptest.NewServer(svc.HTTPHandler())
	t.Cleanup(srv.Close)

	type answer struct {
		Items     []string  `json:"items"`
		Scores    []float64 `json:"scores"`
		KnownUser bool      `json:"known_user"`
	}
	for _, user := range []string{"u4", "stranger"} {
		const n = 100
		wi, ws, wk := wantTopN(t, m, user, n)
		out := pyref.Run(t, "testdata/topn_clients.py", addr, strings.TrimPrefix(srv.URL, "http://"), "rec:topn", user, strconv.Itoa(n))
		var got map[string]json.RawMessage
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("client output %s: %v", out, err)
		}
		for _, client := range []string{"triton_grpc", "triton_http_binary", "triton_http_json"} {
			var a answer
			if err := json.Unmarshal(got[client], &a); err != nil {
				t.Fatalf("%s: %s: %v", client, got[client], err)
			}
			if !slices.Equal(a.Items, wi) || !slices.Equal(a.Scores, ws) || a.KnownUser != wk {
				t.Errorf("%s, user %s: read %v %v known %v\nwant %v %v known %v", client, user, a.Items, a.Scores, a.KnownUser, wi, ws, wk)
			}
		}
		if user == "u4" {
			// (keys sorted: the JSON of a Go map)
			want := `{"inputs":[{"datatype":"BYTES","name":"user","shape":["1"]},{"datatype":"INT32","name":"n","shape":["1"]}],` +
				`"outputs":[{"datatype":"BYTES","name":"item_ids","shape":["-1"]},{"datatype":"FP64","name":"scores","shape":["-1"]}]}`
			var md any
			json.Unmarshal(got["metadata"], &md)
			if b, _ := json.Marshal(md); string(b) != want {
				t.Errorf("tritonclient metadata %s\nwant %s", b, want)
			}
		}

		// grpcurl: JSON in (bytes base64), raw little-endian contents out.
		req := fmt.Sprintf(`{"model_name": "rec:topn", "inputs": [{"name": "user", "datatype": "BYTES", "shape": [1], "contents": {"bytes_contents": [%q]}},
			{"name": "n", "datatype": "INT32", "shape": [1], "contents": {"int_contents": [%d]}}]}`, base64.StdEncoding.EncodeToString([]byte(user)), n)
		raw, err := exec.Command(grpcurl, "-plaintext", "-d", req, addr, "inference.GRPCInferenceService/ModelInfer").CombinedOutput()
		if err != nil {
			t.Fatalf("grpcurl ModelInfer: %v\n%s", err, raw)
		}
		var resp pb.ModelInferResponse
		if err := protojson.Unmarshal(raw, &resp); err != nil {
			t.Fatalf("grpcurl output %s: %v", raw, err)
		}
		items, scores := topNOutputs(t, &resp)
		if k, _ := knownUser(&resp); !slices.Equal(items, wi) || !slices.Equal(scores, ws) || k != wk {
			t.Errorf("grpcurl, user %s: read %v %v known %v\nwant %v %v known %v", user, items, scores, k, wi, ws, wk)
		}
	}
}
