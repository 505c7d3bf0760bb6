package lake

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// Option configures Open. Options that do not apply to the URI's scheme are
// ignored (a local path needs none).
type Option func(*options)

type options struct {
	endpoint  string
	region    string
	accessKey string
	secretKey string
	token     string
	credsSet  bool
	pathStyle *bool
	secure    *bool
	lookupEnv func(string) (string, bool)
	transport http.RoundTripper
	readAhead int
	attempts  int
	create    bool
}

// WithEndpoint sets the S3 endpoint, as "host:port" or a URL
// ("https://s3.example.com"). It wins over the environment.
func WithEndpoint(endpoint string) Option { return func(o *options) { o.endpoint = endpoint } }

// WithRegion sets the S3 region. It wins over AWS_REGION.
func WithRegion(region string) Option { return func(o *options) { o.region = region } }

// WithCredentials sets static S3 credentials; sessionToken may be empty. They
// win over AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN.
func WithCredentials(accessKey, secretKey, sessionToken string) Option {
	return func(o *options) {
		o.accessKey, o.secretKey, o.token, o.credsSet = accessKey, secretKey, sessionToken, true
	}
}

// WithPathStyle forces path-style ("https://host/bucket/key", on) or
// virtual-hosted-style ("https://bucket.host/key", off) S3 requests. The
// default is path style for custom endpoints (MinIO) and automatic for AWS.
func WithPathStyle(on bool) Option { return func(o *options) { o.pathStyle = &on } }

// WithSecure forces HTTPS (true) or plain HTTP (false) to the S3 endpoint. By
// default an endpoint URL's scheme decides; an endpoint without a scheme uses
// plain HTTP on loopback addresses (127.0.0.0/8, ::1, localhost) and HTTPS
// elsewhere.
func WithSecure(on bool) Option { return func(o *options) { o.secure = &on } }

// WithEnv replaces the environment lookup (os.LookupEnv by default) used for
// the S3 settings Open reads from the environment. Pass a map-backed function
// in tests, or one that always fails to ignore the environment.
func WithEnv(lookup func(key string) (string, bool)) Option {
	return func(o *options) { o.lookupEnv = lookup }
}

// WithCreateBucket makes Open create the bucket of an s3:// URI when it
// does not exist (in the store's region), instead of failing. A bucket
// that exists is used as it is.
func WithCreateBucket() Option { return func(o *options) { o.create = true } }

// WithTransport sets the HTTP transport of the S3 client (for tracing,
// request counting, custom TLS). The default is minio-go's.
func WithTransport(rt http.RoundTripper) Option { return func(o *options) { o.transport = rt } }

// WithAttempts sets how many times the S3 client tries a request that fails
// with a network error or a retryable status, with backoff in between
// (minio-go's default, 10, when n <= 0). Against an unreachable endpoint the
// default takes about 5 s to give up.
func WithAttempts(n int) Option { return func(o *options) { o.attempts = n } }

// WithReadAhead sets the block size S3 readers fetch for small reads (see
// S3.Open): a read shorter than n bytes fetches up to n bytes from its offset
// and later reads inside that block are served from memory. The object's
// tail is cached the same way in a block of min(n, 64 KiB). 0 disables both.
// Default DefaultReadAhead. Each open Reader holds at most n + 64 KiB.
func WithReadAhead(n int) Option { return func(o *options) { o.readAhead = max(n, 0) } }

// DefaultReadAhead is the default S3 read-ahead block (see WithReadAhead).
// On the local MinIO a ranged GET costs about 1.3 ms whatever its size up to
// a few hundred KiB, so sequential 4 KiB reads run about ten times faster
// with 1 MiB blocks than with 64 KiB ones (~500 vs ~47 MB/s on an idle
// 2-core machine, BenchmarkReadAt).
const DefaultReadAhead = 1 << 20

// tailCache is the largest object tail an S3 reader caches: enough for the
// footer of most Parquet files and its 8-byte length trailer in one request.
const tailCache = 64 << 10

// Open returns the store a URI names; object keys are relative to it.
//
//   - a plain path ("data/lake", "/srv/lake") or a file URI
//     ("file:///srv/lake") gives a local store (NewLocal);
//   - "s3://bucket" or "s3://bucket/prefix" gives an S3 store (NewS3) whose
//     keys live under prefix; Open checks that the bucket exists and that the
//     credentials are accepted, so misconfiguration fails here, naming the
//     bucket and what to fix.
//
// S3 settings come from options, then the environment: the endpoint from
// LAKESTREAM_S3_ENDPOINT, else AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL,
// else AWS; the region from AWS_REGION, else AWS_DEFAULT_REGION; the
// credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
// AWS_SESSION_TOKEN (anonymous requests when unset). Other schemes give an
// error wrapping ErrUnknownScheme.
func Open(ctx context.Context, uri string, opts ...Option) (Store, error) {
	o := options{lookupEnv: os.LookupEnv, readAhead: DefaultReadAhead}
	for _, opt := range opts {
		opt(&o)
	}
	if uri == "" {
		return nil, fmt.Errorf("lake: empty lake URI: pass a folder, file:///path or s3://bucket/prefix")
	}
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return NewLocal(uri)
	}
	switch strings.ToLower(scheme) {
	case "file":
		u, err := url.Parse(uri)
		if err != nil {
			return nil, fmt.Errorf("lake: parse %q: %w", uri, err)
		}
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("lake: file URI %q names host %q: use file:///absolute/path (three slashes) or a plain path", uri, u.Host)
		}
		if u.Path == "" {
			return nil, fmt.Errorf("lake: file URI %q has no path", uri)
		}
		return NewLocal(u.Path)
	case "s3":
		bucket, prefix, _ := strings.Cut(rest, "/")
		return openS3(ctx, bucket, prefix, uri, o)
	default:
		return nil, fmt.Errorf("%w %q in %q: use a plain path, file:///path or s3://bucket/prefix", ErrUnknownScheme, scheme, uri)
	}
}

// ValidateURI reports, without any request, whether Open could accept uri:
// a path, a file URI, or an s3:// URI with a valid bucket name (3 to 63
// lowercase letters, digits, '.' and '-') and prefix.
func ValidateURI(uri string) error {
	scheme, rest, ok := strings.Cut(uri, "://")
	switch {
	case uri == "":
		return fmt.Errorf("lake: empty lake URI: pass a folder, file:///path or s3://bucket/prefix")
	case !ok || strings.EqualFold(scheme, "file"):
		return nil
	case !strings.EqualFold(scheme, "s3"):
		return fmt.Errorf("%w %q in %q: use a plain path, file:///path or s3://bucket/prefix", ErrUnknownScheme, scheme, uri)
	}
	bucket, prefix, _ := strings.Cut(rest, "/")
	if err := s3utils.CheckValidBucketNameStrict(bucket); err != nil {
		return fmt.Errorf("lake: bucket %q of %q: %v", bucket, uri, err)
	}
	if prefix = strings.Trim(prefix, "/"); prefix != "" {
		if err := ValidateKey(prefix); err != nil {
			return fmt.Errorf("lake: prefix of %q: %w", uri, err)
		}
	}
	return nil
}
