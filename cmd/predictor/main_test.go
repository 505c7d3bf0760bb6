package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/lakestream/lakestream/api/inference"
	"github.com/lakestream/lakestream/internal/predictortest"
	"github.com/lakestream/lakestream/internal/tlstest"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/serve"
	"github.com/lakestream/lakestream/serve/swaptest"
)

func TestParseFlagsErrors(t *testing.T) {
	t.Setenv("LAKESTREAM_LAKE", "")
	t.Setenv("LAKESTREAM_KAFKA_BROKERS", "")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--model", "ctr"}, "--lake is required"},
		{[]string{"--lake", "x"}, "at least one --model"},
		{[]string{"--lake", "x", "--model", "@champion"}, "want NAME"},
		{[]string{"--lake", "x", "--model", "ctr", "--tls-cert", "c.pem"}, "go together"},
		{[]string{"--lake", "x", "--model", "ctr", "--poll", "-1s"}, "--poll -1s"},
		{[]string{"--lake", "x", "--model", "ctr", "--max-inflight", "0"}, "--max-inflight"},
		{[]string{"--lake", "x", "--model", "ctr", "--stream-data-topic", "d"}, "--stream-predictions-topic"},
		{[]string{"--lake", "x", "--model", "ctr", "--stream-data-topic", "d", "--stream-predictions-topic", "p",
			"--dead-letter-topic", "q", "--kafka-brokers", "b", "--stream-transactional-id", "t", "--stream-checkpoint-interval", "0"}, "checkpoint"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			_, err := parseFlags(tc.args)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("parseFlags(%v) = %v, want an error containing %q", tc.args, err, tc.want)
			}
		})
	}
	c, err := parseFlags([]string{"--lake", "x", "--model", "ctr", "--model", "rank@challenger", "--model", "old@3"})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.models) != 3 || c.models[1].Ref != "challenger" || c.models[2].Ref != "3" || c.models[0].Ref != "" {
		t.Errorf("models = %+v", c.models)
	}
}

// championLake saves two versions of model "ctr" in a new lake folder and
// makes version 1 champion.
func championLake(t *testing.T) (string, lake.Store) {
	t.Helper()
	ctx := context.Background()
	lakeDir := filepath.Join(t.TempDir(), "lake")
	if err := os.Mkdir(lakeDir, 0o755); err != nil {
		t.Fatal(err)
	}
	store, err := lake.NewLocal(lakeDir)
	if err != nil {
		t.Fatal(err)
	}
	for seed := range uint64(2) {
		if _, err := swaptest.SaveModel(ctx, store, "ctr", 100, seed+1); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := model.SetAlias(ctx, store, "ctr", model.Champion, 1, nil); err != nil {
		t.Fatal(err)
	}
	return lakeDir, store
}

// TestPredictorBinaryServesAndStops builds the real binary, serves the
// champion of a lake over gRPC, follows a promotion by polling, and stops
// gracefully on SIGTERM.
func TestPredictorBinaryServesAndStops(t *testing.T) {
	bin := predictortest.Build(t)
	lakeDir, store := championLake(t)
	ctx := context.Background()
	cmd, addr := predictortest.Start(t, bin, "--lake", lakeDir, "--model", "ctr", "--listen", "127.0.0.1:0", "--metrics-listen", "", "--poll", "200ms")
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cl := pb.NewGRPCInferenceServiceClient(conn)
	req := &pb.ModelInferRequest{ModelName: "ctr", Inputs: []*pb.ModelInferRequest_InferInputTensor{
		{Name: "site", Datatype: "BYTES", Shape: []int64{1}, Contents: &pb.InferTensorContents{BytesContents: [][]byte{[]byte("s1")}}},
	}}
	resp, err := cl.ModelInfer(ctx, req)
	if err != nil || resp.ModelVersion != "1" {
		t.Fatalf("ModelInfer = %v, %v; want version 1", resp, err)
	}
	if s, err := serve.OutputFP64(resp, "score"); err != nil || len(s) != 1 || s[0] <= 0 || s[0] >= 1 {
		t.Errorf("score %v (%v) is not one probability", s, err)
	}
	if _, err := model.SetAlias(ctx, store, "ctr", model.Champion, 2, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for resp.ModelVersion != "2" {
		if time.Now().After(deadline) {
			t.Fatal("the predictor did not pick up version 2 by polling within 10s")
		}
		time.Sleep(50 * time.Millisecond)
		if resp, err = cl.ModelInfer(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("predictor exited with %v after SIGTERM, want 0", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("predictor did not stop within 15s of SIGTERM")
	}
}

// TestPredictorBinaryTLSTokenAndMetrics serves over TLS with a token and
// checks what a client without either gets, and the Prometheus metrics.
func TestPredictorBinaryTLSTokenAndMetrics(t *testing.T) {
	bin := predictortest.Build(t)
	lakeDir, _ := championLake(t)
	cert := tlstest.New(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := l.Addr().String()
	l.Close()
	_, addr := predictortest.Start(t, bin, "--lake", lakeDir, "--model", "ctr", "--listen", "127.0.0.1:0",
		"--metrics-listen", metricsAddr, "--tls-cert", cert.CertFile, "--tls-key", cert.KeyFile, "--token", "s3cret")
	ctx := context.Background()
	req := &pb.ModelInferRequest{ModelName: "ctr", Inputs: []*pb.ModelInferRequest_InferInputTensor{
		{Name: "site", Datatype: "BYTES", Shape: []int64{1}, Contents: &pb.InferTensorContents{BytesContents: [][]byte{[]byte("s1")}}},
	}}

	tlsConn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cert.Client)))
	if err != nil {
		t.Fatal(err)
	}
	defer tlsConn.Close()
	cl := pb.NewGRPCInferenceServiceClient(tlsConn)
	if _, err := cl.ModelInfer(ctx, req); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("TLS without token: %v, want Unauthenticated", err)
	}
	authed := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer s3cret")
	resp, err := cl.ModelInfer(authed, req)
	if err != nil || resp.ModelVersion != "1" {
		t.Fatalf("TLS with token: %v, %v", resp, err)
	}
	plain, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := pb.NewGRPCInferenceServiceClient(plain).ModelInfer(authed, req); err == nil {
		t.Fatal("a plaintext client was served by a TLS predictor")
	}

	httpResp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(httpResp.Body)
	httpResp.Body.Close()
	for _, want := range []string{
		`lakestream_predictor_requests_total{code="OK",model="ctr",version="1"} 1`,
		`lakestream_predictor_served_version_info{model="ctr",version="1"} 1`,
		`lakestream_predictor_swaps_total{model="ctr"} 1`,
		`lakestream_predictor_request_seconds_bucket`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestMissingLakeFolderIsRefused: a predictor only reads the lake, so a
// --lake folder that does not exist is a mistake to report at start, not a
// server waiting for a promotion that cannot come.
func TestMissingLakeFolderIsRefused(t *testing.T) {
	t.Setenv("LAKESTREAM_KAFKA_BROKERS", "")
	missing := filepath.Join(t.TempDir(), "nonexistent")
	err := run([]string{"--lake", missing, "--model", "ctr", "--listen", "127.0.0.1:0", "--metrics-listen", ""})
	if err == nil || !strings.Contains(err.Error(), "--lake "+missing) {
		t.Fatalf("run with a missing lake folder = %v, want an error naming --lake", err)
	}
}
