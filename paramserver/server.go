package paramserver

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"time"

	pb "github.com/lakestream/lakestream/api/paramserver"
	"github.com/lakestream/lakestream/internal/guard"
	"github.com/lakestream/lakestream/lake"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/status"
)

// DefaultMaxMsgBytes is the default gRPC message-size limit of servers and
// clients; clients split requests so that they stay below it.
const DefaultMaxMsgBytes = 64 << 20

// DefaultMaxKeysPerCall is the default limit on the keys of one call (pushed
// and pulled, over all of an Exchange's sections); clients split requests so
// that they stay below it.
const DefaultMaxKeysPerCall = 1 << 20

// ServerConfig configures a shard server.
type ServerConfig struct {
	// Store holds the shard's tables. Required.
	Store *Local
	// Clocks is the job's clock table, kept by one shard (shard 0 by
	// convention). Nil makes Join, Clock and Leave fail with
	// FailedPrecondition.
	Clocks *Clocks
	// Consistency is the job's consistency model, which Info reports on
	// every shard (Clocks' own configuration wins where it is set), so a
	// client can check that all shards agree. An empty Mode here means not
	// stated: Info then reports none unless Clocks is set.
	Consistency ConsistencyConfig
	// Coordinator, when set, is served as the Coordinator service on the
	// same port (shard 0 by convention).
	Coordinator *Coordinator
	// StreamCoordinator, when set, is served as the StreamCoordinator
	// service.
	StreamCoordinator *StreamCoordinator
	// Lake and SnapshotPrefix say where Snapshot and Restore read and write:
	// <SnapshotPrefix>/<name>/shard-<i>-of-<n>.pssnap. A nil Lake makes them
	// fail with FailedPrecondition.
	Lake           lake.Store
	SnapshotPrefix string
	// Token, when set, is required on every call (see auth.go).
	Token string
	// TLS, when set, serves TLS with this configuration.
	TLS *tls.Config
	// MaxMsgBytes limits received and sent messages; 0 means
	// DefaultMaxMsgBytes.
	MaxMsgBytes int
	// MaxKeysPerCall limits the keys of one call, counted before they are
	// decoded (ResourceExhausted, ErrTooManyKeys, above it); 0 means
	// DefaultMaxKeysPerCall.
	MaxKeysPerCall int
	// ExpireEvery, when positive, runs Store.Expire at this period.
	ExpireEvery time.Duration
	// Logger receives operational messages; nil means slog.Default().
	Logger *slog.Logger
}

// Server serves one shard's tables over gRPC (service
// lakestream.paramserver.v1.ParamServer).
type Server struct {
	pb.UnimplementedParamServerServer
	cfg      ServerConfig
	instance uint64    // random per process; see InfoResponse.instance
	scratch  sync.Pool // *serverScratch
	snapMu   sync.Mutex
}

type serverScratch struct {
	keys  []uint64
	keys2 []uint64
	vals  []float32

	// Exchange's sections: names, and views into keys (pushes), vals
	// (grads) and keys2 (pulls). The views are built after decoding, from
	// where each section ends (pushEnds: key and value end pairs;
	// pullKeyEnds, and pullEnds in the response buffer), because the
	// backing slices may move while they grow.
	pushNames, pullNames  []string
	pushKeys, pullKeys    [][]uint64
	pushVals, pullVals    [][]float32
	pullTrained           []bool
	pushEnds              []int
	pullKeyEnds, pullEnds []int
}

// release drops the scratch's references to a request before it goes back
// to the pool.
func (sc *serverScratch) release() {
	clear(sc.pushNames)
	clear(sc.pullNames)
	clear(sc.pullVals)
}

// NewServer validates cfg and returns a server.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("paramserver: ServerConfig.Store is nil")
	}
	if cfg.MaxMsgBytes == 0 {
		cfg.MaxMsgBytes = DefaultMaxMsgBytes
	}
	if cfg.MaxMsgBytes < 1<<16 {
		return nil, fmt.Errorf("paramserver: MaxMsgBytes %d is below 64 KiB", cfg.MaxMsgBytes)
	}
	if cfg.MaxKeysPerCall == 0 {
		cfg.MaxKeysPerCall = DefaultMaxKeysPerCall
	}
	if cfg.MaxKeysPerCall < 0 {
		return nil, fmt.Errorf("paramserver: MaxKeysPerCall %d is negative", cfg.MaxKeysPerCall)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, instance: binary.LittleEndian.Uint64(id[:])}
	s.scratch.New = func() any { return new(serverScratch) }
	return s, nil
}

