package main

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lakestream/lakestream/paramserver"
)

// TestPSKeepCheckpointsFlag: --keep-checkpoints below 1 is refused before
// any work starts (no shard is dialled, no lake opened), naming the flag.
func TestPSKeepCheckpointsFlag(t *testing.T) {
	for _, args := range [][]string{
		{"--shard", "0/1", "--shards", "127.0.0.1:1", "--coordinate", "--keep-checkpoints", "0"},
		{"--shard", "0/1", "--shards", "127.0.0.1:1", "--coordinate", "--topic", "clicks", "--consistency", "async", "--keep-checkpoints", "-1"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := runPS(ctx, args, io.Discard)
		cancel()
		var ue *usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "--keep-checkpoints") {
			t.Fatalf("%q: got %v, want a usage error naming --keep-checkpoints", args, err)
		}
	}
}

// TestPSKeepCheckpoints: a coordinated job of 18 splits with a checkpoint
// every 2 takes 10 checkpoints; with --keep-checkpoints 2 only the newest
// two are left under --checkpoint-prefix, each with its manifest and every
// shard's snapshot.
func TestPSKeepCheckpoints(t *testing.T) {
	c := newSizedCluster(t, 24_000, "logistic")
	c.workers = "1"
	addrs := c.startShards(2, paramserver.Async, "--checkpoint-every", "2", "--keep-checkpoints", "2")
	cc := c.coordinator(addrs[0])
	c.waitWorker(c.startWorker(0, addrs), 3*time.Minute)
	st, err := cc.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !st.Finished || st.Checkpoints != 10 || st.LastCheckpoint != "ckpt-000009" {
		t.Fatalf("status %+v, want a finished job with 10 checkpoints", st)
	}
	var want []string
	for _, n := range []string{"ckpt-000008", "ckpt-000009"} {
		want = append(want, n+"/manifest.json", n+"/shard-0-of-2.pssnap", n+"/shard-1-of-2.pssnap")
	}
	// The coordinator deletes after the last checkpoint, as the worker
	// exits: wait for it (the bound only stops a hung test).
	root := filepath.Join(c.lake, "checkpoints", "ps")
	var got []string
	for deadline := time.Now().Add(time.Minute); ; {
		got = got[:0]
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				rel, _ := filepath.Rel(root, p)
				got = append(got, filepath.ToSlash(rel))
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		if slices.Equal(got, want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("--keep-checkpoints 2 left %q, want %q", got, want)
	}
}
