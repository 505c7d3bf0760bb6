package paramserver

import (
	"context"
	"fmt"

	pb "github.com/lakestream/lakestream/api/paramserver"
)

// streamCoordinatorServer exposes a StreamCoordinator as the
// StreamCoordinator gRPC service.
type streamCoordinatorServer struct {
	pb.UnimplementedStreamCoordinatorServer
	co *StreamCoordinator
}

// Report refuses a report with more offsets than the job has partitions
// before it reaches the coordinator.
func (s *streamCoordinatorServer) Report(ctx context.Context, r *pb.StreamReportRequest) (*pb.StreamOrderResponse, error) {
	if len(r.Offsets) > s.co.cfg.Partitions {
		return nil, coordStatus(fmt.Errorf("paramserver: stream worker %d reports %d offsets, the job has %d partitions", r.Worker, len(r.Offsets), s.co.cfg.Partitions))
	}
	o, err := s.co.Report(ctx, StreamReport{Worker: int(r.Worker), Instance: r.Instance, Generation: r.Generation, Stopped: r.Stopped,
		Barrier: r.Barrier, Offsets: r.Offsets, Examples: r.Examples, ShardLost: r.ShardLost, Reason: r.Reason})
	if err != nil {
		return nil, coordStatus(err)
	}
	return &pb.StreamOrderResponse{Command: pb.StreamOrderResponse_Command(o.Command), Generation: o.Generation, Barrier: o.Barrier,
		Partitions: o.Partitions, Seek: o.Seek, Offsets: o.Offsets}, nil
}

// StreamCoordinatorClient is a stream worker's connection to the stream
// coordinator.
type StreamCoordinatorClient struct {
	c    *CoordinatorClient
	stub pb.StreamCoordinatorClient
}

// DialStreamCoordinator connects to the stream coordinator at addr with the
// same security settings as the shards (cfg.Shards is ignored).
func DialStreamCoordinator(addr string, cfg ClientConfig) (*StreamCoordinatorClient, error) {
	c, err := DialCoordinator(addr, cfg)
	if err != nil {
		return nil, err
	}
	return &StreamCoordinatorClient{c: c, stub: pb.NewStreamCoordinatorClient(c.conn)}, nil
}

// Close closes the connection.
func (c *StreamCoordinatorClient) Close() error { return c.c.Close() }

// Report sends the worker's state and returns the coordinator's order.
// Errors wrap ErrWorkerExpired for a replaced or expired process; an
// unreachable coordinator gives the gRPC Unavailable or DeadlineExceeded
// status.
func (c *StreamCoordinatorClient) Report(ctx context.Context, r StreamReport) (StreamOrder, error) {
	cctx, cancel := c.c.ctx(ctx)
	defer cancel()
	resp, err := c.stub.Report(cctx, &pb.StreamReportRequest{Worker: int32(r.Worker), Instance: r.Instance, Generation: r.Generation,
		Stopped: r.Stopped, Barrier: r.Barrier, Offsets: r.Offsets, Examples: r.Examples, ShardLost: r.ShardLost, Reason: r.Reason})
	if err != nil {
		return StreamOrder{}, coordErr("report", err)
	}
	return StreamOrder{Command: StreamCommand(resp.Command), Generation: resp.Generation, Barrier: resp.Barrier,
		Partitions: resp.Partitions, Seek: resp.Seek, Offsets: resp.Offsets}, nil
}
