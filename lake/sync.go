package lake

import (
	"context"
	"fmt"
	"io"
	"path"
	"strings"
)

// SyncEvent reports one object Sync copied or found up to date.
type SyncEvent struct {
	Key    string
	Size   int64
	Copied bool // false: the destination already had it
	// Done counts the objects handled so far, this one included, of Total.
	Done, Total int
}

// SyncStats counts what Sync did.
type SyncStats struct {
	Copied, Skipped int   // objects copied, objects already up to date
	Bytes           int64 // bytes copied
}

// Sync copies every object of src whose key starts with prefix to dst under
// the same key, as "aws s3 sync" does: an object is copied unless dst holds
// one of the same size that is not older. Running Sync again after a
// complete run copies nothing, and objects only dst has are left alone.
//
// _SUCCESS markers are kept and stay meaningful while Sync runs: a marker is
// written after every object it commits (see Commit), and a marker already
// in dst that commits an object about to be replaced is deleted first, so a
// reader of dst never sees a committed folder with some of its objects
// missing or stale. That needs a dst implementing Deleter (both stores of
// this package do) when such a marker exists.
//
// progress, if not nil, is called after each object in the order handled:
// other objects in key order, then the markers.
func Sync(ctx context.Context, dst, src Store, prefix string, progress func(SyncEvent)) (SyncStats, error) {
	var st SyncStats
	srcObjs, err := ListAll(ctx, src, prefix)
	if err != nil {
		return st, fmt.Errorf("sync: list source: %w", err)
	}
	dstObjs, err := ListAll(ctx, dst, prefix)
	if err != nil {
		return st, fmt.Errorf("sync: list destination: %w", err)
	}
	have := make(map[string]ObjectInfo, len(dstObjs))
	for _, o := range dstObjs {
		have[o.Key] = o
	}
	upToDate := func(o ObjectInfo) bool {
		d, ok := have[o.Key]
		return ok && d.Size == o.Size && !d.ModTime.Before(o.ModTime)
	}
	var objects, markers []ObjectInfo
	var changed []string // keys of objects to copy
	for _, o := range srcObjs {
		if path.Base(o.Key) == SuccessMarker {
			markers = append(markers, o)
			continue
		}
		objects = append(objects, o)
		if !upToDate(o) {
			changed = append(changed, o.Key)
		}
	}
	// A marker is rewritten when dst lacks it (or an older one), or when it
	// commits an object that changes; one dst holds is deleted first.
	rewrite := make(map[string]bool, len(markers))
	for _, m := range markers {
		folder := strings.TrimSuffix(m.Key, SuccessMarker)
		commitsChange := false
		for _, k := range changed {
			if strings.HasPrefix(k, folder) {
				commitsChange = true
				break
			}
		}
		if !upToDate(m) || commitsChange {
			rewrite[m.Key] = true
			if _, ok := have[m.Key]; ok {
				if err := Delete(ctx, dst, m.Key); err != nil {
					return st, fmt.Errorf("sync: withdraw the marker %s before replacing what it commits: %w", m.Key, err)
				}
			}
		}
	}
	total := len(srcObjs)
	handle := func(o ObjectInfo, copyIt bool) error {
		if copyIt {
			if err := copyObject(ctx, dst, src, o.Key); err != nil {
				return err
			}
			st.Copied++
			st.Bytes += o.Size
		} else {
			st.Skipped++
		}
		if progress != nil {
			progress(SyncEvent{Key: o.Key, Size: o.Size, Copied: copyIt, Done: st.Copied + st.Skipped, Total: total})
		}
		return nil
	}
	for _, o := range objects {
		if err := handle(o, !upToDate(o)); err != nil {
			return st, err
		}
	}
	for _, m := range markers {
		if err := handle(m, rewrite[m.Key]); err != nil {
			return st, err
		}
	}
	return st, nil
}

// copyObject copies key from src to dst, streaming.
func copyObject(ctx context.Context, dst, src Store, key string) error {
	r, err := src.Open(ctx, key)
	if err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	defer r.Close()
	if err := dst.Put(ctx, key, io.NewSectionReader(r, 0, r.Size()), r.Size()); err != nil {
		return fmt.Errorf("sync: copy %s: %w", key, err)
	}
	return nil
}
