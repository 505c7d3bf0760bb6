package lake_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"

	"golang.org/x/sync/errgroup"

	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/lake/laketest"
)

// The tests below run against the real MinIO started by deploy/local/up.sh
// (skipped under -short, a failure when its variables are missing).

func TestIntegrationS3Conformance(t *testing.T) {
	laketest.TestStore(t, func(t *testing.T) lake.Store { return laketest.MinIO(t) })
}

func TestIntegrationS3OpenFromEnvironment(t *testing.T) {
	_, bucket := laketest.MinIOBucket(t)
	// No options: endpoint, region and credentials come from the conventional
	// variables that `make test` exports.
	s, err := lake.Open(t.Context(), "s3://"+bucket)
	if err != nil {
		t.Fatalf("Open from the environment: %v", err)
	}
	if err := lake.PutBytes(t.Context(), s, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
}

func TestIntegrationS3WrongCredentials(t *testing.T) {
	env, bucket := laketest.MinIOBucket(t)
	tests := []struct {
		name           string
		access, secret string
		code           string
	}{
		{"unknown access key", "no-such-user-" + randHex(t), env.SecretKey, "InvalidAccessKeyId"},
		{"wrong secret", env.AccessKey, "wrong-" + randHex(t), "SignatureDoesNotMatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := append(env.Options(), lake.WithCredentials(tt.access, tt.secret, ""))
			_, err := lake.Open(t.Context(), "s3://"+bucket+"/tables", opts...)
			if !errors.Is(err, lake.ErrAccessDenied) {
				t.Fatalf("Open with %s: %v, want ErrAccessDenied", tt.name, err)
			}
			var ae *lake.AccessError
			if !errors.As(err, &ae) || ae.Bucket != bucket || ae.Code != tt.code {
				t.Fatalf("error %v is not an *AccessError naming bucket %s with code %s", err, bucket, tt.code)
			}
			for _, want := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", bucket, env.Endpoint} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("message %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestIntegrationS3MissingBucket(t *testing.T) {
	env := laketest.RequireMinIO(t)
	bucket := "lake-missing-" + randHex(t)
	_, err := lake.Open(t.Context(), "s3://"+bucket+"/events", env.Options()...)
	if !errors.Is(err, lake.ErrNotExist) {
		t.Fatalf("Open of a missing bucket: %v, want ErrNotExist", err)
	}
	for _, want := range []string{`bucket "` + bucket + `" does not exist`, env.Endpoint, "create it"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q does not mention %q", err, want)
		}
	}
}

func TestIntegrationS3MissingKeyNamesObject(t *testing.T) {
	env, bucket := laketest.MinIOBucket(t)
	s, err := lake.Open(t.Context(), "s3://"+bucket+"/tables", env.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Open(t.Context(), "events/part-0.parquet")
	want := "s3://" + bucket + "/tables/events/part-0.parquet"
	if !errors.Is(err, lake.ErrNotExist) || !strings.Contains(err.Error(), want) {
		t.Errorf("Open of a missing key: %v, want ErrNotExist naming %s", err, want)
	}
}

func TestIntegrationS3Prefix(t *testing.T) {
	ctx := t.Context()
	env, bucket := laketest.MinIOBucket(t)
	root, err := lake.Open(ctx, "s3://"+bucket, env.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := lake.Open(ctx, "s3://"+bucket+"/prod/lake/", env.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "dt=1/b"} {
		if err := lake.PutBytes(ctx, sub, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := lake.PutBytes(ctx, root, "prod/lakeside", []byte("outside")); err != nil {
		t.Fatal(err)
	}
	if got := keysOf(t, root, ""); !slices.Equal(got, []string{"prod/lake/a", "prod/lake/dt=1/b", "prod/lakeside"}) {
		t.Errorf("root listing = %q", got)
	}
	if got := keysOf(t, sub, ""); !slices.Equal(got, []string{"a", "dt=1/b"}) {
		t.Errorf("prefixed listing = %q, want keys relative to the prefix", got)
	}
	if b, err := lake.ReadAll(ctx, sub, "dt=1/b"); err != nil || string(b) != "dt=1/b" {
		t.Errorf("ReadAll via prefix = %q, %v", b, err)
	}
}

func keysOf(t *testing.T, s lake.Store, prefix string) []string {
	t.Helper()
	infos, err := lake.ListAll(t.Context(), s, prefix)
	if err != nil {
		t.Fatal(err)
	}
	return globKeys(infos)
}

// countingTransport counts GET requests (ranged reads).
type countingTransport struct {
	gets atomic.Int64
	mu   sync.Mutex
	rng  []string
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodGet && r.Header.Get("Range") != "" {
		c.gets.Add(1)
		c.mu.Lock()
		c.rng = append(c.rng, r.Header.Get("Range"))
		c.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(r)
}

func TestIntegrationS3ReadAhead(t *testing.T) {
	ctx := t.Context()
	env, bucket := laketest.MinIOBucket(t)
	ct := &countingTransport{}
	s, err := lake.Open(ctx, "s3://"+bucket, append(env.Options(), lake.WithTransport(ct), lake.WithReadAhead(64<<10))...)
	if err != nil {
		t.Fatal(err)
	}
	const size = 1 << 20
	data := make([]byte, size)
	rand.Read(data)
	if err := lake.PutBytes(ctx, s, "f.parquet", data); err != nil {
		t.Fatal(err)
	}
	r, err := s.Open(ctx, "f.parquet")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	read := func(off int64, n int) {
		t.Helper()
		buf := make([]byte, n)
		if _, err := r.ReadAt(buf, off); err != nil {
			t.Fatalf("ReadAt(%d, %d): %v", n, off, err)
		}
		if !bytes.Equal(buf, data[off:off+int64(n)]) {
			t.Fatalf("ReadAt(%d, %d) returned wrong bytes", n, off)
		}
	}
	steps := []struct {
		name     string
		off      int64
		n        int
		wantGets int64 // cumulative
	}{
		{"footer length", size - 8, 8, 1},
		{"footer", size - 8 - 20_000, 20_000, 1},
		{"column chunk header", 100, 16, 2},
		{"next header in the same block", 4000, 100, 2},
		{"small read past the block", 200_000, 10, 3},
		{"large read goes straight to S3", 300_000, 200_000, 4},
		{"tail again", size - 4, 4, 4},
	}
	for _, st := range steps {
		read(st.off, st.n)
		if got := ct.gets.Load(); got != st.wantGets {
			t.Fatalf("after %q: %d ranged GETs, want %d (ranges %q)", st.name, got, st.wantGets, ct.rng)
		}
	}
}

func TestIntegrationS3ReaderSeesReplacement(t *testing.T) {
	ctx := t.Context()
	s := laketest.MinIO(t)
	if err := lake.PutBytes(ctx, s, "k", bytes.Repeat([]byte("a"), 200_000)); err != nil {
		t.Fatal(err)
	}
	r, err := s.Open(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := lake.PutBytes(ctx, s, "k", bytes.Repeat([]byte("b"), 200_000)); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{10, 100_000} { // read-ahead and direct paths
		if _, err := r.ReadAt(make([]byte, n), 0); !errors.Is(err, lake.ErrChanged) || !strings.Contains(err.Error(), "/k") {
			t.Errorf("ReadAt(%d) after replacement: %v, want ErrChanged naming the key", n, err)
		}
	}
}

// TestS3ListPages lists more keys than one ListObjectsV2 page holds.
func TestIntegrationS3ListPages(t *testing.T) {
	ctx := t.Context()
	s := laketest.MinIO(t)
	const n = 1105
	var want []string
	var g errgroup.Group
	g.SetLimit(16)
	for i := range n {
		k := fmt.Sprintf("t/part-%05d", i)
		want = append(want, k)
		g.Go(func() error { return lake.PutBytes(ctx, s, k, nil) })
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := lake.PutBytes(ctx, s, "u", nil); err != nil {
		t.Fatal(err)
	}
	if got := keysOf(t, s, "t/"); !slices.Equal(got, want) {
		t.Errorf("listing of %d keys returned %d, first %q", n, len(got), got[:min(3, len(got))])
	}
}

func TestIntegrationS3GlobAndCommit(t *testing.T) {
	ctx := t.Context()
	s := laketest.MinIO(t)
	lakeFixture(t, s)
	got, err := lake.Glob(ctx, s, "events/dt=2026-11-0[1-3]/*.parquet")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"events/dt=2026-11-01/part-0.parquet", "events/dt=2026-11-01/part-1.parquet", "events/dt=2026-11-03/part-0.parquet"}
	if keys := globKeys(got); !slices.Equal(keys, want) {
		t.Errorf("Glob on MinIO = %q, want %q", keys, want)
	}
	if ok, err := lake.IsCommitted(ctx, s, "events/dt=2026-11-02"); err != nil || ok {
		t.Errorf("IsCommitted(dt=2026-11-02) = %v, %v; want false", ok, err)
	}
}

func randHex(t *testing.T) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

func TestIntegrationS3ReadAheadDefault(t *testing.T) {
	ctx := t.Context()
	env, bucket := laketest.MinIOBucket(t)
	ct := &countingTransport{}
	s, err := lake.Open(ctx, "s3://"+bucket, append(env.Options(), lake.WithTransport(ct))...)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 3<<20)
	rand.Read(data)
	if err := lake.PutBytes(ctx, s, "f", data); err != nil {
		t.Fatal(err)
	}
	r, err := s.Open(ctx, "f")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// 4 KiB reads across the first 1 MiB take one GET; the next one a second.
	buf := make([]byte, 4<<10)
	for off := int64(0); off+int64(len(buf)) <= lake.DefaultReadAhead; off += int64(len(buf)) {
		if _, err := r.ReadAt(buf, off); err != nil || !bytes.Equal(buf, data[off:off+int64(len(buf))]) {
			t.Fatalf("ReadAt at %d: %v or wrong bytes", off, err)
		}
	}
	if got := ct.gets.Load(); got != 1 {
		t.Errorf("256 sequential 4 KiB reads took %d GETs, want 1 (ranges %q)", got, ct.rng)
	}
	if _, err := r.ReadAt(buf, lake.DefaultReadAhead); err != nil || !bytes.Equal(buf, data[lake.DefaultReadAhead:lake.DefaultReadAhead+len(buf)]) {
		t.Fatalf("ReadAt past the first block: %v", err)
	}
	if got := ct.gets.Load(); got != 2 {
		t.Errorf("after leaving the first block: %d GETs, want 2", got)
	}
}

// TestIntegrationS3LargePut crosses the multipart threshold (16 MiB parts):
// whole objects appear, and failed or mis-sized uploads leave nothing, not
// even incomplete multipart uploads.
func TestIntegrationS3LargePut(t *testing.T) {
	ctx := t.Context()
	env, bucket := laketest.MinIOBucket(t)
	s, err := lake.Open(ctx, "s3://"+bucket, env.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 40<<20)
	rand.Read(data)
	tests := []struct {
		name    string
		body    func() io.Reader
		size    int64
		wantErr error // nil: success
	}{
		{"known size", func() io.Reader { return bytes.NewReader(data) }, int64(len(data)), nil},
		{"unknown size", func() io.Reader { return bytes.NewReader(data) }, -1, nil},
		{"reader shorter than declared", func() io.Reader { return bytes.NewReader(data[:37<<20]) }, int64(len(data)), lake.ErrSizeMismatch},
		{"reader longer than declared", func() io.Reader { return bytes.NewReader(data) }, 36 << 20, lake.ErrSizeMismatch},
		{"reader fails in the third part", func() io.Reader {
			return io.MultiReader(bytes.NewReader(data[:36<<20]), iotest.ErrReader(errors.New("disk on fire")))
		}, -1, errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := strings.ReplaceAll(tt.name, " ", "-")
			err := s.Put(ctx, key, tt.body(), tt.size)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("Put: %v", err)
			case tt.wantErr == errAny && err == nil, tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("Put: %v, want %v", err, tt.wantErr)
			}
			got, rerr := lake.ReadAll(ctx, s, key)
			if tt.wantErr == nil {
				if rerr != nil || !bytes.Equal(got, data) {
					t.Errorf("ReadAll after Put: %d bytes, %v; want the 20 MiB written", len(got), rerr)
				}
				return
			}
			if !errors.Is(rerr, lake.ErrNotExist) {
				t.Errorf("after a failed Put the object exists (%d bytes, %v)", len(got), rerr)
			}
		})
	}
	client, err := env.Client()
	if err != nil {
		t.Fatal(err)
	}
	for up := range client.ListIncompleteUploads(ctx, bucket, "", true) {
		t.Errorf("incomplete multipart upload left behind: %+v", up)
	}
}

var errAny = errors.New("any error")
