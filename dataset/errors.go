package dataset

import (
	"errors"
	"fmt"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
)

// Sentinel errors. Errors returned by this package wrap one of them (or a
// typed error below) together with the object key, column or offset at fault.
var (
	// ErrNotParquet is returned when an object does not start and end with
	// the Parquet magic bytes, or its footer cannot be decoded: a truncated
	// upload, a CSV file in a table folder.
	ErrNotParquet = errors.New("dataset: not a Parquet file")
	// ErrCorrupt is returned when a Parquet file's pages cannot be decoded or
	// hold fewer values than its metadata promises.
	ErrCorrupt = errors.New("dataset: corrupt Parquet data")
	// ErrUnsupportedType is returned when a projected column has a Parquet
	// type this package does not map to Arrow (structs, maps, nested lists).
	ErrUnsupportedType = errors.New("dataset: unsupported column type")
	// ErrUnknownColumn is returned when a projection or predicate names a
	// column that is neither in the files nor a partition column.
	ErrUnknownColumn = errors.New("dataset: unknown column")
	// ErrNoFiles is returned by Open when the prefix holds no Parquet file.
	ErrNoFiles = errors.New("dataset: no Parquet files")
	// ErrBadPartition is returned when a partition value in a path cannot be
	// converted to the type declared for its column.
	ErrBadPartition = errors.New("dataset: bad partition value")
	// ErrBadPosition is returned by SeekTo for a position this scan did not
	// produce.
	ErrBadPosition = errors.New("dataset: bad scan position")
)

// SchemaConflictError is returned when two files of one dataset give the same
// column different types. The documented rule: a column missing from a file
// reads as nulls; a column whose Arrow type differs between files is an error.
type SchemaConflictError struct {
	Column       string
	FirstKey     string
	FirstType    arrow.DataType
	ConflictKey  string
	ConflictType arrow.DataType
}

func (e *SchemaConflictError) Error() string {
	return fmt.Sprintf("dataset: column %q is %s in %s but %s in %s",
		e.Column, e.FirstType, e.FirstKey, e.ConflictType, e.ConflictKey)
}

// ParseError is returned by ParseWhere. Offset is the byte offset in Input
// where parsing failed (0-based); Error shows the input with a caret under it.
type ParseError struct {
	Input  string
	Offset int
	Msg    string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("where: %s at offset %d\n  %s\n  %s^", e.Msg, e.Offset, e.Input, strings.Repeat(" ", e.Offset))
}
