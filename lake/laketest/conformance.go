package laketest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/lakestream/lakestream/lake"
)

// TestStore runs the conformance suite every lake.Store must pass: round
// trips, ranged reads, lexical listing under prefixes, key validation, atomic
// and all-or-nothing Put, missing objects, Delete (when the store is a
// lake.Deleter), conditional Create (when it is a lake.Creator: exactly one
// of many racing creators wins) and concurrent readers racing writers.
//
// newStore is called once per subtest and must return an empty store whose
// resources are released through t.Cleanup. The local, memory and S3 (MinIO)
// stores all run this one suite.
func TestStore(t *testing.T, newStore func(t *testing.T) lake.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s lake.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"ReadAtRanges", testReadAtRanges},
		{"Overwrite", testOverwrite},
		{"Missing", testMissing},
		{"List", testList},
		{"InvalidKeys", testInvalidKeys},
		{"PutSizeMismatch", testPutSizeMismatch},
		{"PutReaderFails", testPutReaderFails},
		{"PutCanceled", testPutCanceled},
		{"Delete", testDelete},
		{"Create", testCreate},
		{"ConcurrentCreate", testConcurrentCreate},
		{"ConcurrentPutOpen", testConcurrentPutOpen},
		{"ConcurrentReadAt", testConcurrentReadAt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newStore(t))
		})
	}
}

// pattern returns n deterministic bytes that differ from position to
// position, so a read at the wrong offset is caught.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7+i/251) ^ seed
	}
	return b
}

func mustPut(t *testing.T, s lake.Store, key string, data []byte) {
	t.Helper()
	if err := lake.PutBytes(t.Context(), s, key, data); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func testRoundTrip(t *testing.T, s lake.Store) {
	ctx := t.Context()
	cases := []struct {
		key  string
		data []byte
		size int64 // as passed to Put; -1 means unknown
	}{
		{"empty", nil, 0},
		{"one.bin", []byte{42}, 1},
		{"dir/sub/small.txt", []byte("hello, lake"), 11},
		{"dt=2026-11-01/part-0.parquet", pattern(100_000, 1), 100_000},
		{"unknown-size.bin", pattern(70_000, 2), -1},
		{"odd name/ü %2F+&=x.bin", []byte("odd"), 3},
	}
	for _, c := range cases {
		t.Run(c.key, func(t *testing.T) {
			if err := s.Put(ctx, c.key, bytes.NewReader(c.data), c.size); err != nil {
				t.Fatalf("Put: %v", err)
			}
			info, err := s.Stat(ctx, c.key)
			if err != nil {
				t.Fatalf("Stat: %v", err)
			}
			if info.Key != c.key || info.Size != int64(len(c.data)) {
				t.Errorf("Stat = {%q, %d}, want {%q, %d}", info.Key, info.Size, c.key, len(c.data))
			}
			if info.ModTime.IsZero() {
				t.Errorf("Stat ModTime is zero")
			}
			got, err := lake.ReadAll(ctx, s, c.key)
			if err != nil {
				t.Fatalf("ReadAll: %v", err)
			}
			if !bytes.Equal(got, c.data) {
				t.Errorf("ReadAll returned %d bytes that differ from the %d written", len(got), len(c.data))
			}
		})
	}
}

func testReadAtRanges(t *testing.T, s lake.Store) {
	ctx := t.Context()
	const size = 300_000
	data := pattern(size, 3)
	mustPut(t, s, "ranges.bin", data)
	r, err := s.Open(ctx, "ranges.bin")
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	if r.Size() != size {
		t.Fatalf("Size = %d, want %d", r.Size(), size)
	}
	cases := []struct {
		name    string
		off     int64
		n       int
		wantN   int
		wantEOF bool
	}{
		{"head", 0, 4, 4, false},
		{"middle", 123_457, 1000, 1000, false},
		{"footer", size - 8, 8, 8, false},
		{"whole", 0, size, size, false},
		{"past end", size - 10, 20, 10, true},
		{"at end", size, 5, 0, true},
		{"far past end", size + 100, 5, 0, true},
		{"empty read", 17, 0, 0, false},
		{"tail then head", size - 100_000, 100, 100, false},
		{"small after tail", 5, 3, 3, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			buf := make([]byte, c.n)
			n, err := r.ReadAt(buf, c.off)
			if n != c.wantN {
				t.Fatalf("ReadAt(%d bytes at %d) n = %d, want %d (err %v)", c.n, c.off, n, c.wantN, err)
			}
			if c.wantEOF && !errors.Is(err, io.EOF) {
				t.Errorf("err = %v, want io.EOF", err)
			}
			if !c.wantEOF && err != nil {
				t.Errorf("err = %v, want nil", err)
			}
			if c.off < size && !bytes.Equal(buf[:n], data[c.off:c.off+int64(n)]) {
				t.Errorf("ReadAt at %d returned wrong bytes", c.off)
			}
		})
	}
	if _, err := r.ReadAt(make([]byte, 1), -1); err == nil {
		t.Errorf("ReadAt at offset -1 succeeded, want an error")
	}
}

