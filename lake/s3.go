package lake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3 is a Store over a bucket of an S3-compatible service (AWS S3, MinIO),
// through minio-go v7. Keys are relative to the prefix of the URI the store
// was opened with: in "s3://lake/prod", key "dt=2026-11-01/a.parquet" is the
// object "prod/dt=2026-11-01/a.parquet" of bucket "lake".
//
// Put is one PutObject (a multipart upload above 16 MiB or for unknown
// sizes), which S3 makes visible whole or not at all. Several objects that
// belong together are committed with Commit, which writes a _SUCCESS marker
// last. S3 is safe for concurrent use. Create it with Open.
type S3 struct {
	client    *minio.Client
	bucket    string
	prefix    string // "" or ends in "/"
	endpoint  string // for error messages
	readAhead int
}

var (
	_ Store   = (*S3)(nil)
	_ Deleter = (*S3)(nil)
	_ Creator = (*S3)(nil)
)

// listPage is the number of keys one ListObjectsV2 request returns.
const listPage = 1000

// partSize is the multipart part size: objects up to one part (or of unknown
// size that turn out to fit in one) are a single PutObject; larger ones are
// uploaded in parts of this size, buffered one at a time, so one Put holds at
// most one part in memory. With S3's limit of 10,000 parts, objects of
// unknown size can reach 156 GiB; for known sizes the part grows as needed.
const partSize = 16 << 20

// maxParts is S3's limit on the parts of one multipart upload.
const maxParts = 10000

func openS3(ctx context.Context, bucket, prefix, uri string, o options) (*S3, error) {
	if bucket == "" {
		return nil, fmt.Errorf("lake: %q names no bucket: use s3://bucket/prefix", uri)
	}
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		if err := ValidateKey(prefix); err != nil {
			return nil, fmt.Errorf("lake: prefix of %q: %w", uri, err)
		}
		prefix += "/"
	}
	env := func(keys ...string) string {
		if o.lookupEnv == nil {
			return ""
		}
		for _, k := range keys {
			if v, ok := o.lookupEnv(k); ok && v != "" {
				return v
			}
		}
		return ""
	}
	endpoint := o.endpoint
	if endpoint == "" {
		endpoint = env("LAKESTREAM_S3_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
	}
	custom := endpoint != ""
	if !custom {
		endpoint = "s3.amazonaws.com"
	}
	host, secure, err := parseEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	if o.secure != nil {
		secure = *o.secure
	}
	region := o.region
	if region == "" {
		region = env("AWS_REGION", "AWS_DEFAULT_REGION")
	}
	if region == "" && custom {
		region = "us-east-1" // MinIO's default; avoids a GetBucketLocation round trip
	}
	var creds *credentials.Credentials
	switch {
	case o.credsSet:
		creds = credentials.NewStaticV4(o.accessKey, o.secretKey, o.token)
	case env("AWS_ACCESS_KEY_ID") != "" || env("AWS_SECRET_ACCESS_KEY") != "":
		creds = credentials.NewStaticV4(env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"), env("AWS_SESSION_TOKEN"))
	default:
		creds = credentials.NewStatic("", "", "", credentials.SignatureAnonymous)
	}
	lookup := minio.BucketLookupAuto
	if custom {
		lookup = minio.BucketLookupPath
	}
	if o.pathStyle != nil {
		lookup = minio.BucketLookupDNS
		if *o.pathStyle {
			lookup = minio.BucketLookupPath
		}
	}
	client, err := minio.New(host, &minio.Options{
		Creds:        creds,
		Secure:       secure,
		Region:       region,
		BucketLookup: lookup,
		Transport:    o.transport,
		MaxRetries:   o.attempts,
	})
	if err != nil {
		return nil, fmt.Errorf("lake: S3 client for %s: %w", endpoint, err)
	}
	s := &S3{client: client, bucket: bucket, prefix: prefix, endpoint: endpoint, readAhead: o.readAhead}
	ok, err := client.BucketExists(ctx, bucket)
	if err != nil {
		return nil, s.error("open", "", err)
	}
	if !ok && o.create {
		err := client.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: region})
		if err != nil && minio.ToErrorResponse(err).Code != "BucketAlreadyOwnedByYou" { // created meanwhile
			return nil, s.error("create bucket", "", err)
		}
		ok = true
	}
	if !ok {
		return nil, s.noBucket("open")
	}
	return s, nil
}

