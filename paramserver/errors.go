package paramserver

import (
	"errors"
	"fmt"
)

// Sentinel errors. Errors returned by this package wrap them so errors.Is
// works across the in-process store and the gRPC client.
var (
	// ErrUnknownTable is returned by Pull, Push and Restore when the table
	// name was not declared in a TableSpec.
	ErrUnknownTable = errors.New("paramserver: unknown table")
	// ErrBadSnapshot is returned when a snapshot is truncated, fails its
	// checksum, or does not match the declared tables.
	ErrBadSnapshot = errors.New("paramserver: bad snapshot")
	// ErrUnauthenticated is returned by the gRPC client when a shard rejects
	// its token.
	ErrUnauthenticated = errors.New("paramserver: unauthenticated")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("paramserver: closed")
	// ErrWorkerExpired is returned by clock calls of a worker that the
	// clock table dropped (its lease expired or it was removed).
	ErrWorkerExpired = errors.New("paramserver: worker expired")
	// ErrLeaseLost is returned by coordinator calls about a split the worker
	// no longer holds (it was reassigned, or the job recovered from a
	// checkpoint); the worker must drop the split and Acquire again.
	ErrLeaseLost = errors.New("paramserver: split lease lost")
	// ErrNonFinite is wrapped by *NonFiniteError: a push or flush was
	// refused because a gradient, or the update it makes, is not finite.
	ErrNonFinite = errors.New("paramserver: non-finite update refused")
	// ErrTooManyKeys is returned by a shard for a call with more keys than
	// its per-call limit (ServerConfig.MaxKeysPerCall).
	ErrTooManyKeys = errors.New("paramserver: too many keys in one call")
	// ErrFenced is returned for a push of a generation below the shard's
	// fence (Local.Fence): the pusher belongs to a generation the job
	// rolled back from, and the push changed nothing. The worker stops
	// pushing and asks its coordinator what to do, as after a lost lease;
	// it is not a shard failure.
	ErrFenced = errors.New("paramserver: push of a stale generation refused")
)

// KeyRangeError is returned when a key of a dense table is not a row index
// below the table's Rows.
type KeyRangeError struct {
	Table string
	Key   uint64
	Rows  int
}

func (e *KeyRangeError) Error() string {
	return fmt.Sprintf("paramserver: key %d of dense table %q out of range [0, %d)", e.Key, e.Table, e.Rows)
}

// SpecError is returned by TableSpec.Validate and NewLocal for a table that
// cannot be built; Field names the offending field.
type SpecError struct {
	Table  string
	Field  string
	Reason string
}

func (e *SpecError) Error() string {
	return fmt.Sprintf("paramserver: table %q: %s: %s", e.Table, e.Field, e.Reason)
}
