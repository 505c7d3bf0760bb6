// Package dataset reads bounded data: Parquet tables in the lake, scanned
// into Arrow record batches.
//
// # Tables, plans and scans
//
// A table is a set of Parquet files under one folder of a lake.Store,
// usually Hive-partitioned ("clicks/dt=2026-11-01/country=fr/part-0.parquet").
// Reading one takes three steps, each cheaper to repeat than the one after:
//
//	ds, _ := dataset.Open(ctx, store, "clicks/",               // list objects only
//		dataset.WithPartitionType("dt", arrow.FixedWidthTypes.Date32))
//	where, _ := dataset.ParseWhere("dt >= '2026-11-01' AND country = 'fr'")
//	plan, _ := ds.Plan(ctx, dataset.Query{                      // read footers
//		Columns: []string{"user_id", "item_id", "clicked", "dt"},
//		Where:   where,
//	})
//	sc := plan.Scan(ctx, plan.Splits(), dataset.ScanOptions{}) // read pages
//	defer sc.Close()
//	for sc.Next() {
//		rec := sc.At() // valid until the next call to Next
//	}
//	if err := sc.Err(); err != nil { ... }
//
// Open lists the objects and parses partition values from the paths
// (percent-decoded; __HIVE_DEFAULT_PARTITION__ is null). Partition columns
// are strings unless declared with WithPartitionType. Partitions that no
// _SUCCESS marker commits are skipped, by the rule of lake.Commit, unless
// WithoutSuccessMarkers is given.
//
// A scan yields exactly the rows that satisfy the Filter, reading as little
// as it can: predicates on partition columns drop files before their footers
// are read; predicates on data columns skip row groups whose min/max
// statistics prove that no row matches, then filter the rows of the kept row
// groups (reading the column even when it is not projected). Null never
// matches. ParseWhere reads the small language of the --where flag
// (comparisons, IN, AND); Where builds the same predicates in code. Plan then reads the surviving footers (ranged
// reads through lake.Reader, 8 at a time), unifies their schemas and checks
// the projection.
//
// Schema rule: the table's columns are the union of the columns of the
// files the plan reads (those that survive partition pruning), in order of
// first appearance, then the partition columns. A column missing
// from a file reads as nulls in that file's rows. A column whose Arrow type
// differs between two files is a *SchemaConflictError naming both files.
//
// # Splits and parallel workers
//
// A Split is one row group of one file. Workers scan disjoint splits of the
// same plan: AssignSplits(splits, worker, workers) deals them round-robin.
// ShuffleSplits permutes their order with a seed (one per epoch);
// ScanOptions.ShuffleBuffer additionally shuffles rows inside a bounded
// window. TrainValidation holds out a stable fraction of row groups.
// Scanner.Position and SeekTo record and restore a scan's place (split, file,
// row group, row) for checkpoints; NewSource wraps a Scanner as a
// datastream.Source that ends with datastream.ErrEndOfInput.
//
// # Types
//
// Parquet types map to Arrow as pyarrow maps them: BOOLEAN to bool; INT32
// and INT64 to int8 … int64 and uint8 … uint64 by their integer annotation;
// FLOAT, DOUBLE; strings (UTF8, ENUM, JSON) to utf8; other BYTE_ARRAY and
// FIXED_LEN_BYTE_ARRAY to binary; DATE to date32; TIMESTAMP to timestamp
// with its unit (tz "UTC" when adjusted to UTC); INT96 timestamps to
// timestamp[ns]; LIST of a primitive (and legacy repeated primitives) to
// list. Structs, maps and nested lists are not read (Plan.Unsupported).
//
// DECIMAL columns become float64: the unscaled integer is converted to the
// nearest float64 and divided by 10^scale. Values with more than 15-17
// significant digits lose their last digits (float64 has a 53-bit mantissa),
// and results may differ from the exact decimal by one or two units in the
// last place. Use them as features, not as money.
//
// Encodings PLAIN and dictionary (RLE_DICTIONARY, PLAIN_DICTIONARY) and the
// other encodings parquet-go decodes; codecs uncompressed, snappy, gzip,
// zstd and LZ4_RAW (what pyarrow writes for "lz4"; the deprecated Hadoop
// LZ4 framing is not supported by parquet-go). LZ4_RAW chunks are read by
// this package's own page loop to work around parquet-go issue #608.
//
// # Performance and memory
//
// Pages are decoded column by column straight into the Arrow buffers: plain
// runs are copied, dictionary indexes gathered, nulls expanded from the
// definition levels; rows are never materialized. A row group's projected
// column chunks are fetched with a few coalesced ranged reads before
// decoding (one or two GETs per row group on S3). With
// ScanOptions.RecycleBuffers, value and offset buffers return to a pool
// when the consumer releases a record. Records never span two row groups. Errors name the object, and the column
// when there is one; malformed Parquet gives ErrNotParquet or ErrCorrupt.
//
// Observer (and its implementation Counter) reports which footers and row
// groups a scan actually read.
package dataset
