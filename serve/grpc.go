package serve

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	pb "github.com/lakestream/lakestream/api/inference"
	"github.com/lakestream/lakestream/internal/guard"
	"github.com/lakestream/lakestream/train/feature"
)

// ServerConfig configures the gRPC service.
type ServerConfig struct {
	// Name and Version are reported by ServerMetadata.
	Name, Version string
	// MaxBatch bounds the rows of one request, and so the values of each of
	// its tensors. Default 4096.
	MaxBatch int
	// MaxRequestBytes bounds a request message. Default 16 MiB.
	MaxRequestBytes int
	// MaxInFlight bounds the calls admitted at once, across connections;
	// beyond it a call gets ResourceExhausted before its message is read.
	// Received messages thus hold at most MaxInFlight × MaxRequestBytes.
	// Default 64.
	MaxInFlight int
	// Token, when set, must be sent as "authorization: Bearer <token>" on
	// every call except health Check and Watch. It is checked from the
	// headers, before the message is read.
	Token string
}

// DefaultServerConfig returns the defaults described on ServerConfig.
func DefaultServerConfig() ServerConfig {
	return ServerConfig{Name: "lakestream-predictor", MaxBatch: 4096, MaxRequestBytes: 16 << 20, MaxInFlight: 64}
}

// Service implements inference.GRPCInferenceService over an Engine.
type Service struct {
	pb.UnimplementedGRPCInferenceServiceServer
	engine *Engine
	cfg    ServerConfig
	health *health.Server
	guard  *guard.Guard
	// decodeErrs holds, by request message, why inferCodec refused to
	// decode it; the first interceptor answers with it (see codec.go).
	decodeErrs sync.Map
}

// Health methods open to callers without the token: probes. List, which
// names every served model, needs the token.
var openMethods = []string{"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch"}

// NewService returns the inference service for e.
func NewService(e *Engine, cfg ServerConfig) *Service {
	def := DefaultServerConfig()
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = def.MaxBatch
	}
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = def.MaxRequestBytes
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = def.MaxInFlight
	}
	g := guard.New(guard.Config{
		Token: cfg.Token, Open: openMethods, MaxInFlight: cfg.MaxInFlight,
		Unbounded: []string{"/grpc.health.v1.Health/Watch", "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"},
	})
	return &Service{engine: e, cfg: cfg, health: health.NewServer(), guard: g}
}

// Register adds the inference service, gRPC health checking and server
// reflection to s. Health reports NOT_SERVING until every model is loaded;
// call UpdateHealth after loads (the Watcher does).
func (s *Service) Register(gs *grpc.Server) {
	pb.RegisterGRPCInferenceServiceServer(gs, s)
	healthpb.RegisterHealthServer(gs, s.health)
	reflection.Register(gs)
	s.UpdateHealth()
}

// UpdateHealth sets the health status of the server ("") and of each model
// from what is loaded now.
func (s *Service) UpdateHealth() {
	overall := healthpb.HealthCheckResponse_SERVING
	for _, name := range s.engine.Models() {
		st := healthpb.HealthCheckResponse_SERVING
		if s.engine.Served(name) == "" {
			st, overall = healthpb.HealthCheckResponse_NOT_SERVING, healthpb.HealthCheckResponse_NOT_SERVING
		}
		s.health.SetServingStatus(name, st)
	}
	s.health.SetServingStatus("", overall)
	s.health.SetServingStatus("inference.GRPCInferenceService", overall)
}

// Refused returns how many requests, gRPC and HTTP, were refused so far
// because MaxInFlight requests were in flight.
func (s *Service) Refused() int64 { return s.guard.Refused() }

// Shutdown marks every service NOT_SERVING and ends health Watch streams,
// so a graceful stop does not wait for probes that never hang up.
func (s *Service) Shutdown() { s.health.Shutdown() }

// ServerOptions returns the grpc.ServerOptions the service's limits and
// authentication need; pass them to grpc.NewServer with any TLS option.
// The token and the in-flight budget are checked from the headers (a tap
// handle), request messages are bounded on the wire before they are
// decoded (inferCodec), a connection opens at most MaxInFlight+16
// streams, and MaxInFlight stream workers serve the calls.
func (s *Service) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(s.cfg.MaxRequestBytes),
		// Above MaxInFlight, so that a client multiplexing on one
		// connection is refused at once by the budget rather than queued
		// on its side by HTTP/2 stream credit.
		grpc.MaxConcurrentStreams(uint32(s.cfg.MaxInFlight + 16)),
		s.guard.ServerOption(),
		// Calls run on long-lived workers instead of a new goroutine
		// each: a new goroutine grew its stack on every call (10% of the
		// CPU of a batch-1 loop). When every worker is busy gRPC starts a
		// goroutine as before, so this bounds nothing.
		grpc.NumStreamWorkers(uint32(s.cfg.MaxInFlight)),
		grpc.ForceServerCodecV2(inferCodec{s: s}),
		grpc.ChainUnaryInterceptor(s.decodeCheck),
	}
}

