package laketest_test

import (
	"slices"
	"testing"

	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/lake/laketest"
)

func TestMemoryConformance(t *testing.T) {
	laketest.TestStore(t, func(t *testing.T) lake.Store { return laketest.NewMemory() })
}

func TestRecorderConformance(t *testing.T) {
	laketest.TestStore(t, func(t *testing.T) lake.Store { return laketest.Record(laketest.NewMemory()) })
}

func TestRecorderCalls(t *testing.T) {
	ctx := t.Context()
	r := laketest.Record(laketest.NewMemory())
	if err := lake.PutBytes(ctx, r, "a/b", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if _, err := lake.ListAll(ctx, r, "a/"); err != nil {
		t.Fatal(err)
	}
	rd, err := r.Open(ctx, "a/b")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 3)
	if _, err := rd.ReadAt(buf, 2); err != nil {
		t.Fatal(err)
	}
	rd.Close()
	if err := lake.Delete(ctx, r, "a/b"); err != nil {
		t.Fatal(err)
	}
	want := []laketest.Call{
		{Op: "put", Key: "a/b"},
		{Op: "list", Key: "a/"},
		{Op: "open", Key: "a/b"},
		{Op: "readat", Key: "a/b", Off: 2, Len: 3},
		{Op: "delete", Key: "a/b"},
	}
	if got := r.Calls(); !slices.Equal(got, want) {
		t.Errorf("Calls() = %+v, want %+v", got, want)
	}
	if got := r.Keys("open"); !slices.Equal(got, []string{"a/b"}) {
		t.Errorf("Keys(open) = %q", got)
	}
	r.Reset()
	if got := r.Calls(); len(got) != 0 {
		t.Errorf("after Reset, Calls() = %+v", got)
	}
}
