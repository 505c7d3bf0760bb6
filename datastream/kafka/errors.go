package kafka

import (
	"errors"
	"fmt"
)

// Sentinel errors.
var (
	// ErrUnsupportedType is returned by NewDecoder and NewEncoder when the
	// schema has a column type the JSON codec does not handle.
	ErrUnsupportedType = errors.New("kafka: unsupported column type")

	// ErrBadPosition is returned by Source.SeekTo and Sink.RecoverCheckpoint
	// when the checkpointed bytes do not decode.
	ErrBadPosition = errors.New("kafka: malformed checkpoint state")

	// ErrClosed is returned by ReadBatch and WriteBatch after Close.
	ErrClosed = errors.New("kafka: closed")
)

// Reason classifies why a message did not decode. It is the value of the
// ReasonHeader on dead-lettered messages and the key of the dead-letter counts.
type Reason string

// Reasons a message goes to the dead-letter topic.
const (
	ReasonInvalidJSON    Reason = "invalid_json"    // not a well-formed JSON object
	ReasonWrongType      Reason = "wrong_type"      // a value does not convert to its column type
	ReasonMissingField   Reason = "missing_field"   // a non-nullable column is absent
	ReasonDuplicateField Reason = "duplicate_field" // a column's key appears twice
	ReasonOversized      Reason = "oversized"       // the message exceeds MaxRecordBytes
	ReasonRejected       Reason = "rejected"        // it decoded, but SourceConfig.Reject refused the row
)

// RowError names a decoded row that SourceConfig.Reject refuses, and why.
type RowError struct {
	Row    int    // the row in the batch given to Reject
	Column string // the offending column, if one
	Detail string
}

// DecodeError says why one message did not decode (or, with ReasonRejected,
// why a decoded row was refused). The decoder's builders are
// unchanged when it is returned.
type DecodeError struct {
	Reason Reason
	Field  string // the column, if one is involved
	Offset int    // byte offset in the message where decoding stopped
	Detail string
}

func (e *DecodeError) Error() string {
	if e.Reason == ReasonRejected {
		if e.Field != "" {
			return fmt.Sprintf("%s: column %q: %s", e.Reason, e.Field, e.Detail)
		}
		return fmt.Sprintf("%s: %s", e.Reason, e.Detail)
	}
	if e.Field != "" {
		return fmt.Sprintf("%s: column %q at byte %d: %s", e.Reason, e.Field, e.Offset, e.Detail)
	}
	return fmt.Sprintf("%s: at byte %d: %s", e.Reason, e.Offset, e.Detail)
}