// ServerLive implements the OIP liveness check.
func (s *Service) ServerLive(context.Context, *pb.ServerLiveRequest) (*pb.ServerLiveResponse, error) {
	return &pb.ServerLiveResponse{Live: true}, nil
}

// ServerReady reports whether every model has a version loaded.
func (s *Service) ServerReady(context.Context, *pb.ServerReadyRequest) (*pb.ServerReadyResponse, error) {
	return &pb.ServerReadyResponse{Ready: s.engine.Ready()}, nil
}

// ModelReady reports whether the model serves a version (the given one, if
// set).
func (s *Service) ModelReady(_ context.Context, req *pb.ModelReadyRequest) (*pb.ModelReadyResponse, error) {
	if req.Name == "" {
		return nil, s.emptyName()
	}
	name, topN := topNName(req.Name)
	if _, ok := s.engine.Ref(name); !ok {
		return nil, status.Errorf(codes.NotFound, "model %q is not served (served: %v)", req.Name, s.engine.Models())
	}
	if topN {
		v, err := s.engine.acquire(name)
		if err != nil {
			return &pb.ModelReadyResponse{}, nil
		}
		defer v.release()
		_, _, _, err = recommenderOf(v)
		return &pb.ModelReadyResponse{Ready: err == nil && (req.Version == "" || req.Version == v.version)}, nil
	}
	served := s.engine.Served(name)
	return &pb.ModelReadyResponse{Ready: served != "" && (req.Version == "" || req.Version == served)}, nil
}

// ServerMetadata implements the OIP server metadata call.
func (s *Service) ServerMetadata(context.Context, *pb.ServerMetadataRequest) (*pb.ServerMetadataResponse, error) {
	return &pb.ServerMetadataResponse{Name: s.cfg.Name, Version: s.cfg.Version}, nil
}

// ModelMetadata describes the served version's inputs and output.
func (s *Service) ModelMetadata(_ context.Context, req *pb.ModelMetadataRequest) (*pb.ModelMetadataResponse, error) {
	if req.Name == "" {
		return nil, s.emptyName()
	}
	name, topN := topNName(req.Name)
	v, err := s.engine.acquire(name)
	if err != nil {
		return nil, grpcError(err)
	}
	defer v.release()
	if req.Version != "" && req.Version != v.version {
		return nil, status.Errorf(codes.NotFound, "model %s serves version %s, not %s", req.Name, v.version, req.Version)
	}
	if topN {
		return topNMetadata(v, req.Name)
	}
	resp := &pb.ModelMetadataResponse{Name: req.Name, Versions: []string{v.version}, Platform: "lakestream"}
	for _, f := range v.model.Schema().Fields() {
		resp.Inputs = append(resp.Inputs, &pb.ModelMetadataResponse_TensorMetadata{Name: f.Name, Datatype: oipType(f.Type), Shape: []int64{-1}})
	}
	shape := []int64{-1}
	if n := v.model.Outputs(); n > 1 {
		shape = []int64{-1, int64(n)}
	}
	resp.Outputs = []*pb.ModelMetadataResponse_TensorMetadata{{Name: "score", Datatype: "FP64", Shape: shape}}
	return resp, nil
}