// parseEndpoint accepts "host:port" or a URL and reports the host and whether
// to use HTTPS.
func parseEndpoint(endpoint string) (host string, secure bool, err error) {
	if strings.Contains(endpoint, "://") {
		u, err := url.Parse(endpoint)
		if err != nil {
			return "", false, fmt.Errorf("lake: S3 endpoint %q: %w", endpoint, err)
		}
		if u.Path != "" && u.Path != "/" {
			return "", false, fmt.Errorf("lake: S3 endpoint %q has a path; give only scheme://host:port", endpoint)
		}
		switch u.Scheme {
		case "https":
			return u.Host, true, nil
		case "http":
			return u.Host, false, nil
		}
		return "", false, fmt.Errorf("lake: S3 endpoint %q: scheme must be http or https", endpoint)
	}
	if strings.ContainsAny(endpoint, "/?#") {
		return "", false, fmt.Errorf("lake: S3 endpoint %q: give host:port or scheme://host:port", endpoint)
	}
	h := endpoint
	if hh, _, err := net.SplitHostPort(endpoint); err == nil {
		h = hh
	}
	ip := net.ParseIP(h)
	loopback := h == "localhost" || (ip != nil && ip.IsLoopback())
	return endpoint, !loopback, nil
}

// String returns the store's location as an s3:// URI.
func (s *S3) String() string { return "s3://" + s.bucket + "/" + s.prefix }

// Bucket returns the bucket name.
func (s *S3) Bucket() string { return s.bucket }

func (s *S3) uri(key string) string { return "s3://" + s.bucket + "/" + s.prefix + key }

func (s *S3) objectName(key string) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", err
	}
	return s.prefix + key, nil
}

// AccessError reports that the S3 service refused a request because of the
// credentials, the signature or a policy. errors.Is(err, ErrAccessDenied)
// holds for it.
type AccessError struct {
	Op       string // "open", "stat", "get", "put", "list", "delete"
	Bucket   string
	Key      string // object key within the bucket, "" for bucket-level requests
	Endpoint string
	Code     string // S3 error code: AccessDenied, InvalidAccessKeyId, SignatureDoesNotMatch, ...
	Message  string // the service's message
}

func (e *AccessError) Error() string {
	target := "bucket " + e.Bucket
	if e.Key != "" {
		target = "s3://" + e.Bucket + "/" + e.Key
	}
	return fmt.Sprintf("lake: %s %s at %s: access denied (%s: %s): check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary credentials) or the credentials passed to lake.Open, and that they may access bucket %q",
		e.Op, target, e.Endpoint, e.Code, e.Message, e.Bucket)
}

// Is reports whether target is ErrAccessDenied.
func (e *AccessError) Is(target error) bool { return target == ErrAccessDenied }

var accessCodes = map[string]bool{
	"AccessDenied":          true,
	"InvalidAccessKeyId":    true,
	"SignatureDoesNotMatch": true,
	"ExpiredToken":          true,
	"InvalidToken":          true,
	"TokenRefreshRequired":  true,
	"AllAccessDisabled":     true,
	"InvalidSecurity":       true,
}

func (s *S3) noBucket(op string) error {
	return fmt.Errorf("%s %s: bucket %q does not exist at %s: create it (mc mb, aws s3 mb) or fix the lake URI: %w",
		op, s.String(), s.bucket, s.endpoint, ErrNotExist)
}

