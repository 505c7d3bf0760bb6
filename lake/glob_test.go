package lake_test

import (
	"errors"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/lake/laketest"
)

func TestMatchGlob(t *testing.T) {
	tests := []struct {
		pattern, key string
		want         bool
	}{
		{"a/b", "a/b", true},
		{"a/b", "a/bc", false},
		{"a/*", "a/b", true},
		{"a/*", "a/b/c", false},
		{"a/*/c", "a/b/c", true},
		{"a/?", "a/b", true},
		{"a/?", "a/bb", false},
		{"dt=2026-11-0[1-3]/*.parquet", "dt=2026-11-02/p.parquet", true},
		{"dt=2026-11-0[1-3]/*.parquet", "dt=2026-11-04/p.parquet", false},
		{"dt=2026-11-0[^1]/*", "dt=2026-11-01/p", false},
		{"a/**", "a/b/c/d", true},
		{"a/**", "a", true},
		{"a/**/d", "a/d", true},
		{"a/**/d", "a/b/c/d", true},
		{"a/**/d", "a/b/c/e", false},
		{"**/*.parquet", "x.parquet", true},
		{"**/*.parquet", "a/b/x.parquet", true},
		{"**/*.parquet", "a/b/x.csv", false},
		{"**/b/**/d", "a/b/c/b/x/d", true},
		{"a/", "a/b/c", true},
		{"", "anything/at/all", true},
		{`a/\*`, "a/*", true},
		{`a/\*`, "a/b", false},
		// Hidden segments match only patterns that name them.
		{"a/*", "a/_SUCCESS", false},
		{"a/_*", "a/_SUCCESS", true},
		{"a/**", "a/_temporary/0/x", false},
		{"a/**/x", "a/.hidden/x", false},
		{"a/.hidden/x", "a/.hidden/x", true},
		{"**/_SUCCESS", "t/dt=1/_SUCCESS", true},
	}
	for _, tt := range tests {
		got, err := lake.MatchGlob(tt.pattern, tt.key)
		if err != nil {
			t.Errorf("MatchGlob(%q, %q): %v", tt.pattern, tt.key, err)
			continue
		}
		if got != tt.want {
			t.Errorf("MatchGlob(%q, %q) = %v, want %v", tt.pattern, tt.key, got, tt.want)
		}
	}
}

