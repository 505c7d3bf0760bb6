// Command datastream measures the datastream runtime in process: the
// throughput of a keyed 1-minute tumbling-window count over Arrow batches,
// without checkpoints and with checkpoints every -interval written to a
// local lake folder, and the overhead of the checkpoints as a share of
// throughput (benchmark (c) of issue 3; benchmark (a) is
// BenchmarkTumblingCount in package datastream).
//
//	go run ./bench/datastream -duration 30s -interval 10s
package main
