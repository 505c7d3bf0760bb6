package predict

import (
	"context"
	"fmt"
	"io"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/compress"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"

	"github.com/lakestream/lakestream/lake"
)

// upload stores at key what encode writes, as it is written: encode's
// writer is a pipe that store.Put reads with unknown size (a local temp
// file, or S3 multipart), so nothing is held whole in memory. An error of
// either side fails both and Put keeps no object. It returns encode's
// count.
func upload(ctx context.Context, store lake.Store, key string, encode func(io.Writer) (int64, error)) (int64, error) {
	pr, pw := io.Pipe()
	uploaded := make(chan error, 1)
	go func() {
		err := store.Put(ctx, key, pr, -1)
		pr.CloseWithError(err) // a Put that stopped reading fails the writer
		uploaded <- err
	}()
	n, err := encode(writerOnly{pw})
	if err != nil {
		pw.CloseWithError(err) // Put fails and keeps no object
		<-uploaded
		return n, err
	}
	pw.Close()
	if err := <-uploaded; err != nil {
		return n, fmt.Errorf("upload %s: %w", key, err)
	}
	return n, nil
}

// newFileWriter returns the Parquet writer of an output file: snappy,
// statistics, rowGroupRows rows per row group, and plain encoding (a
// dictionary encoder allocates per distinct value, and scores and ids are
// nearly all distinct).
func newFileWriter(schema *arrow.Schema, sink io.Writer, rowGroupRows int64) (*pqarrow.FileWriter, error) {
	props := parquet.NewWriterProperties(
		parquet.WithCompression(compress.Codecs.Snappy),
		parquet.WithDictionaryDefault(false),
		parquet.WithStats(true),
		parquet.WithMaxRowGroupLength(rowGroupRows),
	)
	return pqarrow.NewFileWriter(schema, sink, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
}

// writerOnly hides the pipe's Close from the Parquet writer, whose Close
// would otherwise end the upload before the caller decides how.
type writerOnly struct{ w io.Writer }

func (w writerOnly) Write(p []byte) (int, error) { return w.w.Write(p) }
