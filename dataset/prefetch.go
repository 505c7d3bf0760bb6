package dataset

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"

	"golang.org/x/sync/errgroup"
)

// A row group's projected column chunks are fetched up front, before any
// page is decoded: adjacent chunks (gaps up to maxHole bytes) are coalesced
// into one ranged read, and the reads of one row group run concurrently.
// On S3 this turns dozens of small interleaved reads per column into a few
// large GETs; locally it is a few preads. Memory: the compressed bytes of
// one row group's projected columns per open Scanner.

// maxHole is the largest gap between two column chunks read as one range:
// reading a hole is cheaper than a second request (~1 ms on the local MinIO).
const maxHole = 1 << 20

// fetchParallelism bounds concurrent range reads of one row group.
const fetchParallelism = 4

type byteRange struct{ off, end int64 }

// rowGroupBytes holds fetched ranges of a file and serves ReadAt from them.
type rowGroupBytes struct {
	key   string
	parts []rangePart
}

type rangePart struct {
	off  int64
	data []byte
}

// fetchRanges reads the given ranges of r, coalesced, concurrently.
func fetchRanges(ctx context.Context, key string, r io.ReaderAt, ranges []byteRange) (*rowGroupBytes, error) {
	slices.SortFunc(ranges, func(a, b byteRange) int { return cmp.Compare(a.off, b.off) })
	var merged []byteRange
	for _, rg := range ranges {
		if n := len(merged); n > 0 && rg.off <= merged[n-1].end+maxHole {
			merged[n-1].end = max(merged[n-1].end, rg.end)
			continue
		}
		merged = append(merged, rg)
	}
	out := &rowGroupBytes{key: key, parts: make([]rangePart, len(merged))}
	g, _ := errgroup.WithContext(ctx)
	g.SetLimit(fetchParallelism)
	for i, m := range merged {
		g.Go(func() error {
			buf := valuePool.get(int(m.end - m.off))
			n, err := r.ReadAt(buf, m.off)
			if n == len(buf) {
				err = nil
			}
			if err != nil {
				valuePool.Free(buf)
				return fmt.Errorf("dataset: read %s bytes [%d, %d): %w", key, m.off, m.end, err)
			}
			out.parts[i] = rangePart{off: m.off, data: buf}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		out.release()
		return nil, err
	}
	return out, nil
}

// ReadAt implements io.ReaderAt over the fetched ranges. Reads outside them
// are an error (page readers stay inside their column chunk).
func (b *rowGroupBytes) ReadAt(p []byte, off int64) (int, error) {
	i, found := slices.BinarySearchFunc(b.parts, off, func(part rangePart, off int64) int {
		switch {
		case off < part.off:
			return 1
		case off >= part.off+int64(len(part.data)):
			return -1
		}
		return 0
	})
	if !found {
		return 0, fmt.Errorf("dataset: %s: read at %d outside the fetched column chunks", b.key, off)
	}
	part := b.parts[i]
	n := copy(p, part.data[off-part.off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// release returns the buffers to the pool; b must not be read afterwards.
func (b *rowGroupBytes) release() {
	for i := range b.parts {
		valuePool.Free(b.parts[i].data)
		b.parts[i].data = nil
	}
}