// GRPCServer returns a gRPC server with the shard service registered and the
// configured limits, TLS and token check installed.
func (s *Server) GRPCServer() *grpc.Server {
	pool, err := wireBufferPool()
	if err != nil {
		panic(err) // fixed tiers: a failure is a programming error
	}
	opts := []grpc.ServerOption{
		// The fine-tiered pool the Client uses too (see wireBufferPool):
		// with gRPC's default, every request of 32 KiB–1 MiB (a pipelined
		// Exchange at batch 1024) had 1 MiB zeroed when it was read.
		experimental.BufferPool(pool),
		grpc.MaxRecvMsgSize(s.cfg.MaxMsgBytes),
		grpc.MaxSendMsgSize(s.cfg.MaxMsgBytes),
		// Long-lived handler goroutines instead of one new goroutine per
		// call, whose stack grows afresh every time: 15-20% off a loopback
		// round trip (BenchmarkStepLR, keys=1). When all are busy (Clock
		// calls wait on barriers) gRPC spawns a goroutine as before.
		grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))),
	}
	if s.cfg.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(s.cfg.TLS)))
	}
	if s.cfg.Token != "" {
		// Checked from the headers, before a message is read (see
		// internal/guard): an unauthenticated 32 MiB Exchange once took a
		// shard to 1.77 GB before it was refused.
		opts = append(opts, guard.New(guard.Config{Token: s.cfg.Token}).ServerOption())
	}
	g := grpc.NewServer(opts...)
	pb.RegisterParamServerServer(g, s)
	if s.cfg.Coordinator != nil {
		pb.RegisterCoordinatorServer(g, &coordinatorServer{co: s.cfg.Coordinator})
	}
	if s.cfg.StreamCoordinator != nil {
		pb.RegisterStreamCoordinatorServer(g, &streamCoordinatorServer{co: s.cfg.StreamCoordinator})
	}
	return g
}

// Serve serves on lis until ctx is done, then stops gracefully (in-flight
// calls finish; Clock calls blocked on a barrier are cancelled).
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	g := s.GRPCServer()
	errc := make(chan error, 1)
	go func() { errc <- g.Serve(lis) }()
	var tick <-chan time.Time
	if s.cfg.ExpireEvery > 0 {
		t := time.NewTicker(s.cfg.ExpireEvery)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case err := <-errc:
			return err
		case <-tick:
			n, err := s.cfg.Store.Expire(ctx)
			if err == nil && n > 0 {
				s.cfg.Logger.Info("expired rows", "rows", n)
			}
		case <-ctx.Done():
			stopped := make(chan struct{})
			go func() { g.GracefulStop(); close(stopped) }()
			select {
			case <-stopped:
			case <-time.After(5 * time.Second):
				g.Stop()
			}
			<-errc
			return nil
		}
	}
}

// toStatus maps package errors to gRPC status codes; fromStatus undoes it on
// the client so errors.Is keeps working across the wire.
func toStatus(err error) error {
	if err == nil {
		// Before kre, which escapes: the success path allocates nothing.
		return nil
	}
	var kre *KeyRangeError
	switch {
	case errors.Is(err, ErrNonFinite):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	case errors.Is(err, ErrUnknownTable):
		return status.Error(codes.NotFound, err.Error())
	case errors.As(err, &kre):
		return status.Error(codes.OutOfRange, err.Error())
	case errors.Is(err, ErrWorkerExpired), errors.Is(err, ErrFenced):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, ErrBadSnapshot), errors.Is(err, lake.ErrNotExist):
		return status.Error(codes.DataLoss, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

func (s *Server) spec(table string) (TableSpec, error) {
	spec, err := s.cfg.Store.Spec(table)
	return spec, toStatus(err)
}

func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, "paramserver: "+format, args...)
}

// checkKeys refuses a call whose fields hold more keys (8 bytes each) than
// the shard's per-call limit, before anything is decoded.
func (s *Server) checkKeys(op string, keyFields ...[]byte) error {
	n := 0
	for _, b := range keyFields {
		n += len(b) / 8
	}
	if n > s.cfg.MaxKeysPerCall {
		return status.Errorf(codes.ResourceExhausted, "%v: %s carries %d keys, above the shard's limit of %d: split the call",
			ErrTooManyKeys, op, n, s.cfg.MaxKeysPerCall)
	}
	return nil
}

