package paramserver

import (
	"context"
	"errors"
	"fmt"
	"time"

	pb "github.com/lakestream/lakestream/api/paramserver"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// coordinatorServer exposes a Coordinator as the Coordinator gRPC service.
type coordinatorServer struct {
	pb.UnimplementedCoordinatorServer
	co *Coordinator
}

func coordStatus(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrLeaseLost):
		return status.Error(codes.Aborted, err.Error())
	case errors.Is(err, ErrWorkerExpired):
		return status.Error(codes.FailedPrecondition, err.Error())
	}
	return status.Error(codes.InvalidArgument, err.Error())
}

func (s *coordinatorServer) Register(_ context.Context, r *pb.RegisterRequest) (*pb.RegisterResponse, error) {
	if err := s.co.Register(r.Worker, int(r.Splits)); err != nil {
		return nil, coordStatus(err)
	}
	return &pb.RegisterResponse{Workers: int32(s.co.cfg.Workers)}, nil
}

func (s *coordinatorServer) Acquire(_ context.Context, r *pb.AcquireRequest) (*pb.AcquireResponse, error) {
	a, err := s.co.Acquire(r.Worker)
	if err != nil {
		return nil, coordStatus(err)
	}
	return &pb.AcquireResponse{State: pb.AcquireResponse_State(a.State), Split: int64(a.Split), Epoch: int64(a.Epoch),
		SkipRows: a.SkipRows, Generation: a.Generation}, nil
}

func (s *coordinatorServer) Progress(_ context.Context, r *pb.ProgressRequest) (*pb.ProgressResponse, error) {
	return &pb.ProgressResponse{}, coordStatus(s.co.Progress(r.Worker, int(r.Split), r.Generation, r.Rows))
}

func (s *coordinatorServer) Complete(_ context.Context, r *pb.CompleteRequest) (*pb.CompleteResponse, error) {
	return &pb.CompleteResponse{}, coordStatus(s.co.Complete(r.Worker, int(r.Split), r.Generation))
}

func (s *coordinatorServer) Fail(_ context.Context, r *pb.FailRequest) (*pb.FailResponse, error) {
	return &pb.FailResponse{}, coordStatus(s.co.Fail(r.Worker, int(r.Split), r.Generation, r.ShardLost, r.Reason))
}

func (s *coordinatorServer) Heartbeat(_ context.Context, r *pb.HeartbeatRequest) (*pb.HeartbeatResponse, error) {
	return &pb.HeartbeatResponse{}, coordStatus(s.co.Heartbeat(r.Worker))
}

func (s *coordinatorServer) Status(context.Context, *pb.StatusRequest) (*pb.StatusResponse, error) {
	st := s.co.Status()
	resp := &pb.StatusResponse{Epoch: int64(st.Epoch), Splits: int64(st.Splits), DoneSplits: int64(st.DoneSplits),
		Finished: st.Finished, Generation: st.Generation, Workers: int64(st.Workers), Checkpoints: int64(st.Checkpoints),
		LastCheckpoint: st.LastCheckpoint, Owners: st.Owners, Rows: st.Rows}
	for _, n := range st.Trained {
		resp.Trained = append(resp.Trained, int64(n))
	}
	return resp, nil
}

// CoordinatorClient is a worker's connection to the coordinator.
type CoordinatorClient struct {
	conn    *grpc.ClientConn
	stub    pb.CoordinatorClient
	timeout time.Duration
}

// DialCoordinator connects to the coordinator at addr with the same
// security settings as the shards (cfg.Shards is ignored).
func DialCoordinator(addr string, cfg ClientConfig) (*CoordinatorClient, error) {
	var opts []grpc.DialOption
	if cfg.TLS != nil {
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(cfg.TLS)))
	} else {
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	if cfg.Token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(tokenCredentials{token: cfg.Token, secure: cfg.TLS != nil}))
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("paramserver: coordinator %s: %w", addr, err)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	return &CoordinatorClient{conn: conn, stub: pb.NewCoordinatorClient(conn), timeout: cfg.Timeout}, nil
}

// Close closes the connection.
func (c *CoordinatorClient) Close() error { return c.conn.Close() }

func (c *CoordinatorClient) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.timeout)
}

