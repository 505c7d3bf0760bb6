package lake

import (
	"fmt"
	"net/url"
	"strings"
)

// HiveDefaultPartition is the folder value Hive, Spark and pyarrow write for
// a null partition value ("dt=__HIVE_DEFAULT_PARTITION__/").
const HiveDefaultPartition = "__HIVE_DEFAULT_PARTITION__"

// Partition is one Hive partition level of a key: the folder "dt=2026-11-01"
// is {Name: "dt", Value: "2026-11-01"}.
type Partition struct {
	Name string
	// Value is the URI-decoded value ("a%2Fb" → "a/b"); "" when Null.
	Value string
	// Null is true for HiveDefaultPartition.
	Null bool
}

// String formats the partition as its folder name, escaping the value the
// way ParsePartitions decodes it.
func (p Partition) String() string {
	if p.Null {
		return p.Name + "=" + HiveDefaultPartition
	}
	if p.Value == HiveDefaultPartition {
		// A real value that happens to spell the null marker.
		return p.Name + "=%5F" + HiveDefaultPartition[1:]
	}
	return p.Name + "=" + escapePartitionValue(p.Value)
}

// escapePartitionValue percent-encodes the bytes Hive escapes in partition
// folder names ('/', '=', '%', control characters and a few others), so the
// result is one path segment.
func escapePartitionValue(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < 0x20 || c == 0x7f || strings.IndexByte("\"#%'*/:=?\\{[]^", c) >= 0 {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// ParsePartitions returns the Hive partitions named by the folders of key, in
// path order: "events/dt=2026-11-01/hour=03/part-0.parquet" gives dt and hour.
// The last segment of key is a file name and is not parsed unless key ends in
// "/" (a folder). Folder segments without "=" (the table's folders) are
// skipped. Values are percent-decoded; HiveDefaultPartition is a null value.
//
// A segment "=v" (empty name), a malformed percent escape or the same name
// twice is an error that quotes the key.
func ParsePartitions(key string) ([]Partition, error) {
	dir := key
	if i := strings.LastIndexByte(key, '/'); i >= 0 && !strings.HasSuffix(key, "/") {
		dir = key[:i]
	} else if i < 0 {
		return nil, nil // a bare file name has no folders
	}
	dir = strings.TrimSuffix(dir, "/")
	var parts []Partition
	for seg := range strings.SplitSeq(dir, "/") {
		name, raw, ok := strings.Cut(seg, "=")
		if !ok {
			continue
		}
		if name == "" {
			return nil, fmt.Errorf("lake: partition folder %q in %q has no column name", seg, key)
		}
		p := Partition{Name: name}
		if raw == HiveDefaultPartition {
			p.Null = true
		} else {
			v, err := url.PathUnescape(raw)
			if err != nil {
				return nil, fmt.Errorf("lake: partition folder %q in %q: bad percent escape: %w", seg, key, err)
			}
			p.Value = v
		}
		for _, q := range parts {
			if q.Name == name {
				return nil, fmt.Errorf("lake: partition column %q appears twice in %q", name, key)
			}
		}
		parts = append(parts, p)
	}
	return parts, nil
}

// PartitionFolders returns the folders of key that a _SUCCESS marker may
// commit it from (see Commit for the rule): the table root, which is the
// folder just above the first "name=value" folder, then every "name=value"
// folder down to the deepest one. Folders are returned with a trailing "/"
// ("" for the store's root). A key without partition folders gives nil.
func PartitionFolders(key string) []string {
	segs := strings.Split(key, "/")
	segs = segs[:len(segs)-1] // drop the file name
	var folders []string
	for i, seg := range segs {
		if !strings.Contains(seg, "=") {
			continue
		}
		if folders == nil {
			folders = append(folders, joinFolder(segs[:i]))
		}
		folders = append(folders, joinFolder(segs[:i+1]))
	}
	return folders
}

func joinFolder(segs []string) string {
	if len(segs) == 0 {
		return ""
	}
	return strings.Join(segs, "/") + "/"
}