// checkAnswer refuses a pull whose answer (values values of 4 bytes, and
// framing) would not fit in a message, before it is built.
func (s *Server) checkAnswer(op, table string, values int) error {
	if size := 4*values + 16; size > s.cfg.MaxMsgBytes {
		return status.Errorf(codes.ResourceExhausted,
			"paramserver: %s of table %q would answer %d bytes, above the shard's message limit of %d: split the pull over several calls",
			op, table, size, s.cfg.MaxMsgBytes)
	}
	return nil
}

func (s *Server) pull(ctx context.Context, op string, spec TableSpec, keys []uint64, trainedOnly bool) ([]byte, error) {
	if err := s.checkAnswer(op, spec.Name, len(keys)*spec.Width); err != nil {
		return nil, err
	}
	// vals escapes as the response's bytes, so it is not pooled.
	vals := make([]float32, len(keys)*spec.Width)
	if err := s.cfg.Store.pull(ctx, spec.Name, keys, vals, trainedOnly, nil); err != nil {
		return nil, toStatus(err)
	}
	return floatBytes(vals), nil
}

func (s *Server) push(ctx context.Context, sc *serverScratch, gen int64, spec TableSpec, keyBytes, gradBytes []byte) error {
	var err error
	sc.keys, err = decodeKeys(sc.keys[:0], keyBytes)
	if err != nil {
		return invalid("push %q: %v", spec.Name, err)
	}
	n := len(sc.keys) * spec.Width
	if cap(sc.vals) < n {
		sc.vals = make([]float32, n)
	}
	sc.vals = sc.vals[:n]
	if err := decodeFloats(sc.vals, gradBytes); err != nil {
		return invalid("push %q of width %d: %v", spec.Name, spec.Width, err)
	}
	return toStatus(s.cfg.Store.PushAt(ctx, gen, spec.Name, sc.keys, sc.vals))
}

// Pull implements the Pull RPC.
func (s *Server) Pull(ctx context.Context, req *pb.PullRequest) (*pb.PullResponse, error) {
	spec, err := s.spec(req.Table)
	if err != nil {
		return nil, err
	}
	if err := s.checkKeys("pull", req.Keys); err != nil {
		return nil, err
	}
	if err := s.checkAnswer("pull", req.Table, len(req.Keys)/8*spec.Width); err != nil {
		return nil, err
	}
	sc := s.scratch.Get().(*serverScratch)
	defer s.scratch.Put(sc)
	sc.keys, err = decodeKeys(sc.keys[:0], req.Keys)
	if err != nil {
		return nil, invalid("pull %q: %v", req.Table, err)
	}
	vals, err := s.pull(ctx, "pull", spec, sc.keys, req.TrainedOnly)
	if err != nil {
		return nil, err
	}
	return &pb.PullResponse{Values: vals}, nil
}

// Push implements the Push RPC.
func (s *Server) Push(ctx context.Context, req *pb.PushRequest) (*pb.PushResponse, error) {
	spec, err := s.spec(req.Table)
	if err != nil {
		return nil, err
	}
	if err := s.checkKeys("push", req.Keys); err != nil {
		return nil, err
	}
	sc := s.scratch.Get().(*serverScratch)
	defer s.scratch.Put(sc)
	if err := s.push(ctx, sc, req.Generation, spec, req.Keys, req.Grads); err != nil {
		return nil, err
	}
	return &pb.PushResponse{}, nil
}

// PushPull implements the PushPull RPC.
func (s *Server) PushPull(ctx context.Context, req *pb.PushPullRequest) (*pb.PullResponse, error) {
	spec, err := s.spec(req.Table)
	if err != nil {
		return nil, err
	}
	if err := s.checkKeys("push-pull", req.PushKeys, req.PullKeys); err != nil {
		return nil, err
	}
	// The answer is checked before the push applies, so a pull that could
	// not be answered changes nothing.
	if err := s.checkAnswer("push-pull", req.Table, len(req.PullKeys)/8*spec.Width); err != nil {
		return nil, err
	}
	sc := s.scratch.Get().(*serverScratch)
	defer s.scratch.Put(sc)
	if len(req.PushKeys) > 0 {
		if err := s.push(ctx, sc, req.Generation, spec, req.PushKeys, req.Grads); err != nil {
			return nil, err
		}
	}
	sc.keys2, err = decodeKeys(sc.keys2[:0], req.PullKeys)
	if err != nil {
		return nil, invalid("pull %q: %v", req.Table, err)
	}
	vals, err := s.pull(ctx, "push-pull", spec, sc.keys2, false)
	if err != nil {
		return nil, err
	}
	return &pb.PullResponse{Values: vals}, nil
}

