package model

import (
	"errors"
	"fmt"
)

// Sentinel errors.
var (
	// ErrNotFound is returned when a model or version has no manifest in the
	// store.
	ErrNotFound = errors.New("model: not found")
	// ErrCorrupt is returned when an artifact's files do not match its
	// manifest (missing, wrong size or checksum) or cannot be decoded.
	ErrCorrupt = errors.New("model: corrupt artifact")
	// ErrIncompatible is returned for artifacts this code cannot score: a
	// newer format, an unknown kind, tables that do not fit the kind's
	// layout.
	ErrIncompatible = errors.New("model: incompatible artifact")
)

// ArtifactError reports a problem with one object of a stored model. It
// wraps ErrCorrupt or ErrIncompatible.
type ArtifactError struct {
	Key    string // the object, e.g. models/ctr/3/w.f32
	Reason string
	Err    error
}

// Error names the object and the problem.
func (e *ArtifactError) Error() string {
	return fmt.Sprintf("model %s: %s", e.Key, e.Reason)
}

// Unwrap returns ErrCorrupt or ErrIncompatible.
func (e *ArtifactError) Unwrap() error { return e.Err }

// LayoutError reports tables that do not fit a kind's layout.
type LayoutError struct {
	Kind   Kind
	Table  string
	Reason string
}

// Error names the kind, the table and the problem.
func (e *LayoutError) Error() string {
	if e.Table == "" {
		return fmt.Sprintf("model %s: %s", e.Kind, e.Reason)
	}
	return fmt.Sprintf("model %s: table %q: %s", e.Kind, e.Table, e.Reason)
}

// Is makes LayoutError match ErrIncompatible.
func (e *LayoutError) Is(target error) bool { return target == ErrIncompatible }
