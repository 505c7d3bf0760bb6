package lake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// tempPrefix starts the names of the temporary files Put writes next to their
// destination. Listings skip such files and keys may not use the prefix.
const tempPrefix = ".lake-tmp-"

// Local is a Store over a folder of the local file system. Key "a/b.parquet"
// is the file <dir>/a/b.parquet. Put writes a temporary file in the
// destination folder, fsyncs it, renames it over the destination and fsyncs
// the folder, so readers see the old file or the whole new one and the write
// survives a crash once Put returns. Folders are created as needed and are
// never removed (Delete leaves empty folders behind).
//
// Local is safe for concurrent use by multiple goroutines and processes.
type Local struct {
	root string // absolute, cleaned
}

var (
	_ Store   = (*Local)(nil)
	_ Deleter = (*Local)(nil)
	_ Creator = (*Local)(nil)
)

// NewLocal returns a Store rooted at dir. The folder need not exist yet: the
// first Put creates it. If it exists it must be a folder. Listing a missing
// root reports an error wrapping ErrNotExist that names the folder.
func NewLocal(dir string) (Store, error) {
	return newLocal(dir)
}

func newLocal(dir string) (*Local, error) {
	if dir == "" {
		return nil, errors.New("lake: local store needs a folder, got an empty path")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("lake: local folder %q: %w", dir, err)
	}
	fi, err := os.Stat(abs)
	switch {
	case err == nil && !fi.IsDir():
		return nil, fmt.Errorf("lake: local store root %s is a file, not a folder", abs)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("lake: local store root: %w", err)
	}
	return &Local{root: abs}, nil
}

// Root returns the absolute folder the store is rooted at.
func (l *Local) Root() string { return l.root }

// String returns the store's location as a file:// URI.
func (l *Local) String() string { return "file://" + filepath.ToSlash(l.root) }

func (l *Local) path(key string) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", err
	}
	if strings.HasPrefix(key[strings.LastIndexByte(key, '/')+1:], tempPrefix) {
		return "", fmt.Errorf("%w %q: names starting with %q are reserved for temporary files", ErrInvalidKey, key, tempPrefix)
	}
	return filepath.Join(l.root, filepath.FromSlash(key)), nil
}

// Stat implements Store. Folders are not objects: a key naming a folder is
// reported as not existing.
func (l *Local) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	p, err := l.path(key)
	if err != nil {
		return ObjectInfo{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return ObjectInfo{}, l.fsError("stat", key, p, err)
	}
	if !fi.Mode().IsRegular() {
		return ObjectInfo{}, fmt.Errorf("stat %s: %s is not a regular file: %w", key, p, ErrNotExist)
	}
	return ObjectInfo{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Open implements Store. The returned Reader is backed by an *os.File; since
// Put replaces files by rename, an open Reader keeps reading the bytes it
// opened even if the key is overwritten meanwhile.
func (l *Local) Open(ctx context.Context, key string) (Reader, error) {
	p, err := l.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, l.fsError("open", key, p, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open %s: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("open %s: %s is not a regular file: %w", key, p, ErrNotExist)
	}
	return &localReader{File: f, size: fi.Size()}, nil
}

type localReader struct {
	*os.File
	size int64
}

func (r *localReader) Size() int64 { return r.size }

// Put implements Store (see Local for the durability guarantees).
func (l *Local) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	p, tmp, err := l.writeTemp(ctx, key, r, size)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("put %s: rename into place: %w", key, err)
	}
	syncDir(filepath.Dir(p))
	return nil
}

// Create implements Creator. It writes and fsyncs a temporary file as Put
// does, then hard-links it to the key's name: link(2) fails when the name
// exists, so of concurrent creators (goroutines or processes) exactly one
// succeeds, and readers never see a partially written object (an O_EXCL
// open of the final name would show it empty while it is written).
func (l *Local) Create(ctx context.Context, key string, r io.Reader, size int64) error {
	p, tmp, err := l.writeTemp(ctx, key, r, size)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, p); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create %s: %w", key, ErrExist)
		}
		return fmt.Errorf("create %s: link into place: %w", key, err)
	}
	syncDir(filepath.Dir(p))
	return nil
}

