package lake_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/lake/laketest"
)

// TestSync: a first Sync copies everything with each marker after what it
// commits; a second copies nothing; a changed object is copied again with
// its marker withdrawn first and written last; objects only the destination
// has stay.
func TestSync(t *testing.T) {
	ctx := context.Background()
	src, dst := laketest.NewMemory(), laketest.NewMemory()
	put := func(s lake.Store, key, data string) {
		t.Helper()
		if err := lake.PutBytes(ctx, s, key, []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	put(src, "clicks/dt=2014-10-21/part-0.parquet", "day one")
	put(src, "clicks/dt=2014-10-21/_SUCCESS", "")
	put(src, "clicks/dt=2014-10-22/part-0.parquet", "day two")
	put(src, "clicks/dt=2014-10-22/_SUCCESS", "")
	put(src, "specs/clicks.yaml", "label: click")
	put(dst, "notes.txt", "only in the destination")

	var seen []string
	st, err := lake.Sync(ctx, dst, src, "", func(e lake.SyncEvent) { seen = append(seen, e.Key) })
	if err != nil {
		t.Fatal(err)
	}
	if st.Copied != 5 || st.Skipped != 0 || st.Bytes != int64(len("day one")+len("day two")+len("label: click")) {
		t.Errorf("first sync: %+v, want 5 objects copied", st)
	}
	marker, data := slices.Index(seen, "clicks/dt=2014-10-21/_SUCCESS"), slices.Index(seen, "clicks/dt=2014-10-21/part-0.parquet")
	if marker < data || len(seen) != 5 {
		t.Errorf("progress order %q: want each marker after the object it commits", seen)
	}
	for _, k := range []string{"clicks/dt=2014-10-22/part-0.parquet", "specs/clicks.yaml", "notes.txt"} {
		if _, err := dst.Stat(ctx, k); err != nil {
			t.Errorf("%s after sync: %v", k, err)
		}
	}

	st, err = lake.Sync(ctx, dst, src, "", nil)
	if err != nil || st.Copied != 0 || st.Skipped != 5 {
		t.Errorf("second sync: %+v, %v; want nothing copied", st, err)
	}

	// Later, day one is rewritten with other content.
	time.Sleep(2 * time.Millisecond) // a later modification time than the copy's
	put(src, "clicks/dt=2014-10-21/part-0.parquet", "day one, fixed")
	rec := laketest.Record(dst)
	st, err = lake.Sync(ctx, rec, src, "", nil)
	if err != nil || st.Copied != 2 || st.Skipped != 3 {
		t.Fatalf("sync after a change: %+v, %v; want the file and its marker copied", st, err)
	}
	var ops []string
	for _, c := range rec.Calls() {
		if c.Op == "put" || c.Op == "delete" {
			ops = append(ops, c.Op+" "+c.Key)
		}
	}
	want := []string{"delete clicks/dt=2014-10-21/_SUCCESS", "put clicks/dt=2014-10-21/part-0.parquet", "put clicks/dt=2014-10-21/_SUCCESS"}
	if !slices.Equal(ops, want) {
		t.Errorf("writes %q, want %q (the marker withdrawn before the change, written after)", ops, want)
	}
	got, err := lake.ReadAll(ctx, dst, "clicks/dt=2014-10-21/part-0.parquet")
	if err != nil || string(got) != "day one, fixed" {
		t.Errorf("changed object in the destination: %q, %v", got, err)
	}
}

// TestIntegrationCreateBucket: Open with WithCreateBucket creates a missing
// bucket on the real MinIO and uses an existing one as it is; without it a
// missing bucket is an error naming it.
func TestIntegrationCreateBucket(t *testing.T) {
	e := laketest.RequireMinIO(t)
	client, err := e.Client()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var suffix [6]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		t.Fatal(err)
	}
	bucket := "laketest-create-" + hex.EncodeToString(suffix[:])
	t.Cleanup(func() {
		_ = client.RemoveBucketWithOptions(context.Background(), bucket, minio.RemoveBucketOptions{ForceDelete: true})
	})
	uri := "s3://" + bucket + "/qs"
	if _, err := lake.Open(ctx, uri, e.Options()...); !errors.Is(err, lake.ErrNotExist) {
		t.Fatalf("open a missing bucket: %v, want ErrNotExist", err)
	}
	s, err := lake.Open(ctx, uri, append(e.Options(), lake.WithCreateBucket())...)
	if err != nil {
		t.Fatalf("open with WithCreateBucket: %v", err)
	}
	if err := lake.PutBytes(ctx, s, "a", []byte("x")); err != nil {
		t.Fatal(err)
	}
	again, err := lake.Open(ctx, uri, append(e.Options(), lake.WithCreateBucket())...)
	if err != nil {
		t.Fatalf("open an existing bucket with WithCreateBucket: %v", err)
	}
	if b, err := lake.ReadAll(ctx, again, "a"); err != nil || string(b) != "x" {
		t.Errorf("object after reopening: %q, %v", b, err)
	}
}
