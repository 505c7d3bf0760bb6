package dataset

import (
	"bytes"
	"context"
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/compress"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"

	"github.com/lakestream/lakestream/lake"
)

// WriteOptions configures WriteFile. The zero value writes 64Ki rows per
// row group, snappy-compressed, dictionary-encoded, with statistics.
type WriteOptions struct {
	// RowGroupRows is the maximum number of rows per row group.
	RowGroupRows int64
}

// WriteFile writes records, which must share schema, to key as one Parquet
// file, atomically (see lake.Store.Put). Each record starts a new row group
// when RowGroupRows is not reached; a record longer than RowGroupRows is
// cut. It is meant for small outputs (samples, evaluation slices, tests):
// the file is built in memory before the upload.
func WriteFile(ctx context.Context, store lake.Store, key string, schema *arrow.Schema, records []arrow.Record, opts WriteOptions) error {
	if opts.RowGroupRows <= 0 {
		opts.RowGroupRows = 64 << 10
	}
	var buf bytes.Buffer
	props := parquet.NewWriterProperties(
		parquet.WithCompression(compress.Codecs.Snappy),
		parquet.WithDictionaryDefault(true),
		parquet.WithStats(true),
		parquet.WithMaxRowGroupLength(opts.RowGroupRows),
	)
	w, err := pqarrow.NewFileWriter(schema, &buf, props, pqarrow.DefaultWriterProps())
	if err != nil {
		return fmt.Errorf("dataset: write %s: %w", key, err)
	}
	for _, rec := range records {
		if !rec.Schema().Equal(schema) {
			w.Close()
			return fmt.Errorf("dataset: write %s: record schema %s differs from %s", key, rec.Schema(), schema)
		}
		if err := w.Write(rec); err != nil {
			w.Close()
			return fmt.Errorf("dataset: write %s: %w", key, err)
		}
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("dataset: write %s: %w", key, err)
	}
	if err := lake.PutBytes(ctx, store, key, buf.Bytes()); err != nil {
		return fmt.Errorf("dataset: write %s: %w", key, err)
	}
	return nil
}
