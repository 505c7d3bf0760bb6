// Package kafka connects Lakestream's operator runtime (package datastream)
// to Apache Kafka through franz-go: a Source that reads JSON messages into
// Arrow batches and a Sink that writes Arrow rows as JSON messages, both
// taking part in the runtime's checkpoints for exactly-once results.
//
// # Decoding
//
// A Decoder turns JSON objects into rows of a declared Arrow schema (bool,
// int32, int64, float32, float64, string, timestamp and lists of these; see
// Decoder for the coercions, such as numeric strings into numbers and epoch
// milliseconds or RFC 3339 strings into timestamps). It scans the bytes with
// its own tokenizer, stages one row at a time and appends it to reused
// builders only when the whole object converted, so a bad message leaves no
// trace. It allocates nothing per message.
//
// A message that does not decode is never dropped and never stops the job:
// the Source produces it to SourceConfig.DeadLetterTopic with its Reason
// (invalid_json, wrong_type, missing_field, duplicate_field, oversized) and
// the full error in headers, plus the source topic, partition and offset
// (HeaderReason and friends), and counts it in SourceStats.DeadLetters. A
// consumer can refuse rows that decode but that it cannot use (a label
// outside the model's target) with SourceConfig.Reject: they take the same
// path with ReasonRejected. The dead-letter write is acknowledged before the
// batch that passes the message is returned, so a checkpoint never covers a
// message that is in neither the output nor the dead-letter topic (dead
// letters are at-least-once: a restore may write one twice).
//
// # Source
//
// NewSource reads one topic, either as a member of a consumer group
// (AssignByGroup, optionally with static membership) or from every partition
// directly (AssignAll, which restarts without a rebalance). It starts at the
// committed offsets, the earliest or latest ones, or a timestamp. ReadBatch
// cuts micro-batches per partition by rows, bytes or age (MaxBatchRows,
// MaxBatchBytes, MaxBatchDelay) and labels each with its partition in
// Batch.Split, so the runtime keeps one watermark per partition and forwards
// the minimum. Before a partition's first rows the Source returns a heartbeat
// batch naming it, so the minimum waits for every assigned partition instead
// of running ahead on the first one to deliver. Watermarks come from a
// timestamp column through the runtime's watermark strategy, or from Kafka
// record timestamps (RecordTimeWatermark). Stats reports the records,
// batches, dead letters by reason and the consumer lag.
//
// By default partitions interleave as fetches deliver them (MergeArrival).
// With MergeInTurn (AssignAll only) batches come in a fixed round robin over
// the partitions, waiting for a partition whose records are in the topic
// but not yet fetched, so whenever the records are in the topic the order is
// a function of its contents and the start position; the turn is part of
// Position, so a restored source continues the same sequence.
//
// The Source is a datastream.Positioner: Position is the next offset of every
// partition (encoded by Position.MarshalBinary) and SeekTo resumes there
// after a restore. As a datastream.CheckpointCommitter it commits those
// offsets to the consumer group only once the runtime says the checkpoint is
// durable, so Kafka's committed offsets never run ahead of the state.
//
// # Sink
//
// A Sink writes each row as one JSON object, keyed by an optional column.
// With SinkConfig.TransactionalID it writes in Kafka transactions tied to
// checkpoints (datastream.TwoPhaseSink): PrepareCheckpoint flushes the open
// transaction and records its transactional ID, producer ID and epoch;
// CommitCheckpoint commits it when the checkpoint is durable; after a crash,
// RecoverCheckpoint finishes the commit of the restored checkpoint's
// transaction by sending EndTxn with the recorded identity, and aborts what
// the crashed process left open. Each transaction uses its own transactional
// ID ("<TransactionalID>-<n>"), so committing an old one can never commit
// newer rows. Read-committed consumers of the output see every row exactly
// once. Without a TransactionalID the sink is at-least-once.
//
// Package kafkatest has helpers for tests against the real broker named by
// LAKESTREAM_KAFKA_BROKERS.
package kafka
