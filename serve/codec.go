package serve

import (
	"context"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/lakestream/lakestream/api/inference"
)

// inferCodec is the proto codec with two changes for the inference
// service's requests:
//
//   - a ModelInferRequest is bounded on the wire before it is decoded: its
//     tensors and raw entries by the served model's columns, each tensor's
//     values by the batch limit (checkInferWire), so a small message cannot
//     decode into a large one;
//   - a ModelInferRequest is decoded by decodeInferRequest, whose strings
//     and bytes alias one copy of the message, falling back to
//     proto.Unmarshal for what it leaves out;
//   - a request that is refused or does not decode is answered with
//     InvalidArgument (or the model's NotFound/Unavailable), not gRPC's
//     Internal: the codec records the error and returns nil, and
//     decodeCheck, the first interceptor, returns the recorded error.
type inferCodec struct{ s *Service }

func (inferCodec) Name() string { return "proto" }

func (inferCodec) Marshal(v any) (mem.BufferSlice, error) {
	return encoding.GetCodecV2("proto").Marshal(v)
}

func (c inferCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(proto.Message)
	if !ok || m.ProtoReflect().Descriptor().ParentFile().Package() != "inference" {
		return encoding.GetCodecV2("proto").Unmarshal(data, v)
	}
	var b []byte
	req, isInfer := v.(*pb.ModelInferRequest)
	switch {
	case isInfer:
		// A copy the request may alias (decodeInferRequest): data is
		// gRPC's buffer, reused once Unmarshal returns.
		b = data.Materialize()
	case len(data) == 1:
		b = data[0].ReadOnlyData()
	default:
		b = data.Materialize()
	}
	if isInfer {
		if err := c.s.checkRequestWire(b); err != nil {
			c.s.decodeErrs.Store(req, err)
			return nil
		}
		if decodeInferRequest(b, req) {
			return nil
		}
		proto.Reset(req)
	}
	if err := proto.Unmarshal(b, m); err != nil {
		proto.Reset(m)
		c.s.decodeErrs.Store(v, status.Errorf(codes.InvalidArgument, "request does not decode as %s: %v", m.ProtoReflect().Descriptor().FullName(), err))
	}
	return nil
}

// checkRequestWire applies the bounds of the model a ModelInferRequest
// names before it is decoded.
func (s *Service) checkRequestWire(b []byte) error {
	name, err := wireModelName(b)
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "request does not decode as inference.ModelInferRequest: %v", err)
	}
	cols, err := s.inputColumns(name)
	if err != nil {
		return err
	}
	if err := checkInferWire(b, inferBounds{inputs: cols, elems: s.cfg.MaxBatch}); err != nil {
		return status.Errorf(codes.InvalidArgument, "request refused before decoding: %v", err)
	}
	return nil
}

// inputColumns returns how many input columns the model served as name
// takes: the bound a request to it is checked against before it is read
// (gRPC) or decoded (REST).
func (s *Service) inputColumns(name string) (int, error) {
	if name == "" {
		return 0, s.emptyName()
	}
	base, topN := topNName(name)
	v, err := s.engine.acquire(base)
	if err != nil {
		return 0, grpcError(err)
	}
	defer v.release()
	if topN {
		return 2, nil // the user id and n
	}
	return v.model.Schema().NumFields(), nil
}

// decodeCheck answers a call whose request inferCodec refused.
func (s *Service) decodeCheck(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if strings.HasPrefix(info.FullMethod, "/inference.") {
		if err, ok := s.decodeErrs.LoadAndDelete(req); ok {
			return nil, err.(error)
		}
	}
	return handler(ctx, req)
}