func TestMatchGlobBadPattern(t *testing.T) {
	for _, p := range []string{"a/[", "a//b", "/abs", `a/b\`} {
		if _, err := lake.MatchGlob(p, "a/b"); !errors.Is(err, path.ErrBadPattern) || !strings.Contains(err.Error(), p) {
			t.Errorf("MatchGlob(%q) err = %v, want ErrBadPattern quoting the pattern", p, err)
		}
	}
}

// lakeFixture writes a small Hive-partitioned lake: dt=01 committed by its own
// marker, dt=02 uncommitted, dt=03 committed, plus an unpartitioned table.
func lakeFixture(t *testing.T, s lake.Store) {
	t.Helper()
	ctx := t.Context()
	for _, k := range []string{
		"events/dt=2026-11-01/part-0.parquet",
		"events/dt=2026-11-01/part-1.parquet",
		"events/dt=2026-11-02/part-0.parquet",
		"events/dt=2026-11-03/part-0.parquet",
		"events/dt=2026-11-03/_temporary/0/part-9.parquet",
		"events/dt=2026-11-03/.part-0.parquet.crc",
		"users/part-0.parquet",
		"other/x.csv",
	} {
		if err := lake.PutBytes(ctx, s, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"events/dt=2026-11-01", "events/dt=2026-11-03"} {
		if err := lake.Commit(ctx, s, f); err != nil {
			t.Fatal(err)
		}
	}
}

func globKeys(infos []lake.ObjectInfo) []string {
	keys := []string{}
	for _, in := range infos {
		keys = append(keys, in.Key)
	}
	return keys
}

func TestGlob(t *testing.T) {
	ctx := t.Context()
	mem := laketest.NewMemory()
	lakeFixture(t, mem)
	tests := []struct {
		pattern  string
		opts     []lake.ListOption
		want     []string
		wantList string // the prefix Glob must list
	}{
		{pattern: "events/**/*.parquet", wantList: "events/",
			want: []string{"events/dt=2026-11-01/part-0.parquet", "events/dt=2026-11-01/part-1.parquet", "events/dt=2026-11-03/part-0.parquet"}},
		{pattern: "events/", wantList: "events/",
			want: []string{"events/dt=2026-11-01/part-0.parquet", "events/dt=2026-11-01/part-1.parquet", "events/dt=2026-11-03/part-0.parquet"}},
		{pattern: "events/dt=2026-11-0[2-3]/*", wantList: "events/dt=2026-11-0",
			want: []string{"events/dt=2026-11-03/part-0.parquet"}},
		{pattern: "events/dt=2026-11-0[2-3]/*", opts: []lake.ListOption{lake.IncludeUncommitted()}, wantList: "events/dt=2026-11-0",
			want: []string{"events/dt=2026-11-02/part-0.parquet", "events/dt=2026-11-03/part-0.parquet"}},
		{pattern: "events/dt=2026-11-03/**", opts: []lake.ListOption{lake.IncludeHidden()}, wantList: "events/dt=2026-11-03/",
			want: []string{"events/dt=2026-11-03/.part-0.parquet.crc", "events/dt=2026-11-03/_SUCCESS",
				"events/dt=2026-11-03/_temporary/0/part-9.parquet", "events/dt=2026-11-03/part-0.parquet"}},
		{pattern: "events/*/_SUCCESS", wantList: "events/",
			want: []string{"events/dt=2026-11-01/_SUCCESS", "events/dt=2026-11-03/_SUCCESS"}},
		{pattern: "users/*.parquet", wantList: "users/", want: []string{"users/part-0.parquet"}},
		{pattern: "users/part-0.parquet", wantList: "users/part-0.parquet", want: []string{"users/part-0.parquet"}},
		{pattern: "*/x.csv", wantList: "", want: []string{"other/x.csv"}},
		{pattern: "nothing/**", wantList: "nothing/", want: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			rec := laketest.Record(mem)
			got, err := lake.Glob(ctx, rec, tt.pattern, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if keys := globKeys(got); !slices.Equal(keys, tt.want) {
				t.Errorf("Glob(%q) = %q, want %q", tt.pattern, keys, tt.want)
			}
			if lists := rec.Keys("list"); !slices.Equal(lists, []string{tt.wantList}) {
				t.Errorf("Glob(%q) listed prefixes %q, want [%q]", tt.pattern, lists, tt.wantList)
			}
		})
	}
}

func TestGlobCommitMarkers(t *testing.T) {
	ctx := t.Context()
	tests := []struct {
		name    string
		markers []string // folders to Commit after writing the files
		pattern string
		want    []string
	}{
		{"no markers", nil, "t/**", []string{"t/plain.parquet"}},
		{"leaf marker", []string{"t/dt=1/h=1"}, "t/**",
			[]string{"t/dt=1/h=1/a", "t/plain.parquet"}},
		{"middle marker commits below", []string{"t/dt=1"}, "t/**",
			[]string{"t/dt=1/h=1/a", "t/dt=1/h=2/a", "t/plain.parquet"}},
		{"table root marker (Spark) commits all", []string{"t"}, "t/**",
			[]string{"t/dt=1/h=1/a", "t/dt=1/h=2/a", "t/dt=2/h=1/a", "t/plain.parquet"}},
		{"root marker outside the listed prefix", []string{"t"}, "t/dt=2/**",
			[]string{"t/dt=2/h=1/a"}},
		{"marker above the table root does not count", []string{""}, "t/dt=2/**", []string{}},
		{"sibling marker does not count", []string{"t/dt=1/h=2"}, "t/dt=1/h=1/*", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := laketest.NewMemory()
			for _, k := range []string{"t/dt=1/h=1/a", "t/dt=1/h=2/a", "t/dt=2/h=1/a", "t/plain.parquet"} {
				if err := lake.PutBytes(ctx, s, k, []byte("x")); err != nil {
					t.Fatal(err)
				}
			}
			for _, m := range tt.markers {
				if err := lake.Commit(ctx, s, m); err != nil {
					t.Fatal(err)
				}
			}
			got, err := lake.Glob(ctx, s, tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			if keys := globKeys(got); !slices.Equal(keys, tt.want) {
				t.Errorf("Glob(%q) = %q, want %q", tt.pattern, keys, tt.want)
			}
			// IsKeyCommitted agrees with Glob key by key.
			all, err := lake.Glob(ctx, s, tt.pattern, lake.IncludeUncommitted())
			if err != nil {
				t.Fatal(err)
			}
			for _, in := range all {
				ok, err := lake.IsKeyCommitted(ctx, s, in.Key)
				if err != nil {
					t.Fatal(err)
				}
				if ok != slices.Contains(tt.want, in.Key) {
					t.Errorf("IsKeyCommitted(%q) = %v, but Glob kept it: %v", in.Key, ok, !ok)
				}
			}
		})
	}
}

func TestGlobReportUncommitted(t *testing.T) {
	s := laketest.NewMemory()
	lakeFixture(t, s)
	var skipped []lake.ObjectInfo
	got, err := lake.Glob(t.Context(), s, "events/", lake.ReportUncommitted(&skipped))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Errorf("Glob kept %q, want the 3 committed files", globKeys(got))
	}
	if keys := globKeys(skipped); !slices.Equal(keys, []string{"events/dt=2026-11-02/part-0.parquet"}) {
		t.Errorf("skipped = %q, want the uncommitted dt=2026-11-02 file", keys)
	}
}

func TestGlobErrors(t *testing.T) {
	ctx := t.Context()
	s := laketest.NewMemory()
	if _, err := lake.Glob(ctx, s, "a/[x"); !errors.Is(err, path.ErrBadPattern) {
		t.Errorf("Glob(bad pattern) = %v, want ErrBadPattern", err)
	}
	if _, err := lake.Glob(ctx, s, "../x/*"); !errors.Is(err, lake.ErrInvalidKey) {
		t.Errorf("Glob(../x/*) = %v, want ErrInvalidKey", err)
	}
}

// FuzzMatchGlob checks that matching never panics, that a literal pattern
// matches exactly its own key, and that "**" placed anywhere before the last
// segment matches whatever the narrower pattern does.
func FuzzMatchGlob(f *testing.F) {
	f.Add("events/dt=*/[a-c]?.parquet", "events/dt=1/ab.parquet")
	f.Add("**/x", "a/b/x")
	f.Add("a/**/**/b", "a/b")
	f.Add(`a/\[`, "a/[")
	f.Add("[", "x")
	f.Fuzz(func(t *testing.T, pattern, key string) {
		ok, err := lake.MatchGlob(pattern, key)
		if err != nil {
			return
		}
		if lake.ValidateKey(pattern) == nil && !strings.ContainsAny(pattern, `*?[\`) {
			if ok != (pattern == key) {
				t.Fatalf("literal pattern %q vs key %q: match %v", pattern, key, ok)
			}
		}
		if ok {
			wider := "**/" + pattern
			if w, err := lake.MatchGlob(wider, key); err != nil || !w {
				t.Fatalf("%q matches %q but %q does not (%v)", pattern, key, wider, err)
			}
		}
	})
}
