package lake

import (
	"context"
	"fmt"
	"path"
	"strings"
)

// ListOption changes what Glob returns.
type ListOption func(*listOptions)

type listOptions struct {
	uncommitted bool
	hidden      bool
	skipped     *[]ObjectInfo
}

// IncludeUncommitted makes Glob return objects in partitions that have no
// _SUCCESS marker (see Commit for the rule), for example a lake written by a
// tool that writes no markers.
func IncludeUncommitted() ListOption { return func(o *listOptions) { o.uncommitted = true } }

// ReportUncommitted makes Glob append to *dst the matching objects it skipped
// because no _SUCCESS marker commits their partition, so a reader can say
// what it left out. It has no effect with IncludeUncommitted.
func ReportUncommitted(dst *[]ObjectInfo) ListOption {
	return func(o *listOptions) { o.skipped = dst }
}

// IncludeHidden makes Glob return hidden objects: those with a path segment
// starting with "_" or "." (markers such as _SUCCESS, Spark's _temporary/
// folders, .crc side files). By default a wildcard never matches such a
// segment, like a shell's "*" never matches ".profile"; only a pattern
// segment that starts with the same character does ("**/_SUCCESS").
func IncludeHidden() ListOption { return func(o *listOptions) { o.hidden = true } }

// Glob returns the objects of s whose keys match pattern, in lexical key
// order.
//
// A pattern is matched segment by segment (segments are separated by "/").
// Within a segment, "*" matches any run of characters, "?" one character,
// "[a-z]" / "[^0-9]" a character class and "\" escapes the next character
// (the syntax of path.Match). A whole segment "**" matches zero or more
// segments. A pattern ending in "/" matches everything below that folder
// ("events/" is "events/**"). Examples:
//
//	events/dt=2026-11-0[1-7]/*.parquet   one week of a daily table
//	events/**/*.parquet                  every Parquet file at any depth
//
// Glob lists only below the pattern's longest literal prefix ("events/dt=2026-11-0"
// above), never the whole bucket.
//
// By default Glob skips hidden objects (see IncludeHidden) and objects in Hive
// partitions that are not committed by a
// _SUCCESS marker (see Commit and IncludeUncommitted). A malformed pattern is
// an error wrapping path.ErrBadPattern that quotes it.
func Glob(ctx context.Context, s Store, pattern string, opts ...ListOption) ([]ObjectInfo, error) {
	var o listOptions
	for _, opt := range opts {
		opt(&o)
	}
	if strings.HasSuffix(pattern, "/") || pattern == "" {
		pattern += "**"
	}
	segs, err := parseGlob(pattern)
	if err != nil {
		return nil, err
	}
	prefix := literalPrefix(pattern)
	if err := ValidatePrefix(prefix); err != nil {
		return nil, fmt.Errorf("glob %q: %w", pattern, err)
	}

	objs := s.List(ctx, prefix)
	var matched []ObjectInfo
	markers := map[string]bool{} // folder ("" or ending in "/") → holds _SUCCESS
	for objs.Next() {
		info := objs.At()
		dir, name := splitKey(info.Key)
		if name == SuccessMarker {
			markers[dir] = true
		}
		if matchSegments(segs, strings.Split(info.Key, "/"), o.hidden) {
			matched = append(matched, info)
		}
	}
	if err := objs.Err(); err != nil {
		return nil, fmt.Errorf("glob %q: %w", pattern, err)
	}
	if o.uncommitted {
		return matched, nil
	}
	// Markers in folders the listing did not cover (above the prefix) are
	// looked up once each.
	committed := func(folder string) (bool, error) {
		if v, ok := markers[folder]; ok || strings.HasPrefix(folder, prefix) {
			return v, nil
		}
		v, err := IsCommitted(ctx, s, folder)
		if err != nil {
			return false, err
		}
		markers[folder] = v
		return v, nil
	}
	kept := matched[:0]
	decided := map[string]bool{} // folder of a key → its keys are committed
	for _, info := range matched {
		dir, _ := splitKey(info.Key)
		ok, seen := decided[dir]
		if !seen {
			folders := PartitionFolders(info.Key)
			ok = len(folders) == 0
			for _, f := range folders {
				c, err := committed(f)
				if err != nil {
					return nil, fmt.Errorf("glob %q: %w", pattern, err)
				}
				if c {
					ok = true
					break
				}
			}
			decided[dir] = ok
		}
		switch {
		case ok:
			kept = append(kept, info)
		case o.skipped != nil:
			*o.skipped = append(*o.skipped, info)
		}
	}
	return kept, nil
}

// splitKey returns the folder of key (with its trailing slash, "" at the
// root) and its file name.
func splitKey(key string) (dir, name string) {
	i := strings.LastIndexByte(key, '/')
	return key[:i+1], key[i+1:]
}

// parseGlob splits pattern into segments and checks their syntax.
func parseGlob(pattern string) ([]string, error) {
	if strings.HasPrefix(pattern, "/") {
		return nil, fmt.Errorf("glob %q: patterns are relative to the store, drop the leading slash: %w", pattern, path.ErrBadPattern)
	}
	segs := strings.Split(pattern, "/")
	for _, seg := range segs {
		if seg == "" {
			return nil, fmt.Errorf("glob %q: empty segment: %w", pattern, path.ErrBadPattern)
		}
		if _, err := path.Match(seg, ""); err != nil {
			return nil, fmt.Errorf("glob %q: segment %q: %w", pattern, seg, err)
		}
	}
	return segs, nil
}

// literalPrefix returns pattern up to its first metacharacter.
func literalPrefix(pattern string) string {
	if i := strings.IndexAny(pattern, `*?[\`); i >= 0 {
		return pattern[:i]
	}
	return pattern
}

// matchSegments matches key segments against pattern segments; "**" matches
// any number of segments. Remembering only the last "**" is enough (the
// classic wildcard algorithm): a later "**" can absorb whatever an earlier one
// would have, so backtracking never needs to revisit an earlier "**". Unless
// hidden is set, a segment starting with "_" or "." matches only a pattern
// segment that starts with the same character, and never "**".
func matchSegments(pat, key []string, hidden bool) bool {
	pi, ki := 0, 0
	star, starKey := -1, 0
	for ki < len(key) {
		if pi < len(pat) && pat[pi] == "**" {
			star, starKey = pi, ki
			pi++
			continue
		}
		if pi < len(pat) && matchSegment(pat[pi], key[ki], hidden) {
			pi++
			ki++
			continue
		}
		if star >= 0 && (hidden || !isHidden(key[starKey])) {
			starKey++
			pi, ki = star+1, starKey
			continue
		}
		return false
	}
	for pi < len(pat) && pat[pi] == "**" {
		pi++
	}
	return pi == len(pat)
}

func isHidden(seg string) bool {
	return strings.HasPrefix(seg, "_") || strings.HasPrefix(seg, ".")
}

func matchSegment(pat, seg string, hidden bool) bool {
	if !hidden && isHidden(seg) && pat[0] != seg[0] {
		return false
	}
	ok, err := path.Match(pat, seg)
	return err == nil && ok
}

// MatchGlob reports whether key matches pattern with Glob's rules, including
// the hidden-segment rule but not the commit filter. A malformed pattern is an error
// wrapping path.ErrBadPattern.
func MatchGlob(pattern, key string) (bool, error) {
	if strings.HasSuffix(pattern, "/") || pattern == "" {
		pattern += "**"
	}
	segs, err := parseGlob(pattern)
	if err != nil {
		return false, err
	}
	return matchSegments(segs, strings.Split(key, "/"), false), nil
}
