package lake

import (
	"context"
	"errors"
	"io"
	"time"
)

// Store is a flat namespace of objects addressed by slash-separated keys
// ("events/dt=2026-11-01/part-0.parquet"). Keys never start with a slash.
// Implementations are safe for concurrent use.
//
// Store is deliberately small. Capabilities that only some backends have are
// optional interfaces found by type assertion (see Deleter).
type Store interface {
	// Stat returns the object's metadata, or an error wrapping ErrNotExist.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// Open returns a random-access reader over the object's bytes as they were
	// when Open returned; the caller must Close it. A store that cannot keep
	// replaced bytes (S3) fails reads with ErrChanged once the object is
	// overwritten, so a reader never mixes two versions. Missing objects give
	// an error wrapping ErrNotExist.
	Open(ctx context.Context, key string) (Reader, error)
	// Put writes the object atomically: concurrent readers see the previous
	// object or the whole new one, never a part. size is the byte count of r,
	// or -1 when unknown.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// List returns the objects whose keys start with prefix, in lexical
	// (bytewise) key order; check Objects.Err after the loop. Pass a prefix
	// ending in "/" to list a folder. A prefix whose folder part is not a
	// valid key gives ErrInvalidKey (see ValidatePrefix).
	List(ctx context.Context, prefix string) Objects
}

// Deleter is implemented by stores that can remove objects. Deleting a missing
// key is not an error.
type Deleter interface {
	Delete(ctx context.Context, key string) error
}

// Creator is implemented by stores that can write an object only if its key
// is free, in one atomic step: of any number of processes creating the same
// key at once, exactly one succeeds and the others get an error wrapping
// ErrExist, and nothing they wrote is visible. Leases and claims are built
// on it (see package train/schedule). A local store links a fully written
// temporary file into place (link(2) fails if the name exists, like O_EXCL,
// and readers never see a partial object); S3 sends PutObject with
// "If-None-Match: *" (AWS S3 since 2024, MinIO).
type Creator interface {
	// Create writes the object like Put, but only if no object has the key;
	// otherwise it writes nothing and returns an error wrapping ErrExist.
	// An S3 store accepts objects up to 16 MiB here.
	Create(ctx context.Context, key string, r io.Reader, size int64) error
}

// Reader reads an object at arbitrary offsets, as Parquet footers need.
// ReadAt follows io.ReaderAt (a short read at the end returns io.EOF) and is
// safe for concurrent use.
type Reader interface {
	io.ReaderAt
	io.Closer
	// Size is the object's length in bytes.
	Size() int64
}

// Objects iterates over a listing. Use it like sql.Rows:
//
//	objs := store.List(ctx, "events/")
//	for objs.Next() { info := objs.At() }
//	if err := objs.Err(); err != nil { ... }
type Objects interface {
	Next() bool
	At() ObjectInfo
	Err() error
}

// ObjectInfo describes one object.
type ObjectInfo struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// Sentinel errors. Backends wrap them so errors.Is works across stores; the
// wrapping error names the object, bucket or folder concerned.
var (
	// ErrNotExist is returned when a key, bucket or folder does not exist.
	ErrNotExist = errors.New("lake: object does not exist")
	// ErrInvalidKey is returned for keys a store cannot hold: empty keys, keys
	// with a leading or trailing slash, empty, "." or ".." segments, NUL bytes,
	// or (locally) names reserved for temporary files.
	ErrInvalidKey = errors.New("lake: invalid key")
	// ErrAccessDenied is returned when the storage service rejects the
	// credentials or the signature, or forbids the operation. The concrete
	// error is an *AccessError naming the bucket and the variables to fix.
	ErrAccessDenied = errors.New("lake: access denied")
	// ErrChanged is returned by Reader.ReadAt when the object was replaced
	// after Open and the store cannot serve the old bytes (S3 without
	// versioning). A reader never mixes bytes of two versions.
	ErrChanged = errors.New("lake: object changed since it was opened")
	// ErrUnsupported is returned by helpers such as Delete and Create when
	// the store lacks the optional capability (Deleter, Creator).
	ErrUnsupported = errors.New("lake: operation not supported by this store")
	// ErrUnknownScheme is returned by Open for URIs whose scheme is neither
	// file nor s3.
	ErrUnknownScheme = errors.New("lake: unknown URI scheme")
	// ErrExist is returned by Create when an object already has the key.
	ErrExist = errors.New("lake: object already exists")
	// ErrSizeMismatch is returned by Put when the reader yields a different
	// number of bytes than the size passed in; nothing is written.
	ErrSizeMismatch = errors.New("lake: object size does not match the declared size")
)