// Exchange implements the Exchange RPC: every section is decoded and
// checked first, then the pushes are applied in order through the store's
// PushTables, then the pulls are read into one buffer that the response's
// fields share. It uses the same store methods as Push and Pull, so every
// consistency mode (a Deferred shard's accumulation included) behaves as
// with separate calls.
func (s *Server) Exchange(ctx context.Context, req *pb.ExchangeRequest) (*pb.ExchangeResponse, error) {
	n := 0
	for _, sec := range req.Pushes {
		n += len(sec.Keys) / 8
	}
	for _, sec := range req.Pulls {
		n += len(sec.Keys) / 8
	}
	if n > s.cfg.MaxKeysPerCall {
		return nil, status.Errorf(codes.ResourceExhausted, "%v: exchange carries %d keys, above the shard's limit of %d: split the call",
			ErrTooManyKeys, n, s.cfg.MaxKeysPerCall)
	}
	sc := s.scratch.Get().(*serverScratch)
	defer s.scratch.Put(sc)
	defer sc.release()
	if err := s.decodePushes(sc, req.Pushes); err != nil {
		return nil, err
	}
	total, err := s.decodePulls(sc, req.Pulls)
	if err != nil {
		return nil, err
	}
	resp := &pb.ExchangeResponse{}
	// vals escapes as the response's bytes, so it is not pooled; one
	// allocation serves every section.
	var vals []float32
	if total > 0 {
		vals = make([]float32, total)
	}
	if len(sc.pullNames) > 0 {
		resp.Values = make([][]byte, len(sc.pullNames))
	}
	lo := 0
	for i := range sc.pullNames {
		hi := sc.pullEnds[i]
		sc.pullVals[i] = vals[lo:hi:hi]
		resp.Values[i] = floatBytes(sc.pullVals[i])
		lo = hi
	}
	st := s.cfg.Store
	// A dense row out of range in a pull must fail before the pushes apply.
	if err := st.checkTables("pull", sc.pullNames, sc.pullKeys, sc.pullVals); err != nil {
		return nil, toStatus(err)
	}
	if len(sc.pushNames) > 0 {
		if err := st.PushTablesAt(ctx, req.Generation, sc.pushNames, sc.pushKeys, sc.pushVals); err != nil {
			return nil, toStatus(err)
		}
	}
	for i, name := range sc.pullNames {
		if err := st.pull(ctx, name, sc.pullKeys[i], sc.pullVals[i], sc.pullTrained[i], nil); err != nil {
			return nil, toStatus(err)
		}
	}
	return resp, nil
}

// sectionErr renames a table lookup's status error after the Exchange
// section that named the table.
func sectionErr(op string, i int, err error) error {
	st := status.Convert(err)
	return status.Errorf(st.Code(), "paramserver: exchange %s section %d: %s", op, i, st.Message())
}

// decodePushes decodes and checks Exchange's push sections into sc: keys
// and grads are appended to sc.keys and sc.vals, and sc.pushKeys and
// sc.pushVals are views of them, built once the appends are done.
func (s *Server) decodePushes(sc *serverScratch, secs []*pb.TablePush) error {
	sc.keys, sc.vals, sc.pushEnds = sc.keys[:0], sc.vals[:0], sc.pushEnds[:0]
	sc.pushNames = sc.pushNames[:0]
	for i, sec := range secs {
		spec, err := s.spec(sec.Table)
		if err != nil {
			return sectionErr("push", i, err)
		}
		k0 := len(sc.keys)
		if sc.keys, err = decodeKeys(sc.keys, sec.Keys); err != nil {
			return invalid("exchange push section %d (table %q): %v", i, sec.Table, err)
		}
		nk := len(sc.keys) - k0
		n := nk * spec.Width
		if len(sec.Grads) != 4*n {
			return invalid("exchange push section %d (table %q of width %d): grads field has %d bytes, want %d (4 × width × %d keys)",
				i, sec.Table, spec.Width, len(sec.Grads), 4*n, nk)
		}
		v0 := len(sc.vals)
		sc.vals = growFloats(sc.vals, n)
		if err := decodeFloats(sc.vals[v0:], sec.Grads); err != nil {
			return invalid("exchange push section %d (table %q): %v", i, sec.Table, err)
		}
		sc.pushNames = append(sc.pushNames, sec.Table)
		sc.pushEnds = append(sc.pushEnds, len(sc.keys), len(sc.vals))
	}
	sc.pushKeys, sc.pushVals = sc.pushKeys[:0], sc.pushVals[:0]
	k0, v0 := 0, 0
	for i := range sc.pushNames {
		k1, v1 := sc.pushEnds[2*i], sc.pushEnds[2*i+1]
		sc.pushKeys = append(sc.pushKeys, sc.keys[k0:k1:k1])
		sc.pushVals = append(sc.pushVals, sc.vals[v0:v1:v1])
		k0, v0 = k1, v1
	}
	return nil
}

