// Package lake is Lakestream's object storage: one small interface, Store,
// over a local folder and over S3-compatible services (AWS S3, MinIO), with
// the few operations a data lake of Parquet files needs.
//
// # Opening a lake
//
// Open takes a URI: a plain path or file:///abs/path gives a Local store, and
// s3://bucket/prefix gives an S3 store whose keys are relative to prefix.
// S3 settings come from options (WithEndpoint, WithRegion, WithCredentials,
// WithPathStyle, WithSecure, WithAttempts) or, when absent, from the conventional
// environment: LAKESTREAM_S3_ENDPOINT (which wins), AWS_ENDPOINT_URL_S3 or
// AWS_ENDPOINT_URL for the endpoint, AWS_REGION, and AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN for the credentials. Custom
// endpoints use path-style requests. Open checks the bucket, so a wrong
// credential fails at once with an *AccessError (errors.Is ErrAccessDenied)
// that says which variables to fix, and a missing bucket with an error
// wrapping ErrNotExist that names it (or, with WithCreateBucket, creates it).
//
//	s, err := lake.Open(ctx, "s3://lake/prod")
//	data, err := lake.ReadAll(ctx, s, "models/ctr/7/manifest.json")
//
// # Objects
//
// Keys are slash-separated and relative ("events/dt=2026-11-01/part-0.parquet");
// ValidateKey states the rules every store enforces. Store has four methods:
// Stat, Open (a Reader: io.ReaderAt with Size and Close, for Parquet footers
// and column chunks), Put and List (Objects, iterated with Next/At/Err, in
// lexical key order). Delete is the optional Deleter interface, reached
// through the Delete helper; Create, a write that succeeds only if the key is
// free (for leases and claims), is the optional Creator interface, reached
// through the Create helper. PutBytes, ReadAll and ListAll are conveniences.
// Sync copies a lake (a local folder to S3, say) idempotently, writing each
// _SUCCESS marker after what it commits.
//
// Put is atomic on every store: a local Put writes a temporary file in the
// destination folder, fsyncs it and renames it into place; an S3 Put is one
// PutObject or multipart upload, which S3 exposes whole or not at all. A
// reader never mixes versions: a local Reader keeps reading the file it
// opened, and an S3 Reader pins the object's ETag and fails with ErrChanged
// once the object is replaced. S3 readers cache the object's last 64 KiB and
// serve small reads from 1 MiB read-ahead blocks (WithReadAhead), so reading a
// Parquet footer costs one request and a scan of small reads few.
//
// # Tables: globs, partitions and commits
//
// Glob lists objects matching a pattern with "*", "?", "[...]" within a path
// segment and "**" across segments; it lists only below the pattern's literal
// prefix. ParsePartitions reads Hive partition folders
// ("dt=2026-11-01/hour=03/", percent-decoded, __HIVE_DEFAULT_PARTITION__ as
// null). Several objects are committed together by writing a _SUCCESS marker
// last with Commit; Glob skips partitions no marker commits (the precise rule
// is on Commit) and hidden files ("_…", ".…") unless told otherwise with
// IncludeUncommitted and IncludeHidden.
//
// # Testing
//
// Package laketest has the in-memory store (NewMemory), a call Recorder, the
// conformance suite every store passes (TestStore) and MinIO, which gives a
// test a fresh bucket on the real MinIO server started by deploy/local/up.sh.
package lake
