// Command serve benchmarks the predictor over gRPC on loopback, side by side
// with MLServer (a Python Open Inference Protocol server) serving a
// scikit-learn logistic regression, both driven by the same open-loop load
// generator (serve/loadgen). Run it from the repository root:
//
//	go run ./bench/serve -mlserver ~/.cache/lakestream/venv-mlserver/bin
//
// It generates a click log, builds an LR model over its 21 feature columns,
// starts the real predictor binary on it, and prints a markdown table:
// p50/p99 at fixed 1k/3k/5k QPS of batch 1 (p99 also from each call's
// intended send time, so a stalled generator cannot hide latency), and QPS at
// saturation for batch 1 and 256. The server runs on one core and the
// generator on another (taskset); the systems alternate within each of
// -repeats rounds and the figures are medians with their range.
package main
