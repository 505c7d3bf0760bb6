package lake_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/lake/laketest"
)

func TestLocalConformance(t *testing.T) {
	laketest.TestStore(t, func(t *testing.T) lake.Store {
		s, err := lake.NewLocal(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestLocalLayout(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s, err := lake.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := lake.PutBytes(ctx, s, "dt=2026-11-01/part-0.parquet", []byte("PAR1")); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "dt=2026-11-01", "part-0.parquet"))
	if err != nil || string(got) != "PAR1" {
		t.Fatalf("file on disk = %q, %v; want PAR1 at <dir>/dt=2026-11-01/part-0.parquet", got, err)
	}
	// Leftover temporary files (a crashed Put) and folders are not objects.
	if err := os.WriteFile(filepath.Join(dir, "dt=2026-11-01", ".lake-tmp-123"), []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "empty", "folder"), 0o755); err != nil {
		t.Fatal(err)
	}
	infos, err := lake.ListAll(ctx, s, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || infos[0].Key != "dt=2026-11-01/part-0.parquet" {
		t.Errorf("listing = %+v, want only the parquet file", infos)
	}
	if err := lake.PutBytes(ctx, s, "x/.lake-tmp-1", nil); !errors.Is(err, lake.ErrInvalidKey) {
		t.Errorf("Put of a reserved temp name: %v, want ErrInvalidKey", err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "dt=2026-11-01"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{".lake-tmp-123", "part-0.parquet"}) {
		t.Errorf("folder holds %q: Put left temporary files behind", names)
	}
}

func TestNewLocalErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := lake.NewLocal(file); err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("NewLocal(a file) err = %v, want an error naming %s", err, file)
	}
	if _, err := lake.NewLocal(""); err == nil {
		t.Errorf("NewLocal(\"\") succeeded")
	}
	missing := filepath.Join(dir, "not", "yet")
	s, err := lake.NewLocal(missing)
	if err != nil {
		t.Fatalf("NewLocal(missing folder): %v", err)
	}
	if _, err := lake.ListAll(t.Context(), s, ""); !errors.Is(err, lake.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("List of a missing root: %v, want ErrNotExist naming %s", err, missing)
	}
	if err := lake.PutBytes(t.Context(), s, "a", []byte("a")); err != nil {
		t.Fatalf("Put into a missing root: %v", err)
	}
	if got, err := lake.ListAll(t.Context(), s, ""); err != nil || len(got) != 1 {
		t.Errorf("List after first Put = %v, %v", got, err)
	}
}
