package serve

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/lakestream/lakestream/model"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	pb "github.com/lakestream/lakestream/api/inference"
)

// linearModel scores a*weight + len(s): simple enough to check by hand.
type linearModel struct {
	weight float64
	closed atomic.Bool
}

var testSchema = arrow.NewSchema([]arrow.Field{
	{Name: "a", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

func (m *linearModel) Schema() *arrow.Schema { return testSchema }
func (m *linearModel) Outputs() int          { return 1 }
func (m *linearModel) Close() error          { m.closed.Store(true); return nil }
func (m *linearModel) Score(rec arrow.Record, dst []float64) error {
	if m.closed.Load() {
		return errors.New("scored after Close")
	}
	a := rec.Column(0).(*array.Int64)
	s := rec.Column(1).(*array.String)
	for i := range int(rec.NumRows()) {
		dst[i] = float64(a.Value(i))*m.weight + float64(len(s.Value(i)))
	}
	return nil
}

// fakeLoader serves versions from a map; version "bad" fails like a corrupt
// artifact, "nan" loads but scores NaN, and "panic" panics in Load.
type fakeLoader struct {
	mu       sync.Mutex
	champion string
	loads    atomic.Int64
	delay    time.Duration
}

func (l *fakeLoader) setChampion(v string) { l.mu.Lock(); l.champion = v; l.mu.Unlock() }

func (l *fakeLoader) Resolve(_ context.Context, name, ref string) (string, error) {
	if ref != "champion" {
		return ref, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.champion == "" {
		return "", fmt.Errorf("model %s has no champion", name)
	}
	return l.champion, nil
}

func (l *fakeLoader) Load(_ context.Context, name, v string) (Model, error) {
	l.loads.Add(1)
	time.Sleep(l.delay)
	switch v {
	case "bad":
		return nil, fmt.Errorf("params.bin: checksum mismatch: %w", model.ErrCorrupt)
	case "flaky":
		if l.loads.Load() == 1 {
			return nil, errors.New("connection reset by peer")
		}
		return &linearModel{weight: 4}, nil
	case "nan":
		return &linearModel{weight: math.NaN()}, nil
	case "panic":
		var tables []float32
		_ = tables[len(v)] // a loader bug a crafted artifact reaches
	}
	w, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return nil, fmt.Errorf("no version %q", v)
	}
	return &linearModel{weight: w}, nil
}

// startServer serves e over loopback and returns a client connection.
func startServer(t testing.TB, e *Engine, cfg ServerConfig) (*Service, *grpc.ClientConn) {
	t.Helper()
	svc := NewService(e, cfg)
	conn, err := grpc.NewClient(serveGRPC(t, svc), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return svc, conn
}

// serveGRPC serves svc over gRPC on a loopback port until the test ends
// and returns the address.
func serveGRPC(t testing.TB, svc *Service) string {
	t.Helper()
	gs := grpc.NewServer(svc.ServerOptions()...)
	svc.Register(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	return lis.Addr().String()
}

func inferRequest(as []int64, ss []string) *pb.ModelInferRequest {
	strs := make([][]byte, len(ss))
	for i, s := range ss {
		strs[i] = []byte(s)
	}
	return &pb.ModelInferRequest{
		ModelName: "ctr",
		Inputs: []*pb.ModelInferRequest_InferInputTensor{
			{Name: "a", Datatype: "INT64", Shape: []int64{int64(len(as))}, Contents: &pb.InferTensorContents{Int64Contents: as}},
			{Name: "s", Datatype: "BYTES", Shape: []int64{int64(len(ss)), 1}, Contents: &pb.InferTensorContents{BytesContents: strs}},
		},
	}
}

func TestModelInferTypedAndRaw(t *testing.T) {
	l := &fakeLoader{champion: "2"}
	e, err := NewEngine(l, []ModelRef{{Name: "ctr"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.RefreshAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, conn := startServer(t, e, DefaultServerConfig())
	cl := pb.NewGRPCInferenceServiceClient(conn)
	ctx := context.Background()

	resp, err := cl.ModelInfer(ctx, inferRequest([]int64{1, 10, -3}, []string{"x", "", "abcd"}))
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{2 + 1, 20, -6 + 4}
	if got := mustScores(t, resp); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("typed scores = %v, want %v", got, want)
	}
	if resp.ModelVersion != "2" || resp.Parameters["lakestream.version"].GetStringParam() != "2" {
		t.Errorf("response version = %q / %v, want 2", resp.ModelVersion, resp.Parameters)
	}

	// The same request in raw little-endian form, BYTES with 4-byte prefixes.
	rawA := make([]byte, 0, 24)
	for _, v := range []int64{1, 10, -3} {
		rawA = binary.LittleEndian.AppendUint64(rawA, uint64(v))
	}
	var rawS []byte
	for _, s := range []string{"x", "", "abcd"} {
		rawS = binary.LittleEndian.AppendUint32(rawS, uint32(len(s)))
		rawS = append(rawS, s...)
	}
	raw := &pb.ModelInferRequest{
		ModelName: "ctr",
		Inputs: []*pb.ModelInferRequest_InferInputTensor{
			{Name: "a", Datatype: "INT64", Shape: []int64{3}},
			{Name: "s", Datatype: "BYTES", Shape: []int64{3}},
		},
		RawInputContents: [][]byte{rawA, rawS},
	}
	resp, err = cl.ModelInfer(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	if got := mustScores(t, resp); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("raw scores = %v, want %v", got, want)
	}

	md, err := cl.ModelMetadata(ctx, &pb.ModelMetadataRequest{Name: "ctr"})
	if err != nil {
		t.Fatal(err)
	}
	if len(md.Inputs) != 2 || md.Inputs[0].Datatype != "INT64" || md.Inputs[1].Datatype != "BYTES" || md.Versions[0] != "2" {
		t.Errorf("metadata = %v", md)
	}
}

func TestModelInferRejectsBadRequests(t *testing.T) {
	l := &fakeLoader{champion: "1"}
	e, _ := NewEngine(l, []ModelRef{{Name: "ctr"}})
	if err := e.RefreshAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultServerConfig()
	cfg.MaxBatch = 4
	_, conn := startServer(t, e, cfg)
	cl := pb.NewGRPCInferenceServiceClient(conn)

	tests := []struct {
		name     string
		mutate   func(r *pb.ModelInferRequest)
		code     codes.Code
		contains string
	}{
		{"unknown model", func(r *pb.ModelInferRequest) { r.ModelName = "nope" }, codes.NotFound, `"nope"`},
		{"unknown column", func(r *pb.ModelInferRequest) { r.Inputs[0].Name = "b" }, codes.InvalidArgument, `"b"`},
		{"row count mismatch", func(r *pb.ModelInferRequest) { r.Inputs[0].Shape = []int64{1} }, codes.InvalidArgument, "rows"},
		{"bad shape", func(r *pb.ModelInferRequest) { r.Inputs[0].Shape = []int64{2, 2} }, codes.InvalidArgument, "shape"},
		{"wrong datatype", func(r *pb.ModelInferRequest) { r.Inputs[1].Datatype = "FP32" }, codes.InvalidArgument, "BYTES"},
		{"unknown datatype", func(r *pb.ModelInferRequest) { r.Inputs[0].Datatype = "COMPLEX" }, codes.InvalidArgument, "COMPLEX"},
		{"too few values", func(r *pb.ModelInferRequest) { r.Inputs[0].Contents.Int64Contents = []int64{1} }, codes.InvalidArgument, "1 values for 2 rows"},
		{"raw length", func(r *pb.ModelInferRequest) {
			r.Inputs[0].Contents, r.Inputs[1].Contents = nil, nil
			r.RawInputContents = [][]byte{make([]byte, 15), {0, 0, 0, 0, 0, 0, 0, 0}}
		}, codes.InvalidArgument, "15 bytes"},
		{"raw bytes overrun", func(r *pb.ModelInferRequest) {
			r.Inputs[0].Contents, r.Inputs[1].Contents = nil, nil
			r.RawInputContents = [][]byte{make([]byte, 16), {255, 255, 255, 255}}
		}, codes.InvalidArgument, "claims"},
		{"batch limit", func(r *pb.ModelInferRequest) {
			*r = *inferRequest([]int64{1, 2, 3, 4, 5}, []string{"", "", "", "", ""})
		}, codes.InvalidArgument, "limit of 4"},
		{"version pin", func(r *pb.ModelInferRequest) { r.ModelVersion = "9" }, codes.FailedPrecondition, "serves version 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := inferRequest([]int64{1, 2}, []string{"a", "b"})
			tc.mutate(req)
			_, err := cl.ModelInfer(context.Background(), req)
			if status.Code(err) != tc.code || !strings.Contains(err.Error(), tc.contains) {
				t.Fatalf("err = %v, want code %v containing %q", err, tc.code, tc.contains)
			}
		})
	}
}

func TestHealthAndReadinessFollowLoading(t *testing.T) {
	l := &fakeLoader{}
	e, _ := NewEngine(l, []ModelRef{{Name: "ctr"}})
	svc, conn := startServer(t, e, DefaultServerConfig())
	hc := healthpb.NewHealthClient(conn)
	cl := pb.NewGRPCInferenceServiceClient(conn)
	ctx := context.Background()

	st, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || st.Status != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health before load = %v, %v; want NOT_SERVING", st, err)
	}
	if _, err := cl.ModelInfer(ctx, inferRequest([]int64{1}, []string{""})); status.Code(err) != codes.Unavailable {
		t.Fatalf("infer before load: %v, want Unavailable", err)
	}
	l.setChampion("3")
	if err := e.RefreshAll(ctx); err != nil {
		t.Fatal(err)
	}
	svc.UpdateHealth()
	st, err = hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "ctr"})
	if err != nil || st.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health after load = %v, %v; want SERVING", st, err)
	}
	ready, err := cl.ServerReady(ctx, &pb.ServerReadyRequest{})
	if err != nil || !ready.Ready {
		t.Fatalf("ServerReady = %v, %v", ready, err)
	}
}

func TestCorruptVersionIsRejectedAndOldKeepsServing(t *testing.T) {
	l := &fakeLoader{champion: "1"}
	e, _ := NewEngine(l, []ModelRef{{Name: "ctr"}})
	ctx := context.Background()
	if err := e.Refresh(ctx, "ctr"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"bad", "nan", "panic"} {
		l.setChampion(bad)
		if err := e.Refresh(ctx, "ctr"); err == nil {
			t.Fatalf("version %q was accepted", bad)
		}
		if got := e.Served("ctr"); got != "1" {
			t.Fatalf("after rejecting %q, served = %q, want 1", bad, got)
		}
	}
	// A rejected version is not loaded again on every poll.
	before := l.loads.Load()
	e.Refresh(ctx, "ctr")
	if l.loads.Load() != before {
		t.Errorf("rejected version was loaded again")
	}
}

func TestTokenAuth(t *testing.T) {
	l := &fakeLoader{champion: "1"}
	e, _ := NewEngine(l, []ModelRef{{Name: "ctr"}})
	e.RefreshAll(context.Background())
	cfg := DefaultServerConfig()
	cfg.Token = "s3cret"
	_, conn := startServer(t, e, cfg)
	cl := pb.NewGRPCInferenceServiceClient(conn)
	if _, err := cl.ServerLive(context.Background(), &pb.ServerLiveRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("no token: %v, want Unauthenticated", err)
	}
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer s3cret")
	if _, err := cl.ServerLive(ctx, &pb.ServerLiveRequest{}); err != nil {
		t.Fatalf("with token: %v", err)
	}
	if _, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("health checks need no token: %v", err)
	}
	// Streaming methods are guarded too: reflection without the token.
	refl, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(context.Background())
	if err == nil {
		refl.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}})
		_, err = refl.Recv()
	}
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("reflection without token: %v, want Unauthenticated", err)
	}
}

