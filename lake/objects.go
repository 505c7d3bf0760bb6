package lake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
)

// SliceObjects returns an Objects that yields infos in order and then reports
// err (which may be nil) from Err. Stores that list eagerly and test doubles
// use it; infos is not copied and must not be changed afterwards.
func SliceObjects(infos []ObjectInfo, err error) Objects {
	return &sliceObjects{infos: infos, err: err, i: -1}
}

type sliceObjects struct {
	infos []ObjectInfo
	err   error
	i     int
}

func (o *sliceObjects) Next() bool {
	if o.i+1 >= len(o.infos) {
		o.i = len(o.infos)
		return false
	}
	o.i++
	return true
}

func (o *sliceObjects) At() ObjectInfo {
	if o.i < 0 || o.i >= len(o.infos) {
		return ObjectInfo{}
	}
	return o.infos[o.i]
}

func (o *sliceObjects) Err() error { return o.err }

// ListAll drains s.List(ctx, prefix) into a slice, in lexical key order.
func ListAll(ctx context.Context, s Store, prefix string) ([]ObjectInfo, error) {
	objs := s.List(ctx, prefix)
	var infos []ObjectInfo
	for objs.Next() {
		infos = append(infos, objs.At())
	}
	// Stores' listing errors already name the prefix and the store.
	return infos, objs.Err()
}

// PutBytes writes data as the object key, atomically (see Store.Put). The
// store does not retain data after PutBytes returns.
func PutBytes(ctx context.Context, s Store, key string, data []byte) error {
	return s.Put(ctx, key, bytes.NewReader(data), int64(len(data)))
}

// ReadAll returns the whole object key. Errors name the key; a missing object
// gives an error wrapping ErrNotExist.
func ReadAll(ctx context.Context, s Store, key string) ([]byte, error) {
	r, err := s.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	buf := make([]byte, r.Size())
	n, err := r.ReadAt(buf, 0)
	if err != nil && !(errors.Is(err, io.EOF) && int64(n) == r.Size()) {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return buf, nil
}

// Delete removes key from s if s implements Deleter; otherwise it returns an
// error wrapping ErrUnsupported. Deleting a missing key is not an error.
func Delete(ctx context.Context, s Store, key string) error {
	d, ok := s.(Deleter)
	if !ok {
		return fmt.Errorf("delete %s: %w (%T has no Delete)", key, ErrUnsupported, s)
	}
	return d.Delete(ctx, key)
}

// Create writes data as the object key only if no object has the key (see
// Creator): it returns an error wrapping ErrExist if one does, and one
// wrapping ErrUnsupported if s is not a Creator.
func Create(ctx context.Context, s Store, key string, data []byte) error {
	c, ok := s.(Creator)
	if !ok {
		return fmt.Errorf("create %s: %w (%T cannot create objects conditionally)", key, ErrUnsupported, s)
	}
	return c.Create(ctx, key, bytes.NewReader(data), int64(len(data)))
}