func testOverwrite(t *testing.T, s lake.Store) {
	ctx := t.Context()
	old, repl := pattern(5000, 4), pattern(7000, 5)
	mustPut(t, s, "k", old)
	r, err := s.Open(ctx, "k")
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	mustPut(t, s, "k", repl)

	info, err := s.Stat(ctx, "k")
	if err != nil || info.Size != int64(len(repl)) {
		t.Fatalf("Stat after overwrite = %+v, %v; want size %d", info, err, len(repl))
	}
	got, err := lake.ReadAll(ctx, s, "k")
	if err != nil || !bytes.Equal(got, repl) {
		t.Fatalf("ReadAll after overwrite: err %v, equal %v", err, bytes.Equal(got, repl))
	}
	// A reader opened before the overwrite serves the old bytes, or refuses
	// with ErrChanged; it never mixes in the new bytes.
	buf := make([]byte, len(old))
	n, err := r.ReadAt(buf, 0)
	switch {
	case errors.Is(err, lake.ErrChanged):
	case err != nil:
		t.Fatalf("old reader: %v (want old bytes or ErrChanged)", err)
	case n != len(old) || !bytes.Equal(buf, old):
		t.Fatalf("old reader returned %d bytes that are not the old object", n)
	}
}

func testMissing(t *testing.T, s lake.Store) {
	ctx := t.Context()
	mustPut(t, s, "present/a", []byte("a"))
	for _, key := range []string{"absent", "present/b", "present/a/below", "present"} {
		t.Run(key, func(t *testing.T) {
			if _, err := s.Stat(ctx, key); !errors.Is(err, lake.ErrNotExist) || !strings.Contains(err.Error(), key) {
				t.Errorf("Stat(%q) err = %v, want ErrNotExist naming the key", key, err)
			}
			if _, err := s.Open(ctx, key); !errors.Is(err, lake.ErrNotExist) || !strings.Contains(err.Error(), key) {
				t.Errorf("Open(%q) err = %v, want ErrNotExist naming the key", key, err)
			}
			if _, err := lake.ReadAll(ctx, s, key); !errors.Is(err, lake.ErrNotExist) {
				t.Errorf("ReadAll(%q) err = %v, want ErrNotExist", key, err)
			}
		})
	}
}

func keys(t *testing.T, s lake.Store, prefix string) []string {
	t.Helper()
	infos, err := lake.ListAll(t.Context(), s, prefix)
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	out := []string{}
	for _, in := range infos {
		out = append(out, in.Key)
	}
	return out
}