// error maps a minio-go error to the package's errors; key is the store key.
func (s *S3) error(op, key string, err error) error {
	var resp minio.ErrorResponse
	var netErr net.Error
	if !errors.As(err, &resp) && errors.As(err, &netErr) {
		return fmt.Errorf("%s %s: cannot reach the S3 endpoint %s (check LAKESTREAM_S3_ENDPOINT / AWS_ENDPOINT_URL or the endpoint option, and that the server is running): %w",
			op, s.uri(key), s.endpoint, err)
	}
	if !errors.As(err, &resp) {
		if key == "" {
			return fmt.Errorf("%s %s at %s: %w", op, s.String(), s.endpoint, err)
		}
		return fmt.Errorf("%s %s: %w", op, s.uri(key), err)
	}
	switch {
	case accessCodes[resp.Code]:
		obj := ""
		if key != "" {
			obj = s.prefix + key
		}
		return &AccessError{Op: op, Bucket: s.bucket, Key: obj, Endpoint: s.endpoint, Code: resp.Code, Message: resp.Message}
	case resp.Code == "NoSuchBucket":
		return s.noBucket(op)
	case resp.Code == "NoSuchKey" || resp.Code == "NotFound" || resp.StatusCode == 404:
		return fmt.Errorf("%s %s: %w", op, s.uri(key), ErrNotExist)
	case resp.Code == "PreconditionFailed" || resp.StatusCode == 412:
		return fmt.Errorf("%s %s: %w", op, s.uri(key), ErrChanged)
	}
	return fmt.Errorf("%s %s: %s (%s): %w", op, s.uri(key), resp.Code, resp.Message, err)
}

// Stat implements Store with a HEAD request.
func (s *S3) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	name, err := s.objectName(key)
	if err != nil {
		return ObjectInfo{}, err
	}
	oi, err := s.client.StatObject(ctx, s.bucket, name, minio.StatObjectOptions{})
	if err != nil {
		return ObjectInfo{}, s.error("stat", key, err)
	}
	return ObjectInfo{Key: key, Size: oi.Size, ModTime: oi.LastModified}, nil
}

// Open implements Store. It sends one HEAD request for the size and ETag;
// every later ranged GET is conditional on that ETag, so a reader never mixes
// bytes of two versions: once the object is replaced, ReadAt fails with
// ErrChanged.
//
// To avoid one HTTP request per small read (Parquet readers issue many reads
// of a few bytes), the reader keeps two cached blocks: the object's tail
// (its last 64 KiB, fetched whole the first time a read falls inside it: the
// Parquet footer length and usually the footer) and the block of the latest
// small read. A read shorter than the read-ahead size (WithReadAhead, default
// 1 MiB) fetches a block of that size starting at its offset; longer reads go
// straight to one GET of exactly their range. Small reads on one Reader are
// serialized by a mutex while a block is fetched; large reads run in
// parallel.
func (s *S3) Open(ctx context.Context, key string) (Reader, error) {
	name, err := s.objectName(key)
	if err != nil {
		return nil, err
	}
	oi, err := s.client.StatObject(ctx, s.bucket, name, minio.StatObjectOptions{})
	if err != nil {
		return nil, s.error("open", key, err)
	}
	// The reader outlives Open's ctx only as far as cancellation goes: reads
	// use a context detached from ctx's cancellation but keep its values.
	return &s3Reader{s: s, ctx: context.WithoutCancel(ctx), key: key, name: name, size: oi.Size, etag: oi.ETag}, nil
}

type s3Reader struct {
	s    *S3
	ctx  context.Context
	key  string
	name string
	size int64
	etag string

	mu     sync.Mutex
	tail   []byte // the last len(tail) bytes of the object, once fetched
	block  []byte // bytes at blockOff
	blkOff int64
	closed bool
}

func (r *s3Reader) Size() int64 { return r.size }

func (r *s3Reader) Close() error {
	r.mu.Lock()
	r.closed, r.tail, r.block = true, nil, nil
	r.mu.Unlock()
	return nil
}

