// Package swaptest runs the predictor's swap-under-load scenario: a model
// registry in a lake, a real Kafka model topic, an in-process predictor on
// loopback gRPC, an open-loop load at a fixed rate, and a stream of
// promotions (one of them a corrupt artifact) during every other block of
// the load, so blocks with and without swaps alternate. The serve integration test asserts its correctness findings; the
// bench/serve harness records its latency and freshness figures.
package swaptest
