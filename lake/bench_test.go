package lake_test

import (
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/lake/laketest"
)

// BenchmarkReadAt reads a 16 MiB object sequentially in chunks of the named
// size from each backend. 4KiB reads on S3 go through the 64 KiB read-ahead
// block; 1MiB reads are one ranged GET each. The MinIO case needs the server
// (skipped under -short).
func BenchmarkReadAt(b *testing.B) {
	const objSize = 16 << 20
	data := make([]byte, objSize)
	rand.Read(data)
	backends := []struct {
		name string
		open func(b *testing.B) lake.Store
	}{
		{"memory", func(b *testing.B) lake.Store { return laketest.NewMemory() }},
		{"local", func(b *testing.B) lake.Store {
			s, err := lake.NewLocal(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
		{"minio", func(b *testing.B) lake.Store { return laketest.MinIO(b) }},
		{"minio_readahead_64KiB", func(b *testing.B) lake.Store { return minioReadAhead(b, 64<<10) }},
	}
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s := be.open(b)
			ctx := b.Context()
			if err := lake.PutBytes(ctx, s, "obj", data); err != nil {
				b.Fatal(err)
			}
			for _, chunk := range []int{4 << 10, 1 << 20} {
				b.Run(fmt.Sprintf("16MiB_by_%dKiB", chunk>>10), func(b *testing.B) {
					r, err := s.Open(ctx, "obj")
					if err != nil {
						b.Fatal(err)
					}
					defer r.Close()
					buf := make([]byte, chunk)
					b.SetBytes(int64(chunk))
					b.ReportAllocs()
					off := int64(0)
					for b.Loop() {
						if _, err := r.ReadAt(buf, off); err != nil {
							b.Fatal(err)
						}
						off += int64(chunk)
						if off+int64(chunk) > objSize {
							off = 0
						}
					}
				})
			}
		})
	}
}

func minioReadAhead(b *testing.B, n int) lake.Store {
	env, bucket := laketest.MinIOBucket(b)
	s, err := lake.Open(b.Context(), "s3://"+bucket, append(env.Options(), lake.WithReadAhead(n))...)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkGlob matches a one-week pattern against a 10,000-key table of 100
// daily partitions in the memory store (listing plus matching plus the commit
// filter, no I/O).
func BenchmarkGlob(b *testing.B) {
	ctx := b.Context()
	s := laketest.NewMemory()
	for d := range 100 {
		folder := fmt.Sprintf("events/dt=2026-%02d-%02d", 1+d/28, 1+d%28)
		for f := range 100 {
			if err := lake.PutBytes(ctx, s, fmt.Sprintf("%s/part-%03d.parquet", folder, f), nil); err != nil {
				b.Fatal(err)
			}
		}
		if err := lake.Commit(ctx, s, folder); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("10000_keys", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			files, err := lake.Glob(ctx, s, "events/**/*.parquet")
			if err != nil || len(files) != 10000 {
				b.Fatalf("Glob: %d files, %v", len(files), err)
			}
		}
	})
}