// ModelInfer scores a batch with the version served when the request
// arrived; the response names that version. Scores are returned as Triton
// does, in raw_output_contents (little-endian FP64), not in contents.
func (s *Service) ModelInfer(ctx context.Context, req *pb.ModelInferRequest) (resp *pb.ModelInferResponse, err error) {
	start := time.Now()
	version, rows, label := "", 0, req.ModelName
	defer func() {
		s.engine.metrics.request(label, version, status.Code(err).String(), time.Since(start), rows)
	}()
	name, topN := topNName(req.ModelName)
	if _, ok := s.engine.Ref(name); !ok {
		label = "_unknown" // client-chosen names must not grow the metric's label set
	}
	if req.ModelName == "" {
		return nil, s.emptyName()
	}
	if topN {
		v, err := s.engine.acquire(name)
		if err != nil {
			return nil, grpcError(err)
		}
		defer v.release()
		version, rows = v.version, 1
		if req.ModelVersion != "" && req.ModelVersion != v.version {
			return nil, status.Errorf(codes.FailedPrecondition, "model %s serves version %s, not the requested %s", name, v.version, req.ModelVersion)
		}
		return s.topNInfer(req, v, req.ModelName)
	}
	for _, o := range req.Outputs {
		if o.Name != "score" {
			return nil, status.Errorf(codes.InvalidArgument, "unknown output %q requested: the model has one output, \"score\"", o.Name)
		}
	}
	v, err := s.engine.acquire(req.ModelName)
	if err != nil {
		return nil, grpcError(err)
	}
	defer v.release()
	version = v.version
	if req.ModelVersion != "" && req.ModelVersion != v.version {
		return nil, status.Errorf(codes.FailedPrecondition, "model %s serves version %s, not the requested %s", req.ModelName, v.version, req.ModelVersion)
	}
	sc := v.getScratch()
	defer v.putScratch(sc)
	rec, err := sc.build(req, s.cfg.MaxBatch)
	if err != nil {
		return nil, grpcError(err)
	}
	rows = int(rec.NumRows())
	outs := v.model.Outputs()
	sc.scores = grow(sc.scores, rows*outs)
	if err := v.model.Score(rec, sc.scores); err != nil {
		return nil, grpcError(err)
	}
	r := new(inferResponse)
	r.shape[0], r.shape[1] = int64(rows), int64(outs)
	r.out = pb.ModelInferResponse_InferOutputTensor{Name: "score", Datatype: "FP64", Shape: r.shape[:1]}
	if outs > 1 {
		r.out.Shape = r.shape[:2]
	}
	raw := make([]byte, 8*len(sc.scores))
	for i, f := range sc.scores {
		binary.LittleEndian.PutUint64(raw[8*i:], math.Float64bits(f))
	}
	r.outs[0], r.raws[0] = &r.out, raw
	r.resp.ModelName, r.resp.ModelVersion, r.resp.Id = req.ModelName, v.version, req.Id
	r.resp.Parameters = v.params // read only, shared by the version's responses
	r.resp.Outputs, r.resp.RawOutputContents = r.outs[:], r.raws[:]
	return &r.resp, nil
}

// inferResponse is a ModelInferResponse with its one output tensor in one
// allocation.
type inferResponse struct {
	resp  pb.ModelInferResponse
	out   pb.ModelInferResponse_InferOutputTensor
	outs  [1]*pb.ModelInferResponse_InferOutputTensor
	raws  [1][]byte
	shape [2]int64
}

// emptyName is the error of a request that names no model.
func (s *Service) emptyName() error {
	return status.Errorf(codes.InvalidArgument, "model name is empty: name one of %v", s.engine.Models())
}

func grpcError(err error) error {
	var in *InputError
	var bad *feature.ValueError
	switch {
	case errors.As(err, &in), errors.As(err, &bad):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, ErrUnknownModel):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, ErrNotReady):
		return status.Error(codes.Unavailable, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

// oipType names the OIP datatype a client should send for an Arrow type.
func oipType(t arrow.DataType) string {
	switch t.ID() {
	case arrow.STRING, arrow.LARGE_STRING, arrow.BINARY, arrow.LARGE_BINARY:
		return "BYTES"
	case arrow.BOOL:
		return "BOOL"
	case arrow.INT8:
		return "INT8"
	case arrow.INT16:
		return "INT16"
	case arrow.INT32, arrow.DATE32:
		return "INT32"
	case arrow.INT64, arrow.TIMESTAMP:
		return "INT64"
	case arrow.UINT8:
		return "UINT8"
	case arrow.UINT16:
		return "UINT16"
	case arrow.UINT32:
		return "UINT32"
	case arrow.UINT64:
		return "UINT64"
	case arrow.FLOAT32:
		return "FP32"
	}
	return "FP64"
}

// OutputFP64 returns the values of the FP64 output tensor name of resp,
// from raw_output_contents (as this server and Triton send them) or from
// typed contents.
func OutputFP64(resp *pb.ModelInferResponse, name string) ([]float64, error) {
	for i, o := range resp.Outputs {
		if o.Name != name {
			continue
		}
		if o.Datatype != "FP64" {
			return nil, fmt.Errorf("output %q is %s, not FP64", name, o.Datatype)
		}
		if len(resp.RawOutputContents) == 0 {
			if o.Contents == nil {
				return nil, nil
			}
			return o.Contents.Fp64Contents, nil
		}
		if i >= len(resp.RawOutputContents) || len(resp.RawOutputContents[i])%8 != 0 {
			return nil, fmt.Errorf("output %q: no whole raw FP64 contents", name)
		}
		raw := resp.RawOutputContents[i]
		out := make([]float64, len(raw)/8)
		for j := range out {
			out[j] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*j:]))
		}
		return out, nil
	}
	return nil, fmt.Errorf("response has no output %q", name)
}
