package lake_test

import (
	"testing"

	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/lake/laketest"
)

func TestCommit(t *testing.T) {
	ctx := t.Context()
	s := laketest.NewMemory()
	for _, k := range []string{"t/dt=1/a.parquet", "t/dt=1/sub/b.parquet", "t/dt=10/c.parquet"} {
		if err := lake.PutBytes(ctx, s, k, []byte("12345")); err != nil {
			t.Fatal(err)
		}
	}
	for _, folder := range []string{"t/dt=1", "t/dt=1/", ""} {
		ok, err := lake.IsCommitted(ctx, s, folder)
		if err != nil || ok {
			t.Errorf("IsCommitted(%q) before Commit = %v, %v; want false", folder, ok, err)
		}
	}
	if err := lake.Commit(ctx, s, "t/dt=1/"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		folder string
		want   bool
	}{{"t/dt=1", true}, {"t/dt=1/", true}, {"t/dt=10", false}, {"t", false}, {"", false}} {
		ok, err := lake.IsCommitted(ctx, s, tt.folder)
		if err != nil || ok != tt.want {
			t.Errorf("IsCommitted(%q) = %v, %v; want %v", tt.folder, ok, err, tt.want)
		}
	}
	// The marker lists the folder's objects at commit time, not dt=10's
	// (which shares the string prefix "t/dt=1").
	got, err := lake.ReadAll(ctx, s, "t/dt=1/_SUCCESS")
	if err != nil {
		t.Fatal(err)
	}
	if want := "5\ta.parquet\n5\tsub/b.parquet\n"; string(got) != want {
		t.Errorf("marker content = %q, want %q", got, want)
	}
	// Re-committing does not list the old marker.
	if err := lake.Commit(ctx, s, "t/dt=1"); err != nil {
		t.Fatal(err)
	}
	if got, _ := lake.ReadAll(ctx, s, "t/dt=1/_SUCCESS"); string(got) != "5\ta.parquet\n5\tsub/b.parquet\n" {
		t.Errorf("marker after re-commit = %q", got)
	}
	if err := lake.Commit(ctx, s, ""); err != nil {
		t.Fatal(err)
	}
	if ok, err := lake.IsCommitted(ctx, s, ""); err != nil || !ok {
		t.Errorf("IsCommitted(root) after Commit(root) = %v, %v", ok, err)
	}
	if err := lake.Commit(ctx, s, "../x"); err == nil {
		t.Errorf("Commit(../x) succeeded")
	}
}
