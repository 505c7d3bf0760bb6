package model

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/lakestream/lakestream/lake"
)

// VersionStatus is one version of a model as a registry listing finds it:
// its manifest, or why it cannot be used.
type VersionStatus struct {
	Version int
	// Manifest is nil when the manifest itself could not be read.
	Manifest *Manifest
	// Err is nil for a healthy version; otherwise it wraps ErrCorrupt or
	// ErrIncompatible (or a store error) and names the object at fault.
	Err error
}

// ListVersions returns every version of name that has a manifest object,
// ascending, without stopping at a bad one: each manifest is decoded and
// checked (as ReadManifest does), and every file it lists must be present
// with its recorded size. Checksums are not verified (that reads every
// byte; Load does it). A model with no versions gives an empty list.
func ListVersions(ctx context.Context, store lake.Store, name string) ([]VersionStatus, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	objs, err := lake.ListAll(ctx, store, Prefix(name))
	if err != nil {
		return nil, fmt.Errorf("list model %s: %w", name, err)
	}
	sizes := make(map[string]int64, len(objs))
	var vs []int
	for _, o := range objs {
		sizes[o.Key] = o.Size
		if v, rest, ok := parseVersionKey(name, o.Key); ok && rest == ManifestFile {
			vs = append(vs, v)
		}
	}
	slices.Sort(vs)
	out := make([]VersionStatus, 0, len(vs))
	for _, v := range vs {
		st := VersionStatus{Version: v}
		st.Manifest, st.Err = ReadManifest(ctx, store, name, v)
		if st.Err == nil {
			st.Err = checkFiles(name, st.Manifest, sizes)
		} else if !errors.Is(st.Err, ErrCorrupt) && !errors.Is(st.Err, ErrIncompatible) && !errors.Is(st.Err, ErrNotFound) {
			return nil, st.Err
		}
		out = append(out, st)
	}
	return out, nil
}

// checkFiles reports the first file of mf that is missing from sizes or
// has another size than recorded.
func checkFiles(name string, mf *Manifest, sizes map[string]int64) error {
	files := []File{mf.Spec}
	for _, t := range mf.Tables {
		if t.Keys != nil {
			files = append(files, *t.Keys)
		}
		files = append(files, t.Values)
	}
	dir := VersionPrefix(name, mf.Meta.Version)
	for _, f := range files {
		size, ok := sizes[dir+f.Path]
		switch {
		case !ok:
			return &ArtifactError{Key: dir + f.Path, Reason: "missing (listed in the manifest)", Err: ErrCorrupt}
		case size != f.Size:
			return &ArtifactError{Key: dir + f.Path, Reason: fmt.Sprintf("%d bytes, the manifest records %d", size, f.Size), Err: ErrCorrupt}
		}
	}
	return nil
}

// ReportKey is where the evaluation report of a version on held-out data
// is kept (eval's report.json), next to its manifest; plots are drawn from
// it when wanted.
func ReportKey(name string, version int) string {
	return VersionPrefix(name, version) + "eval/report.json"
}