func testList(t *testing.T, s lake.Store) {
	// Chosen so per-folder walking order differs from lexical key order:
	// "a.txt" < "a/b" because '.' < '/', and "a0" > "a/…".
	all := []string{"a.txt", "a/b", "a/c/d", "a/c/e", "a0", "b", "dt=2026-11-01/x", "dt=2026-11-02/x"}
	for _, k := range slices.Backward(all) {
		mustPut(t, s, k, []byte(k))
	}
	cases := []struct {
		prefix string
		want   []string
	}{
		{"", all},
		{"a", []string{"a.txt", "a/b", "a/c/d", "a/c/e", "a0"}},
		{"a/", []string{"a/b", "a/c/d", "a/c/e"}},
		{"a/c", []string{"a/c/d", "a/c/e"}},
		{"a/c/", []string{"a/c/d", "a/c/e"}},
		{"a/c/d", []string{"a/c/d"}},
		{"dt=2026-11-0", []string{"dt=2026-11-01/x", "dt=2026-11-02/x"}},
		{"dt=2026-11-02/", []string{"dt=2026-11-02/x"}},
		{"zz", []string{}},
		{"zz/", []string{}},
		{"a/b/", []string{}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("prefix=%q", c.prefix), func(t *testing.T) {
			if got := keys(t, s, c.prefix); !slices.Equal(got, c.want) {
				t.Errorf("List(%q) = %q, want %q", c.prefix, got, c.want)
			}
		})
	}
	infos, err := lake.ListAll(t.Context(), s, "a/c/d")
	if err != nil || len(infos) != 1 || infos[0].Size != int64(len("a/c/d")) || infos[0].ModTime.IsZero() {
		t.Errorf("List infos = %+v, %v; want one object of size 5 with a ModTime", infos, err)
	}
}

func testInvalidKeys(t *testing.T, s lake.Store) {
	ctx := t.Context()
	for _, key := range []string{"", "/abs", "dir/", "a//b", "../up", "a/./b", "a/../b", ".", "nul\x00byte"} {
		t.Run(fmt.Sprintf("%q", key), func(t *testing.T) {
			if err := lake.PutBytes(ctx, s, key, []byte("x")); !errors.Is(err, lake.ErrInvalidKey) {
				t.Errorf("Put(%q) err = %v, want ErrInvalidKey", key, err)
			}
			if _, err := s.Stat(ctx, key); !errors.Is(err, lake.ErrInvalidKey) {
				t.Errorf("Stat(%q) err = %v, want ErrInvalidKey", key, err)
			}
			if _, err := s.Open(ctx, key); !errors.Is(err, lake.ErrInvalidKey) {
				t.Errorf("Open(%q) err = %v, want ErrInvalidKey", key, err)
			}
		})
	}
	if got := keys(t, s, ""); len(got) != 0 {
		t.Errorf("store holds %q after rejected puts", got)
	}
}

func testPutSizeMismatch(t *testing.T, s lake.Store) {
	ctx := t.Context()
	mustPut(t, s, "keep", []byte("old"))
	for _, size := range []int64{0, 2, 10} {
		err := s.Put(ctx, "keep", strings.NewReader("new!"), size)
		if !errors.Is(err, lake.ErrSizeMismatch) {
			t.Errorf("Put 4 bytes declared %d: err = %v, want ErrSizeMismatch", size, err)
		}
		err = s.Put(ctx, "fresh", strings.NewReader("new!"), size)
		if !errors.Is(err, lake.ErrSizeMismatch) {
			t.Errorf("Put fresh 4 bytes declared %d: err = %v, want ErrSizeMismatch", size, err)
		}
	}
	if got, err := lake.ReadAll(ctx, s, "keep"); err != nil || string(got) != "old" {
		t.Errorf("after failed puts, keep = %q, %v; want %q", got, err, "old")
	}
	if got := keys(t, s, ""); !slices.Equal(got, []string{"keep"}) {
		t.Errorf("listing after failed puts = %q, want [keep]", got)
	}
}

type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

func testPutReaderFails(t *testing.T, s lake.Store) {
	ctx := t.Context()
	mustPut(t, s, "obj", []byte("old"))
	boom := errors.New("disk on fire")
	for _, size := range []int64{-1, 200_000} {
		r := &failingReader{r: bytes.NewReader(pattern(100_000, 6)), err: boom}
		if err := s.Put(ctx, "obj", r, size); err == nil {
			t.Errorf("Put with a failing reader (size %d) succeeded", size)
		}
		r = &failingReader{r: bytes.NewReader(pattern(100_000, 6)), err: boom}
		if err := s.Put(ctx, "other", r, size); err == nil {
			t.Errorf("Put of a new key with a failing reader (size %d) succeeded", size)
		}
	}
	if got, err := lake.ReadAll(ctx, s, "obj"); err != nil || string(got) != "old" {
		t.Errorf("after failed puts obj = %q, %v; want %q", got, err, "old")
	}
	if got := keys(t, s, ""); !slices.Equal(got, []string{"obj"}) {
		t.Errorf("listing after failed puts = %q, want [obj]", got)
	}
}