func coordErr(op string, err error) error {
	if err == nil {
		return nil
	}
	st, _ := status.FromError(err)
	switch st.Code() {
	case codes.Aborted:
		return fmt.Errorf("coordinator %s: %w (%s)", op, ErrLeaseLost, st.Message())
	case codes.FailedPrecondition:
		return fmt.Errorf("coordinator %s: %w (%s)", op, ErrWorkerExpired, st.Message())
	case codes.Unauthenticated:
		return fmt.Errorf("coordinator %s: %w (%s)", op, ErrUnauthenticated, st.Message())
	}
	return fmt.Errorf("coordinator %s: %w", op, err)
}

// Register announces the worker and the number of splits it planned, and
// returns the job's start quorum (CoordinatorConfig.Workers, 0 if none). It
// waits for the coordinator to be reachable.
func (c *CoordinatorClient) Register(ctx context.Context, worker string, splits int) (quorum int, err error) {
	cctx, cancel := c.ctx(ctx)
	defer cancel()
	r, err := c.stub.Register(cctx, &pb.RegisterRequest{Worker: worker, Splits: int64(splits)}, grpc.WaitForReady(true))
	if err != nil {
		return 0, coordErr("register", err)
	}
	return int(r.Workers), nil
}

// Acquire asks for work.
func (c *CoordinatorClient) Acquire(ctx context.Context, worker string) (Assignment, error) {
	cctx, cancel := c.ctx(ctx)
	defer cancel()
	r, err := c.stub.Acquire(cctx, &pb.AcquireRequest{Worker: worker})
	if err != nil {
		return Assignment{}, coordErr("acquire", err)
	}
	return Assignment{State: AssignmentState(r.State), Split: int(r.Split), Epoch: int(r.Epoch), SkipRows: r.SkipRows, Generation: r.Generation}, nil
}

// Progress records the rows of the split about to be pushed.
func (c *CoordinatorClient) Progress(ctx context.Context, worker string, a Assignment, rows int64) error {
	cctx, cancel := c.ctx(ctx)
	defer cancel()
	_, err := c.stub.Progress(cctx, &pb.ProgressRequest{Worker: worker, Split: int64(a.Split), Generation: a.Generation, Rows: rows})
	return coordErr("progress", err)
}

// Complete marks the split done.
func (c *CoordinatorClient) Complete(ctx context.Context, worker string, a Assignment) error {
	cctx, cancel := c.ctx(ctx)
	defer cancel()
	_, err := c.stub.Complete(cctx, &pb.CompleteRequest{Worker: worker, Split: int64(a.Split), Generation: a.Generation})
	return coordErr("complete", err)
}

// Fail releases the split after an error; shardLost asks for a recovery.
func (c *CoordinatorClient) Fail(ctx context.Context, worker string, a Assignment, shardLost bool, reason string) error {
	cctx, cancel := c.ctx(ctx)
	defer cancel()
	_, err := c.stub.Fail(cctx, &pb.FailRequest{Worker: worker, Split: int64(a.Split), Generation: a.Generation, ShardLost: shardLost, Reason: reason})
	return coordErr("fail", err)
}

// Heartbeat renews the worker's lease.
func (c *CoordinatorClient) Heartbeat(ctx context.Context, worker string) error {
	cctx, cancel := c.ctx(ctx)
	defer cancel()
	_, err := c.stub.Heartbeat(cctx, &pb.HeartbeatRequest{Worker: worker})
	return coordErr("heartbeat", err)
}

// Status returns the coordinator's summary. It waits (up to the client's
// timeout) for the coordinator to be reachable.
func (c *CoordinatorClient) Status(ctx context.Context) (CoordinatorStatus, error) {
	cctx, cancel := c.ctx(ctx)
	defer cancel()
	r, err := c.stub.Status(cctx, &pb.StatusRequest{}, grpc.WaitForReady(true))
	if err != nil {
		return CoordinatorStatus{}, coordErr("status", err)
	}
	st := CoordinatorStatus{Epoch: int(r.Epoch), Splits: int(r.Splits), DoneSplits: int(r.DoneSplits), Finished: r.Finished,
		Generation: r.Generation, Workers: int(r.Workers), Checkpoints: int(r.Checkpoints), LastCheckpoint: r.LastCheckpoint,
		Owners: r.Owners, Rows: r.Rows}
	for _, n := range r.Trained {
		st.Trained = append(st.Trained, int(n))
	}
	return st, nil
}
