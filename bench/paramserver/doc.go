// Command paramserver benchmarks distributed training end to end: it trains
// a model on a generated click log with W goroutine workers against S
// parameter-server shards served over loopback gRPC, and compares the
// throughput with the same run against the in-process store. It also counts
// the bytes crossing the loopback sockets per example.
//
//	go run ./bench/paramserver -rows 200000 -model logistic
package main
