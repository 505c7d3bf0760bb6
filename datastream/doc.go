// Package datastream is Lakestream's operator runtime: one engine for bounded
// inputs (a Parquet scan that ends) and unbounded ones (a Kafka topic), with
// Flink's semantics for event time, windows and checkpoints.
//
// # Sources, batches and sinks
//
// Data flows as Batch values: an Arrow record plus the event-time watermark
// that held when it was cut. A Source yields batches from ReadBatch until it
// returns ErrEndOfInput (bounded input) or forever (unbounded input); a Sink
// writes them. Whoever receives a Batch owns its Record and releases it.
// Sources that can report and seek to a position implement Positioner, so
// checkpoints record where they were; sources and sinks that must act only
// once a checkpoint is durable (Kafka offset commits, transactional output)
// implement CheckpointCommitter and TwoPhaseSink. The Parquet source lives in
// package dataset and the Kafka source and sink in datastream/kafka; this
// package imports no other Lakestream package.
//
// # Building a job
//
// A Job is a graph built from a source:
//
//	job := datastream.NewJob("clicks", datastream.WithCheckpoints(store, 10*time.Second, 3))
//	clicks := job.Source("clicks", src, datastream.Watermarks(datastream.WatermarkStrategy{
//		TimestampColumn: "ts", OutOfOrderness: 5 * time.Second, IdleTimeout: time.Minute}))
//	counts := datastream.Aggregate(
//		clicks.KeyBy("user").Window(datastream.Tumbling(time.Minute)), "per-minute",
//		datastream.Aggregates(datastream.Count("clicks"), datastream.SumInt("amount", "amount")))
//	counts.To("out", sink)
//	counts.Late().To("late", lateSink)
//	summary, err := job.Run(ctx)
//
// Stream offers Map, Filter and FlatMap over whole records, KeyBy (hash
// partitioning by one or more columns), and To/ToSinks. Keyed streams feed
// Window + Aggregate, Process (a KeyedProcessFunc with per-key state and
// event- or processing-time timers) and CoProcess (two keyed inputs sharing
// state). BroadcastProcess sends every record of one input to all subtasks
// of an operator, next to a distributed data input: the data-stream ×
// model-stream join of model serving. Every operator takes a Parallelism.
//
// # Execution
//
// Run groups operators into chains: an operator joins its input's chain when
// no repartition is needed (one input, same parallelism, forward edge, or a
// KeyBy into a single subtask). Each chain runs as one goroutine per
// subtask, passing records by function call; chains exchange records through
// bounded queues (WithQueueSize), so a slow consumer blocks its producers
// (backpressure, reported per operator). Watermarks, idleness markers,
// checkpoint barriers and end-of-input markers travel in the queues in order
// with the records. A source subtask reads one batch at a time in a reader
// goroutine it owns. Every goroutine stops when Run returns.
//
// # Event time
//
// A WatermarkStrategy derives watermarks from a timestamp column with
// bounded out-of-orderness, per split of a source (Batch.Split, such as a
// Kafka partition), combined by minimum over the splits that are not idle;
// operators take the minimum over their inputs. Windows are Tumbling,
// Sliding, Session (merging) and GlobalCount, in event time or
// InProcessingTime; they aggregate incrementally through an Aggregator and
// never buffer rows. Rows later than AllowedLateness go to the Late side
// output (counted, and logged as *LateDataError when nothing consumes it).
// Processing time comes from an injected Clock, so tests run on fake time.
//
// A bounded source is a stream that ends: when every source has returned
// ErrEndOfInput the runtime emits MaxWatermark, every window and timer
// fires, and Run returns a Summary with per-operator counts. Operators have
// no batch mode.
//
// WindowFeatures computes the spec's windowed per-key aggregates (count,
// sum, mean, distinct count, last value, ratio) over bucketed sliding
// event-time windows, point-in-time correct (a row sees only its key's
// events strictly before its event time), with its state in checkpoints.
//
// # Checkpoints
//
// With WithCheckpoints, a coordinator injects aligned barriers at the
// sources; each chain subtask snapshots its operators when the barrier has
// arrived on all its inputs and writes checkpoints/<job>/<id>/<chain>-<i>.state;
// the manifest (with every source's position) is written last, then the
// latest pointer; then sources and sinks are told the checkpoint is durable.
// WithRestore resumes from the latest complete checkpoint, seeking sources
// back; keyed operators may come back with another parallelism.
// A sink with state of its own (the training operator's parameter tables)
// implements StatefulSink: its state goes into the same state files.
// StopWithSavepoint stops a job at a checkpoint without firing windows.
// RunUntil runs an unbounded job until a signal, a record count or an idle
// spell, then stops it at such a final savepoint (trainer stream and the
// stream worker use it).
// A lake.Store becomes a CheckpointStore with ObjectCheckpoints.
//
// # Metrics
//
// WithMetrics registers records in/out, late records, backpressure time,
// watermark lag and checkpoint duration, size and counts in a Prometheus
// registry; the same figures are in the Summary that Run returns.
package datastream