// writeTemp writes r into a synced temporary file in the folder of key and
// returns the key's path and the temporary file's name.
func (l *Local) writeTemp(ctx context.Context, key string, r io.Reader, size int64) (p, name string, err error) {
	p, err = l.path(key)
	if err != nil {
		return "", "", err
	}
	if err := ctx.Err(); err != nil {
		return "", "", fmt.Errorf("put %s: %w", key, err)
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", fmt.Errorf("put %s: create folder: %w", key, err)
	}
	tmp, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return "", "", fmt.Errorf("put %s: %w", key, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	n, err := io.Copy(tmp, &ctxReader{ctx: ctx, r: r})
	if err != nil {
		return "", "", fmt.Errorf("put %s: write %s: %w", key, tmp.Name(), err)
	}
	if size >= 0 && n != size {
		return "", "", fmt.Errorf("put %s: %w: declared %d bytes, reader gave %d", key, ErrSizeMismatch, size, n)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return "", "", fmt.Errorf("put %s: %w", key, err)
	}
	if err := tmp.Sync(); err != nil {
		return "", "", fmt.Errorf("put %s: fsync: %w", key, err)
	}
	if err := tmp.Close(); err != nil {
		return "", "", fmt.Errorf("put %s: close: %w", key, err)
	}
	return p, tmp.Name(), nil
}

// syncDir makes a rename or link in dir durable. Some file systems refuse to
// fsync folders; the object is in place either way, so that is not reported.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// ctxReader stops a copy when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Delete implements Deleter. Deleting a missing key is not an error.
func (l *Local) Delete(ctx context.Context, key string) error {
	p, err := l.path(key)
	if err != nil {
		return err
	}
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if fi.IsDir() {
		return fmt.Errorf("delete %s: %s is a folder, not an object", key, p)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// List implements Store. It walks only the folders that can hold keys with
// the prefix and returns regular files (and symlinks to them) in lexical key
// order, skipping Put's temporary files. The listing is read eagerly when
// List is called.
func (l *Local) List(ctx context.Context, prefix string) Objects {
	if err := ValidatePrefix(prefix); err != nil {
		return SliceObjects(nil, err)
	}
	if _, err := os.Stat(l.root); err != nil {
		return SliceObjects(nil, l.fsError("list", prefix, l.root, err))
	}
	// Start at the deepest folder named entirely by the prefix.
	start := l.root
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = filepath.Join(l.root, filepath.FromSlash(prefix[:i]))
	}
	var infos []ObjectInfo
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == start && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)) {
				return fs.SkipAll // nothing under this prefix
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(l.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if d.IsDir() {
			if p == start {
				return nil
			}
			// Descend only if keys below can start with prefix.
			dirKey := key + "/"
			if strings.HasPrefix(dirKey, prefix) || strings.HasPrefix(prefix, dirKey) {
				return nil
			}
			return fs.SkipDir
		}
		if !strings.HasPrefix(key, prefix) || strings.HasPrefix(d.Name(), tempPrefix) {
			return nil
		}
		fi, err := os.Stat(p) // follows symlinks
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // deleted while listing, or a dangling link
			}
			return err
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		infos = append(infos, ObjectInfo{Key: key, Size: fi.Size(), ModTime: fi.ModTime()})
		return nil
	})
	if err != nil {
		return SliceObjects(nil, fmt.Errorf("list %q under %s: %w", prefix, l.root, err))
	}
	// WalkDir's order is per folder ("a/x" comes before "a.txt"); keys sort
	// bytewise.
	slices.SortFunc(infos, func(a, b ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	return SliceObjects(infos, nil)
}

func (l *Local) fsError(op, key, path string, err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("%s %s: no such file %s: %w", op, key, path, ErrNotExist)
	}
	return fmt.Errorf("%s %s: %w", op, key, err)
}
