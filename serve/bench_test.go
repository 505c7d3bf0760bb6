package serve

import (
	"context"
	"strconv"
	"testing"

	pb "github.com/lakestream/lakestream/api/inference"
)

// BenchmarkModelInfer measures the service's request path in process (no
// network): tensors → Arrow record → featurize → score → response.
func BenchmarkModelInfer(b *testing.B) {
	e, _ := registryEngine(b)
	svc := NewService(e, DefaultServerConfig())
	for _, batch := range []int{1, 256} {
		req := typedRequest(batch)
		b.Run("batch="+strconv.Itoa(batch), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := svc.ModelInfer(context.Background(), req); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/example")
		})
	}
}

// BenchmarkGRPCModelInfer measures a batch-1 request over loopback gRPC,
// client and server in one process, with 16 concurrent callers.
func BenchmarkGRPCModelInfer(b *testing.B) {
	cl, req := grpcBatch1(b)
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := cl.ModelInfer(context.Background(), req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkGRPCModelInferSerial measures one batch-1 request at a time over
// loopback gRPC: the per-request cost of the whole path (client included),
// which a CPU or allocation profile of it splits by stage.
func BenchmarkGRPCModelInferSerial(b *testing.B) {
	cl, req := grpcBatch1(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cl.ModelInfer(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}

// grpcBatch1 serves the registry fixture's model over loopback gRPC and
// returns a client and a batch-1 request for it.
func grpcBatch1(b *testing.B) (pb.GRPCInferenceServiceClient, *pb.ModelInferRequest) {
	e, _ := registryEngine(b)
	_, conn := startServer(b, e, DefaultServerConfig())
	return pb.NewGRPCInferenceServiceClient(conn), &pb.ModelInferRequest{ModelName: "ctr", Inputs: []*pb.ModelInferRequest_InferInputTensor{
		{Name: "c1", Datatype: "INT64", Shape: []int64{1}, Contents: &pb.InferTensorContents{Int64Contents: []int64{1005}}},
		{Name: "site", Datatype: "BYTES", Shape: []int64{1}, Contents: &pb.InferTensorContents{BytesContents: [][]byte{[]byte("a")}}},
		{Name: "price", Datatype: "FP64", Shape: []int64{1}, Contents: &pb.InferTensorContents{Fp64Contents: []float64{1}}},
	}}
}

// typedRequest is a request to the registry fixture's model of batch rows
// in typed contents (INT64, BYTES, FP64).
func typedRequest(batch int) *pb.ModelInferRequest {
	c1 := &pb.ModelInferRequest_InferInputTensor{Name: "c1", Datatype: "INT64", Shape: []int64{int64(batch)}, Contents: &pb.InferTensorContents{}}
	site := &pb.ModelInferRequest_InferInputTensor{Name: "site", Datatype: "BYTES", Shape: []int64{int64(batch)}, Contents: &pb.InferTensorContents{}}
	price := &pb.ModelInferRequest_InferInputTensor{Name: "price", Datatype: "FP64", Shape: []int64{int64(batch)}, Contents: &pb.InferTensorContents{}}
	for i := range batch {
		c1.Contents.Int64Contents = append(c1.Contents.Int64Contents, int64(1000+i%7))
		site.Contents.BytesContents = append(site.Contents.BytesContents, []byte("site"+strconv.Itoa(i%13)))
		price.Contents.Fp64Contents = append(price.Contents.Fp64Contents, float64(i%5))
	}
	return &pb.ModelInferRequest{ModelName: "ctr", Inputs: []*pb.ModelInferRequest_InferInputTensor{c1, site, price}}
}