// decodePulls decodes and checks Exchange's pull sections into sc (keys
// appended to sc.keys2, sc.pullKeys its views) and returns how many values
// they read; sc.pullEnds[i] is where section i's values end in the response
// buffer, which Exchange points sc.pullVals into. It refuses pulls whose
// answer would not fit in a message.
func (s *Server) decodePulls(sc *serverScratch, secs []*pb.TablePull) (int, error) {
	sc.keys2, sc.pullEnds, sc.pullKeyEnds = sc.keys2[:0], sc.pullEnds[:0], sc.pullKeyEnds[:0]
	sc.pullNames, sc.pullTrained = sc.pullNames[:0], sc.pullTrained[:0]
	total, size := 0, 0
	for i, sec := range secs {
		spec, err := s.spec(sec.Table)
		if err != nil {
			return 0, sectionErr("pull", i, err)
		}
		k0 := len(sc.keys2)
		if sc.keys2, err = decodeKeys(sc.keys2, sec.Keys); err != nil {
			return 0, invalid("exchange pull section %d (table %q): %v", i, sec.Table, err)
		}
		total += (len(sc.keys2) - k0) * spec.Width
		// Each values field costs its payload, a tag byte and a length of
		// at most 5 bytes.
		size += 4*(len(sc.keys2)-k0)*spec.Width + 6
		if size > s.cfg.MaxMsgBytes {
			return 0, status.Errorf(codes.ResourceExhausted,
				"paramserver: exchange pull section %d (table %q) brings the answer to %d bytes, above the shard's message limit of %d: split the pulls over several calls",
				i, sec.Table, size, s.cfg.MaxMsgBytes)
		}
		sc.pullNames = append(sc.pullNames, sec.Table)
		sc.pullTrained = append(sc.pullTrained, sec.TrainedOnly)
		sc.pullEnds = append(sc.pullEnds, total)
		sc.pullKeyEnds = append(sc.pullKeyEnds, len(sc.keys2))
	}
	sc.pullKeys, sc.pullVals = sc.pullKeys[:0], sc.pullVals[:0]
	k0 := 0
	for _, k1 := range sc.pullKeyEnds {
		sc.pullKeys = append(sc.pullKeys, sc.keys2[k0:k1:k1])
		sc.pullVals = append(sc.pullVals, nil) // set by Exchange
		k0 = k1
	}
	return total, nil
}

func (s *Server) clocks() (*Clocks, error) {
	if s.cfg.Clocks == nil {
		return nil, status.Errorf(codes.FailedPrecondition, "paramserver: shard %d does not keep the job's clocks (shard 0 does)", s.cfg.Store.cfg.Shard)
	}
	return s.cfg.Clocks, nil
}

// Join implements the Join RPC.
func (s *Server) Join(ctx context.Context, req *pb.JoinRequest) (*pb.JoinResponse, error) {
	c, err := s.clocks()
	if err != nil {
		return nil, err
	}
	if req.Worker == "" {
		return nil, invalid("join: empty worker name")
	}
	return &pb.JoinResponse{Clock: c.Join(req.Worker)}, nil
}

// Clock implements the Clock RPC.
func (s *Server) Clock(ctx context.Context, req *pb.ClockRequest) (*pb.ClockResponse, error) {
	c, err := s.clocks()
	if err != nil {
		return nil, err
	}
	m, err := c.Advance(ctx, req.Worker, req.Clock)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.ClockResponse{MinClock: m}, nil
}

// Flush implements the Flush RPC.
func (s *Server) Flush(ctx context.Context, req *pb.FlushRequest) (*pb.FlushResponse, error) {
	if err := s.cfg.Store.Flush(ctx, req.Clock); err != nil {
		return nil, toStatus(err)
	}
	return &pb.FlushResponse{}, nil
}