// TestSwapUnderLoad promotes 100 versions while clients call without pause:
// no request fails, every response comes from a version that was champion
// during the request, and swapped-out versions are closed only after their
// last request.
func TestSwapUnderLoad(t *testing.T) {
	l := &fakeLoader{champion: "1"}
	e, _ := NewEngine(l, []ModelRef{{Name: "ctr"}})
	ctx := context.Background()
	if err := e.Refresh(ctx, "ctr"); err != nil {
		t.Fatal(err)
	}
	_, conn := startServer(t, e, DefaultServerConfig())
	cl := pb.NewGRPCInferenceServiceClient(conn)

	// tenure[v] = when v stopped being served, recorded by the promoter.
	var (
		mu      sync.Mutex
		current = 1
		ended   = map[int]time.Time{}
	)
	stop := make(chan struct{})
	var failures, requests atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				resp, err := cl.ModelInfer(ctx, inferRequest([]int64{1}, []string{""}))
				requests.Add(1)
				if err != nil {
					failures.Add(1)
					t.Errorf("request failed during swaps: %v", err)
					continue
				}
				v, _ := strconv.Atoi(resp.ModelVersion)
				if got := mustScores(t, resp)[0]; got != float64(v) {
					t.Errorf("version %d scored %v: response mixes versions", v, got)
				}
				mu.Lock()
				end, wasSwappedOut := ended[v]
				mu.Unlock()
				if wasSwappedOut && end.Before(start) {
					t.Errorf("version %d answered a request that started %v after it was swapped out", v, start.Sub(end))
				}
			}
		}()
	}
	for v := 2; v <= 101; v++ {
		l.setChampion(strconv.Itoa(v))
		if err := e.Refresh(ctx, "ctr"); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		ended[current] = time.Now()
		current = v
		mu.Unlock()
		time.Sleep(2 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if e.Served("ctr") != "101" {
		t.Errorf("served %s after the last promotion, want 101", e.Served("ctr"))
	}
	if failures.Load() != 0 || requests.Load() < 100 {
		t.Errorf("%d of %d requests failed", failures.Load(), requests.Load())
	}
}

// TestBuildRecordIntegersAreExact checks that integers reach the model
// exactly (no float64 round trip) and that values outside an integer
// column's type are refused, as are hostile raw BYTES counts.
func TestBuildRecordIntegersAreExact(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "small", Type: arrow.PrimitiveTypes.Int8},
		{Name: "s", Type: arrow.BinaryTypes.String},
	}, nil)
	req := func(id []int64, small *pb.InferTensorContents, smallType string) *pb.ModelInferRequest {
		return &pb.ModelInferRequest{Inputs: []*pb.ModelInferRequest_InferInputTensor{
			{Name: "id", Datatype: "INT64", Shape: []int64{int64(len(id))}, Contents: &pb.InferTensorContents{Int64Contents: id}},
			{Name: "small", Datatype: smallType, Shape: []int64{int64(len(id))}, Contents: small},
		}}
	}
	big := int64(9007199254740993) // 2^53 + 1: not a float64
	rec, err := newRecordScratch(schema).build(req([]int64{big, -3}, &pb.InferTensorContents{IntContents: []int32{7, -128}}, "INT32"), 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := rec.Column(0).(*array.Int64).Value(0); got != big {
		t.Errorf("id arrived as %d, want %d", got, big)
	}
	if got := rec.Column(1).(*array.Int8).Value(1); got != -128 {
		t.Errorf("small arrived as %d, want -128", got)
	}

	for _, tc := range []struct {
		name     string
		req      *pb.ModelInferRequest
		contains string
	}{
		{"out of int8 range", req([]int64{1}, &pb.InferTensorContents{IntContents: []int32{300}}, "INT32"), "outside the column's range"},
		{"fraction into an integer column", req([]int64{1}, &pb.InferTensorContents{Fp64Contents: []float64{1.5}}, "FP64"), "not an integer"},
		{"uint64 beyond int64", &pb.ModelInferRequest{Inputs: []*pb.ModelInferRequest_InferInputTensor{
			{Name: "id", Datatype: "UINT64", Shape: []int64{1}, Contents: &pb.InferTensorContents{Uint64Contents: []uint64{1 << 63}}}}}, "exceeds the int64 range"},
		{"raw BYTES with millions of empty elements", &pb.ModelInferRequest{
			Inputs:           []*pb.ModelInferRequest_InferInputTensor{{Name: "s", Datatype: "BYTES", Shape: []int64{1}}},
			RawInputContents: [][]byte{make([]byte, 16<<20)}}, "more than 1 elements"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newRecordScratch(schema).build(tc.req, 10)
			var in *InputError
			if !errors.As(err, &in) || !strings.Contains(err.Error(), tc.contains) {
				t.Fatalf("err = %v, want an InputError containing %q", err, tc.contains)
			}
		})
	}
}

