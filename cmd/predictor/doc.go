// Command predictor serves Lakestream models over the Open Inference
// Protocol v2 (gRPC, and HTTP/JSON with --http-listen), following registry
// aliases in the lake and swapping in new versions as they are announced on
// the model topic.
//
//	predictor --lake s3://models-bucket/lake --model ctr --model ranker@challenger \
//	    --kafka-brokers 127.0.0.1:9092
package main
