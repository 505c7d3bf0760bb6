// Package predictortest runs the real predictor binary (cmd/predictor) in
// tests: Build compiles it once per test, Start runs it and waits until it
// logs the gRPC address it serves on. The tests of cmd/predictor and the
// scheduler's acceptance test (train/schedule) share it.
package predictortest
