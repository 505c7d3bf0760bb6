package serve

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/lakestream/lakestream/api/inference"
)

// rawCodec sends pre-encoded bytes as the request message and discards the
// response, so a test can send what no generated client would.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }
func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.([]byte))}, nil
}
func (rawCodec) Unmarshal(mem.BufferSlice, any) error { return nil }

func invokeRaw(ctx context.Context, conn *grpc.ClientConn, method string, body []byte) error {
	var out []byte
	return conn.Invoke(ctx, method, body, &out, grpc.ForceCodecV2(rawCodec{}))
}

// TestSmallerRequestChecks covers what Triton refuses and a lenient server
// once accepted: unknown requested outputs, values outside the declared
// datatype's range, an empty model name, and malformed protobuf, which is
// the client's error (InvalidArgument), not the server's (Internal).
func TestSmallerRequestChecks(t *testing.T) {
	l := &fakeLoader{champion: "1"}
	e, _ := NewEngine(l, []ModelRef{{Name: "ctr"}})
	if err := e.RefreshAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, conn := startServer(t, e, DefaultServerConfig())
	cl := pb.NewGRPCInferenceServiceClient(conn)
	ctx := context.Background()
	tests := []struct {
		name     string
		call     func() error
		code     codes.Code
		contains string
	}{
		{"unknown output", func() error {
			req := inferRequest([]int64{1}, []string{"a"})
			req.Outputs = []*pb.ModelInferRequest_InferRequestedOutputTensor{{Name: "score"}, {Name: "probabilities"}}
			_, err := cl.ModelInfer(ctx, req)
			return err
		}, codes.InvalidArgument, `"probabilities"`},
		{"INT8 out of range", func() error {
			req := inferRequest([]int64{1}, []string{"a"})
			req.Inputs[0].Datatype = "INT8"
			req.Inputs[0].Contents = &pb.InferTensorContents{IntContents: []int32{100000}}
			_, err := cl.ModelInfer(ctx, req)
			return err
		}, codes.InvalidArgument, "INT8 range"},
		{"UINT16 out of range", func() error {
			req := inferRequest([]int64{1}, []string{"a"})
			req.Inputs[0].Datatype = "UINT16"
			req.Inputs[0].Contents = &pb.InferTensorContents{UintContents: []uint32{70000}}
			_, err := cl.ModelInfer(ctx, req)
			return err
		}, codes.InvalidArgument, "UINT16 range"},
		{"empty model name", func() error {
			req := inferRequest([]int64{1}, []string{"a"})
			req.ModelName = ""
			_, err := cl.ModelInfer(ctx, req)
			return err
		}, codes.InvalidArgument, "model name is empty"},
		{"empty model name in metadata", func() error {
			_, err := cl.ModelMetadata(ctx, &pb.ModelMetadataRequest{})
			return err
		}, codes.InvalidArgument, "model name is empty"},
		{"malformed infer request", func() error {
			return invokeRaw(ctx, conn, "/inference.GRPCInferenceService/ModelInfer", []byte{0x0a, 0x05, 'c', 't', 'r'})
		}, codes.InvalidArgument, "ModelInferRequest"},
		{"malformed metadata request", func() error {
			return invokeRaw(ctx, conn, "/inference.GRPCInferenceService/ModelMetadata", []byte{0xff, 0xff, 0xff})
		}, codes.InvalidArgument, "ModelMetadataRequest"},
		{"more tensors than columns", func() error {
			req := inferRequest([]int64{1}, []string{"a"})
			req.Inputs = append(req.Inputs, req.Inputs...)
			_, err := cl.ModelInfer(ctx, req)
			return err
		}, codes.InvalidArgument, "more than 2 input tensors"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if status.Code(err) != tc.code || !strings.Contains(err.Error(), tc.contains) {
				t.Fatalf("err = %v, want code %v containing %q", err, tc.code, tc.contains)
			}
		})
	}
	// The score output named explicitly is fine.
	req := inferRequest([]int64{2}, []string{"ab"})
	req.Outputs = []*pb.ModelInferRequest_InferRequestedOutputTensor{{Name: "score"}}
	resp, err := cl.ModelInfer(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if got := mustScores(t, resp); len(got) != 1 || got[0] != 4 {
		t.Errorf("scores %v, want [4]", got)
	}
}

// TestHealthListNeedsTheToken: Check and Watch are open to probes, List
// names every served model and so needs the token.
func TestHealthListNeedsTheToken(t *testing.T) {
	l := &fakeLoader{champion: "1"}
	e, _ := NewEngine(l, []ModelRef{{Name: "ctr"}})
	e.RefreshAll(context.Background())
	cfg := DefaultServerConfig()
	cfg.Token = "s3cret"
	_, conn := startServer(t, e, cfg)
	hc := healthpb.NewHealthClient(conn)
	if _, err := hc.List(context.Background(), &healthpb.HealthListRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("List without the token: %v, want Unauthenticated", err)
	}
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer s3cret")
	list, err := hc.List(ctx, &healthpb.HealthListRequest{})
	if err != nil || list.Statuses["ctr"] == nil {
		t.Fatalf("List with the token = %v, %v; want ctr listed", list, err)
	}
}

// blockingModel scores only once release is closed.
type blockingModel struct {
	linearModel
	entered chan struct{}
	release chan struct{}
}

func (m *blockingModel) Score(rec arrow.Record, dst []float64) error {
	m.entered <- struct{}{}
	<-m.release
	return m.linearModel.Score(rec, dst)
}

type blockingLoader struct{ m *blockingModel }

func (l blockingLoader) Resolve(context.Context, string, string) (string, error) { return "1", nil }
func (l blockingLoader) Load(context.Context, string, string) (Model, error)     { return l.m, nil }

// TestInFlightBudgetRefusesAtOnce: with MaxInFlight calls running, the next
// gets ResourceExhausted at once (not after waiting), and once they finish
// calls are admitted again.
func TestInFlightBudgetRefusesAtOnce(t *testing.T) {
	m := &blockingModel{linearModel: linearModel{weight: 1}, entered: make(chan struct{}, 8), release: make(chan struct{})}
	warm := make(chan struct{})
	go func() { <-m.entered; close(warm) }() // the warm-up score
	close(m.release)
	e, _ := NewEngine(blockingLoader{m}, []ModelRef{{Name: "ctr"}})
	if err := e.RefreshAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-warm
	m.release = make(chan struct{})
	cfg := DefaultServerConfig()
	cfg.MaxInFlight = 2
	svc, conn := startServer(t, e, cfg)
	cl := pb.NewGRPCInferenceServiceClient(conn)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := cl.ModelInfer(context.Background(), inferRequest([]int64{1}, []string{""})); err != nil {
				t.Errorf("admitted call: %v", err)
			}
		}()
	}
	<-m.entered
	<-m.entered
	start := time.Now()
	_, err := cl.ModelInfer(context.Background(), inferRequest([]int64{1}, []string{""}))
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("call beyond the budget: %v, want ResourceExhausted", err)
	}
	if svc.Refused() != 1 {
		t.Errorf("Refused() = %d, want 1", svc.Refused())
	}
	// Refused without queueing: well under the time the admitted calls are
	// held (they are held until release is closed below).
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("refusal took %v", d)
	}
	close(m.release)
	wg.Wait()
	go func() {
		for range m.entered {
		}
	}()
	if _, err := cl.ModelInfer(context.Background(), inferRequest([]int64{1}, []string{""})); err != nil {
		t.Fatalf("after the load is gone: %v", err)
	}
}
