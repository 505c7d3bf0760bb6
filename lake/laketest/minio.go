package laketest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/lakestream/lakestream/lake"
)

// MinIOEnv holds the settings of the test MinIO server, read from the
// variables deploy/local/up.sh exports.
type MinIOEnv struct {
	Endpoint  string // LAKESTREAM_S3_ENDPOINT, host:port, plain HTTP
	AccessKey string // AWS_ACCESS_KEY_ID
	SecretKey string // AWS_SECRET_ACCESS_KEY
	Region    string // AWS_REGION, default us-east-1
}

// RequireMinIO returns the test MinIO's settings. Under go test -short it
// skips the test with a message; otherwise a missing variable fails it,
// telling the developer to run `make test` (which starts the services).
func RequireMinIO(t testing.TB) MinIOEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test against MinIO: skipped under -short (run `make test` to run it)")
	}
	e := MinIOEnv{
		Endpoint:  os.Getenv("LAKESTREAM_S3_ENDPOINT"),
		AccessKey: os.Getenv("AWS_ACCESS_KEY_ID"),
		SecretKey: os.Getenv("AWS_SECRET_ACCESS_KEY"),
		Region:    os.Getenv("AWS_REGION"),
	}
	var missing []string
	for _, v := range []struct{ name, value string }{
		{"LAKESTREAM_S3_ENDPOINT", e.Endpoint},
		{"AWS_ACCESS_KEY_ID", e.AccessKey},
		{"AWS_SECRET_ACCESS_KEY", e.SecretKey},
	} {
		if v.value == "" {
			missing = append(missing, v.name)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("integration test needs MinIO but %s not set: run `make test`, or `deploy/local/up.sh && source ~/.cache/lakestream/env.sh` (or use go test -short to skip)",
			strings.Join(missing, ", "))
	}
	if e.Region == "" {
		e.Region = "us-east-1"
	}
	return e
}

// Client returns a minio-go client for the test server, for set-up that the
// lake API does not offer (creating buckets).
func (e MinIOEnv) Client() (*minio.Client, error) {
	return minio.New(e.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(e.AccessKey, e.SecretKey, ""),
		Secure:       false,
		Region:       e.Region,
		BucketLookup: minio.BucketLookupPath,
	})
}

// Options returns the lake.Open options that reach the test server without
// reading the environment.
func (e MinIOEnv) Options() []lake.Option {
	return []lake.Option{
		lake.WithEnv(func(string) (string, bool) { return "", false }),
		lake.WithEndpoint("http://" + e.Endpoint),
		lake.WithRegion(e.Region),
		lake.WithCredentials(e.AccessKey, e.SecretKey, ""),
	}
}

// MinIOBucket creates a bucket with a unique name on the test MinIO and
// removes it, with every object in it, when the test ends. See RequireMinIO
// for what happens when MinIO is not configured.
func MinIOBucket(t testing.TB) (MinIOEnv, string) {
	t.Helper()
	e := RequireMinIO(t)
	client, err := e.Client()
	if err != nil {
		t.Fatalf("minio client for %s: %v", e.Endpoint, err)
	}
	var suffix [6]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		t.Fatal(err)
	}
	bucket := "laketest-" + time.Now().UTC().Format("150405") + "-" + hex.EncodeToString(suffix[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := client.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: e.Region}); err != nil {
		t.Fatalf("create bucket %s on MinIO at %s: %v (is it running? run `make test` or deploy/local/up.sh)", bucket, e.Endpoint, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := client.RemoveBucketWithOptions(ctx, bucket, minio.RemoveBucketOptions{ForceDelete: true}); err != nil {
			t.Errorf("remove test bucket %s: %v", bucket, err)
		}
	})
	return e, bucket
}

// MinIO returns a lake.Store over a fresh, empty bucket on the test MinIO
// (LAKESTREAM_S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_REGION). The bucket and its objects are removed when the test ends.
// Under -short the test is skipped; a missing variable fails it.
func MinIO(t testing.TB) lake.Store {
	t.Helper()
	e, bucket := MinIOBucket(t)
	s, err := lake.Open(context.Background(), "s3://"+bucket, e.Options()...)
	if err != nil {
		t.Fatalf("open s3://%s: %v", bucket, err)
	}
	return s
}
