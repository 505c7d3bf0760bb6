package paramserver

import (
	"fmt"
	"math"
	"time"

	"github.com/lakestream/lakestream/train/optim"
)

// Initialization kinds accepted by InitConfig.Kind.
const (
	InitZero   = "zero"
	InitNormal = "normal"
)

// InitConfig says how a row is initialized the first time it is used. The
// value of element j of row key is a pure function of (Seed, key, j), so a
// row gets the same initial value on every shard layout, in every process and
// after every restart: a sharded job and a single-process job with the same
// seed start from the same model.
type InitConfig struct {
	// Kind is "zero" (the default when empty) or "normal".
	Kind string `yaml:"kind,omitempty" json:"kind,omitempty"`
	// Std is the standard deviation of "normal" (mean 0).
	Std float64 `yaml:"std,omitempty" json:"std,omitempty"`
	// Seed selects the pseudo-random stream of "normal".
	Seed uint64 `yaml:"seed,omitempty" json:"seed,omitempty"`
}

// TableSpec declares one parameter table. Tables are declared up front, by
// the job configuration, identically on every shard and client.
type TableSpec struct {
	// Name identifies the table in Pull and Push.
	Name string `yaml:"name" json:"name"`
	// Width is the number of float32 values per row (1 for linear weights,
	// k for k-dimensional embeddings).
	Width int `yaml:"width" json:"width"`
	// Dense selects a dense table of Rows rows addressed by row index
	// 0..Rows-1. Otherwise the table is a hashed sparse table: any uint64
	// key is valid and rows are created on first push.
	Dense bool `yaml:"dense,omitempty" json:"dense,omitempty"`
	// Rows is the row count of a dense table; ignored for sparse tables.
	Rows int `yaml:"rows,omitempty" json:"rows,omitempty"`
	// Optimizer is the rule the store applies to pushed gradients.
	Optimizer optim.Config `yaml:"optimizer" json:"optimizer"`
	// Init initializes rows on first use.
	Init InitConfig `yaml:"init,omitempty" json:"init,omitempty"`
	// AdmitAfter, for sparse tables, makes a key enter the table only once
	// gradients for it have been pushed AdmitAfter times; until then its
	// gradients are dropped and Pull returns its initial value. 0 or 1 admits
	// every key at its first push. Sightings are counted in a fixed-size
	// counting sketch, so a key may be admitted early when it collides with
	// frequent keys, never late.
	AdmitAfter int `yaml:"admit_after,omitempty" json:"admit_after,omitempty"`
	// TTL, for sparse tables, lets Expire drop rows that were neither pulled
	// nor pushed for TTL. 0 keeps rows forever.
	TTL time.Duration `yaml:"ttl,omitempty" json:"ttl,omitempty"`
}

// maxWidth bounds Width so that a row and its optimizer state stay small and
// snapshot decoding can bound its allocations.
const maxWidth = 1 << 16

// Validate reports the first problem of s as a *SpecError.
func (s TableSpec) Validate() error {
	bad := func(field, format string, args ...any) error {
		return &SpecError{Table: s.Name, Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case s.Name == "":
		return bad("name", "empty")
	case len(s.Name) > 255:
		return bad("name", "longer than 255 bytes")
	case s.Width <= 0 || s.Width > maxWidth:
		return bad("width", "%d not in [1, %d]", s.Width, maxWidth)
	case s.Dense && s.Rows <= 0:
		return bad("rows", "dense table needs rows > 0, got %d", s.Rows)
	case s.Dense && int64(s.Rows)*int64(s.Width) > math.MaxInt32*4:
		return bad("rows", "%d rows of width %d is too large", s.Rows, s.Width)
	case s.AdmitAfter < 0:
		return bad("admit_after", "negative (%d)", s.AdmitAfter)
	case s.AdmitAfter > 255:
		return bad("admit_after", "%d exceeds 255", s.AdmitAfter)
	case s.TTL < 0:
		return bad("ttl", "negative (%s)", s.TTL)
	case s.Dense && (s.AdmitAfter > 1 || s.TTL > 0):
		return bad("admit_after", "admission and expiry apply to sparse tables only")
	}
	switch s.Init.Kind {
	case "", InitZero:
	case InitNormal:
		if !(s.Init.Std >= 0) || math.IsInf(s.Init.Std, 0) {
			return bad("init.std", "%v is not a finite non-negative number", s.Init.Std)
		}
	default:
		return bad("init.kind", "%q is not %q or %q", s.Init.Kind, InitZero, InitNormal)
	}
	if err := s.Optimizer.Validate(); err != nil {
		return bad("optimizer", "%v", err)
	}
	return nil
}