// ReadAt implements io.ReaderAt; it is safe for concurrent use.
func (r *s3Reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read %s: negative offset %d", r.s.uri(r.key), off)
	}
	if off >= r.size {
		return 0, io.EOF
	}
	want := p
	if rem := r.size - off; int64(len(p)) > rem {
		want = p[:rem]
	}
	n, err := r.read(want, off)
	if err == nil && n < len(p) {
		err = io.EOF
	}
	return n, err
}

// read fills p (which lies within the object) from the caches or S3.
func (r *s3Reader) read(p []byte, off int64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return 0, fmt.Errorf("read %s: %w", r.s.uri(r.key), os.ErrClosed)
	}
	ra := int64(r.s.readAhead)
	if ra == 0 || int64(len(p)) >= ra {
		r.mu.Unlock()
		return r.get(p, off)
	}
	defer r.mu.Unlock()
	end := off + int64(len(p))
	tailOff := max(r.size-min(ra, tailCache), 0)
	if off >= tailOff {
		if r.tail == nil {
			buf := make([]byte, r.size-tailOff)
			if _, err := r.get(buf, tailOff); err != nil {
				return 0, err
			}
			r.tail = buf
		}
		return copy(p, r.tail[off-tailOff:]), nil
	}
	if r.block == nil || off < r.blkOff || end > r.blkOff+int64(len(r.block)) {
		buf := r.block[:0]
		n := min(ra, r.size-off)
		if int64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := r.get(buf, off); err != nil {
			r.block = nil
			return 0, err
		}
		r.block, r.blkOff = buf, off
	}
	return copy(p, r.block[off-r.blkOff:]), nil
}

// get reads exactly len(p) bytes at off with one conditional ranged GET.
func (r *s3Reader) get(p []byte, off int64) (int, error) {
	var opts minio.GetObjectOptions
	if err := opts.SetRange(off, off+int64(len(p))-1); err != nil {
		return 0, fmt.Errorf("read %s: %w", r.s.uri(r.key), err)
	}
	if r.etag != "" {
		if err := opts.SetMatchETag(r.etag); err != nil {
			return 0, fmt.Errorf("read %s: %w", r.s.uri(r.key), err)
		}
	}
	obj, err := r.s.client.GetObject(r.ctx, r.s.bucket, r.name, opts)
	if err != nil {
		return 0, r.s.error("read", r.key, err)
	}
	defer obj.Close()
	n, err := io.ReadFull(obj, p)
	if err != nil {
		return n, r.s.error(fmt.Sprintf("read %d bytes at %d of", len(p), off), r.key, err)
	}
	return n, nil
}

// Put implements Store. An object of up to 16 MiB is a single PutObject;
// a larger one (or one of unknown size that turns out larger) is a multipart
// upload in 16 MiB parts that S3 assembles only on completion. Either way the
// object appears whole or not at all. A reader that fails, or yields more or
// fewer bytes than size, fails the Put before anything is visible, and the
// parts already uploaded are aborted.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	name, err := s.objectName(key)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", s.uri(key), err)
	}
	body := io.Reader(&ctxReader{ctx: ctx, r: r})
	part := int64(partSize)
	if size >= 0 {
		body = &exactReader{r: body, remaining: size, declared: size}
		// Grow parts in MiB steps to stay within maxParts.
		part = max(part, (size/maxParts/(1<<20)+1)<<20)
	}
	if size >= 0 && size <= part {
		if size == 0 {
			// minio-go does not read an empty body; check it here.
			if _, err := body.Read(nil); err != io.EOF {
				return s.putError(key, err)
			}
		}
		return s.putSingle(ctx, key, name, body, size)
	}
	buf := make([]byte, part)
	n, err := io.ReadFull(body, buf)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return s.putSingle(ctx, key, name, bytes.NewReader(buf[:n]), int64(n))
	case err != nil:
		return s.putError(key, err)
	}
	return s.putMultipart(ctx, key, name, body, buf)
}

func (s *S3) putError(key string, err error) error {
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		return s.error("put", key, err)
	}
	return fmt.Errorf("put %s: %w", s.uri(key), err)
}

