// Command kafka benchmarks the Kafka source end to end against a real
// broker: it produces click-log JSON messages (24 columns, 9 strings and 15
// integers) into a fresh topic, then reads them back with
// datastream/kafka.Source into Arrow batches and reports records/s and MB/s,
// per wall second and per CPU second of this process (the broker's CPU is
// not counted). It estimates the share of the source's CPU spent decoding
// JSON by timing the decoder alone on the same messages, and can write a CPU
// profile of the read phase for `go tool pprof`.
//
//	go run ./bench/kafka -records 1000000 -partitions 4 -cpuprofile /tmp/kafka.prof
package main