// Leave implements the Leave RPC.
func (s *Server) Leave(ctx context.Context, req *pb.LeaveRequest) (*pb.LeaveResponse, error) {
	c, err := s.clocks()
	if err != nil {
		return nil, err
	}
	c.Leave(req.Worker)
	return &pb.LeaveResponse{}, nil
}

// SnapshotKey returns the lake key of shard's snapshot in checkpoint name.
func SnapshotKey(prefix, name string, shard, shards int) string {
	key := fmt.Sprintf("%s/shard-%d-of-%d.pssnap", name, shard, max(shards, 1))
	if p := strings.TrimSuffix(prefix, "/"); p != "" {
		key = p + "/" + key
	}
	return key
}

func (s *Server) snapshotKey(name string) (string, error) {
	if s.cfg.Lake == nil {
		return "", status.Error(codes.FailedPrecondition, "paramserver: shard has no lake to snapshot to (flag --lake)")
	}
	if name == "" || strings.ContainsAny(name, "/\\") || name == "." || name == ".." {
		return "", invalid("snapshot name %q must be a non-empty path element", name)
	}
	c := s.cfg.Store.cfg
	return SnapshotKey(s.cfg.SnapshotPrefix, name, c.Shard, c.Shards), nil
}

// Snapshot implements the Snapshot RPC.
func (s *Server) Snapshot(ctx context.Context, req *pb.SnapshotRequest) (*pb.SnapshotResponse, error) {
	key, err := s.snapshotKey(req.Name)
	if err != nil {
		return nil, err
	}
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	// A checkpoint holds every gradient pushed before it. Rows whose update
	// was refused kept their values, so the tables are still whole.
	if err := s.cfg.Store.Flush(ctx, -1); errors.Is(err, ErrNonFinite) {
		s.cfg.Logger.Warn("flush before snapshot refused updates", "err", err)
	} else if err != nil {
		return nil, toStatus(err)
	}
	if err := s.cfg.Store.SaveSnapshot(ctx, s.cfg.Lake, key); err != nil {
		return nil, toStatus(err)
	}
	info, err := s.cfg.Lake.Stat(ctx, key)
	if err != nil {
		return nil, toStatus(err)
	}
	s.cfg.Logger.Info("snapshot written", "key", key, "bytes", info.Size)
	return &pb.SnapshotResponse{Key: key, Bytes: info.Size}, nil
}

// Restore implements the Restore RPC.
func (s *Server) Restore(ctx context.Context, req *pb.RestoreRequest) (*pb.RestoreResponse, error) {
	key, err := s.snapshotKey(req.Name)
	if err != nil {
		return nil, err
	}
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	if err := s.cfg.Store.LoadSnapshot(ctx, s.cfg.Lake, key); err != nil {
		return nil, toStatus(err)
	}
	s.cfg.Logger.Info("snapshot restored", "key", key)
	return &pb.RestoreResponse{Key: key}, nil
}

// Fence implements the Fence RPC: it raises the store's fence (Local.Fence)
// under the snapshot lock, so it never interleaves with a restore.
func (s *Server) Fence(ctx context.Context, req *pb.FenceRequest) (*pb.FenceResponse, error) {
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	before := s.cfg.Store.Fenced()
	g := s.cfg.Store.Fence(req.Generation)
	if g > before {
		s.cfg.Logger.Info("push fence raised", "generation", g)
	}
	return &pb.FenceResponse{Generation: g}, nil
}

// Info implements the Info RPC.
func (s *Server) Info(ctx context.Context, _ *pb.InfoRequest) (*pb.InfoResponse, error) {
	c := s.cfg.Store.cfg
	resp := &pb.InfoResponse{Shard: int32(c.Shard), Shards: int32(max(c.Shards, 1)), Instance: s.instance}
	for _, t := range s.cfg.Store.Tables() {
		n, _ := s.cfg.Store.Len(t.Name)
		resp.Tables = append(resp.Tables, &pb.TableInfo{Name: t.Name, Width: int32(t.Width), Dense: t.Dense, Rows: int64(n), Optimizer: t.Optimizer.Name})
	}
	switch cc := s.cfg.Consistency; {
	case s.cfg.Clocks != nil:
		cc = s.cfg.Clocks.Config()
		resp.Consistency, resp.Staleness = cmp.Or(cc.Mode, Sync), cc.Staleness
	case cc.Mode != "":
		resp.Consistency, resp.Staleness = cc.Mode, cc.Staleness
	}
	return resp, nil
}