func (s *S3) putSingle(ctx context.Context, key, name string, body io.Reader, size int64) error {
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream", DisableMultipart: true}
	if _, err := s.client.PutObject(ctx, s.bucket, name, body, size, opts); err != nil {
		return s.putError(key, err)
	}
	return nil
}

// putMultipart uploads buf (a full first part) and the rest of body in parts
// of len(buf), and aborts the upload if anything fails.
func (s *S3) putMultipart(ctx context.Context, key, name string, body io.Reader, buf []byte) (err error) {
	core := minio.Core{Client: s.client}
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream"}
	id, err := core.NewMultipartUpload(ctx, s.bucket, name, opts)
	if err != nil {
		return s.putError(key, err)
	}
	defer func() {
		if err != nil {
			// Best effort, and even if ctx is canceled: a leftover upload
			// is invisible but costs storage until a lifecycle rule ends it.
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			core.AbortMultipartUpload(actx, s.bucket, name, id)
		}
	}()
	var parts []minio.CompletePart
	n := len(buf)
	for num := 1; n > 0; num++ {
		if num > maxParts {
			return fmt.Errorf("put %s: object exceeds %d parts of %d bytes; pass its size to Put", s.uri(key), maxParts, len(buf))
		}
		p, err := core.PutObjectPart(ctx, s.bucket, name, id, num, bytes.NewReader(buf[:n]), int64(n), minio.PutObjectPartOptions{})
		if err != nil {
			return s.putError(key, err)
		}
		parts = append(parts, minio.CompletePart{PartNumber: num, ETag: p.ETag})
		n, err = io.ReadFull(body, buf)
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			return s.putError(key, err)
		}
	}
	if _, err := core.CompleteMultipartUpload(ctx, s.bucket, name, id, parts, opts); err != nil {
		return s.putError(key, err)
	}
	return nil
}

// exactReader yields the bytes of r and fails with ErrSizeMismatch instead of
// delivering the last byte when r is longer or shorter than declared, so a
// size mismatch aborts the upload rather than storing a truncated object.
type exactReader struct {
	r         io.Reader
	remaining int64
	declared  int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.remaining == 0 {
		return e.checkEnd()
	}
	if int64(len(p)) > e.remaining {
		p = p[:e.remaining]
	}
	n, err := e.r.Read(p)
	e.remaining -= int64(n)
	if err == io.EOF && e.remaining > 0 {
		return 0, fmt.Errorf("%w: declared %d bytes, reader gave %d", ErrSizeMismatch, e.declared, e.declared-e.remaining)
	}
	if err != nil && err != io.EOF {
		return 0, err
	}
	if e.remaining == 0 {
		// Check for extra bytes before handing over the final ones.
		if _, err := e.checkEnd(); err != io.EOF {
			return 0, err
		}
	}
	return n, nil
}

func (e *exactReader) checkEnd() (int, error) {
	var one [1]byte
	for {
		n, err := e.r.Read(one[:])
		if n > 0 {
			return 0, fmt.Errorf("%w: declared %d bytes, reader has more", ErrSizeMismatch, e.declared)
		}
		if err == io.EOF {
			return 0, io.EOF
		}
		if err != nil {
			return 0, err
		}
	}
}