func testPutCanceled(t *testing.T, s lake.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := lake.PutBytes(ctx, s, "canceled", []byte("x")); err == nil {
		t.Fatalf("Put with a canceled context succeeded")
	}
	if _, err := s.Stat(t.Context(), "canceled"); !errors.Is(err, lake.ErrNotExist) {
		t.Errorf("Stat after canceled Put: %v, want ErrNotExist", err)
	}
}

func testDelete(t *testing.T, s lake.Store) {
	ctx := t.Context()
	if _, ok := s.(lake.Deleter); !ok {
		if err := lake.Delete(ctx, s, "x"); !errors.Is(err, lake.ErrUnsupported) {
			t.Errorf("Delete on a store without Deleter: err %v, want ErrUnsupported", err)
		}
		return
	}
	mustPut(t, s, "d/1", []byte("1"))
	mustPut(t, s, "d/2", []byte("2"))
	if err := lake.Delete(ctx, s, "d/1"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := lake.Delete(ctx, s, "d/1"); err != nil {
		t.Errorf("second Delete of the same key: %v, want nil", err)
	}
	if err := lake.Delete(ctx, s, "never/was"); err != nil {
		t.Errorf("Delete of a missing key: %v, want nil", err)
	}
	if _, err := s.Stat(ctx, "d/1"); !errors.Is(err, lake.ErrNotExist) {
		t.Errorf("Stat after Delete: %v, want ErrNotExist", err)
	}
	if got := keys(t, s, ""); !slices.Equal(got, []string{"d/2"}) {
		t.Errorf("listing after Delete = %q, want [d/2]", got)
	}
	if err := lake.Delete(ctx, s, "/bad"); !errors.Is(err, lake.ErrInvalidKey) {
		t.Errorf("Delete(/bad) = %v, want ErrInvalidKey", err)
	}
}

// testConcurrentPutOpen races writers replacing one key with uniform objects
// ("aaaa…", "bbbb…") against readers: every successful read must be uniform,
// never a mix of two versions or a partial object.
func testConcurrentPutOpen(t *testing.T, s lake.Store) {
	ctx := t.Context()
	const size = 64 << 10
	const rounds = 8
	fill := func(c byte) []byte { return bytes.Repeat([]byte{c}, size) }
	mustPut(t, s, "race", fill('a'))

	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 2 {
		wg.Go(func() {
			for i := range rounds {
				if err := lake.PutBytes(ctx, s, "race", fill(byte('a'+(w*rounds+i)%26))); err != nil {
					errs <- fmt.Errorf("writer %d: %w", w, err)
					return
				}
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for range rounds * 2 {
				got, err := lake.ReadAll(ctx, s, "race")
				if errors.Is(err, lake.ErrChanged) {
					continue // replaced between Open and ReadAt: allowed
				}
				if err != nil {
					errs <- fmt.Errorf("reader: %w", err)
					return
				}
				if len(got) != size || bytes.Count(got, got[:1]) != size {
					errs <- fmt.Errorf("reader saw a torn object of %d bytes", len(got))
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// testConcurrentReadAt shares one Reader between goroutines reading small and
// large ranges, as a parallel Parquet column reader does.
func testConcurrentReadAt(t *testing.T, s lake.Store) {
	const size = 2<<20 + 123
	data := pattern(size, 7)
	mustPut(t, s, "shared", data)
	r, err := s.Open(t.Context(), "shared")
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Go(func() {
			n := 100 + g*150_000 // small reads and large ones
			buf := make([]byte, n)
			for i := range 12 {
				off := int64((g*7919 + i*104_729) % (size - n))
				if _, err := r.ReadAt(buf, off); err != nil {
					errs <- fmt.Errorf("goroutine %d: ReadAt(%d at %d): %w", g, n, off, err)
					return
				}
				if !bytes.Equal(buf, data[off:off+int64(n)]) {
					errs <- fmt.Errorf("goroutine %d: ReadAt(%d at %d) returned wrong bytes", g, n, off)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func testCreate(t *testing.T, s lake.Store) {
	ctx := t.Context()
	if _, ok := s.(lake.Creator); !ok {
		if err := lake.Create(ctx, s, "x", nil); !errors.Is(err, lake.ErrUnsupported) {
			t.Errorf("Create on a store without Creator: err %v, want ErrUnsupported", err)
		}
		return
	}
	if err := lake.Create(ctx, s, "c/lease", []byte("first")); err != nil {
		t.Fatalf("Create of a free key: %v", err)
	}
	if err := lake.Create(ctx, s, "c/lease", []byte("second")); !errors.Is(err, lake.ErrExist) {
		t.Errorf("Create of an existing key: err %v, want ErrExist", err)
	}
	if got, err := lake.ReadAll(ctx, s, "c/lease"); err != nil || string(got) != "first" {
		t.Errorf("after a refused Create the object is %q (%v), want %q", got, err, "first")
	}
	mustPut(t, s, "c/put", []byte("put"))
	if err := lake.Create(ctx, s, "c/put", []byte("create")); !errors.Is(err, lake.ErrExist) {
		t.Errorf("Create over a Put object: err %v, want ErrExist", err)
	}
	if err := lake.Create(ctx, s, "c/empty", nil); err != nil {
		t.Errorf("Create of an empty object: %v", err)
	}
	if fi, err := s.Stat(ctx, "c/empty"); err != nil || fi.Size != 0 {
		t.Errorf("Stat of the empty created object: %+v, %v", fi, err)
	}
	c := s.(lake.Creator)
	if err := c.Create(ctx, "c/short", strings.NewReader("abc"), 5); !errors.Is(err, lake.ErrSizeMismatch) {
		t.Errorf("Create with a wrong size: err %v, want ErrSizeMismatch", err)
	}
	if _, err := s.Stat(ctx, "c/short"); !errors.Is(err, lake.ErrNotExist) {
		t.Errorf("Stat after a failed Create: %v, want ErrNotExist", err)
	}
	if err := lake.Create(ctx, s, "/bad", nil); !errors.Is(err, lake.ErrInvalidKey) {
		t.Errorf("Create(/bad) = %v, want ErrInvalidKey", err)
	}
	if got := keys(t, s, "c/"); !slices.Equal(got, []string{"c/empty", "c/lease", "c/put"}) {
		t.Errorf("listing after Creates = %q", got)
	}
	if _, ok := s.(lake.Deleter); ok {
		if err := lake.Delete(ctx, s, "c/lease"); err != nil {
			t.Fatal(err)
		}
		if err := lake.Create(ctx, s, "c/lease", []byte("again")); err != nil {
			t.Errorf("Create after Delete: %v", err)
		}
	}
}

// testConcurrentCreate races creators of one key: exactly one must win, the
// others must get ErrExist, and the object must hold the winner's bytes.
func testConcurrentCreate(t *testing.T, s lake.Store) {
	if _, ok := s.(lake.Creator); !ok {
		t.Skip("the store is not a lake.Creator")
	}
	ctx := t.Context()
	const creators = 16
	for round := range 3 {
		key := fmt.Sprintf("race/%d", round)
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			winners []int
			others  []error
		)
		start := make(chan struct{})
		for i := range creators {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				err := lake.Create(ctx, s, key, bytes.Repeat([]byte{byte('a' + i)}, 1000+i))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					winners = append(winners, i)
				case !errors.Is(err, lake.ErrExist):
					others = append(others, err)
				}
			}()
		}
		close(start)
		wg.Wait()
		if len(others) > 0 {
			t.Fatalf("round %d: creators failed with errors other than ErrExist: %v", round, others)
		}
		if len(winners) != 1 {
			t.Fatalf("round %d: %d creators won (%v), want exactly 1", round, len(winners), winners)
		}
		got, err := lake.ReadAll(ctx, s, key)
		if err != nil {
			t.Fatal(err)
		}
		w := winners[0]
		if !bytes.Equal(got, bytes.Repeat([]byte{byte('a' + w)}, 1000+w)) {
			t.Errorf("round %d: object holds %d bytes starting %q, want creator %d's", round, len(got), got[:min(len(got), 8)], w)
		}
	}
}
