// Package streamtask trains a stream worker's partitions of a Kafka topic
// for the exactly-once protocol of psworker.RunStream: Task reads its
// statically assigned partitions with a kafka.Source (no consumer group),
// trains each batch with a train.Sink over the sharded parameter server
// before it reads the next, and so reports, at every batch boundary,
// offsets below which everything was trained and above which nothing was.
// A rollback recreates the source at the checkpoint's offsets.
package streamtask