// Create implements Creator with one PutObject carrying
// "If-None-Match: *": S3 and MinIO answer 412 when the key exists, which
// becomes ErrExist. A 409 (ConditionalRequestConflict: another conditional
// write to the key is in flight) is retried after a short pause, so the
// caller sees the outcome of the race rather than the conflict. Objects are
// limited to one part (16 MiB); larger ones are refused before anything is
// sent.
func (s *S3) Create(ctx context.Context, key string, r io.Reader, size int64) error {
	name, err := s.objectName(key)
	if err != nil {
		return err
	}
	if size > partSize {
		return fmt.Errorf("create %s: %d bytes: conditional creates hold at most %d bytes", s.uri(key), size, partSize)
	}
	// Buffer the body so that a retried request can send it again.
	data, err := io.ReadAll(io.LimitReader(&ctxReader{ctx: ctx, r: r}, partSize+1))
	switch {
	case err != nil:
		return fmt.Errorf("create %s: %w", s.uri(key), err)
	case len(data) > partSize:
		return fmt.Errorf("create %s: conditional creates hold at most %d bytes", s.uri(key), partSize)
	case size >= 0 && int64(len(data)) != size:
		return fmt.Errorf("create %s: %w: declared %d bytes, reader gave %d", s.uri(key), ErrSizeMismatch, size, len(data))
	}
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream", DisableMultipart: true}
	opts.SetMatchETagExcept("*")
	for attempt := 0; ; attempt++ {
		_, err := s.client.PutObject(ctx, s.bucket, name, bytes.NewReader(data), int64(len(data)), opts)
		var resp minio.ErrorResponse
		switch {
		case err == nil:
			return nil
		case errors.As(err, &resp) && (resp.Code == "PreconditionFailed" || resp.StatusCode == 412):
			return fmt.Errorf("create %s: %w", s.uri(key), ErrExist)
		case errors.As(err, &resp) && resp.StatusCode == 409 && attempt < 5:
			select {
			case <-ctx.Done():
				return fmt.Errorf("create %s: %w", s.uri(key), ctx.Err())
			case <-time.After(time.Duration(10<<attempt) * time.Millisecond):
			}
			continue
		}
		return s.putError(key, err)
	}
}

// Delete implements Deleter.
func (s *S3) Delete(ctx context.Context, key string) error {
	name, err := s.objectName(key)
	if err != nil {
		return err
	}
	if err := s.client.RemoveObject(ctx, s.bucket, name, minio.RemoveObjectOptions{}); err != nil {
		var resp minio.ErrorResponse
		if errors.As(err, &resp) && resp.Code == "NoSuchKey" {
			return nil
		}
		return s.error("delete", key, err)
	}
	return nil
}

// List implements Store. It pages through ListObjectsV2 lazily, 1000 keys
// per request, as Next needs them; no goroutine outlives a page. Folder
// placeholder objects (keys ending in "/") are skipped.
func (s *S3) List(ctx context.Context, prefix string) Objects {
	if err := ValidatePrefix(prefix); err != nil {
		return SliceObjects(nil, err)
	}
	return &s3Objects{s: s, ctx: ctx, prefix: prefix, i: -1}
}

type s3Objects struct {
	s          *S3
	ctx        context.Context
	prefix     string
	page       []ObjectInfo
	i          int
	startAfter string
	done       bool
	err        error
}

func (o *s3Objects) Next() bool {
	for {
		if o.i+1 < len(o.page) {
			o.i++
			return true
		}
		if o.done || o.err != nil {
			o.i = len(o.page)
			return false
		}
		o.fetch()
	}
}

func (o *s3Objects) fetch() {
	o.page, o.i = o.page[:0], -1
	seen := 0
	for oi := range o.s.client.ListObjectsIter(o.ctx, o.s.bucket, minio.ListObjectsOptions{
		Prefix:     o.s.prefix + o.prefix,
		Recursive:  true,
		MaxKeys:    listPage,
		StartAfter: o.startAfter,
		FetchOwner: new(false),
	}) {
		if oi.Err != nil {
			o.err = o.s.error("list", o.prefix, oi.Err)
			return
		}
		seen++
		o.startAfter = oi.Key
		if key := strings.TrimPrefix(oi.Key, o.s.prefix); key != "" && !strings.HasSuffix(key, "/") {
			o.page = append(o.page, ObjectInfo{Key: key, Size: oi.Size, ModTime: oi.LastModified})
		}
		if seen == listPage {
			return
		}
	}
	if err := o.ctx.Err(); err != nil {
		o.err = fmt.Errorf("list %s: %w", o.s.uri(o.prefix), err)
		return
	}
	o.done = true
}

func (o *s3Objects) At() ObjectInfo {
	if o.i < 0 || o.i >= len(o.page) {
		return ObjectInfo{}
	}
	return o.page[o.i]
}

func (o *s3Objects) Err() error { return o.err }
