package lake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
)

// SuccessMarker is the name of the marker object that commits a folder.
const SuccessMarker = "_SUCCESS"

// Commit marks folder as complete by writing folder/_SUCCESS. Call it after
// every object of the folder has been Put: the marker is the last write of a
// multi-object commit, so a reader that honours markers sees either nothing
// of the folder or all of it. On S3, where each Put is atomic but several
// are not, this is the only all-or-nothing signal.
//
// The marker's content lists the objects under the folder when Commit ran,
// one "size<TAB>key" line each (keys relative to the folder), for people
// and tools debugging a lake; readers only test the marker's existence.
//
// The rule readers apply (Glob, unless IncludeUncommitted): an object whose
// key has Hive partition folders ("name=value/") is committed when a
// _SUCCESS marker is in one of its PartitionFolders: its table root (the
// folder just above the first "name=value" folder, as Spark writes it) or any
// of its "name=value" folders (as a daily job that commits
// "events/dt=2026-11-01/" writes it). A marker thus commits everything below
// it. Objects without partition folders are always read.
//
// folder is a key prefix without a trailing slash ("events/dt=2026-11-01");
// "" commits the store's root.
func Commit(ctx context.Context, s Store, folder string) error {
	folder = strings.TrimSuffix(folder, "/")
	prefix := ""
	if folder != "" {
		if err := ValidateKey(folder); err != nil {
			return fmt.Errorf("commit %q: %w", folder, err)
		}
		prefix = folder + "/"
	}
	infos, err := ListAll(ctx, s, prefix)
	if err != nil {
		return fmt.Errorf("commit %q: %w", folder, err)
	}
	var b bytes.Buffer
	for _, in := range infos {
		rel := in.Key[len(prefix):]
		if rel == SuccessMarker || strings.HasSuffix(rel, "/"+SuccessMarker) {
			continue
		}
		fmt.Fprintf(&b, "%d\t%s\n", in.Size, rel)
	}
	if err := PutBytes(ctx, s, prefix+SuccessMarker, b.Bytes()); err != nil {
		return fmt.Errorf("commit %q: %w", folder, err)
	}
	return nil
}

// IsCommitted reports whether folder (a key prefix, with or without a
// trailing slash; "" for the root) holds a _SUCCESS marker itself. It does
// not look at parent folders; see Commit for the full rule.
func IsCommitted(ctx context.Context, s Store, folder string) (bool, error) {
	key := strings.TrimSuffix(folder, "/")
	if key != "" {
		key += "/"
	}
	key += SuccessMarker
	_, err := s.Stat(ctx, key)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("check commit marker of %q: %w", folder, err)
}

// IsKeyCommitted applies Commit's rule to one object key: it reports whether
// key has no partition folders, or a _SUCCESS marker in one of its
// PartitionFolders. It costs one Stat per folder checked; Glob applies the
// same rule to whole listings with fewer requests.
func IsKeyCommitted(ctx context.Context, s Store, key string) (bool, error) {
	folders := PartitionFolders(key)
	if len(folders) == 0 {
		return true, nil
	}
	for _, f := range folders {
		ok, err := IsCommitted(ctx, s, f)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}