// TestTransientLoadFailureIsRetried: a network error while loading is not
// remembered; the next refresh loads the version.
func TestTransientLoadFailureIsRetried(t *testing.T) {
	l := &fakeLoader{champion: "flaky"}
	e, _ := NewEngine(l, []ModelRef{{Name: "ctr"}})
	ctx := context.Background()
	if err := e.Refresh(ctx, "ctr"); err == nil {
		t.Fatal("the first, failing load was accepted")
	}
	if err := e.Refresh(ctx, "ctr"); err != nil {
		t.Fatalf("second refresh after a transient failure: %v", err)
	}
	if e.Served("ctr") != "flaky" {
		t.Errorf("served %q", e.Served("ctr"))
	}
}

// TestLateRefreshCannotGoBackwards: a poll that resolved an older version
// before an announcement swapped in a newer one must not swap the older one
// back, because resolving happens under the load lock.
func TestLateRefreshCannotGoBackwards(t *testing.T) {
	l := &fakeLoader{champion: "1"}
	e, _ := NewEngine(l, []ModelRef{{Name: "ctr"}})
	ctx := context.Background()
	if err := e.Refresh(ctx, "ctr"); err != nil {
		t.Fatal(err)
	}
	l.setChampion("3")
	if err := e.Offer(ctx, "ctr", "champion"); err != nil {
		t.Fatal(err)
	}
	// A refresh that runs now (a poll that looked earlier) reads the
	// registry again, so it cannot serve anything older.
	if err := e.Refresh(ctx, "ctr"); err != nil || e.Served("ctr") != "3" {
		t.Fatalf("after the announcement and a poll: served %q, %v; want 3", e.Served("ctr"), err)
	}
}

// mustScores returns the "score" output of resp.
func mustScores(t testing.TB, resp *pb.ModelInferResponse) []float64 {
	t.Helper()
	s, err := OutputFP64(resp, "score")
	if err != nil {
		t.Fatal(err)
	}
	return s
}
