// Package inference is the generated Go code of the Open Inference Protocol
// v2 gRPC API (api/inference/grpc_predict_v2.proto). Regenerate it with
// api/generate.sh. Use it through package serve, whose Service serves it;
// clients outside Go use the .proto or reflection.
package inference
